#!/usr/bin/env bash
# Brings up the real servers (Kafka, PostgreSQL, Mosquitto, S3, Python readers) and runs every
# package's *.services.test.ts against them. Leaves the servers running unless IOTSIM_SERVICES_DOWN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
bash scripts/services/up.sh
# shellcheck source=/dev/null
source scripts/services/env.sh
"${PNPM[@]}" exec turbo run build
status=0
IOTSIM_SERVICES=1 "${PNPM[@]}" exec turbo run test:services --concurrency=1 || status=$?
if [ "${IOTSIM_SERVICES_DOWN:-0}" = "1" ]; then bash scripts/services/down.sh || true; fi
exit $status
