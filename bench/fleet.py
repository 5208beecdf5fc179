#!/usr/bin/env python3
"""gomodfs fleet-tier benchmarks (--remote on a real S3 server, SeaweedFS on
127.0.0.1), side by side in one run:

  newhost  A new host (empty local store) to a finished `go build ./...`:
           (r) gomodfs mount on a warm bucket, (p) `gomodfs prefetch` of the
           project from the warm bucket (8 modules at once), then (r),
           (u) gomodfs mount fetching from the upstream (a local file://
           proxy), (d) `go mod download` from that proxy + build. Target:
           (r) at most 0.5x of (d).
  modproxy The module-proxy role, `go mod download` of the project into an
           empty GOMODCACHE, warm bucket and empty local disk: gomodfs
           `serve --http --remote` against go-cache-plugin `serve --modproxy`
           (built from ../shared/peers) on the same SeaweedFS.
  Also: peak RSS of gomodfs, and upload throughput while filling the bucket.

Usage: python3 bench/fleet.py [--runs 3] [--project bigapp] [--work DIR]
       [--binary target/release/gomodfs] [--out docs/BENCHMARKS.md]
       [--only newhost,modproxy] [--baseline OTHER_GOMODFS_BINARY]
Needs go, fusermount3, weed (.ci/seaweedfs.sh), and once per --work
directory the Go module proxy (the project's modules; the peer's warm-up).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base  # noqa: E402  (the main harness: project preparation, helpers)
from sections import write_section  # noqa: E402
import weed as seaweed  # noqa: E402

ROOT = base.ROOT
BEGIN = "<!-- bench/fleet.py: begin -->"
END = "<!-- bench/fleet.py: end -->"
KEY, SECRET, BUCKET = "bench", "bench-secret", "bench"
CACHE = Path(os.environ.get("GOMODFS_CI_CACHE", Path.home() / ".cache" / "gomodfs-ci"))


class Weed:
    """SeaweedFS (bench/weed.py) with one bucket, telemetry off."""

    def __init__(self, work):
        weed = os.environ.get("GOMODFS_WEED") or str(
            next(CACHE.glob("seaweedfs-*/weed"), ""))
        if not weed or not Path(weed).exists():
            sys.exit("no weed binary: run .ci/seaweedfs.sh (or set GOMODFS_WEED)")
        self.dir = Path(tempfile.mkdtemp(prefix="weed-", dir=work))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        self.log = open(self.dir / "weed.log", "w")
        try:
            self.proc, self.url = seaweed.start(weed, self.dir / "data", BUCKET, env, self.log)
        except RuntimeError as e:
            sys.exit(str(e))

    def endpoint(self):
        return self.url

    def env(self):
        return dict(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                    AWS_ENDPOINT_URL=self.endpoint())

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Fleet:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.binary = Path(args.binary)
        # The main harness's project preparation, with this binary.
        self.bench = base.preparer(self.work, self.binary, args.runs)
        self.rows = {}
        self.notes = []
        self.peak_rss = 0
        # Server CPU seconds, and go's summed request times, per modproxy
        # variant (warm-up included).
        self.cpu = {}
        self.waits = {}

    def mount(self, store, mnt, log_path, remote=None, proxy=None):
        cmd = [str(self.binary), "mount", str(mnt), "--store", str(store), "--flush-timeout", "300"]
        cmd += ["--proxy", proxy] if proxy else ["--offline"]
        if remote:
            cmd += ["--remote", remote]
        return base.Server(cmd, mnt, log_path, lambda: (mnt / ".gomodfs-status").exists())

    def mnt(self):
        """The one mount point of every variant: GOCACHE keys include the
        module directories' paths, so a fixed path keeps the build cache warm
        and the runs measure getting modules ready, not compiling."""
        m = self.work / "fleet-mnt"
        m.mkdir(exist_ok=True)
        return m

    def status(self, mnt):
        return json.loads((mnt / ".gomodfs-status").read_text())

    def rss(self, server):
        self.peak_rss = max(self.peak_rss, server.peak_rss_kib())

    def run(self):
        a = self.args
        name = a.project
        _, app, filled, _, fileproxy, zips = self.bench.prepare(name)
        self.weed = Weed(self.work)
        # Every process started from here (gomodfs, the peer) talks to it.
        os.environ.update(self.weed.env())
        # The upstream is a local file:// copy of the real proxy: gomodfs
        # checks nothing against the checksum database here (as bench/run.py;
        # bench/sumdb.py measures what checking costs).
        os.environ["GOSUMDB"] = "off"
        try:
            self.fill(name, app, fileproxy)
            if "newhost" in a.only:
                self.newhost(name, app, fileproxy, zips)
            if "modproxy" in a.only:
                self.modproxy(name, app, fileproxy)
        finally:
            self.weed.close()

    def fill(self, name, app, fileproxy):
        """Warms the bucket from the file:// upstream; measures uploads."""
        self.remote = f"s3://{BUCKET}/gomodfs-{int(time.time())}"
        d = Path(tempfile.mkdtemp(prefix="fill-", dir=self.work))
        mnt = self.mnt()
        start = time.perf_counter()
        s = self.mount(d / "store", mnt, d / "fill.log", self.remote, fileproxy)
        base.run(["go", "mod", "verify"], base.go_env(mnt, self.bench.gocache), app)
        base.run(["go", "build", "./..."], base.go_env(mnt, self.bench.gocache), app)
        up = self.status(mnt)["remote"]["uploads"]
        self.rss(s)
        s.close()  # SIGTERM: waits for the uploads (--flush-timeout)
        took = time.perf_counter() - start
        log = (d / "fill.log").read_text()
        if "not finished within --flush-timeout" in log:
            sys.exit("the fill did not finish its uploads")
        self.rows["fill"] = (f"| {name} | {up['done'] + up['pending']} | {up['bytes'] / 2**20:.1f} MiB "
                             f"| {took:.1f} s | {up['bytes'] / 2**20 / took:.1f} MiB/s |")
        base.rm(d)

    def newhost(self, name, app, fileproxy, zips):
        gocache = self.bench.gocache

        def host(remote, proxy, prefetch=False):
            def go():
                d = Path(tempfile.mkdtemp(prefix="host-", dir=self.work))
                mnt = self.mnt()
                start = time.perf_counter()
                if prefetch:
                    # The CI recipe for a new host: fetch the project's
                    # modules in parallel (8 at once) from the bucket, then
                    # mount and build. It exits 1 here: go.sum names zips
                    # that go never downloaded (so neither the file://
                    # upstream nor the bucket has them); what go needs is
                    # fetched, which the build checks.
                    base.run([str(self.binary), "prefetch", "--store", str(d / "store"), "--proxy", proxy,
                              "--remote", remote, "--flush-timeout", "300", str(app)], check=False)
                s = self.mount(d / "store", mnt, d / "host.log", remote, proxy)
                base.run(["go", "build", "./..."], base.go_env(mnt, gocache), app)
                if remote:
                    r = self.status(mnt)["remote"]
                    if r["validation_failures"] or r["errors"]:
                        sys.exit(f"remote refused or failed: {r}")
                self.rss(s)
                s.close()
                t = time.perf_counter() - start
                base.rm(d)
                return t
            return go

        def download():
            mc = self.work / "fleet-modcache"  # fixed, like the mount point
            base.rm(mc)
            t = base.run(["go", "mod", "download"],
                         base.go_env(mc, gocache, fileproxy, "-mod=mod -modcacherw"), app)
            t += base.run(["go", "build", "./..."], base.go_env(mc, gocache), app)
            base.rm(mc)
            return t

        r = base.stats(self.bench.times(host(self.remote, fileproxy)))
        p = base.stats(self.bench.times(host(self.remote, fileproxy, prefetch=True)))
        u = base.stats(self.bench.times(host(None, fileproxy)))
        dl = base.stats(self.bench.times(download))
        self.rows["newhost"] = (f"| {name} ({zips} zips) | {base.fmt(r)} | {base.fmt(p)} | {base.fmt(u)} "
                                f"| {base.fmt(dl)} | {r[0] / dl[0]:.2f}x | {p[0] / dl[0]:.2f}x |")

    def modproxy(self, name, app, fileproxy):
        gocache = self.bench.gocache
        peer = CACHE / "peers" / "go-cache-plugin"

        def download(goproxy, key):
            """`go mod download -x` through `goproxy`: its time; the sum of
            go's request times (what the proxy makes go wait, less noisy
            than the wall time, which go's own extraction dominates) goes
            to self.waits[key]."""
            d = Path(tempfile.mkdtemp(prefix="mp-", dir=self.work))
            env = base.go_env(d / "mc", gocache, goproxy, "-mod=mod -modcacherw")
            start = time.perf_counter()
            out = subprocess.run(["go", "mod", "download", "-x"], env=env, cwd=app,
                                 capture_output=True, text=True)
            t = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(f"go mod download via {goproxy} failed:\n{out.stderr[-3000:]}")
            waited = sum(float(m) for m in re.findall(r"^# get \S+: \d+ .*\(([\d.]+)s\)$",
                                                       out.stderr, re.M))
            self.waits.setdefault(key, []).append(waited)
            base.rm(d)
            return t

        def ours(binary):
            def go():
                d = Path(tempfile.mkdtemp(prefix="ours-", dir=self.work))
                port = seaweed.free_port()
                cmd = [str(binary), "serve", "--http", f"127.0.0.1:{port}", "--store", str(d / "store"),
                       "--remote", self.remote, "--proxy", fileproxy]
                s = base.Server(cmd, d, d / "serve.log", lambda: base._port_open(port))
                t = download(f"http://127.0.0.1:{port}/proxy/", str(binary))
                self.cpu.setdefault(str(binary), []).append(s.cpu_seconds())
                self.rss(s)
                s.proc.terminate()
                s.proc.wait(timeout=60)
                base.rm(d)
                return t
            return go

        def theirs(prefix):
            def go():
                d = Path(tempfile.mkdtemp(prefix="peer-", dir=self.work))
                port, plugin = seaweed.free_port(), seaweed.free_port()
                cmd = [str(peer), "serve", "--plugin", str(plugin), "--http", f"127.0.0.1:{port}",
                       "--modproxy", "--cache-dir", str(d / "cache"), "--bucket", BUCKET,
                       "--prefix", prefix, "--region", "us-east-1",
                       "--s3-endpoint-url", self.weed.endpoint(), "--s3-path-style"]
                s = base.Server(cmd, d, d / "peer.log", lambda: base._port_open(port))
                t = download(f"http://127.0.0.1:{port}/mod/", "peer")
                self.cpu.setdefault("peer", []).append(s.cpu_seconds())
                s.proc.terminate()
                s.proc.wait(timeout=60)
                base.rm(d)
                return t
            return go

        variants = [ours(self.binary)]
        if self.args.baseline:
            variants.append(ours(self.args.baseline))
        if not peer.exists():
            self.notes.append(f"go-cache-plugin not built ({peer}): run ../shared/peers/build.sh {peer.parent}")
            o = self.bench.interleaved(*variants)
            self.rows["modproxy"] = f"| {name} | {base.fmt(o[0])} | not measured | |"
            return
        # The peer fills its own objects in the bucket on the warm-up run
        # (from proxy.golang.org: it has no upstream setting). All variants
        # run in turn, so the disk's writeback state (which go's extraction
        # of every zip depends on) hits them alike.
        got = self.bench.interleaved(theirs(f"peer-{int(time.time())}"), *variants)
        p, o = got[0], got[1]
        row = f"| {name} | {base.fmt(o)} | {base.fmt(p)} | {o[0] / p[0]:.2f}x |"
        if self.args.baseline:
            b = got[2]
            row += f" {base.fmt(b)} | {b[0] / p[0]:.2f}x |"
        self.rows["modproxy"] = row
        def median(table, key):
            return base.fmt(base.stats(table[key][1:]))
        for what, table in [("CPU seconds of the server process (user + system)", self.cpu),
                            ("seconds go waited on its requests (sum over `go mod download -x`)", self.waits)]:
            self.notes.append(f"Module proxy role, {what}: gomodfs {median(table, str(self.binary))}, "
                              f"go-cache-plugin {median(table, 'peer')}"
                              + (f", baseline {median(table, str(self.args.baseline))}"
                                 if self.args.baseline else "") + ".")

    def report(self):
        a = self.args
        lines = [BEGIN, "## Fleet tier (bench/fleet.py)", "",
                 f"Median of {a.runs} runs after a warm-up (min-max), seconds. SeaweedFS `weed mini` on",
                 "127.0.0.1 as the S3 server; the upstream is a local file:// proxy; GOCACHE warm and shared.", ""]
        if "newhost" in self.rows:
            lines += ["### A new host (empty local store) to a finished `go build ./...`", "",
                      "| project | (r) gomodfs, warm bucket | (p) `gomodfs prefetch`, then (r) | (u) gomodfs, from upstream "
                      "| (d) `go mod download` + build | (r)/(d) | (p)/(d) |",
                      "| --- | --- | --- | --- | --- | --- | --- |", self.rows["newhost"], "",
                      "Target: (r) at most 0.5x of (d).", ""]
        if "modproxy" in self.rows:
            lines += ["### Module proxy role: `go mod download` into an empty GOMODCACHE", "",
                      "Warm bucket, empty local disk on the proxy host.", "",
                      "| project | gomodfs `serve --http --remote` | go-cache-plugin `serve --modproxy` | ratio |"
                      + (" baseline gomodfs | ratio |" if a.baseline else ""),
                      "| --- | --- | --- | --- |" + (" --- | --- |" if a.baseline else ""),
                      self.rows["modproxy"], "", "Target: faster than the peer."
                      + (f" Baseline: `{a.baseline}`." if a.baseline else ""), ""]
        if "fill" in self.rows:
            lines += ["### Uploads while filling the bucket (cold host, file:// upstream, `go mod verify` + build, flush)", "",
                      "| project | modules uploaded | bytes | wall time (fetch + upload + flush) | throughput |",
                      "| --- | --- | --- | --- | --- |", self.rows["fill"], ""]
        lines += [f"Peak RSS of gomodfs over these runs: {self.peak_rss / 1024:.0f} MiB.", ""]
        if self.notes:
            lines += ["Notes:", *[f"- {n}" for n in self.notes], ""]
        lines += ["Reproduce: `python3 bench/fleet.py --runs 3` (needs the release binary, weed from",
                  "`.ci/seaweedfs.sh`, the peer from `../shared/peers/build.sh ~/.cache/gomodfs-ci/peers`).", END]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--project", default="bigapp")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "gomodfs"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--only", default="newhost,modproxy",
                    help="comma-separated parts to run after the fill: newhost, modproxy")
    ap.add_argument("--baseline", default=None,
                    help="another gomodfs binary, run in turn with the others in modproxy")
    args = ap.parse_args()
    f = Fleet(args)
    f.run()
    section = f.report()
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
