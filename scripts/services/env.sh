# shellcheck shell=bash
# Connection settings of the integration-test services (scripts/services/up.sh).
#   source scripts/services/env.sh     # exports them into the current shell
#   bash scripts/services/env.sh       # prints them as `export NAME=value` lines
# Values must match lib.sh. Honours IOTSIM_CACHE and IOTSIM_RUN if already set.

# shellcheck disable=SC2128  # BASH_SOURCE without index: also parses in POSIX sh / zsh
_iotsim_src="${BASH_SOURCE:-$0}"
IOTSIM_SERVICES_DIR="$(cd "$(dirname "$_iotsim_src")" && pwd)"
# POSIX sh cannot tell a sourced file's path: fall back to the repo root as cwd
if [ ! -f "$IOTSIM_SERVICES_DIR/env.sh" ] && [ -f "$PWD/scripts/services/env.sh" ]; then
  IOTSIM_SERVICES_DIR="$PWD/scripts/services"
fi
unset _iotsim_src
IOTSIM_CACHE="${IOTSIM_CACHE:-${HOME:-/root}/.cache/iotsim}"
IOTSIM_RUN="${IOTSIM_RUN:-/tmp/iotsim-services}"
export IOTSIM_SERVICES_DIR IOTSIM_CACHE IOTSIM_RUN

export IOTSIM_KAFKA_BROKERS=127.0.0.1:19092
export IOTSIM_KAFKA_SASL_BROKERS=127.0.0.1:19093
export IOTSIM_KAFKA_SASL_USER=iotsim
export IOTSIM_KAFKA_SASL_PASSWORD=iotsim-secret
export IOTSIM_KAFKA_HOME="$IOTSIM_CACHE/kafka/libs"
export IOTSIM_KAFKA_SSL_BROKERS=127.0.0.1:19095
export IOTSIM_KAFKA_SASL_SSL_BROKERS=127.0.0.1:19096
export IOTSIM_KAFKA_CA="$IOTSIM_RUN/kafka/tls/ca.pem"

export IOTSIM_PG_URL=postgres://iotsim:iotsim-secret@127.0.0.1:15432/iotsim

export IOTSIM_MQTT_URL=mqtt://127.0.0.1:1883

export IOTSIM_PYTHON="$IOTSIM_CACHE/venv/bin/python"

export IOTSIM_S3_ENDPOINT=http://127.0.0.1:19000
export IOTSIM_S3_ACCESS_KEY_ID=testing
export IOTSIM_S3_SECRET_ACCESS_KEY=testing
export IOTSIM_S3_REGION=us-east-1

# executed rather than sourced: print the settings
if ! (return 0 2>/dev/null); then
  for _iotsim_v in IOTSIM_SERVICES_DIR IOTSIM_CACHE IOTSIM_RUN IOTSIM_KAFKA_BROKERS \
    IOTSIM_KAFKA_SASL_BROKERS IOTSIM_KAFKA_SASL_USER IOTSIM_KAFKA_SASL_PASSWORD \
    IOTSIM_KAFKA_HOME IOTSIM_KAFKA_SSL_BROKERS IOTSIM_KAFKA_SASL_SSL_BROKERS IOTSIM_KAFKA_CA \
    IOTSIM_PG_URL IOTSIM_MQTT_URL IOTSIM_PYTHON IOTSIM_S3_ENDPOINT \
    IOTSIM_S3_ACCESS_KEY_ID IOTSIM_S3_SECRET_ACCESS_KEY IOTSIM_S3_REGION; do
    printf 'export %s=%q\n' "$_iotsim_v" "${!_iotsim_v}"
  done
fi
