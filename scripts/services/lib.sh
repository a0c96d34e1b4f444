# shellcheck shell=bash
# Shared implementation of the iotsim integration-test services harness.
# Sourced by up.sh, down.sh, ctl.sh and the kafka-*.sh wrappers; not meant to be run.
#
# Every service has the functions:
#   <svc>_apt_packages  print Debian packages still missing (one per line)
#   <svc>_install       install what is missing (non-apt part), idempotent
#   <svc>_launch        start it in the background if it is not running (no wait)
#   <svc>_wait          wait (bounded) until it really answers; die with a log tail otherwise
#   <svc>_status        exit 0 if it answers now (quick)
#   <svc>_stop          stop it cleanly (bounded)
#   <svc>_describe      one-line description printed when it is ready

IOTSIM_SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IOTSIM_CACHE="${IOTSIM_CACHE:-${HOME:-/root}/.cache/iotsim}"
IOTSIM_RUN="${IOTSIM_RUN:-/tmp/iotsim-services}"
IOTSIM_START_TIMEOUT="${IOTSIM_START_TIMEOUT:-120}"
IOTSIM_STOP_TIMEOUT="${IOTSIM_STOP_TIMEOUT:-60}"

IOTSIM_ALL_SERVICES=(kafka postgres mosquitto python s3)

# Kafka (jars from Maven Central)
KAFKA_VERSION="3.9.2"
KAFKA_SCALA="2.13"
SLF4J_VERSION="1.7.36"
RELOAD4J_VERSION="1.2.25"
MVN_DEPENDENCY_PLUGIN_VERSION="3.8.1"
KAFKA_CACHE="$IOTSIM_CACHE/kafka"
KAFKA_LIBS="$KAFKA_CACHE/libs"
KAFKA_RUN="$IOTSIM_RUN/kafka"
KAFKA_PORT=19092
KAFKA_SASL_PORT=19093
KAFKA_CONTROLLER_PORT=19094
KAFKA_SSL_PORT=19095
KAFKA_SASL_SSL_PORT=19096
# self-signed CA + broker certificate (generated once per run folder by kafka_tls)
KAFKA_TLS="$KAFKA_RUN/tls"
KAFKA_USER="iotsim"
KAFKA_PASSWORD="iotsim-secret"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
KAFKA_TOOL_JVM_OPTS="${KAFKA_TOOL_JVM_OPTS:--Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}"

# PostgreSQL (Debian's binaries, our own cluster in $IOTSIM_RUN/postgres: never the system cluster)
PG_PORT=15432
PG_RUN="$IOTSIM_RUN/postgres"
PG_DATA="$PG_RUN/data"
PG_LOG="$PG_RUN/postgres.log"
# initdb refuses root: as root the cluster belongs to Debian's `postgres` user, else to the caller
PG_OS_USER_FOR_ROOT="${IOTSIM_PG_OS_USER:-postgres}"
PG_USER="iotsim"
PG_PASSWORD="iotsim-secret"
PG_DB="iotsim"

# Mosquitto (Debian package, our own process and config)
MQTT_PORT=1883
MQTT_RUN="$IOTSIM_RUN/mosquitto"

# Python venv for independent readers (+ moto for the S3 endpoint)
VENV="$IOTSIM_CACHE/venv"
# asyncua, pymodbus, paho-mqtt and pysparkplug are the independent peers of the protocol servers and
# the MQTT/Sparkplug sinks; jsonschema checks `iotsim schema`. pysparkplug 0.6 needs paho-mqtt < 2.
PY_REQUIREMENTS=(pyarrow==26.0.1 pandas==3.1.1 'deltalake[pyarrow]==1.6.6' 'moto[server]==5.2.5'
  asyncua==2.1.0 pymodbus==3.16.1 paho-mqtt==1.6.1 pysparkplug==0.6.1 jsonschema==4.26.0)

# S3 (moto_server from the venv)
S3_PORT=19000
S3_RUN="$IOTSIM_RUN/s3"

# ---------------------------------------------------------------- helpers

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

# Print the last lines of each existing log file to stderr.
log_tail() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

# Inner-bash prefix that closes every inherited fd above 2 (the harness lock on fd 9, a
# caller's pipes...) so that servers started from here hold nothing of their caller's.
# shellcheck disable=SC2016  # expanded by the inner bash
CLOSE_FDS='for _fd in /proc/$$/fd/*; do _fd=${_fd##*/}; if ((_fd > 2)); then eval "exec ${_fd}>&-" 2>/dev/null || true; fi; done; '

as_root() {
  if [[ $EUID -eq 0 ]]; then
    bash -c "${CLOSE_FDS}"'exec "$@"' _ "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n bash -c "${CLOSE_FDS}"'exec "$@"' _ "$@"
  else
    die "need root for: $*"
  fi
}

# Serialise concurrent up/down/ctl invocations (fd 9 is closed in started daemons).
take_lock() {
  mkdir -p "$IOTSIM_RUN"
  exec 9>"$IOTSIM_RUN/.lock"
  if ! flock -w 900 9; then
    die "could not take $IOTSIM_RUN/.lock within 900 s"
  fi
}

# apt_install PKG... — installs Debian packages; runs `apt-get update` only if needed.
apt_install() {
  (($# > 0)) || return 0
  local aptlog="$IOTSIM_RUN/apt.log"
  mkdir -p "$IOTSIM_RUN"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
  log "apt-get install $*"
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    as_root "${apt[@]}" update >>"$aptlog" 2>&1 || true
  fi
  if ! as_root "${apt[@]}" install --no-install-recommends "$@" >>"$aptlog" 2>&1; then
    log "apt-get install failed; running apt-get update and retrying"
    as_root "${apt[@]}" update >>"$aptlog" 2>&1 || true
    if ! as_root "${apt[@]}" install --no-install-recommends "$@" >>"$aptlog" 2>&1; then
      log_tail "$aptlog"
      die "apt-get install $* failed (log: $aptlog)"
    fi
  fi
}

# tcp_open PORT — true if something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() {
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Pids of live processes whose command line contains MARKER (a path unique to us).
pids_with_marker() {
  local marker=$1 d pid cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ $pid == "$$" || $pid == "${BASHPID:-$$}" ]] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    [[ $cmd == *"$marker"* ]] && printf '%s\n' "$pid"
  done
  return 0
}

# pid_alive PIDFILE MARKER — true if the pid in PIDFILE runs and its command line has MARKER.
pid_alive() {
  local pidfile=$1 marker=$2 pid cmd
  [[ -s "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$marker"* ]]
}

# start_bg PIDFILE LOGFILE CMD... — run CMD detached (own session, no stdin, fds > 2 closed);
# the process writes its own pid (exec keeps it) so PIDFILE is exact.
start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and $0/$@ are expanded by the inner bash
  setsid bash -c "${CLOSE_FDS}"'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start: $*"
}

# stop_pid NAME PIDFILE MARKER [TIMEOUT] — SIGTERM, wait (bounded), then SIGKILL.
# Also stops strays of ours (same MARKER) whose pid file was lost.
stop_pid() {
  local name=$1 pidfile=$2 marker=$3 timeout=${4:-$IOTSIM_STOP_TIMEOUT}
  local -a pids=()
  local p
  if pid_alive "$pidfile" "$marker"; then
    pids+=("$(<"$pidfile")")
  fi
  while read -r p; do
    [[ -n $p && " ${pids[*]} " != *" $p "* ]] && pids+=("$p")
  done < <(pids_with_marker "$marker")
  if ((${#pids[@]} == 0)); then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + timeout)) alive
  while :; do
    alive=()
    for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null && alive+=("$p")
    done
    ((${#alive[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      log "$name did not exit within ${timeout}s after SIGTERM; sending SIGKILL to ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

# wait_for NAME TIMEOUT CHECK_FN ALIVE_FN STOP_FN LOGFILE... — poll CHECK_FN until it succeeds.
# Fails early if ALIVE_FN says the process died; on failure prints the log tails and runs
# STOP_FN (so a server that never got ready is not left behind).
wait_for() {
  local name=$1 timeout=$2 check_fn=$3 alive_fn=$4 stop_fn=$5
  shift 5
  local deadline=$((SECONDS + timeout)) why=""
  while ! "$check_fn"; do
    if ! "$alive_fn"; then
      why="$name exited during startup"
    elif ((SECONDS >= deadline)); then
      why="$name did not answer within ${timeout}s"
    else
      sleep 0.3
      continue
    fi
    log_tail "$@"
    "$stop_fn" || true
    die "$why (logs: $*)"
  done
}

# write_if_changed FILE CONTENT — returns 0 if the file was (re)written.
write_if_changed() {
  local file=$1 content=$2
  if [[ -f "$file" ]] && [[ "$(<"$file")" == "$content" ]]; then
    return 1
  fi
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "$content" >"$file"
  return 0
}

# ---------------------------------------------------------------- kafka

kafka_apt_packages() {
  command -v java >/dev/null 2>&1 || echo openjdk-17-jre-headless
  if [[ ! -f "$KAFKA_LIBS/.iotsim-complete" ]] && ! command -v mvn >/dev/null 2>&1; then
    echo maven
  fi
  return 0
}

kafka_libs_stamp() {
  echo "kafka_${KAFKA_SCALA}:${KAFKA_VERSION} kafka-tools:${KAFKA_VERSION} slf4j-reload4j:${SLF4J_VERSION} reload4j:${RELOAD4J_VERSION}"
}

kafka_install() {
  local stamp
  stamp=$(kafka_libs_stamp)
  if [[ -f "$KAFKA_LIBS/.iotsim-complete" && "$(<"$KAFKA_LIBS/.iotsim-complete")" == "$stamp" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  mkdir -p "$KAFKA_CACHE"
  cat >"$KAFKA_CACHE/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/services/lib.sh: only used to fetch the Kafka jars -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.iotsim</groupId>
  <artifactId>iotsim-kafka-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${KAFKA_SCALA}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${SLF4J_VERSION}</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>${RELOAD4J_VERSION}</version></dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>${MVN_DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
  log "downloading Kafka ${KAFKA_VERSION} jars from Maven Central into $KAFKA_LIBS"
  local tmp="$KAFKA_LIBS.tmp.$$" mvnlog="$KAFKA_CACHE/mvn.log"
  rm -rf "$tmp"
  if ! mvn -q -B -ntp -f "$KAFKA_CACHE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    log_tail "$mvnlog"
    die "mvn dependency:copy-dependencies failed (log: $mvnlog)"
  fi
  compgen -G "$tmp/kafka_${KAFKA_SCALA}-${KAFKA_VERSION}.jar" >/dev/null || die "kafka jar missing after mvn (see $mvnlog)"
  printf '%s\n' "$stamp" >"$tmp/.iotsim-complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

# kafka_java CLASS ARGS... — run a Kafka tool class from the cached jars (logs WARN+ to stderr).
kafka_java() {
  # shellcheck disable=SC2086  # KAFKA_TOOL_JVM_OPTS is a list of options
  timeout "${KAFKA_JAVA_TIMEOUT:-0}" java $KAFKA_TOOL_JVM_OPTS -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
    -Dlog4j.configuration="file:$IOTSIM_SERVICES_DIR/kafka/tools-log4j.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# kafka_tls — a self-signed CA and a broker certificate for 127.0.0.1/localhost (PKCS12 keystore,
# PKCS12 truststore for Kafka's own tools, PEM CA for the tests); made once, kept across restarts.
kafka_tls() {
  [[ -s "$KAFKA_TLS/broker.p12" && -s "$KAFKA_TLS/truststore.p12" && -s "$KAFKA_TLS/ca.pem" ]] && return 0
  local tmp="$KAFKA_TLS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "generating a self-signed CA and broker certificate in $KAFKA_TLS"
  if ! (
    set -e
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=iotsim test CA" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile ext.cnf -out broker.pem
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -passout "pass:${KAFKA_PASSWORD}" -out broker.p12
    keytool -importcert -noprompt -alias iotsim-ca -file ca.pem -keystore truststore.p12 \
      -storetype PKCS12 -storepass "${KAFKA_PASSWORD}"
  ) >"$KAFKA_RUN/tls.log" 2>&1; then
    rm -rf "$tmp"
    log_tail "$KAFKA_RUN/tls.log"
    die "generating the Kafka TLS certificates failed (log: $KAFKA_RUN/tls.log)"
  fi
  rm -f "$tmp/broker.csr" "$tmp/ext.cnf" "$tmp/ca.srl"
  rm -rf "$KAFKA_TLS"
  mv "$tmp" "$KAFKA_TLS"
  # client settings for Kafka's own tools on the TLS listeners
  cat >"$KAFKA_TLS/client-ssl.properties" <<EOF
security.protocol=SSL
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TLS/truststore.p12
ssl.truststore.password=${KAFKA_PASSWORD}
EOF
  cat >"$KAFKA_TLS/client-sasl-ssl-scram512.properties" <<EOF
security.protocol=SASL_SSL
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TLS/truststore.p12
ssl.truststore.password=${KAFKA_PASSWORD}
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_USER}" password="${KAFKA_PASSWORD}";
EOF
}

kafka_config_text() {
  cat <<EOF
# generated by scripts/services/lib.sh (rewritten on every start)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT},SSL://127.0.0.1:${KAFKA_SSL_PORT},SASL_SSL://127.0.0.1:${KAFKA_SASL_SSL_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT},SSL://127.0.0.1:${KAFKA_SSL_PORT},SASL_SSL://127.0.0.1:${KAFKA_SASL_SSL_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_USER}="${KAFKA_PASSWORD}";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_USER}="${KAFKA_PASSWORD}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# TLS listeners (SSL, SASL_SSL): the certificate of kafka_tls, no client certificates
ssl.keystore.type=PKCS12
ssl.keystore.location=${KAFKA_TLS}/broker.p12
ssl.keystore.password=${KAFKA_PASSWORD}
ssl.key.password=${KAFKA_PASSWORD}
ssl.client.auth=none

log.dirs=${KAFKA_RUN}/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# small machine: few threads
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=4
log.cleaner.threads=1
EOF
}

kafka_write_config() {
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  kafka_config_text >"$KAFKA_RUN/server.properties"
}

kafka_alive() { pid_alive "$KAFKA_RUN/kafka.pid" "$KAFKA_RUN/server.properties"; }

# Kafka ApiVersions v0 request (correlation id 7) over bash /dev/tcp: proves the broker
# speaks the protocol on PORT (allowed before SASL authentication too). No JVM needed.
kafka_api_versions_ok() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x07\x00\x04ping" >&3
    resp=$(head -c 10 <&3 | od -An -tx1 | tr -d " \n")
    [[ ${resp:8:12} == "000000070000" ]]
  ' _ "$1" 2>/dev/null
}

# A TLS handshake on PORT that verifies the broker's certificate against our CA.
kafka_tls_ok() {
  [[ -s "$KAFKA_TLS/ca.pem" ]] || return 1
  timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$KAFKA_TLS/ca.pem" \
    -verify_return_error -brief </dev/null >/dev/null 2>&1
}

kafka_status() {
  kafka_api_versions_ok "$KAFKA_PORT" && kafka_api_versions_ok "$KAFKA_SASL_PORT" &&
    kafka_tls_ok "$KAFKA_SSL_PORT" && kafka_tls_ok "$KAFKA_SASL_SSL_PORT"
}

kafka_launch() {
  kafka_tls
  if kafka_alive; then
    # a broker started with an older config (e.g. without the TLS listeners) is restarted once
    if [[ "$(<"$KAFKA_RUN/server.properties")" == "$(kafka_config_text)" ]]; then
      return 0
    fi
    log "kafka runs with an older server.properties; restarting it with the current one"
    kafka_stop
  fi
  # leftovers of ours without a pid file (e.g. a killed up.sh) would hold the ports
  stop_pid kafka "$KAFKA_RUN/kafka.pid" "$KAFKA_RUN/server.properties" 30
  local p
  for p in "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if tcp_open "$p"; then
      die "port 127.0.0.1:$p is already in use by another process; cannot start kafka"
    fi
  done
  kafka_write_config
  if [[ ! -f "$KAFKA_RUN/data/meta.properties" ]]; then
    local cid=""
    # Kafka Uuid: 16 random bytes, base64url without padding; avoid a leading '-'
    while [[ -z $cid || $cid == -* ]]; do
      cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    log "formatting Kafka storage in $KAFKA_RUN/data (cluster id $cid)"
    if ! kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cid" \
      -c "$KAFKA_RUN/server.properties" \
      --add-scram "SCRAM-SHA-256=[name=${KAFKA_USER},password=${KAFKA_PASSWORD}]" \
      --add-scram "SCRAM-SHA-512=[name=${KAFKA_USER},password=${KAFKA_PASSWORD}]" \
      >"$KAFKA_RUN/format.log" 2>&1; then
      log_tail "$KAFKA_RUN/format.log"
      die "kafka storage format failed"
    fi
  fi
  : >"$KAFKA_RUN/kafka.out"
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of options
  start_bg "$KAFKA_RUN/kafka.pid" "$KAFKA_RUN/kafka.out" \
    java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
    -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -Dlog4j.configuration="file:$IOTSIM_SERVICES_DIR/kafka/log4j.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_RUN/server.properties"
}

# kafka_scram512 — the SCRAM-SHA-512 credential, for storage formatted before it was added to the
# format step (KRaft keeps SCRAM credentials in its metadata log; set once, stamped in the data dir).
kafka_scram512() {
  local stamp="$KAFKA_RUN/data/.iotsim-scram-sha-512"
  [[ -f "$stamp" ]] && return 0
  local KAFKA_JAVA_TIMEOUT=60
  if kafka_java kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${KAFKA_PASSWORD}]" \
    --entity-type users --entity-name "$KAFKA_USER" >"$KAFKA_RUN/scram512.log" 2>&1; then
    : >"$stamp"
  else
    log_tail "$KAFKA_RUN/scram512.log"
    return 1
  fi
}

# A real metadata round trip through each listener (PLAINTEXT, SASL PLAIN, SASL SCRAM, SSL,
# SASL_SSL SCRAM-SHA-512).
kafka_deep_check() {
  local dir="$IOTSIM_SERVICES_DIR/kafka" rc=0 p1 p2 p3 p4 p5
  local KAFKA_JAVA_TIMEOUT=60
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --list >"$KAFKA_RUN/check-plaintext.log" 2>&1 &
  p1=$!
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_SASL_PORT" \
    --command-config "$dir/client-sasl-plain.properties" --list >"$KAFKA_RUN/check-sasl-plain.log" 2>&1 &
  p2=$!
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_SASL_PORT" \
    --command-config "$dir/client-sasl-scram.properties" --list >"$KAFKA_RUN/check-sasl-scram.log" 2>&1 &
  p3=$!
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_SSL_PORT" \
    --command-config "$KAFKA_TLS/client-ssl.properties" --list >"$KAFKA_RUN/check-ssl.log" 2>&1 &
  p4=$!
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_SASL_SSL_PORT" \
    --command-config "$KAFKA_TLS/client-sasl-ssl-scram512.properties" --list >"$KAFKA_RUN/check-sasl-ssl.log" 2>&1 &
  p5=$!
  wait "$p1" || {
    rc=1
    log_tail "$KAFKA_RUN/check-plaintext.log"
  }
  wait "$p2" || {
    rc=1
    log_tail "$KAFKA_RUN/check-sasl-plain.log"
  }
  wait "$p3" || {
    rc=1
    log_tail "$KAFKA_RUN/check-sasl-scram.log"
  }
  wait "$p4" || {
    rc=1
    log_tail "$KAFKA_RUN/check-ssl.log"
  }
  wait "$p5" || {
    rc=1
    log_tail "$KAFKA_RUN/check-sasl-ssl.log"
  }
  return "$rc"
}

kafka_wait() {
  wait_for kafka "$IOTSIM_START_TIMEOUT" kafka_status kafka_alive kafka_stop \
    "$KAFKA_RUN/kafka.out" "$KAFKA_RUN/logs/server.log"
  kafka_scram512 || die "could not add the SCRAM-SHA-512 credential of ${KAFKA_USER}"
  if [[ ${IOTSIM_KAFKA_DEEP_CHECK:-1} == 1 ]] && ! kafka_deep_check; then
    log_tail "$KAFKA_RUN/logs/server.log"
    die "kafka answers ApiVersions but a topic list via PLAINTEXT / SASL PLAIN / SASL SCRAM / SSL / SASL_SSL failed"
  fi
}

kafka_stop() {
  stop_pid kafka "$KAFKA_RUN/kafka.pid" "$KAFKA_RUN/server.properties" "$IOTSIM_STOP_TIMEOUT"
}

kafka_describe() {
  echo "kafka ${KAFKA_VERSION}: PLAINTEXT 127.0.0.1:${KAFKA_PORT}, SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512; ${KAFKA_USER}/${KAFKA_PASSWORD}) 127.0.0.1:${KAFKA_SASL_PORT}, SSL 127.0.0.1:${KAFKA_SSL_PORT}, SASL_SSL 127.0.0.1:${KAFKA_SASL_SSL_PORT} (CA $KAFKA_TLS/ca.pem), data $KAFKA_RUN"
}

# ---------------------------------------------------------------- postgres

# Our own cluster (initdb) in $PG_RUN, run by a non-root user: never the system cluster.

pg_version() {
  local d v best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x "$d" ]] || continue
    v=${d#/usr/lib/postgresql/}
    v=${v%%/*}
    if [[ -z $best ]] || ((v > best)); then best=$v; fi
  done
  [[ -n $best ]] || return 1
  echo "$best"
}

# The binaries to run: those of the data directory's major version when it exists, else the newest.
pg_bin() {
  local v
  if [[ -s "$PG_DATA/PG_VERSION" ]]; then
    v=$(<"$PG_DATA/PG_VERSION")
  else
    v=$(pg_version) || return 1
  fi
  [[ -x "/usr/lib/postgresql/$v/bin/postgres" ]] || return 1
  echo "/usr/lib/postgresql/$v/bin"
}

postgres_apt_packages() {
  # the server binaries, and psql / pg_isready (postgresql-client, a dependency of postgresql)
  if ! pg_version >/dev/null || ! command -v psql >/dev/null 2>&1; then
    echo postgresql
  fi
  return 0
}

# The OS user that owns and runs the cluster: initdb and postgres refuse root.
pg_os_user() {
  if [[ $EUID -eq 0 ]]; then echo "$PG_OS_USER_FOR_ROOT"; else id -un; fi
}

# pg_as_owner CMD... — run CMD as the cluster's OS user, in $PG_RUN, with no inherited fds > 2
# (a daemon started from here must not hold the harness lock on fd 9).
# shellcheck disable=SC2016  # $0 and $@ are expanded by the inner bash
pg_as_owner() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u "$PG_OS_USER_FOR_ROOT" -- bash -c "${CLOSE_FDS}"'cd "$0" && exec "$@"' "$PG_RUN" "$@"
  else
    bash -c "${CLOSE_FDS}"'cd "$0" && exec "$@"' "$PG_RUN" "$@"
  fi
}

postgres_install() {
  [[ -z "$(postgres_apt_packages)" ]] || apt_install postgresql
  pg_version >/dev/null || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin after installing postgresql"
  if [[ $EUID -eq 0 ]] && ! id -u "$PG_OS_USER_FOR_ROOT" >/dev/null 2>&1; then
    die "user '$PG_OS_USER_FOR_ROOT' (created by Debian's postgresql package) is missing: initdb refuses to run as root"
  fi
}

# Creates $PG_RUN (owned by the cluster's user, mode 700) and the cluster in $PG_DATA if missing.
pg_init() {
  local owner bin
  owner=$(pg_os_user)
  mkdir -p "$PG_RUN"
  if [[ $EUID -eq 0 ]]; then
    chown "$owner:" "$PG_RUN"
    if ! runuser -u "$owner" -- test -w "$PG_RUN"; then
      die "user $owner cannot reach $PG_RUN (a parent directory of IOTSIM_RUN is not searchable by it); set IOTSIM_RUN to a directory under /tmp"
    fi
  fi
  chmod 700 "$PG_RUN"
  if [[ -s "$PG_DATA/PG_VERSION" ]]; then
    pg_bin >/dev/null || die "$PG_DATA is a PostgreSQL $(<"$PG_DATA/PG_VERSION") cluster but /usr/lib/postgresql/$(<"$PG_DATA/PG_VERSION")/bin is missing; delete it with: bash scripts/services/down.sh --purge postgres"
    return 0
  fi
  bin=$(pg_bin) || die "no PostgreSQL server binaries found"
  rm -rf "$PG_DATA"
  log "creating PostgreSQL $(pg_version) cluster in $PG_DATA (owner $owner)"
  # superuser = the OS user, over the socket in $PG_RUN only (peer); TCP logins need a password
  if ! pg_as_owner "$bin/initdb" -D "$PG_DATA" -U "$owner" --encoding=UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 --no-instructions >"$PG_RUN/initdb.log" 2>&1; then
    log_tail "$PG_RUN/initdb.log"
    rm -rf "$PG_DATA"
    die "initdb failed (log: $PG_RUN/initdb.log)"
  fi
  echo "include_if_exists 'iotsim.conf'" | pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

# Our settings, rewritten on every start (an `include_if_exists` at the end of postgresql.conf).
pg_write_config() {
  local content
  content="# generated by scripts/services/lib.sh (rewritten on every start): a throwaway test
# server, durability traded for speed
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
unix_socket_directories = '${PG_RUN}'
unix_socket_permissions = 0700
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'"
  if [[ ! -f "$PG_DATA/iotsim.conf" || "$(<"$PG_DATA/iotsim.conf")" != "$content" ]]; then
    printf '%s\n' "$content" | pg_as_owner tee "$PG_DATA/iotsim.conf" >/dev/null
  fi
}

pg_cluster_running() {
  local bin
  [[ -s "$PG_DATA/PG_VERSION" ]] || return 1
  bin=$(pg_bin) || return 1
  pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_psql_admin() {
  pg_as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U "$(pg_os_user)" -d postgres
}

pg_login_ok() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -h 127.0.0.1 -p "$PG_PORT" \
    -U "$PG_USER" -d "$PG_DB" -tAc 'select 1' >/dev/null 2>&1
}

postgres_status() { pg_cluster_running && pg_login_ok; }

postgres_launch() {
  local bin
  pg_cluster_running && return 0
  if tcp_open "$PG_PORT"; then
    die "port 127.0.0.1:$PG_PORT is already in use by another process; cannot start postgres"
  fi
  pg_init
  pg_write_config
  bin=$(pg_bin)
  # -w: pg_ctl waits (about 1 s) until the server accepts connections, or reports that it exited;
  # without it, postmaster.pid may not exist yet when postgres_wait asks whether it is alive.
  # pg_ctl starts postgres in its own session.
  if ! pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$IOTSIM_START_TIMEOUT" start >/dev/null; then
    log_tail "$PG_LOG"
    postgres_stop || true
    die "pg_ctl start failed (log: $PG_LOG)"
  fi
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

postgres_wait() {
  wait_for postgres "$IOTSIM_START_TIMEOUT" pg_ready pg_cluster_running postgres_stop "$PG_LOG"
  if ! pg_login_ok; then
    pg_psql_admin <<EOSQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_USER}') THEN
    CREATE ROLE ${PG_USER} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}';
  ELSE
    ALTER ROLE ${PG_USER} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE ${PG_DB} OWNER ${PG_USER}'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${PG_DB}') \gexec
EOSQL
    pg_login_ok || die "postgres is up but login as ${PG_USER} over 127.0.0.1:${PG_PORT} fails"
  fi
}

postgres_stop() {
  local bin
  pg_cluster_running || return 0
  bin=$(pg_bin)
  pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" stop -m fast -w -t "$IOTSIM_STOP_TIMEOUT" >/dev/null ||
    die "pg_ctl stop failed (log: $PG_LOG)"
}

postgres_restart() {
  local bin
  if pg_cluster_running; then
    pg_write_config
    bin=$(pg_bin)
    pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" restart -m fast -w -t "$IOTSIM_START_TIMEOUT" >/dev/null ||
      die "pg_ctl restart failed (log: $PG_LOG)"
  else
    postgres_install
    postgres_launch
  fi
  postgres_wait
}

postgres_describe() {
  echo "postgres $(<"$PG_DATA/PG_VERSION"): postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}, own cluster in $PG_DATA (OS user $(pg_os_user))"
}

# ---------------------------------------------------------------- mosquitto

mosquitto_apt_packages() {
  command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || echo mosquitto
  command -v mosquitto_pub >/dev/null 2>&1 || echo mosquitto-clients
  return 0
}

mosquitto_install() {
  local pkgs
  pkgs=$(mosquitto_apt_packages)
  if [[ -n $pkgs ]]; then
    # shellcheck disable=SC2086  # one package per word
    apt_install $pkgs
    # we run our own broker; do not leave the distribution's service running
    if [[ -x /etc/init.d/mosquitto ]]; then
      as_root /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
    fi
  fi
}

mosquitto_bin() {
  command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto
}

mosquitto_alive() { pid_alive "$MQTT_RUN/mosquitto.pid" "$MQTT_RUN/mosquitto.conf"; }

mosquitto_status() {
  if command -v mosquitto_pub >/dev/null 2>&1; then
    timeout 5 mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -i "iotsim-probe-$$" \
      -t iotsim/services/probe -m ping -q 1 >/dev/null 2>&1
  else
    tcp_open "$MQTT_PORT"
  fi
}

mosquitto_launch() {
  mosquitto_alive && return 0
  stop_pid mosquitto "$MQTT_RUN/mosquitto.pid" "$MQTT_RUN/mosquitto.conf" 10
  if tcp_open "$MQTT_PORT"; then
    die "port 127.0.0.1:$MQTT_PORT is already in use by another process; cannot start mosquitto"
  fi
  mkdir -p "$MQTT_RUN/data"
  cat >"$MQTT_RUN/mosquitto.conf" <<EOF
# generated by scripts/services/lib.sh
per_listener_settings false
listener ${MQTT_PORT} 127.0.0.1
allow_anonymous true
# run as root (no privilege drop) so it can write its state under \$IOTSIM_RUN
user root
# retained messages and persistent sessions survive ctl.sh mosquitto stop/start
persistence true
persistence_location ${MQTT_RUN}/data/
autosave_interval 30
max_queued_messages 100000
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp true
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
  : >"$MQTT_RUN/mosquitto.log"
  start_bg "$MQTT_RUN/mosquitto.pid" "$MQTT_RUN/mosquitto.log" \
    "$(mosquitto_bin)" -c "$MQTT_RUN/mosquitto.conf"
}

mosquitto_wait() {
  wait_for mosquitto "$IOTSIM_START_TIMEOUT" mosquitto_status mosquitto_alive mosquitto_stop \
    "$MQTT_RUN/mosquitto.log"
}

mosquitto_stop() {
  stop_pid mosquitto "$MQTT_RUN/mosquitto.pid" "$MQTT_RUN/mosquitto.conf" 20
}

mosquitto_describe() {
  echo "mosquitto: mqtt://127.0.0.1:${MQTT_PORT} (anonymous)"
}

# ---------------------------------------------------------------- python (venv)

python_apt_packages() {
  if [[ ! -x "$VENV/bin/python" ]] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo python3-venv
  fi
  return 0
}

python_status() {
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import pyarrow, pandas, deltalake, asyncua, pymodbus, paho.mqtt, pysparkplug, jsonschema' >/dev/null 2>&1
}

python_install() {
  local want have=""
  want="${PY_REQUIREMENTS[*]}"
  [[ -f "$VENV/.iotsim-requirements" ]] && have=$(<"$VENV/.iotsim-requirements")
  if [[ $have == "$want" ]] && python_status; then
    return 0
  fi
  if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "venv $VENV is broken; recreating it"
    rm -rf "$VENV"
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    log "creating python venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"
      apt_install python3-venv
      python3 -m venv "$VENV"
    fi
  fi
  log "pip install ${PY_REQUIREMENTS[*]}"
  local piplog="$IOTSIM_CACHE/pip.log"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_REQUIREMENTS[@]}" \
    >"$piplog" 2>&1; then
    log_tail "$piplog"
    die "pip install failed (log: $piplog)"
  fi
  printf '%s\n' "$want" >"$VENV/.iotsim-requirements"
}

python_launch() { :; }

python_wait() {
  python_status || die "python venv $VENV cannot import pyarrow, pandas, deltalake, asyncua, pymodbus, paho, pysparkplug, jsonschema"
}

python_stop() { :; }

python_describe() {
  echo "python: $VENV/bin/python ($("$VENV/bin/python" -c 'import pyarrow, pandas, deltalake; print("pyarrow", pyarrow.__version__, "pandas", pandas.__version__, "deltalake", deltalake.__version__)'))"
}

# ---------------------------------------------------------------- s3 (moto)

s3_apt_packages() { python_apt_packages; }

s3_install() { python_install; }

s3_alive() { pid_alive "$S3_RUN/moto.pid" "$VENV/bin/moto_server"; }

s3_status() {
  local code
  code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:${S3_PORT}/" 2>/dev/null) || true
  [[ -n $code && $code != 000 ]]
}

s3_launch() {
  s3_alive && return 0
  stop_pid s3 "$S3_RUN/moto.pid" "$VENV/bin/moto_server" 10
  if tcp_open "$S3_PORT"; then
    die "port 127.0.0.1:$S3_PORT is already in use by another process; cannot start moto"
  fi
  [[ -x "$VENV/bin/moto_server" ]] || die "$VENV/bin/moto_server missing (python install failed?)"
  mkdir -p "$S3_RUN"
  : >"$S3_RUN/moto.log"
  start_bg "$S3_RUN/moto.pid" "$S3_RUN/moto.log" \
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT"
}

s3_wait() {
  wait_for s3 "$IOTSIM_START_TIMEOUT" s3_status s3_alive s3_stop "$S3_RUN/moto.log"
}

s3_stop() {
  stop_pid s3 "$S3_RUN/moto.pid" "$VENV/bin/moto_server" 20
}

s3_describe() {
  echo "s3 (moto): http://127.0.0.1:${S3_PORT} (testing/testing, us-east-1; in-memory)"
}

# ---------------------------------------------------------------- dispatch

# resolve_services [NAME...] — sets SERVICES to the named services (all when none given),
# validated, de-duplicated and in canonical start order.
resolve_services() {
  local s x
  for s in "$@"; do
    for x in "${IOTSIM_ALL_SERVICES[@]}"; do
      [[ $s == "$x" ]] && continue 2
    done
    die "unknown service '$s' (known: ${IOTSIM_ALL_SERVICES[*]})"
  done
  SERVICES=()
  for x in "${IOTSIM_ALL_SERVICES[@]}"; do
    if (($# == 0)) || [[ " $* " == *" $x "* ]]; then
      SERVICES+=("$x")
    fi
  done
}
