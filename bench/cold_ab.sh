#!/bin/bash
# Two gomodfs binaries' cold fetch, interleaved, with `go mod download` of
# the same graph each round for reference: per round bench/cold_once.sh with
# BEFORE, then AFTER, then `go mod download` into an empty GOMODCACHE.
# Prints one line per run: project, variant, elapsed s, gomodfs CPU s, load.
#
# Usage: N=4 bench/cold_ab.sh BEFORE_BINARY AFTER_BINARY DIR...
#   each DIR as for bench/cold_once.sh (DIR/app, DIR/filled).
# FSYNC_DELAY_US=N: every fsync of gomodfs and of go takes N us longer
# (see bench/cold_once.sh).
set -u
BEFORE=$1; AFTER=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
load() { uptime | grep -oE 'load average: [0-9.]+' | cut -d' ' -f3; }
for dir in "$@"; do
  p=$(basename "$dir")
  for _ in $(seq "${N:-4}"); do
    for v in before after; do
      bin=$BEFORE; [ "$v" = after ] && bin=$AFTER
      out=$("$HERE/cold_once.sh" "$bin" "$dir" 2>&1)
      echo "$p $v $(echo "$out" | grep -oE 'elapsed [0-9.]+' | cut -d' ' -f2)" \
        "$(echo "$out" | grep -oE 'cpu [0-9.]+' | cut -d' ' -f2) $(load)"
    done
    empty=$dir/empty-modcache; chmod -R u+w "$empty" 2>/dev/null; rm -rf "$empty"
    start=$(date +%s.%N)
    WRAP=()
    if [ -n "${FSYNC_DELAY_US:-}" ]; then
      WRAP=(strace -f -qq -o /dev/null --seccomp-bpf -e trace=fsync,fdatasync
            -e "inject=fsync,fdatasync:delay_exit=$FSYNC_DELAY_US")
    fi
    (cd "$dir/app" && "${WRAP[@]}" env GOMODCACHE="$empty" GOPROXY="file://$dir/filled/cache/download" \
      GOFLAGS="-mod=mod -modcacherw" GOSUMDB=off GOTOOLCHAIN=local GOCACHE="$dir/gocache" \
      go mod download)
    end=$(date +%s.%N)
    echo "$p download $(echo "$end - $start" | bc) - $(load)"
    chmod -R u+w "$empty"; rm -rf "$empty"
  done
done
