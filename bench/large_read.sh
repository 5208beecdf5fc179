#!/bin/bash
# Reading one large module file on a fresh FUSE mount, binary against
# binary (interleaved), with native disk for reference: the file is read
# whole by `sha256sum` (the kernel asks for it in pieces), after a listing
# of its directory, on a new gomodfs process and mount each run.
# Prints: variant, seconds, checksum prefix (the same for every variant).
#
# Usage: N=3 bench/large_read.sh DIR REL_PATH BINARY... [-- MOUNT_FLAGS...]
#   DIR as bench/run.py's work directory of a project (DIR/store: a warm
#   store; DIR/filled: the native GOMODCACHE); REL_PATH the file below it.
# Example (largeapp's 8.5 MB file, over a quarter of a 32 MiB blob cache):
#   N=3 bench/large_read.sh /tmp/gomodfs-bench/largeapp \
#     google.golang.org/api@v0.307.0/aiplatform/v1/aiplatform-gen.go \
#     /tmp/before/gomodfs target/release/gomodfs -- --blob-cache 32MiB
set -u
DIR=$1; REL=$2; shift 2
BINS=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do BINS+=("$1"); shift; done
[ $# -gt 0 ] && shift
MNT=$DIR/mnt; mkdir -p "$MNT"
timed() { local s e; s=$(date +%s.%N); sum=$(sha256sum "$1" | cut -c1-12); e=$(date +%s.%N); echo "$(echo "$e - $s" | bc) $sum"; }
for _ in $(seq "${N:-3}"); do
  sync; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null
  ls "$(dirname "$DIR/filled/$REL")" > /dev/null
  echo "native $(timed "$DIR/filled/$REL")"
  for bin in "${BINS[@]}"; do
    mountpoint -q "$MNT" && fusermount3 -u "$MNT"
    "$bin" mount "$MNT" --store "$DIR/store" --gosumdb off --offline "$@" 2>> "$DIR/large_read.log" &
    pid=$!
    while [ ! -e "$MNT/.gomodfs-status" ]; do sleep 0.01; done
    ls "$(dirname "$MNT/$REL")" > /dev/null
    echo "$bin $(timed "$MNT/$REL")"
    fusermount3 -u "$MNT"; kill "$pid" 2>/dev/null; wait "$pid"
  done
done
