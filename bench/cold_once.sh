#!/bin/bash
# One cold fetch through a fresh FUSE mount, for a quick peak-RSS figure:
# an empty store over a file:// proxy (a filled native GOMODCACHE), then
# `go mod verify` of the project; prints the gomodfs process's VmHWM and
# RssAnon right after and 5 s later, its CPU time, and the time to a
# finished verify.
# (bench/cold_rss.py does the same for several binaries, interleaved.)
#
# Usage: bench/cold_once.sh GOMODFS_BINARY DIR [gomodfs mount flags...]
#   DIR/app     holds the project's go.mod, go.sum and main.go
#   DIR/filled  a GOMODCACHE filled by `go mod download` of it
# Example: mkdir -p /tmp/sc/app && cp testdata/scaleapp/{go.mod,go.sum,main.go} /tmp/sc/app &&
#   (cd /tmp/sc/app && GOMODCACHE=/tmp/sc/filled GOFLAGS=-mod=mod go mod download) &&
#   bench/cold_once.sh target/release/gomodfs /tmp/sc
#
# FSYNC_DELAY_US=N: every fsync and fdatasync of gomodfs takes N us longer
# (strace injects the delay), as on a disk whose flushes are slow (cloud
# block storage: about 1-5 ms); bench/cold_ab.sh does the same to go.
set -u
BIN=$1; P=$2; shift 2
rm -rf "$P/store" "$P/mnt"; mkdir -p "$P/mnt" "$P/gocache"
WRAP=()
if [ -n "${FSYNC_DELAY_US:-}" ]; then
  WRAP=(strace -f -qq -o /dev/null --seccomp-bpf -e trace=fsync,fdatasync
        -e "inject=fsync,fdatasync:delay_exit=$FSYNC_DELAY_US")
fi
"${WRAP[@]}" "$BIN" mount --store "$P/store" --proxy "file://$P/filled/cache/download" --gosumdb off "$@" "$P/mnt" > "$P/mount.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -e "$P/mnt/cache" ] && break; sleep 0.1; done
start=$(date +%s.%N)
(cd "$P/app" && env GOMODCACHE="$P/mnt" GOCACHE="$P/gocache" GOPROXY=off GOFLAGS=-mod=mod GOSUMDB=off \
    GOTOOLCHAIN=local go mod verify > "$P/verify.log" 2>&1; echo "go mod verify: exit $?")
end=$(date +%s.%N)
grep -E "VmHWM|RssAnon" "/proc/$PID/status"
# CPU seconds the gomodfs process used (user + system), less sensitive to
# the machine's load than the elapsed time.
echo "cpu $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat") s"
sleep 5; echo "5 s later:"; grep -E "RssAnon" "/proc/$PID/status"
echo "elapsed $(echo "$end - $start" | bc) s"
fusermount3 -u "$P/mnt"; wait $PID
