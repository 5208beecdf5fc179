#!/usr/bin/env python3
"""gomodfs cacheprog (GOCACHEPROG) against go's own GOCACHE, side by side in
one run, on a pinned real project (default bigapp). Modules come from a
native GOMODCACHE (filled once per --work directory from the module proxy,
or given with --modcache), so only the build cache differs.

Workloads (median of --runs runs after a warm-up, with min-max):
  warm   `go build` with everything cached: (a) go's GOCACHE on local disk,
         warm; (b) an empty GOCACHE and GOCACHEPROG=gomodfs cacheprog over a
         warm directory. Target: (b)/(a) <= 1.1.
  cold   `go build` from nothing: (a) an empty GOCACHE; (b) an empty GOCACHE
         and an empty cacheprog directory (the cost of writing through).
  peer   (with --remote-bench and the peer built) a fresh host with a warm
         remote: not measured by this script yet.

Usage: python3 bench/cacheprog.py [--runs 5] [--project bigapp]
       [--work DIR] [--modcache DIR] [--out docs/BENCHMARKS.md]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from goproxy import go_env as goproxy_env, run
from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/cacheprog.py: begin -->"
END = "<!-- bench/cacheprog.py: end -->"
REAL_PROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].split("|")[0]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def go_env(modcache, gocache, proxy="off", cacheprog=None):
    env = goproxy_env(modcache, gocache, proxy)
    if cacheprog:
        env["GOCACHEPROG"] = cacheprog
    return env


def rm(path):
    if path.exists():
        shutil.rmtree(path)


def stat(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs):
    m, lo, hi = stat(xs)
    return f"{m:.2f} s ({lo:.2f}-{hi:.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=1)
    ap.add_argument("--project", default="bigapp")
    ap.add_argument("--work", default="/tmp/gomodfs-cacheprog-bench")
    ap.add_argument("--modcache", help="a filled GOMODCACHE for the project (read only)")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "gomodfs"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()

    binary = Path(args.binary)
    if not binary.exists():
        sys.exit(f"{binary} does not exist: cargo build --release first")
    work = Path(args.work)
    app = work / args.project / "app"
    app.mkdir(parents=True, exist_ok=True)
    for f in ("go.mod", "go.sum", "main.go"):
        shutil.copy(ROOT / "testdata" / args.project / f, app / f)
    modcache = Path(args.modcache) if args.modcache else work / args.project / "modcache"
    if not args.modcache and not modcache.exists():
        log(f"[{args.project}] filling {modcache} from {REAL_PROXY}")
        run(["go", "mod", "download"], go_env(modcache, work / "gocache-fill", REAL_PROXY), app)
    out = app / "app.bin"
    build = ["go", "build", "-o", str(out), "."]

    def prog(d, stats=None):
        words = [str(binary), "cacheprog", "--dir", str(d)]
        if stats:
            words += ["--stats-dir", str(stats)]
        return " ".join(words)

    native = work / "native-gocache"
    cpdir = work / "cacheprog-dir"
    empty = work / "empty-gocache"

    # cold: an empty GOCACHE against an empty cacheprog directory; the last
    # run leaves both warm for the next workload.
    ca, cb = [], []
    for i in range(args.cold_runs):
        log(f"cold run {i + 1}/{args.cold_runs}")
        rm(native)
        ca.append(run(build, go_env(modcache, native), app))
        rm(cpdir), rm(empty)
        cb.append(run(build, go_env(modcache, empty, cacheprog=prog(cpdir)), app))

    # warm: go's warm GOCACHE against a warm cacheprog directory (and an
    # empty GOCACHE, as on a fresh host).
    def warm_native():
        return run(build, go_env(modcache, native), app)

    def warm_prog():
        rm(empty)
        return run(build, go_env(modcache, empty, cacheprog=prog(cpdir)), app)

    warm_native(), warm_prog()
    wa, wb = [], []
    for _ in range(args.runs):  # interleaved, so load affects both alike
        wa.append(warm_native())
        wb.append(warm_prog())
    stats_dir = work / "stats"
    rm(stats_dir)
    rm(empty)
    run(build, go_env(modcache, empty, cacheprog=prog(cpdir, stats_dir)), app)
    counters = {}
    for f in stats_dir.glob("*.json"):
        for k, v in json.loads(f.read_text()).items():
            counters[k] = counters.get(k, 0) + v

    ratio_w = stat(wb)[0] / stat(wa)[0]
    ratio_c = stat(cb)[0] / stat(ca)[0]
    cpu = os.cpu_count()
    go_version = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    lines = [
        BEGIN,
        "## Build cache: `gomodfs cacheprog` against go's GOCACHE (bench/cacheprog.py)",
        "",
        f"`python3 bench/cacheprog.py --project {args.project} --runs {args.runs} "
        f"--cold-runs {args.cold_runs}` on {cpu} cores shared with other work, {go_version}; "
        "modules from a native GOMODCACHE, so only the build cache differs. "
        "Median (min-max).",
        "",
        "| workload | go's GOCACHE (local disk) | GOCACHEPROG=gomodfs cacheprog | ratio | target |",
        "| --- | --- | --- | --- | --- |",
        f"| `go build` of {args.project}, everything cached (cacheprog: empty GOCACHE, warm directory) "
        f"| {fmt(wa)} | {fmt(wb)} | {ratio_w:.2f}x | <= 1.1x |",
        f"| `go build` of {args.project} from nothing (cost of writing through) "
        f"| {fmt(ca)} | {fmt(cb)} | {ratio_c:.2f}x | |",
        "",
        f"The warm cacheprog build: {counters.get('gets', 0)} gets, {counters.get('hits', 0)} hits, "
        f"{counters.get('puts', 0)} puts, {counters.get('hit_bytes', 0) >> 20} MiB served.",
        "",
        END,
    ]
    section = "\n".join(lines)
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
