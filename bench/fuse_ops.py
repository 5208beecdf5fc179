#!/usr/bin/env python3
"""FUSE read overhead, variant against variant, and where the time goes.

For each project (testdata/NAME), with a warm store: `go mod verify` and
`go list -deps -test ./...` on native disk, on a fresh FUSE mount (a new
gomodfs process and a new kernel mount per run) and with a warm kernel
cache, for one or more gomodfs binaries ("variants", e.g. the branch point
and this branch), all interleaved run by run so machine load hits every
variant alike. Median (min-max) of --runs runs after a warm-up.

With --ops, one more fresh-mount run per project, command and variant logs
the FUSE requests per kind with the time their handlers took
(gomodfs_fuse::ops) and the core's counters from .gomodfs-status (tree
loads from the store: `store_module`; file loads: `store_blob`).

The work directory has bench/run.py's layout (NAME/app, NAME/filled,
NAME/store); what is missing is filled from the Go module proxy (no build:
these commands do not compile).

A variant's binary may carry `gomodfs mount` flags: `--variant
"noahead=target/release/gomodfs --no-read-ahead"`; `--first-mount` (this
script's) removes the store's warm list before each of its mounts. `--commands build` adds
`go build ./...` (warm GOCACHE, as bench/run.py).

Usage: bench/fuse_ops.py [--runs 5] [--projects realapp,bigapp,largeapp]
       [--commands verify,list,build] [--variant LABEL=BINARY ...] [--ops]
       [--work DIR] [--out docs/BENCHMARKS.md]
"""
import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402  (bench/run.py: prepare, go_env, Server)

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/fuse_ops.py: begin -->"
END = "<!-- bench/fuse_ops.py: end -->"
COMMANDS = {"verify": ("go mod verify", ["go", "mod", "verify"]),
            "list": ("go list -deps -test ./...", ["go", "list", "-deps", "-test", "./..."]),
            # Compiles: its warm-up run fills the shared GOCACHE, so the
            # measured runs have a warm build cache (as bench/run.py's).
            "build": ("go build ./...", ["go", "build", "./..."])}
OPS_LINE = re.compile(r'op="?(\w+)"? count=(\d+) ms=([\d.]+)')


def mount(binary, store, mnt, log, env=None):
    """`binary` is a path, or a path and extra `gomodfs mount` flags
    separated by spaces (a variant such as `gomodfs --no-read-ahead`).
    The flag `--first-mount` is this script's: it removes the store's warm
    list and warm files before mounting, so the mount is a store's first
    (nothing to preload, as on a store filled by `import` or another host)."""
    harness.clear_mountpoint(mnt)
    exe, *extra = shlex.split(str(binary))
    if "--first-mount" in extra:
        extra.remove("--first-mount")
        (Path(store) / "gomodfs-warm").unlink(missing_ok=True)
        (Path(store) / "gomodfs-warm.files").unlink(missing_ok=True)
    cmd = [exe, "mount", str(mnt), "--store", str(store), "--gosumdb", "off", "--offline", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "a"), env=env)
    deadline = time.time() + 30
    while not (mnt / ".gomodfs-status").exists():
        if time.time() > deadline or proc.poll() is not None:
            sys.exit(f"{binary} did not mount; see {log}")
        time.sleep(0.01)
    return proc


def transport(mnt):
    """How the mount at `mnt` takes requests (`/dev/fuse` or `io_uring`;
    gomodfs mounts take io_uring by default where the kernel's switch is
    on), from its status file; "unknown" for builds that do not say."""
    try:
        status = json.loads((mnt / ".gomodfs-status").read_text())
    except (OSError, ValueError):
        return "unknown"
    for f in status.get("frontends", []):
        if f.get("kind") == "fuse" and f.get("transport"):
            return f["transport"]
    return "unknown"


def unmount(proc, mnt):
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def timed(cmd, env, cwd):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - start


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(s, base=None):
    text = f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"
    return text + (f" ({s[0] / base[0]:.2f}x)" if base else "")


class Run:
    def __init__(self, args):
        self.args = args
        self.bench = harness.Bench(argparse.Namespace(work=args.work, runs=args.runs, out=args.out, original="none"))
        self.variants = [v.split("=", 1) for v in args.variant] or [
            ["this", str(ROOT / "target" / "release" / "gomodfs")]]
        self.rows, self.ops_rows = [], []
        self.transports = {}

    def prepare(self, name):
        base = Path(self.args.work) / name
        app, filled, store = base / "app", base / "filled", base / "store"
        app.mkdir(parents=True, exist_ok=True)
        for f in ("go.mod", "go.sum", "main.go"):
            (app / f).write_bytes((ROOT / "testdata" / name / f).read_bytes())
        gocache = self.bench.gocache
        if not filled.exists():
            harness.log(f"[{name}] filling the native cache from {harness.REAL_PROXY}")
            env = harness.go_env(filled, gocache, harness.REAL_PROXY, "-mod=mod -modcacherw")
            harness.run(["go", "mod", "download"], env, app)
            harness.run(["go", "list", "-deps", "-test", "./..."], env, app)
        if not store.exists():
            harness.log(f"[{name}] filling the store")
            mnt = base / "mnt"
            mnt.mkdir(exist_ok=True)
            proxy = "file://" + str(filled / "cache" / "download")
            s = harness.ours(self.bench.binary, store, mnt, self.bench.log, proxy)
            for _, cmd in COMMANDS.values():
                harness.run(cmd, harness.go_env(mnt, gocache), app)
            s.close()
        zips = sum(1 for l in (app / "go.sum").read_text().splitlines() if "/go.mod " not in l)
        return base, app, filled, store, zips

    def project(self, name):
        base, app, filled, store, zips = self.prepare(name)
        mnt = base / "mnt"
        mnt.mkdir(exist_ok=True)
        gocache = self.bench.gocache
        log = base / "fuse_ops.log"
        for label, cmd in (COMMANDS[c] for c in self.args.commands.split(",")):
            native = []
            fresh = {v: [] for v, _ in self.variants}
            warm = {v: [] for v, _ in self.variants}
            for i in range(self.args.runs + 1):
                t = timed(cmd, harness.go_env(filled, gocache), app)
                if i:
                    native.append(t)
                for v, binary in self.variants:
                    p = mount(binary, store, mnt, log)
                    if not i:
                        # In the warm-up run only: reading the status costs requests.
                        self.transports[v] = transport(mnt)
                    t = timed(cmd, harness.go_env(mnt, gocache), app)
                    w = timed(cmd, harness.go_env(mnt, gocache), app)
                    unmount(p, mnt)
                    if i:
                        fresh[v].append(t)
                        warm[v].append(w)
                harness.log(f"[{name}] {label}: run {i} done")
            nat = med(native)
            cells = [fmt(nat)]
            for v, _ in self.variants:
                cells += [fmt(med(fresh[v]), nat), fmt(med(warm[v]), nat)]
            self.rows.append(f"| {name} ({zips} zips) | `{label}` | " + " | ".join(cells) + " |")
            if self.args.ops:
                for v, binary in self.variants:
                    self.ops_rows.append(self.ops(name, label, cmd, v, binary, store, mnt, app, log))

    def ops(self, name, label, cmd, variant, binary, store, mnt, app, log):
        """One fresh-mount run that logs the FUSE requests per kind."""
        import os
        env = dict(os.environ, RUST_LOG="gomodfs_fuse::ops=debug,warn", NO_COLOR="1")
        start = log.stat().st_size if log.exists() else 0
        p = mount(binary, store, mnt, log, env)
        t = timed(cmd, harness.go_env(mnt, self.bench.gocache), app)
        status = json.loads((mnt / ".gomodfs-status").read_text())
        unmount(p, mnt)
        with open(log) as f:
            f.seek(start)
            text = f.read()
        fuse = {m[1]: (int(m[2]), float(m[3])) for m in OPS_LINE.finditer(text)}
        core = status.get("ops", {})

        def c(op):
            o = core.get(op, {})
            return f"{o.get('ended', 0)} ({o.get('total_seconds', 0) * 1000:.0f} ms)"
        fuse_cells = ", ".join(f"{k} {n} ({ms:.0f} ms)" for k, (n, ms) in
                               sorted(fuse.items(), key=lambda kv: -kv[1][1]))
        return (f"| {name} | `{label}` | {variant} | {t:.3f} | {fuse_cells or 'not logged'} | "
                f"{c('store_module')} | {c('store_blob')} |")

    def report(self):
        a = self.args
        head = "| project | command | native disk |"
        sep = "| --- | --- | --- |"
        for v, _ in self.variants:
            head += f" {v}: FUSE fresh | {v}: FUSE warm |"
            sep += " --- | --- |"
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        lines = [BEGIN, "## FUSE read overhead per variant (bench/fuse_ops.py)", "",
                 f"Median of {a.runs} interleaved runs after a warm-up (min-max), seconds; ratios "
                 "against native disk in the same run. Variants: "
                 + ", ".join(f"`{v}` (over {self.transports.get(v, 'unknown')})" for v, _ in self.variants)
                 + f". Load: `{load}`.", "",
                 head, sep, *self.rows, ""]
        if self.ops_rows:
            lines += ["FUSE requests of one fresh-mount run (count, and time in the handlers), "
                      "and the core's store loads (`store_module`: module trees; `store_blob`: file contents):", "",
                      "| project | command | variant | seconds | FUSE requests | store_module | store_blob |",
                      "| --- | --- | --- | --- | --- | --- | --- |", *self.ops_rows, ""]
        lines += [f"Reproduce: `python3 bench/fuse_ops.py --runs {a.runs} --ops --commands {a.commands}"
                  + "".join(f" --variant {v}=BINARY" for v, _ in self.variants) + "`.", END]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--projects", default="realapp,bigapp,largeapp")
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL=BINARY or 'LABEL=BINARY FLAGS', repeatable (default: this tree's release build)")
    ap.add_argument("--commands", default="verify,list",
                    help="of verify, list, build (build runs with a warm GOCACHE)")
    ap.add_argument("--ops", action="store_true", help="also log FUSE requests per kind")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    if not args.variant:
        # Only the default variant is this tree's build.
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    r = Run(args)
    for name in args.projects.split(","):
        r.project(name)
    section = r.report()
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
