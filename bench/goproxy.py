#!/usr/bin/env python3
"""GOPROXY endpoint benchmark: `go mod download` of a real project
(testdata/realapp) into a fresh, empty GOMODCACHE, from

  file://   GOPROXY=file://<native GOMODCACHE>/cache/download: the zips go
            itself downloaded, read straight from local disk
  gomodfs   GOPROXY=http://127.0.0.1:PORT/proxy/ of `gomodfs serve --http
            --offline` over a warm store, in two variants:
            - zip cache off (--zip-cache-mib 0): every .zip generated from
              the store and streamed
            - zip cache warm (the default): the generated .zips kept in
              <store>/zip-cache by the warm-up round, served from there

Both in the same run, interleaved; each figure is the median of N runs
after a warm-up, with min and max. Needs the Go module proxy once, to fill
the native cache and the store (both kept with --work).

Usage: bench/goproxy.py [--runs N] [--out docs/BENCHMARKS.md] [--work DIR]
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from run import run, stats
from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/goproxy.py: begin -->"
END = "<!-- bench/goproxy.py: end -->"


def go_env(modcache, gocache, goproxy):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOMODCACHE=str(modcache), GOCACHE=str(gocache), GOPROXY=goproxy,
        GOFLAGS="-mod=mod -modcacherw", GOTOOLCHAIN="local", GOSUMDB="off",
        GOWORK="off", GOTELEMETRY="off", CGO_ENABLED="0",
    )
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, store, log, offline, extra=()):
        self.port = free_port()
        args = [str(binary), "serve", "--http", f"127.0.0.1:{self.port}", "--store", str(store)]
        if offline:
            args.append("--offline")
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status.json", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit(f"gomodfs serve did not start; see {log}")
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/proxy/"

    def cpu_seconds(self):
        """User + system CPU the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        self.proc.terminate()
        if self.proc.wait(timeout=30) != 0:
            sys.exit("gomodfs did not exit cleanly")


def download(app, gocache, goproxy, scratch, server=None):
    """Wall seconds, go's CPU seconds and the server's CPU seconds of one
    `go mod download` (CPU time is what a loaded machine does not blur)."""
    cache = Path(tempfile.mkdtemp(prefix="modcache-", dir=scratch))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = server.cpu_seconds() if server else 0.0
    t = run(["go", "mod", "download"], go_env(cache, gocache, goproxy), app)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = (server.cpu_seconds() if server else 0.0) - served
    shutil.rmtree(cache)
    go_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return t, go_cpu, served


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--work", default=None, help="keep state here (default: a temp dir)")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "gomodfs"
    base = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gomodfs-bench-goproxy-"))
    base.mkdir(parents=True, exist_ok=True)
    app, native, store, gocache, scratch = (
        base / n for n in ("app", "native", "store", "gocache", "scratch"))
    for d in (app, gocache, scratch):
        d.mkdir(exist_ok=True)
    for f in ("go.mod", "go.sum", "main.go"):
        shutil.copy(ROOT / "testdata" / "realapp" / f, app / f)
    log = base / "gomodfs.log"
    upstream = os.environ.get("GOPROXY", "https://proxy.golang.org")

    # Fill the native cache and the store (once; both kept in --work).
    if not native.exists():
        run(["go", "mod", "download"], go_env(native, gocache, upstream), app)
    fill = Server(binary, store, log, offline=False, extra=["--zip-cache-mib", "0"])
    download(app, gocache, fill.url, scratch)
    fill.close()
    # The zip cache starts empty: the warm-up round fills it.
    shutil.rmtree(store / "zip-cache", ignore_errors=True)

    file_url = (native / "cache" / "download").as_uri()
    nocache = Server(binary, store, log, offline=True, extra=["--zip-cache-mib", "0"])
    cached = Server(binary, store, log, offline=True)
    results = {"file": [], "nocache": [], "cached": []}
    loads = []
    for i in range(args.runs + 1):
        f = download(app, gocache, file_url, scratch)
        g = download(app, gocache, nocache.url, scratch, nocache)
        c = download(app, gocache, cached.url, scratch, cached)
        if i > 0:  # the first round is the warm-up
            results["file"].append(f)
            results["nocache"].append(g)
            results["cached"].append(c)
            loads.append(os.getloadavg()[0])
    nocache.close()
    cached.close()
    cache_bytes = sum(p.stat().st_size for p in (store / "zip-cache").glob("*.zip"))

    zips = sum(1 for l in (app / "go.sum").read_text().splitlines() if "/go.mod " not in l)
    zip_bytes = sum(p.stat().st_size for p in (native / "cache" / "download").rglob("*.zip"))
    fmt = lambda s: f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"
    wall = lambda k: stats([x[0] for x in results[k]])
    cpu = lambda k, i: f"{statistics.median(x[i] for x in results[k]):.2f}"
    f, g, c = wall("file"), wall("nocache"), wall("cached")
    lines = [
        BEGIN,
        "## GOPROXY endpoint: `go mod download` from gomodfs against `file://` (issue 4)",
        "",
        f"Project: `testdata/realapp` (gin + cobra, {zips} module zips, {zip_bytes / 1e6:.1f} MB of zips",
        "as the Go proxy serves them). Each run is `go mod download` into a fresh, empty",
        "GOMODCACHE (download, check against go.sum, extract). `file://` reads the zips",
        "`go` itself downloaded from a native cache on local disk; gomodfs is",
        "`gomodfs serve --http --offline` over a warm store, either generating every",
        "`.zip` (deflate level 1) from the store and streaming it (`--zip-cache-mib 0`),",
        "or, by default, serving the zips it generated in the warm-up round from its",
        f"zip cache (`<store>/zip-cache`, {cache_bytes / 1e6:.1f} MB for this project). Median of "
        f"{args.runs} runs after a warm-up (min-max), seconds; the three variants interleaved",
        "in each round of the same run.",
        "",
        "| GOPROXY | `go mod download` | ratio | CPU s of `go` | CPU s of gomodfs |",
        "| --- | --- | --- | --- | --- |",
        f"| `file://` native download cache | {fmt(f)} | 1.00x | {cpu('file', 1)} | - |",
        f"| gomodfs `/proxy/`, zip cache off (every zip generated) | {fmt(g)} | {g[0] / f[0]:.2f}x"
        f" | {cpu('nocache', 1)} | {cpu('nocache', 2)} |",
        f"| gomodfs `/proxy/`, zip cache warm (default) | {fmt(c)} | {c[0] / f[0]:.2f}x"
        f" | {cpu('cached', 1)} | {cpu('cached', 2)} |",
        "",
        "CPU columns: medians of user + system seconds of the `go` command (children's",
        "rusage) and of the gomodfs process (/proc) during each download.",
        "",
        f"Machine: {os.cpu_count()} CPUs, load average {min(loads):.1f}-{max(loads):.1f} during the runs; "
        f"`go version`: {subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.strip()}.",
        "",
        "Reproduce: `python3 bench/goproxy.py --runs 5` (builds the release binary; needs,",
        "once, the Go module proxy).",
        END,
    ]
    table = "\n".join(lines)
    print(table)
    write_section(Path(args.out), table, BEGIN, END)


if __name__ == "__main__":
    main()
