#!/usr/bin/env python3
"""go over a FUSE passthrough of the native GOMODCACHE, served over
/dev/fuse and over FUSE-over-io_uring (bench/uring_probe/ with SOURCE_DIR):
what the transport alone does to fresh-mount `go list -deps -test ./...`,
`go build ./...` (warm GOCACHE) and `go mod verify`, against native disk.

Both transports run the same trivial handlers (lstat, pread, read_dir of
the page-cached native cache), so the difference between them is the
round trip; gomodfs's own handlers are not in it. Each run mounts afresh
(a new server process and kernel mount); variants interleave; median
(min-max) of --runs after a warm-up. Needs root and the work directory of
bench/run.py (filled on first use).

Usage: sudo bench/uring_go.py [--runs 7] [--projects realapp,bigapp]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (("go list -deps -test ./...", ["go", "list", "-deps", "-test", "./..."]),
            ("go build ./...", ["go", "build", "./..."]),
            ("go mod verify", ["go", "mod", "verify"]))


def probe():
    target = ROOT / "target" / "uring_probe"
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                    str(ROOT / "bench" / "uring_probe" / "Cargo.toml")],
                   env=dict(os.environ, CARGO_TARGET_DIR=str(target)), check=True)
    return target / "release" / "uring_probe"


def over(binary, mode, source, mnt, cmd, env_of, app):
    """One fresh mount of `source` over transport `mode`: the time of
    `cmd` and what the server says it answered over which transport."""
    harness.clear_mountpoint(mnt)
    p = subprocess.Popen([str(binary), str(mnt), mode, "0", "0", str(source)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 10
    while not os.path.ismount(str(mnt)):
        if time.time() > deadline or p.poll() is not None:
            sys.exit(f"uring_probe {mode} did not mount")
        time.sleep(0.01)
    try:
        t = harness.run(cmd, env_of(mnt), app)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        said = p.communicate(timeout=30)[0].strip()
    return t, said


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--projects", default="realapp,bigapp")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    args = ap.parse_args()
    binary = probe()
    bench = harness.preparer(args.work, ROOT / "target" / "release" / "gomodfs")
    rows = []
    for name in args.projects.split(","):
        base, app, filled, _store, _proxy, zips = bench.prepare(name)
        mnt = base / "uring-mnt"
        mnt.mkdir(exist_ok=True)
        for label, cmd in COMMANDS:
            res = {"native": [], "classic": [], "uring": []}
            said = {}
            for i in range(args.runs + 1):
                t = harness.run(cmd, harness.go_env(filled, bench.gocache), app)
                if i:
                    res["native"].append(t)
                for mode in ("classic", "uring"):
                    t, said[mode] = over(binary, mode, filled, mnt, cmd,
                                         lambda m: harness.go_env(m, bench.gocache), app)
                    if i:
                        res[mode].append(t)
                harness.log(f"[{name}] {label}: run {i} done")
            nat = med(res["native"])
            cells = [f"{nat[0]:.3f} ({nat[1]:.3f}-{nat[2]:.3f})"]
            for mode in ("classic", "uring"):
                m = med(res[mode])
                cells.append(f"{m[0]:.3f} ({m[1]:.3f}-{m[2]:.3f}) ({m[0] / nat[0]:.2f}x)")
            rows.append(f"| {name} ({zips} zips) | `{label}` | " + " | ".join(cells) + " |")
            harness.log(f"[{name}] {label}: {said}")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"Median of {args.runs} interleaved runs after a warm-up (min-max), seconds; "
          f"ratios against native disk. Load: `{load}`.\n")
    print("| project | command | native disk | passthrough over `/dev/fuse` | passthrough over io_uring |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
