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
  memory   Peak RSS of gomodfs (and of the Go original) during startup, read
           and cold.
  original The Go original (tailscale/gomodfs, built by .ci's peers script at
           ~/.cache/gomodfs-ci/peers/gomodfs-go, or --original BINARY) as a
           further variant of startup and read (its own HOME, so its own
           store), and `coldreal`: both with an empty store fetching from the
           real proxy (the original always uses proxy.golang.org) to a
           finished `go build ./...`, then both stores' sizes. Where it cannot
           do a workload (it answers EIO for .zip, so `go mod verify` fails),
           the table says so.
  scale    Projects of growing graphs (realapp, bigapp, scaleapp: 500+ module
           versions); bench/run.py plots start-up, fresh-mount `go list`,
           cold fetch and store size against the number of module versions.

Every variant of a workload runs in the same loop, one after the other in
each run (interleaved), so load on the machine hits all of them alike.

GOCACHE (the build cache) is warm and shared by all variants, so start-up
compares getting modules ready, not compiling.

Usage: python3 bench/run.py [--runs 5] [--projects realapp,bigapp,largeapp,scaleapp]
       [--workloads startup,read,cold,coldreal,size] [--work DIR]
       [--original BINARY|none] [--out docs/BENCHMARKS.md]
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
    # -trimpath: build cache keys do not hold the module directory, so the
    # warm GOCACHE serves every variant alike (native disk and each mount).
    env.update(GOMODCACHE=str(modcache), GOCACHE=str(gocache), GOPROXY=proxy, GOFLAGS=flags + " -trimpath",
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


def status_kib(pid):
    """VmHWM (peak RSS), RssAnon (what the process allocated itself) and
    RssFile (mapped files) of a process, in KiB; empty once it is gone."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])
    except OSError:
        pass
    return fields


def fuse_transport():
    """How gomodfs's FUSE mounts in this run were served: its default
    (`--fuse-io-uring=auto`) follows the kernel's switch."""
    try:
        on = Path("/sys/module/fuse/parameters/enable_uring").read_text().strip() == "Y"
    except OSError:
        return "over `/dev/fuse` (this kernel has no FUSE over io_uring)"
    if on:
        return "over io_uring (the kernel's switch `enable_uring` is on)"
    return ("over `/dev/fuse` (the kernel's switch `enable_uring` is off; "
            "`echo Y > /sys/module/fuse/parameters/enable_uring` turns io_uring on)")


def process_tree(pid):
    """`pid` and all its descendants still running."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return tree


def mapped_kib(pid):
    """RSS of a process's file mappings by kind, in KiB, from
    /proc/PID/smaps: `binary` (its executable), `pack` (git pack data and
    indexes of the store), `other` (shared libraries, everything else)."""
    split = {"binary": 0, "pack": 0, "other": 0}
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        path = None
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            head = line.split()
            if head and "-" in head[0] and ":" not in head[0]:
                path = head[5] if len(head) > 5 else None
            elif head and head[0] == "Rss:" and path and path.startswith("/"):
                kind = ("binary" if path == exe else
                        "pack" if path.endswith((".pack", ".idx")) else "other")
                split[kind] += int(head[1])
    except OSError:
        pass
    return split


def rm(path):
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path)


def du(path):
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def store_du(store):
    """A gomodfs store's bytes without its warm files (a cache of small
    files' contents beside the store, at most 64 MiB, safe to delete)."""
    warm = Path(store) / "gomodfs-warm.files"
    return du(store) - (warm.stat().st_size if warm.exists() else 0)


def clear_mountpoint(mnt):
    """Unmounts whatever a failed earlier run left on `mnt`: a stale mount
    there would answer the readiness check (`.gomodfs-status`) before the
    new server mounts on top of it, and a dead one answers ENOTCONN."""
    for _ in range(10):
        if not os.path.ismount(str(mnt)):
            return
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    sys.exit(f"{mnt} is still a mount point; unmount it (fusermount3 -u -z) and kill its server")


class Server:
    """A gomodfs serving a FUSE mount, or serving WebDAV that rclone mounts."""

    def __init__(self, cmd, mnt, log_path, ready, extra=None):
        self.mnt = mnt
        self.extra = extra or []
        clear_mountpoint(mnt)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))
        deadline = time.time() + 30
        while not ready():
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"{cmd[0]} did not come up; see {log_path}")
            time.sleep(0.02)

    def peak_rss_kib(self):
        """The server's peak RSS plus its child processes' (the Go
        original reads its store through a `git cat-file --batch` child,
        which holds the pack mappings our process holds itself): each
        process's VmHWM, summed, an upper bound of the tree's peak."""
        return sum(status_kib(pid).get("VmHWM", 0) for pid in process_tree(self.proc.pid))

    def cpu_seconds(self):
        """User + system CPU time the server used so far (its threads)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def original(binary, home, mnt, log_path):
    """The Go original: its store is $HOME/.cache/gomodfs and its upstream
    always proxy.golang.org."""
    home.mkdir(parents=True, exist_ok=True)
    mnt.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env["HOME"] = str(home)
    srv = Server.__new__(Server)
    srv.mnt, srv.extra = mnt, []
    srv.proc = subprocess.Popen([str(binary), "--mount", str(mnt)], env=env, cwd=home,
                                stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))
    deadline = time.time() + 30
    while not os.path.ismount(mnt):
        if time.time() > deadline or srv.proc.poll() is not None:
            sys.exit(f"the Go original did not mount; see {log_path}")
        time.sleep(0.02)
    return srv


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


def ratio(a, b):
    return f"{a[0] / b[0]:.2f}x"


# The pinned projects under testdata/ and what each is measured with; a
# project not named here gets DEFAULT_PROJECT. read: the READ_COMMANDS (by
# short name) it runs; original: whether the Go original is measured on it;
# runs: overrides --runs; warmup: whether each variant runs once unmeasured.
DEFAULT_PROJECT = {"read": ("verify", "list", "build"), "original": True, "runs": None, "warmup": True}
PROJECTS = {
    "realapp": {},
    "bigapp": {},
    # 86 zips, several large (Docker client, a cloud SDK, x/text, protobuf).
    "largeapp": {},
    # 538 module versions, 2.4 GB of modules: start-up, fresh-mount `go list`
    # and cold fetch only, each once (a run takes minutes).
    "scaleapp": {"read": ("list",), "original": False, "runs": 1, "warmup": False},
}


def project(name):
    return {**DEFAULT_PROJECT, **PROJECTS.get(name, {})}


# Commands of the read workload: (label, argv, short name for the plot).
READ_COMMANDS = [
    ("go mod verify", ["go", "mod", "verify"], "verify"),
    ("go list -deps -test ./...", ["go", "list", "-deps", "-test", "./..."], "list"),
    ("go build ./...", ["go", "build", "./..."], "build"),
]

# What the Go original cannot do, and why (checked: the command fails).
ORIGINAL_CANNOT = {
    "verify": "fails: the original answers EIO for `.zip` files, which `go mod verify` reads",
}


def preparer(work, binary, runs=1):
    """A Bench for the other bench scripts: it prepares projects (this
    harness's layout under `work`, stores filled by `binary`) and runs
    their helpers, without the checks of a full run (release build, rclone,
    the Go original)."""
    b = Bench.__new__(Bench)
    b.args = argparse.Namespace(work=str(work), runs=runs, webdav_projects="", original="none")
    b.work = Path(work)
    b.work.mkdir(parents=True, exist_ok=True)
    b.binary = Path(binary)
    b.log = b.work / "gomodfs.log"
    b.gocache = b.work / "gocache"
    b.gocache.mkdir(exist_ok=True)
    b.original = None
    b.scale = {}
    b.rows, b.ratios, b.peak_rss, b.notes = {}, [], {}, []
    return b


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
        self.peak_rss = {}  # (workload, project) -> {variant: KiB}
        self.scale = {}     # project -> {"modules": n, "zips": n, figure: seconds or bytes}
        self.notes = []
        self.has_http = "--http" in subprocess.run([str(self.binary), "serve", "--help"],
                                                   capture_output=True, text=True).stdout
        self.has_rclone = shutil.which("rclone") is not None
        orig = Path(args.original).expanduser() if args.original != "none" else None
        self.original = orig if orig and orig.is_file() else None
        if args.original != "none" and not self.original:
            self.notes.append(f"The Go original: not measured ({args.original} does not exist; "
                              "build it with shared/peers/build.sh).")

    def times(self, fn):
        fn()  # warm-up
        return [fn() for _ in range(self.args.runs)]

    def interleaved(self, *fns, name=None):
        """Runs every variant once per run, in turn, after one warm-up run
        of each (unless project `name` says otherwise); returns their
        (median, min, max), in order."""
        conf = project(name)
        if conf["warmup"]:
            for fn in fns:
                fn()
        out = [[] for _ in fns]
        for _ in range(conf["runs"] or self.args.runs):
            for i, fn in enumerate(fns):
                out[i].append(fn())
        return [stats(xs) for xs in out]

    def uses_original(self, name):
        return self.original is not None and project(name)["original"]

    def mounted(self, start_server, cmd, app, workload, name, variant, fresh=None):
        """A variant: (empty `fresh` first, then) start a server, run `cmd`
        on its mount, record its peak RSS, stop it; the time of all that."""
        def fn():
            if fresh:
                rm(fresh)
            start = time.perf_counter()
            s = start_server()
            run(cmd, go_env(s.mnt, self.gocache), app)
            self.rss(workload, name, variant, s)
            s.close()
            return time.perf_counter() - start
        return fn

    def rss(self, workload, name, variant, server):
        per = self.peak_rss.setdefault((workload, name), {})
        per[variant] = max(per.get(variant, 0), server.peak_rss_kib())

    def note_scale(self, name, key, value):
        self.scale.setdefault(name, {})[key] = value

    # Per-project state: the app, a filled native cache (also the file://
    # proxy), a warm store, and the original's warm HOME.
    def prepare(self, name):
        base = self.work / name
        app, filled, store = base / "app", base / "filled", base / "store"
        app.mkdir(parents=True, exist_ok=True)
        for f in ("go.mod", "go.sum", "main.go"):
            shutil.copy(ROOT / "testdata" / name / f, app / f)
        if not filled.exists():
            log(f"[{name}] filling the native cache from {REAL_PROXY}")
            online = go_env(filled, self.gocache, REAL_PROXY, "-mod=mod -modcacherw")
            run(["go", "mod", "download"], online, app)
            # `go mod verify` and `go list` load the whole module graph: the
            # `.mod` files of versions without a zip (which `go mod download`
            # leaves out) must be in the cache too, since it is the file://
            # upstream the store is filled from below.
            run(["go", "mod", "verify"], online, app)
            run(["go", "build", "./..."], online, app)
            run(["go", "list", "-deps", "-test", "./..."], online, app)
        fileproxy = "file://" + str(filled / "cache" / "download")
        if not store.exists():
            log(f"[{name}] filling the store")
            mnt = base / "mnt"
            mnt.mkdir(exist_ok=True)
            s = ours(self.binary, store, mnt, self.log, fileproxy)
            run(["go", "mod", "verify"], go_env(mnt, self.gocache), app)
            run(["go", "list", "-deps", "-test", "./..."], go_env(mnt, self.gocache), app)
            s.close()
        if self.uses_original(name) and not (base / "orig-home" / ".cache" / "gomodfs").exists():
            log(f"[{name}] filling the original's store from proxy.golang.org")
            s = original(self.original, base / "orig-home", base / "orig-mnt", self.log)
            run(["go", "list", "-deps", "-test", "./..."], go_env(base / "orig-mnt", self.gocache), app)
            run(["go", "build", "./..."], go_env(base / "orig-mnt", self.gocache), app)
            s.close()
        lines = [l.split() for l in (app / "go.sum").read_text().splitlines() if l.strip()]
        zips = sum(1 for l in lines if not l[1].endswith("/go.mod"))
        self.note_scale(name, "modules", len({(l[0], l[1].removesuffix("/go.mod")) for l in lines}))
        self.note_scale(name, "zips", zips)
        return base, app, filled, store, fileproxy, zips

    def startup(self, name):
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        empty = base / "empty-modcache"
        mnt = base / "mnt"

        def native():
            rm(empty)
            t = run(["go", "mod", "download"], go_env(empty, self.gocache, fileproxy, "-mod=mod -modcacherw"), app)
            return t + run(["go", "build", "./..."], go_env(empty, self.gocache), app)

        def mounted(start_server, variant):
            return self.mounted(start_server, ["go", "build", "./..."], app, "startup", name, variant)

        variants = [native, mounted(lambda: ours(self.binary, store, mnt, self.log), "gomodfs")]
        if self.uses_original(name):
            variants.append(mounted(lambda: original(self.original, base / "orig-home", base / "orig-mnt",
                                                     self.log), "original"))
        res = self.interleaved(*variants, name=name)
        a, b = res[0], res[1]
        rm(empty)
        orig = f"{fmt(res[2])} | {ratio(b, res[2])}" if len(res) > 2 else "not measured | -"
        self.rows.setdefault("startup", []).append(
            f"| {name} ({zips} zips) | {fmt(a)} | {fmt(b)} | {ratio(b, a)} | {orig} |")
        self.ratios.append((f"{name}\nstart-up", b[0] / a[0]))
        self.note_scale(name, "startup", b[0])

    def read(self, name):
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        mnt, omnt, ohome = base / "mnt", base / "orig-mnt", base / "orig-home"
        use_orig = self.uses_original(name)
        for label, cmd, short in READ_COMMANDS:
            if short not in project(name)["read"]:
                continue
            orig_ok = use_orig and short not in ORIGINAL_CANNOT

            def fresh_of(start_server, variant):
                def fn():
                    s = start_server()
                    t = run(cmd, go_env(s.mnt, self.gocache), app)
                    self.rss(f"read: {short}", name, variant, s)
                    s.close()
                    return t
                return fn

            variants = [lambda: run(cmd, go_env(filled, self.gocache), app),
                        fresh_of(lambda: ours(self.binary, store, mnt, self.log), "gomodfs")]
            if orig_ok:
                variants.append(fresh_of(lambda: original(self.original, ohome, omnt, self.log), "original"))
            nat, fr, *ofr = self.interleaved(*variants, name=name)
            # Warm kernel cache: both mounts stay up across the runs.
            s = ours(self.binary, store, mnt, self.log)
            servers = [s]
            variants = [lambda: run(cmd, go_env(mnt, self.gocache), app)]
            if orig_ok:
                servers.append(original(self.original, ohome, omnt, self.log))
                variants.append(lambda: run(cmd, go_env(omnt, self.gocache), app))
            warm, *owarm = self.interleaved(*variants, name=name)
            self.rss(f"read: {short}", name, "gomodfs", s)
            if orig_ok:
                self.rss(f"read: {short}", name, "original", servers[1])
            for srv in servers:
                srv.close()
            if use_orig and not orig_ok:
                # Say so only after seeing it fail.
                srv = original(self.original, ohome, omnt, self.log)
                failed = subprocess.run(cmd, env=go_env(omnt, self.gocache), cwd=app,
                                        capture_output=True).returncode != 0
                srv.close()
                orig_cols = (ORIGINAL_CANNOT[short] if failed else
                             "ran without error, but is listed as failing: check ORIGINAL_CANNOT")
                orig_cols += " | -"
            elif orig_ok:
                orig_cols = (f"{fmt(ofr[0])} (gomodfs {ratio(fr, ofr[0])}) | "
                             f"{fmt(owarm[0])} (gomodfs {ratio(warm, owarm[0])})")
                self.ratios.append((f"{name}\n{short} fresh\nvs original", fr[0] / ofr[0][0]))
            else:
                orig_cols = "not measured | -"
            dav = "not measured"
            if (short != "build" and self.has_http and self.has_rclone
                    and name in self.args.webdav_projects.split(",")):
                s = webdav(self.binary, store, mnt, self.log, 18080)
                d = stats(self.times(lambda: run(cmd, go_env(mnt, self.gocache), app)))
                s.close()
                dav = f"{fmt(d)} ({d[0] / nat[0]:.2f}x)"
            self.rows.setdefault("read", []).append(
                f"| {name} | `{label}` | {fmt(nat)} | {fmt(fr)} ({fr[0] / nat[0]:.2f}x) | "
                f"{fmt(warm)} ({warm[0] / nat[0]:.2f}x) | {dav} | {orig_cols} |")
            self.ratios.append((f"{name}\n{short} fresh", fr[0] / nat[0]))
            self.ratios.append((f"{name}\n{short} warm", warm[0] / nat[0]))
            if short == "list":
                self.note_scale(name, "list fresh", fr[0])
        if not (self.has_http and self.has_rclone):
            self.notes.append("WebDAV through rclone: not measured (this gomodfs has no `serve --http`"
                              " or rclone is missing).")
        elif self.args.webdav_projects == "none":
            note = ("WebDAV through rclone: not measured in this run (`--webdav-projects none`;"
                    " see the WebDAV section for its figures).")
            if note not in self.notes:
                self.notes.append(note)
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

        gomodfs = self.mounted(lambda: ours(self.binary, cold_store, mnt, self.log, fileproxy),
                               ["go", "mod", "verify"], app, "cold", name, "gomodfs", fresh=cold_store)
        a, b = self.interleaved(native, gomodfs, name=name)
        rm(empty)
        rm(cold_store)
        self.rows.setdefault("cold", []).append(
            f"| {name} | {fmt(a)} | {fmt(b)} | {b[0] / a[0]:.2f}x |")
        self.ratios.append((f"{name}\ncold fetch", b[0] / a[0]))
        self.note_scale(name, "cold", b[0])
        self.note_scale(name, "store bytes", store_du(store))
        self.note_scale(name, "native bytes", du(filled))

    def coldreal(self, name):
        """Empty stores, both fetching from the real proxy, to a finished
        `go build ./...`; then the size of each store."""
        if not self.uses_original(name):
            return
        base, app, filled, store, fileproxy, zips = self.prepare(name)
        mnt, omnt = base / "mnt", base / "orig-mnt"
        cold_store, cold_home = base / "cold-store", base / "cold-orig-home"
        proxy = "https://proxy.golang.org"

        build = ["go", "build", "./..."]
        gomodfs = self.mounted(lambda: ours(self.binary, cold_store, mnt, self.log, proxy),
                               build, app, "coldreal", name, "gomodfs", fresh=cold_store)
        orig = self.mounted(lambda: original(self.original, cold_home, omnt, self.log),
                            build, app, "coldreal", name, "original", fresh=cold_home)
        a, b = self.interleaved(gomodfs, orig, name=name)
        ours_b, orig_b = store_du(cold_store), du(cold_home / ".cache" / "gomodfs")
        rm(cold_store)
        rm(cold_home)
        self.rows.setdefault("coldreal", []).append(
            f"| {name} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} |")
        self.rows.setdefault("size", []).append(
            f"| {name}: the stores after a cold `go build ./...` (gomodfs / the Go original) | "
            f"{orig_b / 2**20:.1f} MiB (the Go original) | {ours_b / 2**20:.1f} MiB | {ours_b / orig_b:.2f}x |")
        self.ratios.append((f"{name}\ncold real\nvs original", a[0] / b[0]))

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
        nat, ours_b = du(native), store_du(store)
        zips = sum(p.stat().st_size for p in (native / "cache" / "download").rglob("*.zip"))
        self.rows.setdefault("size", []).insert(0,
            f"| {len(SIZE_MODULES)} module versions | {nat / 2**20:.1f} MiB (zips {zips / 2**20:.1f} MiB) "
            f"| {ours_b / 2**20:.1f} MiB | {ours_b / nat:.2f}x |")
        self.ratios.append(("store\nsize", ours_b / nat))

    def report(self):
        a = self.args
        load = Path("/proc/loadavg").read_text().split()[:3]
        lines = [BEGIN, "## Results (bench/run.py)", "",
                 f"Median of {a.runs} runs after a warm-up (min-max), seconds; the variants of a workload",
                 "run interleaved (one after the other in each run); ratios are gomodfs / the",
                 "alternative in the same run (lower is better for gomodfs). Machine: "
                 f"{os.cpu_count()} CPUs, load average {' '.join(load)} at the end of the run (shared with",
                 "other work); " + subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.strip() + ".",
                 "Build cache (GOCACHE) warm and shared, so start-up measures getting modules ready.",
                 f"gomodfs's FUSE mounts: {fuse_transport()}.", ""]
        if "startup" in self.rows:
            lines += ["### 1. CI start-up to a finished `go build ./...`", "",
                      "| project | (a) `go mod download` (file:// proxy) + build | (b) gomodfs mount + build + unmount | (b)/(a) | (c) the Go original: mount + build + unmount | (b)/(c) |",
                      "| --- | --- | --- | --- | --- | --- |", *self.rows["startup"],
                      "", "Target: at most 0.5x of (a), and faster than (c).", ""]
        if "read" in self.rows:
            lines += ["### 2. Read overhead (warm store)", "",
                      "| project | command | native disk | FUSE fresh mount | FUSE warm kernel cache | WebDAV via rclone | the Go original, fresh mount | the Go original, warm kernel cache |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- |", *self.rows["read"], "",
                      "Targets: at most 1.5x native on a fresh mount, 1.1x with a warm kernel cache;",
                      "faster than the Go original. `go build ./...` runs with a warm build cache.", ""]
        if "cold" in self.rows:
            lines += ["### 3. Cold fetch (empty store, local file:// upstream)", "",
                      "| project | `go mod download` | gomodfs mount + `go mod verify` | ratio |",
                      "| --- | --- | --- | --- |", *self.rows["cold"], ""]
        if "coldreal" in self.rows:
            lines += ["### 3b. Cold fetch from the real proxy, against the Go original", "",
                      "Empty stores; both fetch from proxy.golang.org (the original cannot use another",
                      "upstream) to a finished `go build ./...` (the original cannot serve `go mod verify`).",
                      "",
                      "| project | gomodfs mount + build | the Go original mount + build | gomodfs / original |",
                      "| --- | --- | --- | --- |", *self.rows["coldreal"], ""]
        if "size" in self.rows:
            lines += ["### 4. Store size", "",
                      "| modules | native GOMODCACHE (or the Go original) | gomodfs store | ratio |", "| --- | --- | --- | --- |",
                      *self.rows["size"], "", "Target: at most 0.5x of native. The gomodfs store without its warm files",
                      "(`gomodfs-warm.files`: a cache of the small files the last mounts read, uncompressed,",
                      "at most 64 MiB, safe to delete).", ""]
        if self.peak_rss:
            variants = sorted({v for per in self.peak_rss.values() for v in per})
            lines += ["### 5. Peak RSS", "",
                      "| workload | project | " + " | ".join(variants) + " |",
                      "| --- | --- | " + " | ".join("---" for _ in variants) + " |",
                      *[f"| {w} | {p} | " + " | ".join(
                          f"{per[v] / 1024:.0f} MiB" if v in per else "-" for v in variants) + " |"
                        for (w, p), per in self.peak_rss.items()], "",
                      "The largest VmHWM of a server over the runs of a workload, plus its child",
                      "processes' (the Go original reads its store through a `git cat-file --batch`",
                      "child; gomodfs maps the store's packs in its own process); `read: verify`,",
                      "`read: list`, `read: build`: one server per fresh-mount run and one warm server",
                      "per command. Mapped files (the binary, the packs) count; they are shared and",
                      "reclaimable page cache.", ""]
        if not self.original:
            lines += ["### 6. The Go original", "",
                      "Not measured in this run (no binary; see the notes).", ""]
        scale_png = self.plot_scale()
        if scale_png:
            lines += ["### 7. Scale: cost against the size of the graph", "",
                      "| project | module versions (zips) | start-up | `go list` fresh mount | cold fetch | native cache | gomodfs store |",
                      "| --- | --- | --- | --- | --- | --- | --- |",
                      *[f"| {p} | {d['modules']} ({d['zips']}) | {d.get('startup', 0):.2f} s | "
                        f"{d.get('list fresh', 0):.2f} s | {d.get('cold', 0):.2f} s | "
                        f"{d.get('native bytes', 0) / 2**20:.0f} MiB | {d.get('store bytes', 0) / 2**20:.0f} MiB |"
                        for p, d in sorted(self.scale.items(), key=lambda kv: kv[1]['modules'])],
                      "", f"![cost against graph size]({scale_png.name})", ""]
        if self.notes:
            lines += ["Notes:", *[f"- {n}" for n in self.notes], ""]
        png = self.plot()
        if png:
            lines += [f"![ratios]({png.name})", ""]
        lines += ["Reproduce: `python3 bench/run.py --runs 5` (builds the release binary; needs go,",
                  "fusermount3, the Go original at ~/.cache/gomodfs-ci/peers/gomodfs-go, and the Go",
                  "module proxy once per work directory).", END]
        return "\n".join(lines)

    def pyplot(self):
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
        return plt

    def plot(self):
        plt = self.pyplot()
        if not plt:
            return None
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

    def plot_scale(self):
        """Time (and store size) against the number of module versions in
        the graph, one point per project; needs two projects or more."""
        points = sorted((d["modules"], p, d) for p, d in self.scale.items()
                        if any(k in d for k in ("startup", "list fresh", "cold")))
        if len(points) < 2:
            return None
        plt = self.pyplot()
        if not plt:
            return None
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        xs = [m for m, _, _ in points]
        for key, label in (("startup", "start-up (mount + go build)"),
                           ("list fresh", "go list -deps -test, fresh mount"),
                           ("cold", "cold fetch (mount + go mod verify)")):
            pts = [(m, d[key]) for m, _, d in points if key in d]
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=label)
        for m, p, _ in points:
            ax.annotate(p, (m, 0), textcoords="offset points", xytext=(0, 4), fontsize=8, ha="center")
        ax.set_xlabel("module versions in the graph (go.sum)")
        ax.set_ylabel("seconds (median)")
        ax.set_title("gomodfs: time against graph size")
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
        for key, label in (("native bytes", "native GOMODCACHE"), ("store bytes", "gomodfs store")):
            pts = [(m, d[key] / 2**20) for m, _, d in points if key in d]
            if pts:
                ax2.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=label)
        ax2.set_xlabel("module versions in the graph (go.sum)")
        ax2.set_ylabel("MiB")
        ax2.set_title("size against graph size")
        ax2.legend(fontsize=8)
        ax2.set_ylim(bottom=0)
        fig.tight_layout()
        out = Path(self.args.out).parent / "benchmarks-scale.png"
        fig.savefig(out, dpi=110)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--projects", default="realapp,bigapp,largeapp,scaleapp")
    ap.add_argument("--workloads", default="startup,read,cold,coldreal,size")
    ap.add_argument("--webdav-projects", default="realapp",
                    help="projects whose read overhead is also measured through WebDAV + rclone")
    ap.add_argument("--coldreal-projects", default="realapp,bigapp",
                    help="projects fetched cold from the real proxy against the Go original "
                         "(each run downloads the whole graph twice)")
    ap.add_argument("--original", default="~/.cache/gomodfs-ci/peers/gomodfs-go",
                    help="the Go original's binary, or `none`")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "gomodfs-bench"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--no-build", action="store_true",
                    help="use target/release/gomodfs as it is (no `cargo build --release` first)")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    b = Bench(args)
    workloads = args.workloads.split(",")
    for name in args.projects.split(","):
        for w in ("startup", "read", "cold", "coldreal"):
            if w == "coldreal" and name not in args.coldreal_projects.split(","):
                continue
            if w in workloads:
                log(f"[{name}] {w}")
                getattr(b, w)(name)
                # What is measured so far is published at once: a long run
                # cut short still leaves its figures.
                write_section(Path(args.out), b.report(), BEGIN, END)
    if "size" in workloads:
        log("[size]")
        b.size()
    section = b.report()
    print(section)
    write_section(Path(args.out), section, BEGIN, END)


if __name__ == "__main__":
    main()
