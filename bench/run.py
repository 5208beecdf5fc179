#!/usr/bin/env python3
"""gomodfs benchmark harness: gomodfs against a native GOMODCACHE and against
`go mod download`, side by side in one run, on pinned real projects.

Workloads (each figure: median of --runs runs after a warm-up, with min-max;
ratios are taken pair by pair from the same run):
  startup  CI start-up to a finished `go build ./...`:
           (a) `go mod download` into an empty GOMODCACHE from GOPROXY=file://
               over a pre-filled download cache, then build;
           (b) mount gomodfs (warm store), build, unmount.
  read     Read overhead with a warm store: `go mod verify` and
           `go list -deps -test ./...` on native disk, on a fresh FUSE mount,
           on a FUSE mount with a warm kernel cache, and through WebDAV mounted
           by rclone (when this gomodfs has `serve --http`).
  cold     Empty store, upstream a local file:// proxy: a fresh mount to a
           finished `go mod verify`, against `go mod download` of the graph.
  size     Store bytes after several versions of the same modules, against a
           native GOMODCACHE holding the same (zips and extracted trees).
  memory   Peak RSS of gomodfs during startup, read and cold, per project.
The Go original (tailscale/gomodfs) could not be installed here (the module
proxy answers 403 for it); the report says so.

GOCACHE (the build cache) is warm and shared by all variants, so start-up
compares getting modules ready, not compiling.

Usage: python3 bench/run.py [--runs 5] [--projects realapp,bigapp,largeapp]
       [--workloads startup,read,cold,size] [--work DIR] [--out docs/BENCHMARKS.md]
Needs go, fusermount3 and, once per --work directory, the Go module proxy.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/run.py: begin -->"
END = "<!-- bench/run.py: end -->"
REAL_PROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].split("|")[0]

# Several versions of the same modules, for the store-size workload.
SIZE_MODULES = [
    f"golang.org/x/text@v0.{v}.0" for v in (14, 15, 16, 17, 18)
] + [
    f"golang.org/x/net@v0.{v}.0" for v in (25, 26, 27, 28, 29)
] + [
    f"golang.org/x/sys@v0.{v}.0" for v in (20, 21, 22, 23, 24)
] + [
    f"github.com/gin-gonic/gin@v1.{v}.0" for v in (8, 9, 10)
] + [
    f"google.golang.org/protobuf@v1.{v}.0" for v in (33, 34, 35)
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def go_env(modcache, gocache, proxy="off", flags="-mod=mod"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GOMODCACHE=str(modcache), GOCACHE=str(gocache), GOPROXY=proxy, GOFLAGS=flags,
               GOTOOLCHAIN="local", GOSUMDB="off", GOWORK="off", GOTELEMETRY="off",
               CGO_ENABLED="0", GONOSUMDB="", GOPRIVATE="")
    return env


def run(cmd, env=None, cwd=None, check=True):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return elapsed


def rm(path):
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path)


def du(path):
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


class Server:
    """A gomodfs serving a FUSE mount, or serving WebDAV that rclone mounts."""

    def __init__(self, cmd, mnt, log_path, ready, extra=None):
        self.mnt = mnt
        self.extra = extra or []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))
        deadline = time.time() + 30
        while not ready():
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"{cmd[0]} did not come up; see {log_path}")
            time.sleep(0.02)

    def peak_rss_kib(self):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def close(self):
        for p in self.extra:
            p.terminate()
            p.wait(timeout=30)
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], capture_output=True)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ours(binary, store, mnt, log_path, proxy=None):
    # No checksum database: the file:// upstream has none, and go here runs
    # with GOSUMDB=off too; bench/sumdb.py measures what checking costs.
    cmd = [str(binary), "mount", str(mnt), "--store", str(store), "--gosumdb", "off"]
    cmd += ["--proxy", proxy] if proxy else ["--offline"]
    return Server(cmd, mnt, log_path, lambda: (mnt / ".gomodfs-status").exists())


def webdav(binary, store, mnt, log_path, port):
    cmd = [str(binary), "serve", "--http", f"127.0.0.1:{port}", "--store", str(store), "--offline"]
    srv = Server(cmd, mnt, log_path, lambda: _port_open(port))
    rclone = subprocess.Popen(["rclone", "mount", ":webdav:", str(mnt), "--webdav-url",
                               f"http://127.0.0.1:{port}/", "--read-only", "--vfs-cache-mode", "off",
                               "--dir-cache-time", "1000h", "--attr-timeout", "1000h"],
                              stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))
    srv.extra = [rclone]
    deadline = time.time() + 30
    while not os.path.ismount(mnt):
        if time.time() > deadline:
            sys.exit("rclone did not mount")
        time.sleep(0.05)
    return srv


def _port_open(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(s):
    return f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.binary = ROOT / "target" / "release" / "gomodfs"
        self.log = self.work / "gomodfs.log"
        self.gocache = self.work / "gocache"
        self.gocache.mkdir(exist_ok=True)
        self.rows = {}      # section -> list of markdown rows
        self.ratios = []    # (label, ratio) for the plot
        self.peak_rss = {}  # (project, workload) -> KiB
        self.notes = []
        self.has_http = "--http" in subprocess.run([str(self.binary), "serve", "--help"],
                                                   capture_output=True, text=True).stdout
        self.has_rclone = shutil.which("rclone") is not None

    def times(self, fn):
        fn()  # warm-up
        return [fn() for _ in range(self.args.runs)]

    def rss(self, project, workload, server):
        key = (project, workload)
        self.peak_rss[key] = max(self.peak_rss.get(key, 0), server.peak_rss_kib())

    # Per-project state: the app, a filled native cache (also the file://
    # proxy), a warm store.
    def prepare(self, name):
        base = self.work / name
        app, filled, store = base / "app", base / "filled", base / "store"
        app.mkdir(parents=True, exist_ok=True)
        for f in ("go.mod", "go.sum", "main.go"):
            shutil.copy(ROOT / "testdata" / name / f, app / f)
        if not filled.exists():
            log(f"[{name}] filling the native cache from {REAL_PROXY}")
            run(["go", "mod", "download"], go_env(filled, self.gocache, REAL_PROXY, "-mod=mod -modcacherw"), app)
            run(["go", "build", "./..."], go_env(filled, self.gocache), app)
            run(["go", "list", "-deps", "-test", "./..."], go_env(filled, self.gocache), app)
        fileproxy = "file://" + str(filled / "cache" / "download")
        if not store.exists():
            log(f"[{name}] filling the store")
            mnt = base / "mnt"
            mnt.mkdir(exist_ok=True)
            s = ours(self.binary, store, mnt, self.log, fileproxy)
            run(["go", "mod", "verify"], go_env(mnt, self.gocache), app)
            run(["go", "list", "-deps", "-test", "./..."], go_env(mnt, self.gocache), app)
            s.close()
        zips = sum(1 for l in (app / "go.sum").read_text().splitlines() if "/go.mod " not in l)
        return base, app, filled, store, fileproxy, zips

    def startup(self, name):
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        empty = base / "empty-modcache"
        mnt = base / "mnt"

        def native():
            rm(empty)
            t = run(["go", "mod", "download"], go_env(empty, self.gocache, fileproxy, "-mod=mod -modcacherw"), app)
            return t + run(["go", "build", "./..."], go_env(empty, self.gocache), app)

        def gomodfs():
            start = time.perf_counter()
            s = ours(self.binary, store, mnt, self.log)
            run(["go", "build", "./..."], go_env(mnt, self.gocache), app)
            self.rss(name, "startup", s)
            s.close()
            return time.perf_counter() - start

        a, b = stats(self.times(native)), stats(self.times(gomodfs))
        rm(empty)
        self.rows.setdefault("startup", []).append(
            f"| {name} ({zips} zips) | {fmt(a)} | {fmt(b)} | {b[0] / a[0]:.2f}x |")
        self.ratios.append((f"{name}\nstart-up", b[0] / a[0]))

    def read(self, name):
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        mnt = base / "mnt"
        for label, cmd in (("go mod verify", ["go", "mod", "verify"]),
                           ("go list -deps -test ./...", ["go", "list", "-deps", "-test", "./..."])):
            nat = stats(self.times(lambda: run(cmd, go_env(filled, self.gocache), app)))

            def fresh():
                s = ours(self.binary, store, mnt, self.log)
                t = run(cmd, go_env(mnt, self.gocache), app)
                self.rss(name, "read", s)
                s.close()
                return t
            fr = stats(self.times(fresh))
            s = ours(self.binary, store, mnt, self.log)
            warm = stats(self.times(lambda: run(cmd, go_env(mnt, self.gocache), app)))
            self.rss(name, "read", s)
            s.close()
            dav = "not measured"
            if self.has_http and self.has_rclone and name in self.args.webdav_projects.split(","):
                s = webdav(self.binary, store, mnt, self.log, 18080)
                d = stats(self.times(lambda: run(cmd, go_env(mnt, self.gocache), app)))
                s.close()
                dav = f"{fmt(d)} ({d[0] / nat[0]:.2f}x)"
            self.rows.setdefault("read", []).append(
                f"| {name} | `{label}` | {fmt(nat)} | {fmt(fr)} ({fr[0] / nat[0]:.2f}x) | "
                f"{fmt(warm)} ({warm[0] / nat[0]:.2f}x) | {dav} |")
            short = "verify" if "verify" in label else "list"
            self.ratios.append((f"{name}\n{short} fresh", fr[0] / nat[0]))
            self.ratios.append((f"{name}\n{short} warm", warm[0] / nat[0]))
        if not (self.has_http and self.has_rclone):
            self.notes.append("WebDAV through rclone: not measured (this gomodfs has no `serve --http`"
                              " or rclone is missing).")
        elif name not in self.args.webdav_projects.split(","):
            self.notes.append(f"WebDAV through rclone: not measured for {name} (only for "
                              f"--webdav-projects {self.args.webdav_projects}; rclone, which finds names"
                              " by listing directories, takes minutes per run on a graph this size).")

    def cold(self, name):
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        mnt, empty, cold_store = base / "mnt", base / "empty-modcache", base / "cold-store"

        def native():
            rm(empty)
            return run(["go", "mod", "download"], go_env(empty, self.gocache, fileproxy, "-mod=mod -modcacherw"), app)

        def gomodfs():
            rm(cold_store)
            start = time.perf_counter()
            s = ours(self.binary, cold_store, mnt, self.log, fileproxy)
            run(["go", "mod", "verify"], go_env(mnt, self.gocache), app)
            self.rss(name, "cold", s)
            s.close()
            return time.perf_counter() - start

        a, b = stats(self.times(native)), stats(self.times(gomodfs))
        rm(empty)
        rm(cold_store)
        self.rows.setdefault("cold", []).append(
            f"| {name} | {fmt(a)} | {fmt(b)} | {b[0] / a[0]:.2f}x |")
        self.ratios.append((f"{name}\ncold fetch", b[0] / a[0]))

    def size(self):
        base = self.work / "size"
        native, store, mnt = base / "native", base / "store", base / "mnt"
        mnt.mkdir(parents=True, exist_ok=True)
        app = base / "app"
        app.mkdir(exist_ok=True)
        (app / "go.mod").write_text("module example.com/size\n\ngo 1.22\n")
        if not native.exists():
            log("[size] downloading several versions of the same modules")
            run(["go", "mod", "download", *SIZE_MODULES],
                go_env(native, self.gocache, REAL_PROXY, "-mod=mod -modcacherw"), app)
        fileproxy = "file://" + str(native / "cache" / "download")
        rm(store)
        s = ours(self.binary, store, mnt, self.log, fileproxy)
        for mv in SIZE_MODULES:
            path, ver = mv.split("@")
            esc = "".join("!" + c.lower() if c.isupper() else c for c in path)
            (mnt / "cache" / "download" / esc / "@v" / f"{ver}.ziphash").read_bytes()
        s.close()
        nat, ours_b = du(native), du(store)
        zips = sum(p.stat().st_size for p in (native / "cache" / "download").rglob("*.zip"))
        self.rows["size"] = [
            f"| {len(SIZE_MODULES)} module versions | {nat / 2**20:.1f} MiB (zips {zips / 2**20:.1f} MiB) "
            f"| {ours_b / 2**20:.1f} MiB | {ours_b / nat:.2f}x |"]
        self.ratios.append(("store\nsize", ours_b / nat))

    def report(self):
        a = self.args
        lines = [BEGIN, "## Results (bench/run.py)", "",
                 f"Median of {a.runs} runs after a warm-up (min-max), seconds; ratios are gomodfs / the",
                 "alternative in the same run (lower is better for gomodfs). Machine: "
                 f"{os.cpu_count()} CPUs; {subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.strip()}.",
                 "Build cache (GOCACHE) warm and shared, so start-up measures getting modules ready.", ""]
        if "startup" in self.rows:
            lines += ["### 1. CI start-up to a finished `go build ./...`", "",
                      "| project | (a) `go mod download` (file:// proxy) + build | (b) gomodfs mount + build + unmount | (b)/(a) |",
                      "| --- | --- | --- | --- |", *self.rows["startup"],
                      "", "Target: at most 0.5x of (a).", ""]
        if "read" in self.rows:
            lines += ["### 2. Read overhead (warm store)", "",
                      "| project | command | native disk | FUSE fresh mount | FUSE warm kernel cache | WebDAV via rclone |",
                      "| --- | --- | --- | --- | --- | --- |", *self.rows["read"], "",
                      "Targets: at most 1.5x native on a fresh mount, 1.1x with a warm kernel cache.", ""]
        if "cold" in self.rows:
            lines += ["### 3. Cold fetch (empty store, local file:// upstream)", "",
                      "| project | `go mod download` | gomodfs mount + `go mod verify` | ratio |",
                      "| --- | --- | --- | --- |", *self.rows["cold"], ""]
        if "size" in self.rows:
            lines += ["### 4. Store size (several versions of the same modules)", "",
                      "| modules | native GOMODCACHE | gomodfs store | ratio |", "| --- | --- | --- | --- |",
                      *self.rows["size"], "", "Target: at most 0.5x of native.", ""]
        if self.peak_rss:
            lines += ["### 5. Peak RSS of gomodfs", "", "| project | workload | peak RSS |", "| --- | --- | --- |",
                      *[f"| {p} | {w} | {v / 1024:.0f} MiB |" for (p, w), v in self.peak_rss.items()], ""]
        lines += ["### 6. The Go original", "",
                  "Not measured: `go install github.com/tailscale/gomodfs/...@latest` fails here (the module",
                  "proxy answers 403 for it), and no other source of it is reachable.", ""]
        if self.notes:
            lines += ["Notes:", *[f"- {n}" for n in self.notes], ""]
        png = self.plot()
        if png:
            lines += [f"![ratios]({png.name})", ""]
        lines += ["Reproduce: `python3 bench/run.py --runs 5` (builds the release binary; needs go,",
                  "fusermount3, and the Go module proxy once per work directory).", END]
        return "\n".join(lines)

    def plot(self):
        try:
            import matplotlib
        except ImportError:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=False)
            try:
                import matplotlib
            except ImportError:
                self.notes.append("plot: matplotlib could not be installed")
                return None
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        labels = [l for l, _ in self.ratios]
        values = [v for _, v in self.ratios]
        fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.9), 4))
        ax.bar(range(len(values)), values, color=["#00758f" if v <= 1 else "#c2410c" for v in values])
        ax.axhline(1.0, color="#444", linewidth=0.8)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("gomodfs / alternative (lower is better)")
        ax.set_title("gomodfs against the alternative, same run")
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        fig.tight_layout()
        out = Path(self.args.out).parent / "benchmarks.png"
        fig.savefig(out, dpi=110)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--projects", default="realapp,bigapp,largeapp")
    ap.add_argument("--workloads", default="startup,read,cold,size")
    ap.add_argument("--webdav-projects", default="realapp",
                    help="projects whose read overhead is also measured through WebDAV + rclone")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    b = Bench(args)
    workloads = args.workloads.split(",")
    for name in args.projects.split(","):
        for w in ("startup", "read", "cold"):
            if w in workloads:
                log(f"[{name}] {w}")
                getattr(b, w)(name)
    if "size" in workloads:
        log("[size]")
        b.size()
    section = b.report()
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
