#!/usr/bin/env bash
# Command one: installs the workspace and runs a 10-second console demo (no services needed).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
"${PNPM[@]}" install --frozen-lockfile
"${PNPM[@]}" exec turbo run build --filter @iotsim/cli...
node apps/cli/dist/bin.js run --industries mining utilities --rate 2 --duration 10
