#!/usr/bin/env python3
"""WebDAV read overhead: `go mod verify` and `go list -deps -test ./...` of
testdata/realapp with GOMODCACHE on

  native      a GOMODCACHE on local disk
  rclone      `rclone mount` of `gomodfs serve --http --offline` (warm store),
              --vfs-cache-mode off (rclone's default), the flags bench/run.py
              uses; rclone's webdav backend spaces its calls at least 10 ms
              apart (its pacer)
  rclone-nopacer  (with --rclone-new PATH, an rclone that has the option)
              the same with --webdav-pacer-min-sleep 0

Each mount is warmed up once (rclone caches listings and attributes for the
run), then the variants are interleaved in every round; each figure is the
median of N rounds (min-max). Also measured: the server's own latency per
request (keep-alive, one request at a time), by method.

Usage: bench/webdav.py [--runs N] [--work DIR] [--rclone-new PATH] [--out FILE]
"""
import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section
import goproxy as goproxy_bench
from goproxy import run, stats

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/webdav.py: begin -->"
END = "<!-- bench/webdav.py: end -->"
COMMANDS = (("go mod verify", ["go", "mod", "verify"]),
            ("go list -deps -test ./...", ["go", "list", "-deps", "-test", "./..."]))


def go_env(modcache, gocache, goproxy="off"):
    return goproxy_bench.go_env(modcache, gocache, goproxy)


class Serve(goproxy_bench.Server):
    """`gomodfs serve --http` (bench/goproxy.py's), offline or with an upstream."""

    def __init__(self, binary, store, log, proxy=None):
        # This bench reads through WebDAV only: no zip cache.
        extra = ["--zip-cache-mib", "0"]
        extra += ["--proxy", proxy, "--gosumdb", "off"] if proxy else []
        super().__init__(binary, store, log, offline=proxy is None, extra=extra)
        self.url = f"http://127.0.0.1:{self.port}/"


class Rclone:
    def __init__(self, rclone, url, mnt, log, extra=()):
        self.mnt = mnt
        mnt.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [rclone, "mount", ":webdav:", str(mnt), "--webdav-url", url, "--read-only",
             "--vfs-cache-mode", "off", "--dir-cache-time", "1000h", "--attr-timeout", "1000h",
             *extra], stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        deadline = time.time() + 30
        while not os.path.ismount(mnt):
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"rclone did not mount; see {log}")
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], capture_output=True)


def latency(port, path_file, path_dir, n=300):
    """Median and p90 (ms) of each request kind on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rows = []
    for label, method, path, headers in (
            ("GET, file in a module tree", "GET", path_file, {}),
            ("PROPFIND depth 0, that file", "PROPFIND", path_file, {"Depth": "0"}),
            ("PROPFIND depth 1, its module root", "PROPFIND", path_dir, {"Depth": "1"}),
            ("GET /status.json (no store call)", "GET", "/status.json", {})):
        xs = []
        size = 0
        for _ in range(n):
            start = time.perf_counter()
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            size = len(resp.read())
            xs.append((time.perf_counter() - start) * 1000)
        xs.sort()
        rows.append((label, statistics.median(xs), xs[int(n * 0.9)], size))
    conn.close()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--work", default=None, help="keep state here (default: a temp dir)")
    ap.add_argument("--rclone", default="rclone")
    ap.add_argument("--rclone-new", default=None,
                    help="an rclone with --webdav-pacer-min-sleep, measured with it set to 0")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "gomodfs"
    base = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gomodfs-bench-webdav-"))
    base.mkdir(parents=True, exist_ok=True)
    app, native, store, gocache = (base / n for n in ("app", "native", "store", "gocache"))
    for d in (app, gocache):
        d.mkdir(exist_ok=True)
    for f in ("go.mod", "go.sum", "main.go"):
        shutil.copy(ROOT / "testdata" / "realapp" / f, app / f)
    log = base / "gomodfs.log"
    upstream = os.environ.get("GOPROXY", "https://proxy.golang.org")

    # A native cache (once), and the store filled from it.
    if not native.exists():
        run(["go", "mod", "download"], go_env(native, gocache, upstream), app)
    fill = Serve(binary, store, log, proxy=(native / "cache" / "download").as_uri())
    scratch = Path(tempfile.mkdtemp(prefix="modcache-", dir=base))
    run(["go", "mod", "download"], go_env(scratch, gocache, fill.url + "proxy/"), app)
    shutil.rmtree(scratch)
    fill.close()

    server = Serve(binary, store, log)
    variants = [("native", None)]
    mounts = [Rclone(args.rclone, server.url, base / "mnt-rclone", log)]
    variants.append(("rclone", mounts[0]))
    if args.rclone_new:
        mounts.append(Rclone(args.rclone_new, server.url, base / "mnt-rclone-nopacer", log,
                             ["--webdav-pacer-min-sleep", "0"]))
        variants.append(("rclone-nopacer", mounts[1]))
    version = lambda r: subprocess.run([r, "version"], capture_output=True, text=True).stdout.split("\n")[0]

    results = {}
    loads = []
    for label, cmd in COMMANDS:
        for name, m in variants:  # warm-up: rclone lists every directory once
            run(cmd, go_env(m.mnt if m else native, gocache), app)
        for _ in range(args.runs):
            for name, m in variants:
                t = run(cmd, go_env(m.mnt if m else native, gocache), app)
                results.setdefault((label, name), []).append(t)
            loads.append(os.getloadavg()[0])

    some = next((native / "github.com" / "spf13").glob("cobra@*"))
    rel = some.relative_to(native)
    lat = latency(server.port, f"/{rel}/command.go", f"/{rel}/")
    for m in mounts:
        m.close()
    server.close()

    fmt = lambda s: f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"
    head = "| command | native disk | rclone (pacer 10 ms) |"
    sep = "| --- | --- | --- |"
    if args.rclone_new:
        head += " rclone, `--webdav-pacer-min-sleep 0` |"
        sep += " --- |"
    rows = []
    for label, _ in COMMANDS:
        nat = stats(results[(label, "native")])
        row = f"| `{label}` | {fmt(nat)} |"
        for name, _ in variants[1:]:
            s = stats(results[(label, name)])
            row += f" {fmt(s)} ({s[0] / nat[0]:.2f}x) |"
        rows.append(row)
    lines = [
        BEGIN,
        "## WebDAV through rclone: where the time goes (bench/webdav.py)",
        "",
        "Project: `testdata/realapp`, warm store, `gomodfs serve --http --offline`; `rclone mount`",
        "with `--read-only --vfs-cache-mode off --dir-cache-time 1000h --attr-timeout 1000h`,",
        "each mount warmed up once. Median of "
        f"{args.runs} rounds (min-max), seconds, variants interleaved in each round.",
        f"rclone: {version(args.rclone)}"
        + (f"; no-pacer variant: {version(args.rclone_new)}" if args.rclone_new else "") + ".",
        "",
        head,
        sep,
        *rows,
        "",
        "Server latency per request, one kept-alive connection, one request at a time",
        "(milliseconds, client included):",
        "",
        "| request | median | p90 | body bytes |",
        "| --- | --- | --- | --- |",
        *[f"| {l} | {m:.3f} | {p:.3f} | {b} |" for l, m, p, b in lat],
        "",
        f"Machine: {os.cpu_count()} CPUs, load average {min(loads):.1f}-{max(loads):.1f} during the runs.",
        "",
        "Reproduce: `python3 bench/webdav.py --runs 3 [--rclone-new PATH]` (needs rclone and,",
        "once, the Go module proxy).",
        END,
    ]
    table = "\n".join(lines)
    print(table)
    write_section(Path(args.out), table, BEGIN, END)


if __name__ == "__main__":
    main()
