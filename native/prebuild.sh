#!/usr/bin/env bash
# `npm run prebuild:native`: the committed binaries in native/prebuilds/linux-{x64,arm64}/,
# compiled straight from src/link.c and src/answer.c with the same flags as binding.gyp (one command per
# arch, easy to audit) and stripped. N-API headers are arch-independent, so arm64 needs
# only Debian's cross compiler (gcc-aarch64-linux-gnu); without it that arch is skipped.
# SOURCES records which link.c the binaries came from: test/unit/link-prebuild.test.ts
# fails when link.c changes without this script being rerun.
set -euo pipefail
cd "$(dirname "$0")"
nodedir="${npm_config_nodedir:-$(node -p 'require("node:path").resolve(process.execPath, "../..")')}"
flags=(-std=gnu11 -O2 -fPIC -shared -pthread -fvisibility=hidden -Wall -Wextra -Werror
  -DNAPI_VERSION=8 -I"$nodedir/include/node" -Wl,-z,relro,-z,now,-z,noexecstack -s)
build() { # arch compiler
  local out="prebuilds/linux-$1/heraldlb_link.node"
  if ! command -v "$2" >/dev/null; then echo "prebuild: $2 not installed, linux-$1 skipped" >&2; return; fi
  mkdir -p "$(dirname "$out")"
  "$2" "${flags[@]}" src/link.c src/answer.c -o "$out"
  echo "prebuild: $out $(stat -c %s "$out") bytes; $(file -b "$out" | cut -d, -f1-2)"
}
build x64 "${CC_X64:-gcc}"
build arm64 "${CC_ARM64:-aarch64-linux-gnu-gcc}"
{
  echo "# sha256 of the sources the prebuilds were compiled from, then of the prebuilds"
  sha256sum src/answer.c src/answer.h src/link.c
  (cd prebuilds && sha256sum linux-*/heraldlb_link.node | sed 's|^\([0-9a-f]*\)  |\1  prebuilds/|')
} >prebuilds/SOURCES
cat prebuilds/SOURCES
