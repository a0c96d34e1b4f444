#!/usr/bin/env bash
# Run a Kafka class from the cached Kafka jars (downloads them if missing).
# Usage: scripts/services/kafka-run-class.sh <main class> [args...]
# JVM options: $KAFKA_TOOL_JVM_OPTS (default small heap, fast start). Tool logs go to stderr.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# >= 1)) || {
  sed -n '2,4s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}
if [[ ! -f "$KAFKA_LIBS/.iotsim-complete" ]]; then
  take_lock
  kafka_install >&2
  exec 9>&-
fi
# shellcheck disable=SC2086  # KAFKA_TOOL_JVM_OPTS is a list of options
exec java $KAFKA_TOOL_JVM_OPTS -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
  -Dlog4j.configuration="file:$IOTSIM_SERVICES_DIR/kafka/tools-log4j.properties" \
  -cp "$KAFKA_LIBS/*" "$@"
