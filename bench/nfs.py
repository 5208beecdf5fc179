#!/usr/bin/env python3
"""NFS against FUSE: read a full module tree (every file, sequentially)
through `gomodfs serve --nfs` and through `gomodfs serve --mount`, with the
store warm and every cache above it cold.

Each run starts a fresh `gomodfs serve --offline` with one frontend, reads
the tree once with `read_tree` (gomodfs-nfs/examples/read_tree.rs: the NFS
side lists with nfs3_client, READDIRPLUS pages of 64 KiB, and READs of 1
MiB by hand, each reply received into one buffer kept per connection; the
FUSE side is std::fs through the kernel, each file read into one buffer
kept per reader), and stops it. Before 2026-12-04 the READs went through
nfs3_client, which allocates and zeroes a buffer per reply and copies the
data once more: 40% of the client's CPU, page faults on fresh memory that a
kernel client does not take. Figures are medians of N runs (min-max), in MiB/s and files/s. Needs the
Go module proxy once, to fill the store.

There is no kernel NFS client in the containers this runs in, so the NFS
figure is the server plus a userspace client. With --jobs 1 it has one
request in flight; with --jobs N the tree is listed first, then its files
are read by N threads at once, each NFS thread on its own connection (a
kernel client sends several READs at once too), and the FUSE side reads
with N threads as well.

With --jobs N > 1 the floor of loopback TCP for the same READs is measured
too, in the same runs (`read_tree floor-tree`: the READs the NFS run makes,
same call and reply sizes, same threads and connections, answered by a
blocking thread per connection that only sends the reply's bytes back),
and a second table sets the read phase of FUSE and NFS (the time after the
listing) against it: what any server over TCP on this machine could do.

With --baseline BIN (another `gomodfs` binary, e.g. a release build of
main) its NFS server is measured too, in the same runs, with the same
client: the before/after of a server change. The round-trip table (the
`rtt` mode of read_tree: median NULL, GETATTR, LOOKUP, READDIRPLUS and READ round
trips with one request in flight, on a server that has read the tree once)
is measured for each server as well.

With --settle S each server (NFS and FUSE alike) has S seconds after it is
up before the tree is read. By default the read starts at once, in the
new process's first milliseconds, where NFS reads over one connection with
several READs in flight were measured at half the speed they have 0.1 s
later (docs/BENCHMARKS.md, "The floor of loopback TCP").

Usage: bench/nfs.py [--runs N] [--jobs 1,4,8] [--module PATH@VERSION ...] [--baseline BIN] [--settle S] [--out docs/BENCHMARKS.md]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench/nfs.py: begin -->"
END = "<!-- bench/nfs.py: end -->"
DEFAULT_MODULES = ["golang.org/x/text@v0.14.0", "github.com/spf13/cobra@v1.8.0"]


def escape(s):
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


class Serve:
    """A `gomodfs serve` process with one frontend."""

    def __init__(self, store, log, nfs=False, mount=None, offline=True, binary=None, settle=0.0):
        binary = binary or target_dir() / "release" / "gomodfs"
        cmd = [str(binary), "serve", "--store", str(store)]
        if offline:
            cmd.append("--offline")
        if nfs:
            cmd += ["--nfs", "127.0.0.1:0"]
        if mount:
            cmd += ["--mount", str(mount)]
        self.log = log
        start = Path(log).stat().st_size if Path(log).exists() else 0
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        self.port = None
        deadline = time.time() + 20
        while True:
            text = Path(log).read_bytes()[start:].decode(errors="replace")
            m = re.findall(r"serving NFSv3 on 127\.0\.0\.1:(\d+)", text)
            if nfs and m:
                self.port = m[-1]
                break
            if mount and not nfs and (Path(mount) / ".gomodfs-status").exists():
                break
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"gomodfs serve did not come up; see {log}")
            time.sleep(0.02)
        time.sleep(settle)

    def close(self):
        self.proc.terminate()
        if self.proc.wait(timeout=30) != 0:
            sys.exit(f"gomodfs serve did not exit cleanly; see {self.log}")


def read_tree(*args):
    out = subprocess.run(
        [str(target_dir() / "release" / "examples" / "read_tree"), *args],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"read_tree {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def measure(frontend, store, tree, work, log, jobs, baseline=None, settle=0.0):
    if frontend in ("nfs", "base", "pipe", "floor"):
        s = Serve(store, log, nfs=True, binary=baseline if frontend == "base" else None,
                  settle=settle)
        try:
            mode = {"pipe": "pipe", "floor": "floor-tree"}.get(frontend, "nfs")
            return with_jobs(read_tree(mode, s.port, tree, str(jobs)), jobs)
        finally:
            s.close()
    mnt = Path(tempfile.mkdtemp(prefix="mnt-", dir=work))
    s = Serve(store, log, mount=mnt, settle=settle)
    try:
        return with_jobs(read_tree("fs", str(mnt / tree), str(jobs)), jobs)
    finally:
        s.close()


def with_jobs(result, jobs):
    """`result`, once read_tree says it read with `jobs` readers (until
    2026-12-04 it read FUSE with one whatever it was asked)."""
    if result.get("jobs") != jobs:
        sys.exit(f"read_tree read with {result.get('jobs')} readers, asked for {jobs}")
    return result


def fmt(xs, unit):
    med = statistics.median(xs)
    return f"{med:,.1f} {unit} ({min(xs):,.1f}-{max(xs):,.1f})"


def round_trips(store, log, tree, args, variants):
    """Median round trips per procedure for each NFS server, interleaved."""
    keys = ["null_us", "getattr_us", "lookup_us", "readdirplus_us", "read_file_us"]
    res = {v: {k: [] for k in keys} for v in variants}
    for _ in range(args.runs):
        for v in variants:
            s = Serve(store, log, nfs=True, binary=args.baseline if v == "base" else None)
            try:
                read_tree("nfs", s.port, tree)
                r = read_tree("rtt", s.port, tree, str(args.rtt))
            finally:
                s.close()
            for k in keys:
                res[v][k].append(r[k])
    names = {"nfs": "this build", "base": "before (--baseline)"}
    return [[names[v]] + [fmt(res[v][k], "us") for k in keys] for v in variants]


def fuse_round_trips(store, log, work, args):
    """Median FUSE round trip of one LOOKUP of a name that does not exist
    (a new name each time, so the kernel asks the server every time), in
    microseconds, one median per run: the FUSE counterpart of the NFS
    round trips."""
    meds = []
    for _ in range(args.runs):
        mnt = Path(tempfile.mkdtemp(prefix="mnt-", dir=work))
        s = Serve(store, log, mount=mnt)
        try:
            times = []
            for i in range(args.rtt):
                t = time.perf_counter()
                try:
                    os.stat(mnt / "cache" / f"no-such-name-{i}")
                except FileNotFoundError:
                    pass
                times.append((time.perf_counter() - t) * 1e6)
            meds.append(statistics.median(times))
        finally:
            s.close()
    return fmt(meds, "us")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--module", action="append", help="PATH@VERSION (repeatable)")
    ap.add_argument("--jobs", default="1,4,8",
                    help="files read at once, comma-separated; at most 15 (each NFS reader "
                         "holds a MOUNT and an NFS connection, and the server serves 32)")
    ap.add_argument("--baseline", help="another gomodfs binary whose NFS server is measured "
                    "too (interleaved, same client)")
    ap.add_argument("--rtt", type=int, default=500, help="round trips per procedure in the "
                    "round-trip table (0: no table)")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to wait after each server is up before reading (both "
                         "frontends); 0 reads at once, in a new process's first milliseconds")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    nfs_variants = ["nfs"] + (["base"] if args.baseline else [])
    modules = args.module or DEFAULT_MODULES

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "gomodfs"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "gomodfs-nfs",
                    "--example", "read_tree"], cwd=ROOT, check=True)

    with tempfile.TemporaryDirectory(prefix="gomodfs-bench-nfs-") as work:
        work = Path(work)
        store, log = work / "store", work / "serve.log"
        trees = []
        for m in modules:
            path, version = m.split("@", 1)
            trees.append((m, f"{escape(path)}@{escape(version)}"))
        # Fill the store once, from the module proxy.
        s = Serve(store, log, nfs=True, offline=False)
        try:
            for _, tree in trees:
                read_tree("nfs", s.port, tree)
        finally:
            s.close()

        rows, floor_rows = [], []
        for (name, tree), jobs in [(t, int(j)) for t in trees for j in args.jobs.split(",")]:
            # Several readers: also over one connection with as many READs
            # in flight on it (a kernel client's one connection per mount).
            # And the floor of loopback TCP for the same READs (`read_tree
            # floor-tree`: blocking echo threads, no NFS server).
            variants = nfs_variants + (["pipe", "floor"] if jobs > 1 else [])
            res = {f: [] for f in ["fuse"] + variants}
            for _ in range(args.runs):
                for frontend in variants + ["fuse"]:
                    res[frontend].append(
                        measure(frontend, store, tree, work, log, jobs, args.baseline,
                                args.settle))
            files = res["nfs"][0]["files"]
            size = res["nfs"][0]["bytes"]
            for r in sum(res.values(), []):
                if (r["files"], r["bytes"]) != (files, size):
                    sys.exit(f"{name}: NFS and FUSE read different trees: {res}")
            row = [name, f"{files:,} files, {size / 2**20:,.1f} MiB", str(jobs)]
            med = {}
            for frontend in ["fuse"] + nfs_variants:
                mib = [size / 2**20 / r["seconds"] for r in res[frontend]]
                fps = [files / r["seconds"] for r in res[frontend]]
                med[frontend] = statistics.median(mib)
                if frontend == "base":
                    row += [fmt(fps, "files/s")]
                else:
                    row += [fmt(mib, "MiB/s"), fmt(fps, "files/s")]
            row.append(f"{med['nfs'] / med['fuse']:.2f}x")
            if args.baseline:
                row.append(f"{med['base'] / med['fuse']:.2f}x")
            if "pipe" in res:
                pipe_mib = [size / 2**20 / r["seconds"] for r in res["pipe"]]
                row += [fmt(pipe_mib, "MiB/s"),
                        f"{statistics.median(pipe_mib) / med['fuse']:.2f}x"]
            else:
                row += ["-", "-"]
            rows.append(row)
            print(" | ".join(row), flush=True)
            if "floor" in res:
                phase = {f: [r["seconds"] - r["list_seconds"] for r in res[f]]
                         for f in ["fuse", "nfs", "pipe", "floor"]}
                ms = {f: statistics.median(v) * 1000 for f, v in phase.items()}
                floor_rows.append([name, str(jobs)]
                                  + [fmt([x * 1000 for x in phase[f]], "ms")
                                     for f in ["fuse", "nfs", "pipe", "floor"]]
                                  + [f"{ms['nfs'] / ms['floor']:.2f}x",
                                     f"{ms['fuse'] / ms['floor']:.2f}x",
                                     f"{ms['nfs'] / ms['fuse']:.2f}x",
                                     f"{ms['pipe'] / ms['fuse']:.2f}x"])
                print(" | ".join(floor_rows[-1]), flush=True)

        rtt_rows, fuse_rtt = [], None
        if args.rtt:
            rtt_rows = round_trips(store, log, trees[0][1], args, nfs_variants)
            fuse_rtt = fuse_round_trips(store, log, work, args)
            for r in rtt_rows:
                print(" | ".join(r), flush=True)
            print(f"FUSE LOOKUP of a missing name: {fuse_rtt}", flush=True)

    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        BEGIN,
        "## NFS against FUSE: reading a whole module tree",
        "",
        "`python3 bench/nfs.py` (`--runs %d --jobs %s%s%s`): every file of a module tree read once, "
        "store warm and every cache above it cold (a fresh `gomodfs serve "
        "--offline` per run). NFS over TCP on 127.0.0.1: READDIRPLUS pages of 64 KiB "
        "(`nfs3_client`), READs of up to 1 MiB, each reply received into one buffer "
        "kept per connection (there is no kernel NFS client here). FUSE: `std::fs` "
        "through the kernel mount, each file read into one buffer kept per reader "
        "(both since 2026-12-04; before, `nfs3_client` allocated a zeroed buffer per "
        "READ reply and copied its data again: see \"The measuring client\"). Jobs: files read at "
        "once (1: the tree walked and read sequentially, one request in flight; N: the "
        "tree listed, then its files read by N threads, over NFS each on its own "
        "connection, as a kernel client keeps several READs in flight; and, in the "
        "last columns, over one connection with N READs in flight on it (`read_tree "
        "pipe`), as a kernel client pipelines calls on its one connection per mount; "
        "every NFS connection is made before the clock starts, as a kernel client "
        "mounts once). FUSE's N readers are N threads (before 2026-12-04 one: the bug "
        "in section \"A bench bug\"). "
        "%sMedian (min-max) of %d runs, interleaved; load average at the end: %.1f." % (
            args.runs, args.jobs, " --baseline BIN" if args.baseline else "",
            " --settle %g" % args.settle if args.settle else "",
            "NFS before: the same runs against the server of `--baseline` (%s), same "
            "client. " % args.baseline if args.baseline else "",
            args.runs, os.getloadavg()[0]),
        "",
    ]
    head = ["module", "tree", "jobs", "FUSE MiB/s", "FUSE files/s", "NFS MiB/s", "NFS files/s"]
    if args.baseline:
        head.append("NFS before files/s")
    head.append("NFS/FUSE (MiB/s)")
    if args.baseline:
        head.append("NFS before/FUSE")
    head += ["NFS, one connection, JOBS in flight: MiB/s", "NFS one connection/FUSE"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if floor_rows:
        lines += ["", "The read phase alone (the tree listed, then its files read by JOBS "
                  "threads: `seconds` - `list_seconds` of read_tree) against the floor of "
                  "loopback TCP for the same READs (`read_tree floor-tree`: the same calls, "
                  "reply sizes, threads and connections, answered by a blocking thread per "
                  "connection that only sends the reply's bytes back: no NFS server, no "
                  "store), same runs, in milliseconds; the last two columns are ratios of times (below 1: NFS took less time than FUSE). NFS/floor near 1 is a server that "
                  "adds nothing to what TCP costs; FUSE/floor below 1 is FUSE doing the "
                  "same reads faster than any server over loopback TCP could here:", "",
                  "| module | jobs | FUSE read phase | NFS read phase | NFS read phase, one "
                  "connection, JOBS in flight | TCP floor | NFS/floor | FUSE/floor | "
                  "NFS/FUSE time | one connection/FUSE time |", "|" + " --- |" * 10]
        lines += ["| " + " | ".join(r) + " |" for r in floor_rows]
    if rtt_rows:
        lines += ["", "Round trips with one request in flight (`read_tree rtt`, median of %d "
                  "calls each, %d rounds per server interleaved: median (min-max) of the "
                  "rounds' medians, in microseconds), on %s after one read of it:" % (
                      args.rtt, args.runs, trees[0][0]), "",
                  "| server | NULL | GETATTR | LOOKUP | READDIRPLUS (whole directory) | READ (whole file) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(r) + " |" for r in rtt_rows]
        lines += ["", "FUSE for scale: one LOOKUP of a name that does not exist (`os.stat`, "
                  "a new name each time), median of %d, %d runs: %s." % (
                      args.rtt, args.runs, fuse_rtt)]
    lines += ["", f"Machine: {os.cpu_count()} CPUs{', ' + cpu if cpu else ''}; "
              f"{time.strftime('%Y-%m-%d')}.", END]
    write_section(Path(args.out), "\n".join(lines), BEGIN, END)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
