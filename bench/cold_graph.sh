#!/bin/bash
# A cold start from the real proxy: a go command (by default
# `go list -m all`) of a bench project through a fresh mount on an empty
# store (every go.mod fetched and checked with the checksum database),
# binaries alternated round by round. It shows what the upstream round
# trips of go's graph loading cost (docs/BENCHMARKS.md, "Cold module graph
# from the real proxy" and "A module root answered from its .info").
#
# Usage: [GO_CMD="go build ./..."] bench/cold_graph.sh PROJECT ROUNDS BINARY...
#   e.g. bench/cold_graph.sh realapp 3 /tmp/gomodfs-before target/release/gomodfs
# PROJECT is a directory of bench/run.py's work tree
# ($GOMODFS_BENCH_WORK or /tmp/gomodfs-bench: PROJECT/app). The mount
# point is the same every run ($work/cold-graph-mnt), so a `go build`
# finds its build cache ($work/gocache) warm after the first run: run one
# round more and drop the first. Prints the seconds and the requests made
# upstream (zips among them). Needs the Go module proxy and
# sum.golang.org (through the proxy).
set -eu
work=${GOMODFS_BENCH_WORK:-/tmp/gomodfs-bench}
cmd=${GO_CMD:-go list -m all}
proj=$1
rounds=$2
shift 2
app=$work/$proj/app
mnt=$work/cold-graph-mnt
[ -d "$app" ] || { echo "cold_graph: $app is missing (run bench/fuse_ops.py once)" >&2; exit 1; }
mkdir -p "$mnt" "$work/gocache"
uptime
for _ in $(seq "$rounds"); do
    for bin in "$@"; do
        d=$(mktemp -d /tmp/cold-graph.XXXX)
        RUST_LOG=gomodfs_core::proxy=debug,info NO_COLOR=1 \
            "$bin" mount --store "$d/store" "$mnt" > "$d/log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do grep -q "mounted" "$d/log" 2>/dev/null && break; sleep 0.05; done
        start=$(date +%s.%N)
        # shellcheck disable=SC2086 # the command is words
        (cd "$app" && GOMODCACHE=$mnt GOPROXY=off GOFLAGS=-mod=mod GOSUMDB=off \
            GOTOOLCHAIN=local GOCACHE=$work/gocache $cmd > /dev/null) || echo "cold_graph: go failed ($bin)" >&2
        end=$(date +%s.%N)
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        while grep -q " $mnt " /proc/mounts; do sleep 0.1; done
        requests=$(grep -c "GOPROXY request" "$d/log" || true)
        zips=$(grep "GOPROXY request" "$d/log" | grep -c '\.zip ' || true)
        printf '%s %s %.2f s, %s requests (%s zips)\n' "$proj" "$bin" "$(echo "$end - $start" | bc)" "$requests" "$zips"
        rm -rf "$d"
    done
done
