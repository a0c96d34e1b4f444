#!/usr/bin/env bash
# Sourced by demo.sh, test.sh and .ci/run: picks pnpm 12.4.2 and lets node-gyp compile native
# modules (better-sqlite3, zstd-napi, lz4) against the running Node's own headers instead of
# downloading them.
if [ -z "${npm_config_nodedir:-}" ]; then
  npm_config_nodedir="$(node -p 'require("path").dirname(require("path").dirname(process.execPath))')"
  export npm_config_nodedir
fi
if [ "$(pnpm --version 2>/dev/null || true)" = "12.4.2" ]; then
  PNPM=(pnpm)
else
  PNPM=(npx --yes pnpm@12.4.2)
fi
