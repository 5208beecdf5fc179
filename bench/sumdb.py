#!/usr/bin/env python3
"""What checking the checksum database costs on a cold fetch.

A fresh gomodfs store, a fresh mount, `go mod verify` of a project (every
module fetched, checked when on, stored, hashed by go): with
`--gosumdb off` and with `--gosumdb sum.golang.org` (reached through
proxy.golang.org's sumdb proxy, as go reaches it), pair by pair in one run.
Two upstreams:
  local zips  GOPROXY=file://<filled cache>,https://proxy.golang.org: the zips
              come from disk, so nothing hides the database's round trips
              (the worst case);
  real proxy  GOPROXY=https://proxy.golang.org for everything: the lookup runs
              while the zip downloads (the usual case).
Median of --runs runs (min-max), seconds. Needs the internet.

Usage: python3 bench/sumdb.py [--runs 5] [--project bigapp] [--work DIR]
       [--out docs/BENCHMARKS.md]
"""
import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from run import REAL_PROXY, ROOT, Server, fmt, go_env, log, rm, run, stats
from sections import write_section

BEGIN = "<!-- bench/sumdb.py: begin -->"
END = "<!-- bench/sumdb.py: end -->"


def cold_verify(binary, work, app, gocache, upstream, gosumdb):
    store, mnt = work / "store", work / "mnt"
    rm(store)
    mnt.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cmd = [str(binary), "mount", str(mnt), "--store", str(store), "--proxy", upstream,
           "--gosumdb", gosumdb]
    s = Server(cmd, mnt, work / "gomodfs.log", lambda: (mnt / ".gomodfs-status").exists())
    run(["go", "mod", "verify"], go_env(mnt, gocache), app)
    s.close()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--project", default="bigapp")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench-sumdb"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "gomodfs"))
    args = ap.parse_args()
    if args.binary == str(ROOT / "target" / "release" / "gomodfs"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = Path(args.work)
    app, filled, gocache = work / "app", work / "filled", work / "gocache"
    app.mkdir(parents=True, exist_ok=True)
    for f in ("go.mod", "go.sum", "main.go"):
        shutil.copy(ROOT / "testdata" / args.project / f, app / f)
    if not filled.exists():
        log(f"filling a native cache from {REAL_PROXY}")
        run(["go", "mod", "download"], go_env(filled, gocache, REAL_PROXY, "-mod=mod -modcacherw"), app)
    zips = sum(1 for l in (app / "go.sum").read_text().splitlines() if "/go.mod " not in l)
    upstreams = [
        ("local zips", f"file://{filled / 'cache' / 'download'},{REAL_PROXY}"),
        ("real proxy", REAL_PROXY),
    ]
    rows = []
    for label, upstream in upstreams:
        times = {"off": [], "sum.golang.org": []}
        for i in range(args.runs + 1):
            for gosumdb in times:
                t = cold_verify(args.binary, work, app, gocache, upstream, gosumdb)
                log(f"{label} {gosumdb} run {i}: {t:.3f}")
                if i > 0:  # the first round warms the network path
                    times[gosumdb].append(t)
        off, on = stats(times["off"]), stats(times["sum.golang.org"])
        rows.append(f"| {args.project} ({zips} zips), {label} | {fmt(off)} | {fmt(on)} | "
                    f"{on[0] / off[0]:.2f}x |")
    section = "\n".join([
        BEGIN,
        "## Checking the checksum database on a cold fetch (bench/sumdb.py)",
        "",
        f"`python3 bench/sumdb.py --runs {args.runs}`: an empty store, a fresh mount, `go mod verify`;",
        "gomodfs with `--gosumdb off` and with `--gosumdb sum.golang.org` (through",
        "proxy.golang.org's sumdb proxy), alternating, median (min-max) seconds after one",
        "warm-up round. *local zips*: zips from a file:// cache, so the database's round",
        "trips are not hidden behind downloads (worst case); *real proxy*: everything from",
        "proxy.golang.org.",
        "",
        "| project, upstream | GOSUMDB=off | sum.golang.org | ratio |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "Target: at most 1.1x.",
        END,
    ])
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
