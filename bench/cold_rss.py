#!/usr/bin/env python3
"""Cold fetch of the pinned projects by two (or more) gomodfs binaries,
interleaved in one run: for each round and project, a fresh store, a FUSE
mount over a file:// proxy (a filled native cache), `go mod verify`; the
time to a finished verify and the gomodfs process's peak RSS (VmHWM), and
`go mod download` of the same graph each round for reference. Made to
compare a change with the binary before it (issue 14: memory-bounded
fetches).

Usage: python3 bench/cold_rss.py --binary before=/path/gomodfs \\
           --binary after=target/release/gomodfs [--runs 3]
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

BEGIN = "<!-- bench/cold_rss.py: begin -->"
END = "<!-- bench/cold_rss.py: end -->"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", required=True, help="NAME=PATH, two or more")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--projects", default="realapp,bigapp")
    ap.add_argument("--work", default="/tmp/gomodfs-bench-cold-rss")
    ap.add_argument("--out", default=str(R.ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    bins = dict(b.split("=", 1) for b in args.binary)
    bins = {k: Path(v).resolve() for k, v in bins.items()}
    names = list(bins)

    bench = R.preparer(args.work, bins[names[0]], args.runs)

    results = {}
    for project in args.projects.split(","):
        base, app, _, _, fileproxy, zips = bench.prepare(project)
        mnt, empty, cold = base / "mnt", base / "empty-modcache", base / "cold-store"
        mnt.mkdir(exist_ok=True)

        def native():
            R.rm(empty)
            return R.run(["go", "mod", "download"],
                         R.go_env(empty, bench.gocache, fileproxy, "-mod=mod -modcacherw"), app), 0, 0

        def ours(binary):
            R.rm(cold)
            start = time.perf_counter()
            server = R.ours(binary, cold, mnt, bench.log, fileproxy)
            R.run(["go", "mod", "verify"], R.go_env(mnt, bench.gocache), app)
            took = time.perf_counter() - start
            rss = server.peak_rss_kib()
            after = R.status_kib(server.proc.pid).get("RssAnon", 0)
            server.close()
            return took, rss, after

        native()
        for b in names:
            ours(bins[b])  # warm-up
        for i in range(args.runs):
            results.setdefault((project, zips, "go mod download"), []).append(native())
            order = names if i % 2 == 0 else names[::-1]
            for b in order:
                results.setdefault((project, zips, b), []).append(ours(bins[b]))
        R.rm(empty)
        R.rm(cold)

    load = os.getloadavg()
    lines = [BEGIN, "## Cold fetch: time and peak RSS, binaries side by side (bench/cold_rss.py)", "",
             f"`python3 bench/cold_rss.py {' '.join('--binary ' + b for b in args.binary)} "
             f"--runs {args.runs} --projects {args.projects}`; median (min-max) of {args.runs} "
             f"interleaved runs after a warm-up; load average at the end {load[0]:.1f}, {load[1]:.1f}, "
             f"{load[2]:.1f} (2 shared cores). Empty store, file:// upstream, a fresh mount to a "
             "finished `go mod verify`; peak RSS is the gomodfs process's VmHWM, \"after\" its "
             "RssAnon once the verify has finished.", "",
             "| project | variant | time (s) | peak RSS (MiB) | RssAnon after (MiB) |",
             "| --- | --- | --- | --- | --- |"]
    for (project, zips, variant), xs in results.items():
        ts = [x[0] for x in xs]

        def mib(i):
            if variant == "go mod download":
                return "-"
            vs = [x[i] / 1024 for x in xs]
            return f"{statistics.median(vs):.0f} ({min(vs):.0f}-{max(vs):.0f})"
        lines.append(f"| {project} ({zips} zips) | {variant} | {statistics.median(ts):.2f} "
                     f"({min(ts):.2f}-{max(ts):.2f}) | {mib(1)} | {mib(2)} |")
    lines += ["", END]
    section = "\n".join(lines)
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
