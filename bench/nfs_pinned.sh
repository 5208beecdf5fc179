#!/bin/bash
# NFS with the server and the client on one CPU against unpinned: a
# one-reader walk of a stored module tree and the round trips of
# `read_tree rtt`, fresh `gomodfs serve --nfs` per run, alternating.
# It shows what answering on the client's CPU is worth (the NFS
# counterpart of FUSE over io_uring's per-CPU queues; docs/BENCHMARKS.md).
#
# Usage: bench/nfs_pinned.sh STORE TREE [ROUNDS]
#   e.g. bench/nfs_pinned.sh /tmp/gomodfs-bench/bigapp/store golang.org/x/text@v0.17.0 3
# Needs the release build and its read_tree example
# (cargo build --release && cargo build --release -p gomodfs-nfs --example read_tree).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
store=$1
tree=$2
rounds=${3:-5}
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/release/gomodfs
rt=$target/release/examples/read_tree
log=$(mktemp)
trap 'rm -f "$log"' EXIT
uptime
for _ in $(seq "$rounds"); do
    for pin in none cpu0; do
        pre=()
        [ "$pin" = cpu0 ] && pre=(taskset -c 0)
        : > "$log"
        "${pre[@]}" "$bin" serve --store "$store" --offline --nfs 127.0.0.1:0 2> "$log" &
        pid=$!
        port=
        for _ in $(seq 200); do
            port=$(grep -o "serving NFSv3 on 127.0.0.1:[0-9]*" "$log" | grep -o "[0-9]*$" || true)
            [ -n "$port" ] && break
            sleep 0.05
        done
        "${pre[@]}" "$rt" nfs "$port" "$tree" > /dev/null
        walk=$("${pre[@]}" "$rt" nfs "$port" "$tree" 1)
        rtt=$("${pre[@]}" "$rt" rtt "$port" "$tree" 300)
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        echo "$pin walk $walk rtt $rtt"
    done
done
