#!/usr/bin/env bash
# Kafka's console consumer (org.apache.kafka.tools.consumer.ConsoleConsumer) from the cached Kafka 3.9.2 jars; all args pass through.
# --bootstrap-server defaults to $IOTSIM_KAFKA_BROKERS or 127.0.0.1:19092 when not given.
# For the SASL listener add e.g. --bootstrap-server 127.0.0.1:19093 plus the client config
# scripts/services/kafka/client-sasl-scram.properties (or client-sasl-plain.properties).
# Example: scripts/services/kafka-console-consumer.sh --topic T --from-beginning --timeout-ms 10000 \
#   --property print.key=true --property key.separator=$'\t'
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case " $* " in
  *" --bootstrap-server "* | *" --bootstrap-server="* | *" --help "* | *" --version "*) ;;
  *) set -- --bootstrap-server "${IOTSIM_KAFKA_BROKERS:-127.0.0.1:19092}" "$@" ;;
esac
exec "$here/kafka-run-class.sh" org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
