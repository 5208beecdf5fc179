#!/bin/bash
# A cold module graph from the real proxy: `go list -m all` of a bench
# project through a fresh mount on an empty store (every go.mod fetched
# and checked with the checksum database), binaries alternated round by
# round. It shows what the upstream round trips of go's graph loading
# cost (docs/BENCHMARKS.md, "Cold module graph from the real proxy").
#
# Usage: bench/cold_graph.sh PROJECT ROUNDS BINARY...
#   e.g. bench/cold_graph.sh realapp 3 /tmp/gomodfs-before target/release/gomodfs
# PROJECT is a directory of bench/run.py's work tree
# ($GOMODFS_BENCH_WORK or /tmp/gomodfs-bench: PROJECT/app). Needs the Go
# module proxy and sum.golang.org (through the proxy).
set -eu
work=${GOMODFS_BENCH_WORK:-/tmp/gomodfs-bench}
proj=$1
rounds=$2
shift 2
app=$work/$proj/app
[ -d "$app" ] || { echo "cold_graph: $app is missing (run bench/fuse_ops.py once)" >&2; exit 1; }
uptime
for _ in $(seq "$rounds"); do
    for bin in "$@"; do
        d=$(mktemp -d /tmp/cold-graph.XXXX)
        mkdir -p "$d/mnt"
        "$bin" mount --store "$d/store" "$d/mnt" > "$d/log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do grep -q "mounted" "$d/log" 2>/dev/null && break; sleep 0.05; done
        start=$(date +%s.%N)
        (cd "$app" && GOMODCACHE=$d/mnt GOPROXY=off GOFLAGS=-mod=mod GOSUMDB=off \
            GOTOOLCHAIN=local go list -m all > /dev/null) || echo "cold_graph: go failed ($bin)" >&2
        end=$(date +%s.%N)
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        printf '%s %s %.2f s\n' "$proj" "$bin" "$(echo "$end - $start" | bc)"
        rm -rf "$d"
    done
done
