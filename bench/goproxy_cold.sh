#!/bin/bash
# The GOPROXY endpoint's first requests: `go mod download -x` of a project
# into an empty GOMODCACHE through `gomodfs serve --http` over an EMPTY
# store (every module fetched from a local file:// upstream while go
# waits), for two gomodfs binaries in turn, each round. Prints per run:
# binary, wall seconds, the seconds go waited on its .zip and .mod requests
# (sums of the request times go -x prints), and the server's CPU seconds.
#
# Usage: N=5 bench/goproxy_cold.sh BEFORE AFTER DIR
#   DIR/app     the project's go.mod, go.sum and main.go
#   DIR/filled  a GOMODCACHE filled by `go mod download` of it
# (the layout of bench/cold_once.sh).
set -u
BEFORE=$1; AFTER=$2; P=$3
for _ in $(seq "${N:-5}"); do
  for bin in "$BEFORE" "$AFTER"; do
    rm -rf "$P/gp-store" "$P/gp-mc"; port=$((20000 + RANDOM % 20000))
    "$bin" serve --http "127.0.0.1:$port" --store "$P/gp-store" --gosumdb off \
      --proxy "file://$P/filled/cache/download" > "$P/gp-serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/status.json" > /dev/null && break; sleep 0.1; done
    start=$(date +%s.%N)
    (cd "$P/app" && env GOMODCACHE="$P/gp-mc" GOPROXY="http://127.0.0.1:$port/proxy/" \
      GOFLAGS="-mod=mod -modcacherw" GOSUMDB=off GOTOOLCHAIN=local GOCACHE="$P/gocache" \
      go mod download -x 2> "$P/gp-go.log")
    end=$(date +%s.%N)
    waits=$(awk '/^# get .*\.(zip|mod): [0-9]+ .*\(/ {
        t = $NF; gsub(/[()s]/, "", t); if ($3 ~ /\.zip:$/) z += t; else m += t }
      END { printf "zip %.2f mod %.2f", z, m }' "$P/gp-go.log")
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid"
    echo "$(basename "$bin") wall $(echo "$end - $start" | bc) $waits cpu $cpu"
    chmod -R u+w "$P/gp-mc"; rm -rf "$P/gp-mc" "$P/gp-store"
  done
done
