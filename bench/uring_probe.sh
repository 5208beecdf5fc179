#!/bin/sh
# One FUSE round trip over /dev/fuse (as fuser, and so gomodfs, answers
# requests) against FUSE over io_uring (Linux 6.14+, per-CPU queues), on
# this kernel: bench/uring_probe/ mounts an empty filesystem and times
# `stat` of a missing name (one LOOKUP each), alternating the two
# transports. Needs root (it mounts, and sets
# /sys/module/fuse/parameters/enable_uring for the io_uring runs).
#
# Each round runs both transports with the client calling back to back
# and with 30 us of computing between calls (as go does between the files
# it reads), which lets the server's CPU go idle.
#
# Usage: bench/uring_probe.sh [ROUNDS] [ITERATIONS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
iterations=${2:-20000}
CARGO_TARGET_DIR="$root/target/uring_probe" cargo build --release --quiet \
    --manifest-path "$root/bench/uring_probe/Cargo.toml"
bin="$root/target/uring_probe/release/uring_probe"
mnt=$(mktemp -d)
trap 'umount -l "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
uptime
for _ in $(seq "$rounds"); do
    for mode in classic uring; do
        for gap in 0 30; do "$bin" "$mnt" "$mode" "$iterations" "$gap" 2>/dev/null; done
    done
done
