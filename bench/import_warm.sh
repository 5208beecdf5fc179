#!/bin/bash
# The first mount of a store made by `gomodfs import`: a command on a fresh
# mount with the warm list the import wrote, without any list
# (`--no-warm-start`, a store's first mount as before), and with the list a
# mount of its own leaves (the warm start's steady state), against native
# disk; runs interleaved, the list put back before each mount, so every
# mount is a first mount after the import (docs/BENCHMARKS.md, "An
# imported store's first mount").
#
# Usage: bench/import_warm.sh BINARY PROJECT [RUNS] [COMMAND...]
#   e.g. bench/import_warm.sh target/release/gomodfs bigapp 15
# PROJECT is a directory of bench/run.py's work tree
# (/tmp/gomodfs-bench/PROJECT: app and filled; run bench/fuse_ops.py once
# to make it). The store is imported from PROJECT/filled into
# PROJECT/imported once. COMMAND defaults to `go list -deps -test ./...`.
set -eu
bin=$(realpath "$1")
work=${GOMODFS_BENCH_WORK:-/tmp/gomodfs-bench}
project=$2
base=$work/$project
rounds=${3:-15}
shift $(($# < 3 ? $# : 3))
cmd=("$@")
[ ${#cmd[@]} -eq 0 ] && cmd=(go list -deps -test ./...)
for d in app filled; do
    [ -d "$base/$d" ] || { echo "import_warm: $base/$d is missing (run bench/fuse_ops.py once)" >&2; exit 1; }
done
export GOCACHE=$work/gocache GOPROXY=off GOFLAGS="-mod=mod -trimpath" GOTOOLCHAIN=local \
    GOSUMDB=off GOWORK=off GOTELEMETRY=off CGO_ENABLED=0
store=$base/imported/store
lists=$base/imported
mnt=$base/imported/mnt
mkdir -p "$mnt"
if [ ! -d "$store" ]; then
    "$bin" import "$base/filled" --store "$store" --gosumdb off >/dev/null
    cp "$store/gomodfs-warm" "$lists/list.import"
fi

ms() {
    local start
    start=$(date +%s%N)
    (cd "$base/app" && GOMODCACHE=$1 "${cmd[@]}" >/dev/null)
    echo $((($(date +%s%N) - start) / 1000000))
}

# One fresh mount: LABEL LIST (a file, or none) [FLAGS...]
fresh() {
    local label=$1 list=$2 pid
    shift 2
    if [ "$list" = none ]; then rm -f "$store/gomodfs-warm"; else cp "$list" "$store/gomodfs-warm"; fi
    # The warm files (contents the last mount read) are not what this
    # compares: every fresh mount here starts without them.
    rm -f "$store/gomodfs-warm.files"
    "$bin" mount "$mnt" --store "$store" --gosumdb off --offline "$@" 2>/dev/null &
    pid=$!
    while [ ! -e "$mnt/.gomodfs-status" ]; do sleep 0.01; done
    echo "$label $(ms "$mnt")"
    fusermount3 -u "$mnt"
    wait "$pid" || true
}

if [ ! -f "$lists/list.served" ]; then
    fresh warm-up "$lists/list.import" >/dev/null
    cp "$store/gomodfs-warm" "$lists/list.served"
fi
out=$(mktemp)
for i in $(seq 0 "$rounds"); do
    [ "$i" -eq 0 ] && dest=/dev/null || dest=$out
    {
        echo "native $(ms "$base/filled")"
        fresh import "$lists/list.import"
        fresh none none --no-warm-start
        fresh own "$lists/list.served"
    } >>"$dest"
done
python3 - "$out" "$project" "${cmd[*]}" "$rounds" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, ms = line.split()
    runs[label].append(int(ms) / 1000)
native = statistics.median(runs["native"])
print(f"{sys.argv[2]}: `{sys.argv[3]}`, median (min-max) of {sys.argv[4]} rounds, seconds")
names = {"native": "native disk", "import": "first mount, the import's list",
         "none": "first mount, no list (--no-warm-start)", "own": "a mount's own list"}
for label in ("native", "import", "none", "own"):
    xs = runs[label]
    m = statistics.median(xs)
    print(f"| {names[label]} | {m:.3f} ({min(xs):.3f}-{max(xs):.3f}) | {m / native:.2f}x |")
EOF
rm -f "$out"
