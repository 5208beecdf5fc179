#!/bin/bash
# Where a command's time goes on a fresh mount against native disk: wall
# time, the machine's busy and idle CPU time (from /proc/stat) and the
# gomodfs process's own CPU time, pairs of runs interleaved. It answers
# whether a fresh mount's gap is waiting (idle CPU: round trips, wake-ups)
# or work (busy CPU: gomodfs's handlers and the kernel's FUSE side), which
# decides whether moving work to another thread can help
# (docs/BENCHMARKS.md, "Fresh go build: work, not waiting").
#
# Usage: bench/cpu_split.sh BINARY PROJECT [RUNS] [COMMAND...]
#   e.g. bench/cpu_split.sh target/release/gomodfs bigapp 3 go build ./...
# PROJECT is a directory of bench/run.py's work tree
# (/tmp/gomodfs-bench/PROJECT: app, filled, store; run bench/fuse_ops.py
# once to make it). COMMAND defaults to `go build ./...` (with the work
# tree's warm GOCACHE). Extra `gomodfs mount` flags go in
# $GOMODFS_MOUNT_FLAGS (e.g. --fuse-io-uring=off).
set -eu
bin=$(realpath "$1")
work=${GOMODFS_BENCH_WORK:-/tmp/gomodfs-bench}
base=$work/$2
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
cmd=("$@")
[ ${#cmd[@]} -eq 0 ] && cmd=(go build ./...)
for d in app filled store; do
    [ -d "$base/$d" ] || { echo "cpu_split: $base/$d is missing (run bench/fuse_ops.py once)" >&2; exit 1; }
done
export GOCACHE=$work/gocache GOPROXY=off GOFLAGS="-mod=mod -trimpath" GOTOOLCHAIN=local \
    GOSUMDB=off GOWORK=off GOTELEMETRY=off CGO_ENABLED=0
mnt=$base/mnt
mkdir -p "$mnt"
hz=$(getconf CLK_TCK)

# user+nice, system, idle+iowait, irq+softirq ticks of all CPUs.
ticks() { awk '/^cpu /{print $2+$3, $4, $5+$6, $7+$8}' /proc/stat; }
# utime+stime ticks of process $1.
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# Runs the command once with GOMODCACHE=$1; prints wall, busy and idle.
measure() {
    local before after t0 t1
    before=$(ticks)
    t0=$(date +%s.%N)
    (cd "$base/app" && GOMODCACHE=$1 "${cmd[@]}" > /dev/null)
    t1=$(date +%s.%N)
    after=$(ticks)
    python3 - "$before" "$after" "$t0" "$t1" "$hz" <<'EOF'
import sys
b, a = map(int, sys.argv[1].split()), map(int, sys.argv[2].split())
user, sys_, idle, irq = [y - x for x, y in zip(b, a)]
hz = int(sys.argv[5])
print(f"wall {float(sys.argv[4]) - float(sys.argv[3]):.3f} s, busy {(user + sys_ + irq) / hz:.2f} s "
      f"(user {user / hz:.2f}, system {sys_ / hz:.2f}), idle {idle / hz:.2f} s", end="")
EOF
}

uptime
echo "command: ${cmd[*]}"
for i in $(seq "$rounds"); do
    echo "native $i: $(measure "$base/filled")"
    fusermount3 -u -z "$mnt" 2> /dev/null || true
    # shellcheck disable=SC2086
    "$bin" mount "$mnt" --store "$base/store" --gosumdb off --offline ${GOMODFS_MOUNT_FLAGS:-} 2> /dev/null &
    pid=$!
    for _ in $(seq 200); do [ -e "$mnt/cache" ] && break; sleep 0.05; done
    sleep 0.5 # the warm start's preload, if any, is over
    before=$(proc_ticks "$pid")
    line=$(measure "$mnt")
    after=$(proc_ticks "$pid")
    echo "fresh  $i: $line, gomodfs $(python3 -c "print(f'{($after - $before) / $hz:.2f}')") s"
    fusermount3 -u -z "$mnt"
    wait "$pid" || true
done
