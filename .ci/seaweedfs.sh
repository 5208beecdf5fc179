#!/usr/bin/env bash
# Build the SeaweedFS server (`weed`) that the fleet-tier tests use as their
# real S3-compatible object store, once per machine, into a cache directory
# outside the checkout. Prints the binary's path. Re-running is free.
#
#   GOMODFS_CI_CACHE   cache directory (default ~/.cache/gomodfs-ci)
#
# The tests find the binary through $GOMODFS_WEED or at the path printed here.
set -euo pipefail
version=v0.0.0-20261109003541-7506e5f91cd6
cache=${GOMODFS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gomodfs-ci}
bin="$cache/seaweedfs-$version/weed"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache/seaweedfs-$version"
# One build at a time (test binaries may ask at once); the others wait.
exec 9>"$cache/seaweedfs-$version/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
echo "ci: building SeaweedFS $version (about 4 minutes, once per machine)" >&2
export GOMODCACHE="$work/mod" GOFLAGS=-mod=mod
dir=$(cd "$work" && go mod download -json "github.com/seaweedfs/seaweedfs@$version" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "ci: go mod download of seaweedfs gave no directory" >&2; exit 1; }
(cd "$dir" && go build -o "$bin.tmp" ./weed)
mv "$bin.tmp" "$bin"
echo "$bin"
