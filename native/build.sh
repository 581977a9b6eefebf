#!/usr/bin/env bash
# `npm run build:native`: compiles native/build/Release/heraldlb_link.node with node-gyp
# against the headers of the Node that runs this, never downloading any (N-API headers
# are the same for every Node version that has them).
set -euo pipefail
cd "$(dirname "$0")"
nodedir="${npm_config_nodedir:-$(node -p 'require("node:path").resolve(process.execPath, "../..")')}"
if [[ ! -f "$nodedir/include/node/node_api.h" ]]; then
  echo "build:native: no Node headers in $nodedir/include/node (set npm_config_nodedir)" >&2
  exit 1
fi
gyp=$(command -v node-gyp || echo "$(dirname "$(command -v npm)")/../lib/node_modules/npm/bin/node-gyp-bin/node-gyp")
exec "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn
