#!/usr/bin/env python3
"""gomodfs memory benchmark: resident size of a `gomodfs mount` over a long
life, to show that it stays flat.

Workloads:
  lookups  1,000,000 lookups of distinct names (path prefixes that exist
           without any download, and names that can never exist), in 8
           threads, against an offline mount; VmRSS every 100,000 lookups,
           and after the kernel forgot its inodes (`echo 2 >
           /proc/sys/vm/drop_caches`, needs root; skipped otherwise).
  build    `go build ./...` of testdata/bigapp on one mount over a warm store,
           20 times, the kernel's inodes dropped between builds (so every
           build looks every file up again); VmRSS after each build.

The build workload reuses bench/run.py's prepared project (the first run
fills a native module cache from the Go module proxy and a store from it).
GOCACHE is warm and shared, so the builds read every source file (go hashes
them) without compiling. Writes its section of docs/BENCHMARKS.md.

Usage: python3 bench/memory.py [--lookups 1000000] [--builds 20]
       [--workloads lookups,build] [--binary target/release/gomodfs]
       [--work DIR] [--out docs/BENCHMARKS.md]
"""
import argparse
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import run as runpy
from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/memory.py: begin -->"
END = "<!-- bench/memory.py: end -->"


def vm_rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def nodes(mnt):
    import json
    try:
        return json.loads((mnt / ".gomodfs-status").read_text()).get("nodes")
    except (OSError, ValueError):
        return None


def drop_inodes():
    """Makes the kernel forget unused inodes (FORGET to gomodfs); False
    without root."""
    try:
        Path("/proc/sys/vm/drop_caches").write_text("2")
        return True
    except OSError:
        return False


def lookups(binary, work, total, rows):
    store, mnt = work / "lookup-store", work / "lookup-mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    srv = runpy.ours(binary, store, mnt, work / "gomodfs.log")
    pid = srv.proc.pid
    step = 100_000
    start = time.perf_counter()
    rows.append(f"| start | {vm_rss_kib(pid) / 1024:.1f} | {nodes(mnt)} |")

    def one(n):
        name = f"example.com/bench/p{n}" if n % 2 == 0 else f"example.com/bench/p{n}@latest"
        try:
            os.lstat(mnt / name)
        except OSError:
            pass

    with ThreadPoolExecutor(8) as pool:
        for done in range(0, total, step):
            list(pool.map(one, range(done, min(done + step, total)), chunksize=1000))
            rows.append(f"| {min(done + step, total):,} lookups | {vm_rss_kib(pid) / 1024:.1f} | {nodes(mnt)} |")
            runpy.log(rows[-1])
    took = time.perf_counter() - start
    if drop_inodes():
        time.sleep(3)
        rows.append(f"| kernel forgot its inodes | {vm_rss_kib(pid) / 1024:.1f} | {nodes(mnt)} |")
    else:
        rows.append("| (not root: could not make the kernel forget) | | |")
    peak = srv.peak_rss_kib()
    srv.close()
    return took, peak


def builds(binary, work, count, rows):
    bench = runpy.preparer(work, binary)
    base, app, _filled, store, _fileproxy, _zips = bench.prepare("bigapp")
    mnt = base / "mnt"
    mnt.mkdir(exist_ok=True)
    srv = runpy.ours(binary, store, mnt, work / "gomodfs.log")
    pid = srv.proc.pid
    rows.append(f"| mounted | {vm_rss_kib(pid) / 1024:.1f} | {nodes(mnt)} |")
    for i in range(1, count + 1):
        drop_inodes()
        t = runpy.run(["go", "build", "./..."], runpy.go_env(mnt, bench.gocache), app)
        rows.append(f"| build {i} ({t:.1f} s) | {vm_rss_kib(pid) / 1024:.1f} | {nodes(mnt)} |")
        runpy.log(rows[-1])
    peak = srv.peak_rss_kib()
    srv.close()
    return peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--builds", type=int, default=20)
    ap.add_argument("--workloads", default="lookups,build")
    ap.add_argument("--binary", default=None, help="default: a fresh release build")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    if args.binary:
        binary = Path(args.binary).resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = ROOT / "target" / "release" / "gomodfs"
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    workloads = args.workloads.split(",")
    out = [BEGIN, "## Memory over a long life (bench/memory.py)", "",
           f"Binary: `{binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary}`.", ""]
    if "lookups" in workloads:
        rows = []
        took, peak = lookups(binary, work, args.lookups, rows)
        out += [f"{args.lookups:,} lookups of distinct names in {took:.0f} s (peak RSS {peak / 1024:.1f} MiB):",
                "", "| after | VmRSS (MiB) | nodes |", "| --- | --- | --- |", *rows, ""]
    if "build" in workloads:
        rows = []
        peak = builds(binary, work, args.builds, rows)
        out += [f"`go build ./...` of bigapp {args.builds} times on one mount, inodes dropped before each "
                f"(peak RSS {peak / 1024:.1f} MiB):",
                "", "| after | VmRSS (MiB) | nodes |", "| --- | --- | --- |", *rows, ""]
    out.append(END)
    section = "\n".join(out)
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
