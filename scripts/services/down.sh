#!/usr/bin/env bash
# Stop integration-test services (all when none named).
# Usage: scripts/services/down.sh [--purge] [kafka] [postgres] [mosquitto] [python] [s3]
#   --purge also deletes the runtime state under $IOTSIM_RUN of the named services
#   (Kafka topics, logs; the PostgreSQL cluster); the download cache is never deleted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
args=()
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    -h | --help)
      sed -n '2,5s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) args+=("$a") ;;
  esac
done

resolve_services "${args[@]}"
take_lock

# stop in reverse start order
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  s=${SERVICES[i]}
  "${s}_stop"
  if ((purge)); then
    case "$s" in
      kafka) rm -rf "$KAFKA_RUN" ;;
      postgres) rm -rf "$PG_RUN" ;;
      mosquitto) rm -rf "$MQTT_RUN" ;;
      s3) rm -rf "$S3_RUN" ;;
    esac
  fi
  printf '%-9s stopped\n' "$s"
done
