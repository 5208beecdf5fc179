#!/usr/bin/env python3
"""Which go.mod files go's graph loading reads, and why: the main module's
requirements (the roots), or a chain below a go.mod whose `go` line is
below 1.17 (unpruned: go reads all its requirements' go.mod files, and
theirs, transitively). It replays go's rule (cmd/go/internal/modload,
readModGraph) over the go.mod files a native run left in a module cache,
so it shows how many go.mod files a gomodfs that prefetched the unpruned
chains would fetch ahead of go (docs/BENCHMARKS.md, "A module's `.info`
fetched beside its go.mod"). `replace` and `exclude` are not applied.

Usage: bench/graph_chains.py APP_DIR GOMODCACHE
  e.g. after, in APP_DIR, GOMODCACHE=/tmp/mc go list -m all
"""

import re
import sys
from collections import deque
from pathlib import Path

from nfs import escape


def parse(text):
    """(go version or None, [(path, version)]) of a go.mod."""
    go, reqs, block = None, [], False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = False
                continue
            words = line.split()
        elif line.startswith("go "):
            go = line.split()[1]
            continue
        elif line in ("require (", "require("):
            block = True
            continue
        elif line.startswith("require "):
            words = line.split()[1:]
        else:
            continue
        if len(words) >= 2:
            reqs.append((words[0].strip('"'), words[1]))
    return go, reqs


def pruned(go):
    """Whether a go.mod with this `go` line prunes its graph (1.17+)."""
    if go is None:
        return False
    parts = [int(p) for p in re.findall(r"\d+", go)[:2]] + [0, 0]
    return (parts[0], parts[1]) >= (1, 17)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    app, cache = Path(sys.argv[1]), Path(sys.argv[2]) / "cache" / "download"
    go, roots = parse((app / "go.mod").read_text())
    main_pruned = pruned(go)
    loaded, why, missing = {}, {}, []
    queue = deque((r, main_pruned, "root") for r in roots)
    seen = set()
    while queue:
        mv, is_pruned, reason = queue.popleft()
        if (mv, is_pruned) in seen:
            continue
        seen.add((mv, is_pruned))
        why.setdefault(mv, reason)
        f = cache / escape(mv[0]) / "@v" / (escape(mv[1]) + ".mod")
        if not f.exists():
            missing.append(mv)
            continue
        mgo, reqs = parse(f.read_text())
        loaded[mv] = mgo
        own_pruned = pruned(mgo)
        next_pruned = own_pruned and is_pruned
        for r in reqs:
            if not is_pruned or not own_pruned:
                queue.append((r, next_pruned, "unpruned chain"))
    on_disk = sum(1 for _ in cache.rglob("*.mod"))
    roots_n = sum(1 for m in loaded if why[m] == "root")
    chain_n = sum(1 for m in loaded if why[m] == "unpruned chain")
    starts = sum(1 for m, g in loaded.items() if not pruned(g))
    print(f"main module go {go}: {'pruned' if main_pruned else 'unpruned'} graph")
    print(f"go.mod files in the cache: {on_disk}")
    print(f"go.mod files the rule reads: {len(loaded)} ({roots_n} roots, "
          f"{chain_n} in unpruned chains; {starts} of them unpruned themselves)")
    if missing:
        print(f"named by the rule but not in the cache: {len(missing)}, e.g. {missing[:3]}")


if __name__ == "__main__":
    main()
