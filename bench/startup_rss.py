#!/usr/bin/env python3
"""Start-up memory of two (or more) gomodfs binaries, interleaved in one
run: for each round, project and command, a fresh mount over the warm
store (offline), `go build ./...` or `go list -deps -test ./...` (warm
GOCACHE), then the gomodfs process's peak RSS (VmHWM), RssAnon (what it
allocated itself), RssFile (mapped files), split into the binary's pages
and the store's packs (/proc/PID/smaps), and the command's time; unmount. Made to compare a change with the
binary before it (issue 15: peak RSS at start-up against the Go original).

Usage: python3 bench/startup_rss.py --binary before=/path/gomodfs \\
           --binary after=target/release/gomodfs [--runs 5]
           [--projects realapp,bigapp] [--work DIR] [--out docs/BENCHMARKS.md]
Uses bench/run.py's project preparation (needs go, fusermount3 and, once
per --work directory, the Go module proxy).
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import run as R
from sections import write_section

BEGIN = "<!-- bench/startup_rss.py: begin -->"
END = "<!-- bench/startup_rss.py: end -->"
COMMANDS = {"go build": ["go", "build", "./..."], "go list": ["go", "list", "-deps", "-test", "./..."]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", required=True, help="NAME=PATH, two or more")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--projects", default="realapp,bigapp")
    ap.add_argument("--work", default="/tmp/gomodfs-bench")
    ap.add_argument("--out", default=str(R.ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    bins = {k: Path(v).resolve() for k, v in (b.split("=", 1) for b in args.binary)}
    names = list(bins)
    bench = R.preparer(args.work, bins[names[0]], args.runs)

    results = {}
    for project in args.projects.split(","):
        base, app, _, store, _, zips = bench.prepare(project)
        mnt = base / "mnt"
        mnt.mkdir(exist_ok=True)

        def one(binary, command):
            server = R.ours(binary, store, mnt, bench.log)
            took = R.run(COMMANDS[command], R.go_env(mnt, bench.gocache), app)
            fields = R.status_kib(server.proc.pid)
            fields.update(R.mapped_kib(server.proc.pid))
            server.close()
            return took, fields

        for i in range(args.runs + 1):
            order = names if i % 2 == 0 else names[::-1]
            for command in COMMANDS:
                for b in order:
                    r = one(bins[b], command)
                    if i > 0:  # the first round warms up
                        results.setdefault((project, zips, command, b), []).append(r)

    load = os.getloadavg()
    lines = [BEGIN, "### Peak RSS at start-up, binaries side by side (bench/startup_rss.py)", "",
             f"`python3 bench/startup_rss.py {' '.join('--binary ' + b for b in args.binary)} "
             f"--runs {args.runs} --projects {args.projects}`; median (min-max) of {args.runs} "
             f"interleaved runs after a warm-up; load average at the end {load[0]:.1f}, {load[1]:.1f}, "
             f"{load[2]:.1f} (2 shared cores). Warm store, a fresh mount (offline) per run, warm "
             "GOCACHE; the gomodfs process's VmHWM, RssAnon and RssFile when the command has "
             "finished; RssFile split by mapping (/proc/PID/smaps): the executable, the store's pack "
             "files.", "",
             "| project | command | binary | time (s) | peak RSS (MiB) | RssAnon (MiB) | RssFile (MiB) | of it binary | of it packs |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def spread(vs, fmt):
        return f"{fmt.format(statistics.median(vs))} ({fmt.format(min(vs))}-{fmt.format(max(vs))})"

    for (project, zips, command, b), xs in results.items():
        mib = {k: [x[1].get(k, 0) / 1024 for x in xs]
               for k in ("VmHWM", "RssAnon", "RssFile", "binary", "pack")}
        lines.append(f"| {project} ({zips} zips) | {command} | {b} | {spread([x[0] for x in xs], '{:.3f}')} | "
                     f"{spread(mib['VmHWM'], '{:.0f}')} | {spread(mib['RssAnon'], '{:.0f}')} | "
                     f"{spread(mib['RssFile'], '{:.0f}')} | {spread(mib['binary'], '{:.0f}')} | "
                     f"{spread(mib['pack'], '{:.0f}')} |")
    lines += ["", END]
    section = "\n".join(lines)
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
