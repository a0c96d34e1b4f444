#!/usr/bin/env bash
# Command two: installs the workspace and runs the tests.
#   bash scripts/test.sh             typecheck, lint, unit tests and local integration (files, SQLite, HTTP on
#                                    127.0.0.1, the CLI as a child process): Node 20 only
#   bash scripts/test.sh --services  the suites that need real servers (Kafka, PostgreSQL,
#                                    Mosquitto, S3, Python readers): scripts/services installs
#                                    and starts them on 127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
"${PNPM[@]}" install --frozen-lockfile
"${PNPM[@]}" exec turbo run build
if [ "${1:-}" = "--services" ]; then
  bash scripts/test-services.sh
else
  "${PNPM[@]}" docs:build # the docs site: generated pages, TypeDoc, VitePress (a dead link fails it)
  "${PNPM[@]}" exec turbo run typecheck
  "${PNPM[@]}" lint
  "${PNPM[@]}" exec turbo run test --concurrency=1
  echo "== left out: the *.services.test.ts suites (Kafka, PostgreSQL, Mosquitto, S3, the OPC UA, Modbus and MQTT peers, pyarrow and delta-rs readers): run them with 'bash scripts/test.sh --services'"
fi
