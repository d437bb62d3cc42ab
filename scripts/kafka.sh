#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Kafka for Tributary: a local Apache Kafka broker (one combined KRaft
# broker+controller node), its jars resolved from Maven Central.
#
#   scripts/kafka.sh [install|start|stop|status|topics]...  (default: start)
#   scripts/kafka.sh tool NAME [ARGS...]     runs a Kafka command-line tool
#                                            (kafka-consumer-groups, kafka-topics, ...)
#
# With KAFKA_BOOTSTRAP_SERVERS set by the caller, nothing is installed,
# started or stopped: `start` and `status` only check that the first
# host:port accepts connections (`topics` still lays out the topics there,
# `tool` still needs `install`).
#
# Otherwise:
#   install  resolves org.apache.kafka:kafka_2.13 $KAFKA_VERSION, the tools and
#            a log4j2 binding (scripts/kafka/pom.xml) with Maven into
#            $KAFKA_HOME/libs (~10-30 s the first time, then reused), and
#            writes wrappers for the tools into $KAFKA_HOME/bin
#   start    formats the storage once (kafka.tools.StorageTool) and starts the
#            broker (if not running) on 127.0.0.1:$KAFKA_PORT, its controller
#            on 127.0.0.1:$KAFKA_CONTROLLER_PORT; data, pid file and log in
#            $KAFKA_DATA; it keeps running after this script exits. Ready =
#            it answers ApiVersions and Metadata
#   stop     stops it (SIGTERM, then SIGKILL after a bounded wait)
#   status   running or not, pid, port, data dir, version
#   topics   creates the pipeline's missing topics and checks their partition
#            counts, on any broker (tributary-admin ensure; builds it with cargo)
#
# Knobs: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (1g: the
# JVM's -Xmx), TRIBUTARY_TOPIC_PREFIX (tributary), TRIBUTARY_PARTITIONS (8),
# TRIBUTARY_AGGREGATES (the bank example's: account,email-claim,user,transfer),
# KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (30 s), KAFKA_INSTALL_TIMEOUT
# (900 s), KAFKA_MAX_DATA_MB (4096: larger local data is wiped at start),
# KAFKA_MAX_PARTITIONS (3000: more partition directories are wiped at start).
set -euo pipefail

LOG_TAG=kafka
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
INSTALL_TIMEOUT="${KAFKA_INSTALL_TIMEOUT:-900}"
POM="$TRIBUTARY_ROOT/scripts/kafka/pom.xml"
LIBS="$KAFKA_HOME/libs"
LIBS_STAMP="$LIBS/.tributary-pom.sha256"
M2_REPO="${TRIBUTARY_M2_REPO:-$TRIBUTARY_CACHE/m2}"
PROPERTIES="$KAFKA_DATA/server.properties"
LOG4J_CONFIG="$KAFKA_DATA/log4j2.properties"
META_DIR="$KAFKA_DATA/log"

if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  MODE=external
  first="${KAFKA_BOOTSTRAP_SERVERS%%,*}"
  first="${first#*://}"
  BOOT_HOST="${first%:*}"
  BOOT_PORT="${first##*:}"
  unset first
else
  MODE=local
  BOOT_HOST="$KAFKA_HOST"
  BOOT_PORT="$KAFKA_PORT"
fi

# The command-line tools `install` writes wrappers for: name -> main class.
declare -A TOOLS=(
  [kafka-consumer-groups]=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
  [kafka-topics]=org.apache.kafka.tools.TopicCommand
  [kafka-configs]=org.apache.kafka.tools.ConfigCommand
  [kafka-console-consumer]=org.apache.kafka.tools.consumer.ConsoleConsumer
  [kafka-console-producer]=org.apache.kafka.tools.ConsoleProducer
  [kafka-get-offsets]=org.apache.kafka.tools.GetOffsetShell
  [kafka-broker-api-versions]=org.apache.kafka.tools.BrokerApiVersionsCommand
  [kafka-metadata-quorum]=org.apache.kafka.tools.MetadataQuorumCommand
  [kafka-transactions]=org.apache.kafka.tools.TransactionsCommand
)

# ---------------------------------------------------------------------------
# install


libs_installed() {
  [[ -f "$LIBS_STAMP" && "$(cat "$LIBS_STAMP")" == "$(pom_digest "$POM")" ]] \
    && compgen -G "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
}

# Serialise install/start/stop between concurrent runs of this script.
take_lock() {
  mkdir -p "$TRIBUTARY_CACHE"
  exec 9>"$TRIBUTARY_CACHE/kafka.lock"
  if ! flock -n 9; then
    log "another scripts/kafka.sh holds $TRIBUTARY_CACHE/kafka.lock: waiting (up to ${INSTALL_TIMEOUT}s)"
    flock -w "$INSTALL_TIMEOUT" 9 || die "timed out waiting for $TRIBUTARY_CACHE/kafka.lock"
  fi
}

ensure_java() {
  have java || apt_install openjdk-17-jre-headless
  have mvn || apt_install maven
}

# Resolves the broker's jars into $1 (log in $2).
resolve_jars() {
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS (log $2)"
  maven_copy_dependencies "$POM" "$M2_REPO" "$1" "$2" "$INSTALL_TIMEOUT" KAFKA_INSTALL_TIMEOUT "the Kafka jars"
}

# A wrapper per tool in $KAFKA_HOME/bin: `kafka-consumer-groups --describe ...`.
write_tool_wrappers() {
  mkdir -p "$KAFKA_HOME/bin"
  local name
  for name in "${!TOOLS[@]}"; do
    cat >"$KAFKA_HOME/bin/$name" <<EOF
#!/usr/bin/env bash
# $name of Apache Kafka $KAFKA_VERSION, written by scripts/kafka.sh install.
exec java -Xmx512m -Dlog4j2.configurationFile="$KAFKA_HOME/tools-log4j2.properties" \\
  -cp "$LIBS/*" ${TOOLS[$name]} "\$@"
EOF
    chmod +x "$KAFKA_HOME/bin/$name"
  done
  # Tools log warnings and errors to stderr only.
  cat >"$KAFKA_HOME/tools-log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
EOF
}

cmd_install() {
  if [[ "$MODE" == external ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set ($KAFKA_BOOTSTRAP_SERVERS): not installing a broker"
    return 0
  fi
  check_pom_kafka_version "$POM"
  take_lock
  if libs_installed; then
    log "reusing Apache Kafka $KAFKA_VERSION in $LIBS"
  else
    ensure_java
    mkdir -p "$KAFKA_HOME"
    local staging="$KAFKA_HOME/libs.partial"
    rm -rf "$staging"
    resolve_jars "$staging" "$KAFKA_HOME/install.log"
    compgen -G "$staging/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
      || die "Maven finished but $staging has no kafka_2.13-$KAFKA_VERSION.jar; see $KAFKA_HOME/install.log"
    pom_digest "$POM" >"$staging/.tributary-pom.sha256"
    rm -rf "$LIBS"
    mv "$staging" "$LIBS"
    log "installed Apache Kafka $KAFKA_VERSION: $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
  fi
  write_tool_wrappers
}

# ---------------------------------------------------------------------------
# start / stop

# The broker's settings. Those that matter for the pipeline's guarantees are
# what a production cluster has; the rest fit one node on a 2-core machine.
write_properties() {
  mkdir -p "$KAFKA_DATA"
  cat >"$PROPERTIES" <<EOF
# Written by scripts/kafka.sh start; edits are overwritten.
# One node that is both KRaft controller and broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$META_DIR

# As in production: topics exist only when tributary-admin (or an operator)
# creates them with their partition counts and retention, so a typo in a topic
# name is an error, not a new topic with the broker's defaults.
auto.create.topics.enable=false
# Topics are deleted by tests that clean up after themselves.
delete.topic.enable=true

# One node: the internal topics (consumer offsets, transaction state, share
# groups) cannot have more than one replica. A production cluster keeps 3.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Never elect a replica that lacks acknowledged records (Kafka's default, kept
# explicit: the exactly-once guarantees rest on acknowledged = durable).
unclean.leader.election.enable=false

# Tests start and stop consumer group members all the time: no waiting for
# more members before the first assignment (production keeps the 3 s default).
group.initial.rebalance.delay.ms=0

# Small machine: fewer threads and smaller segments than the defaults.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=33554432
EOF
  cat >"$LOG4J_CONFIG" <<EOF
# Written by scripts/kafka.sh start: the broker logs to $KAFKA_LOG.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KAFKA_LOG
appender.file.filePattern = $KAFKA_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
# Quiet per-request and per-segment chatter.
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = warn
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = info
EOF
}

java_cp() {
  printf '%s/*' "$LIBS"
}

# Formats the storage the first time (a fresh cluster ID), never again.
format_storage() {
  if [[ -f "$META_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(java -cp "$(java_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid gave no cluster ID"
  log "formatting the broker's storage in $META_DIR (cluster $cluster_id)"
  java -Xmx256m -Dlog4j2.configurationFile="$KAFKA_HOME/tools-log4j2.properties" -cp "$(java_cp)" \
    kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$PROPERTIES" >>"$KAFKA_LOG" 2>&1 \
    || die "formatting the storage failed; see $KAFKA_LOG"
}

# The pid in the pid file, if that process is alive and is our broker.
live_pid() {
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_our_broker "$pid" || return 1
  printf '%s\n' "$pid"
}

# A java process running kafka.Kafka with our properties file.
is_our_broker() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qx -- "$PROPERTIES" \
    && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qx -- kafka.Kafka
}

# A broker of ours running without (or with a stale) pid file.
find_orphan() {
  local d pid
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if is_our_broker "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

broker_ready() {
  tcp_open "$BOOT_HOST" "$BOOT_PORT" && kafka_api_versions "$BOOT_HOST" "$BOOT_PORT" \
    && kafka_metadata "$BOOT_HOST" "$BOOT_PORT"
}

check_external() {
  if tcp_open "$BOOT_HOST" "$BOOT_PORT"; then
    if kafka_api_versions "$BOOT_HOST" "$BOOT_PORT"; then
      log "$BOOT_HOST:$BOOT_PORT accepts connections and answers Kafka ApiVersions"
    else
      log "$BOOT_HOST:$BOOT_PORT accepts connections (no plain-text Kafka ApiVersions answer: TLS/SASL listener?)"
    fi
  else
    die "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS: $BOOT_HOST:$BOOT_PORT does not accept connections; start that broker, fix the variable, or unset it to use a local Apache Kafka on 127.0.0.1:$KAFKA_PORT"
  fi
}

# Test topics have unique names and the local data only grows; past
# KAFKA_MAX_DATA_MB or KAFKA_MAX_PARTITIONS partition directories it is wiped
# before starting, so that a long-lived machine keeps a fast broker (every
# partition costs the broker file handles, memory and start-up time).
wipe_if_large() {
  [[ "$MODE" == local && -d "$META_DIR" ]] || return 0
  local size_mb partitions
  size_mb="$(du -sm "$KAFKA_DATA" | cut -f1)"
  partitions="$(find "$META_DIR" -mindepth 1 -maxdepth 1 -type d | wc -l)"
  ((size_mb > KAFKA_MAX_DATA_MB || partitions > KAFKA_MAX_PARTITIONS)) || return 0
  log "broker data is ${size_mb} MB in $partitions partitions (limits KAFKA_MAX_DATA_MB=$KAFKA_MAX_DATA_MB, KAFKA_MAX_PARTITIONS=$KAFKA_MAX_PARTITIONS): stopping the broker and starting from empty storage"
  cmd_stop
  rm -rf "$META_DIR"
}

launch() {
  local cmd=(java "-Xms256m" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J_CONFIG"
    "-Dkafka.logs.dir=$KAFKA_DATA" -cp "$(java_cp)" kafka.Kafka "$PROPERTIES")
  log "starting Apache Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (data $KAFKA_DATA, log $KAFKA_LOG)"
  printf '\n==== %s: starting: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${cmd[*]}" >>"$KAFKA_STDOUT"
  # Runs as `bash -c "$DETACH" _ PIDFILE CMD...`: records its pid, closes
  # every inherited descriptor above stderr (a daemon holding a caller's pipe
  # open would keep e.g. a CI log reader waiting), then becomes CMD.
  # shellcheck disable=SC2016 # expanded by the inner bash
  local DETACH='echo $$ >"$1"; shift
    for fd in $(ls /proc/$$/fd); do
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"'
  # setsid + nohup detach the broker from this script's session; KAFKA_*
  # variables of the caller are not the broker's business.
  (
    cd "$KAFKA_DATA"
    setsid nohup bash -c "$DETACH" _ "$KAFKA_PID_FILE" "${cmd[@]}" \
      >>"$KAFKA_STDOUT" 2>&1 </dev/null 9>&- &
  )
  local tries=0
  while [[ ! -s "$KAFKA_PID_FILE" ]] && ((tries < 50)); do
    sleep 0.1
    tries=$((tries + 1))
  done
}

cmd_start() {
  if [[ "$MODE" == external ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set ($KAFKA_BOOTSTRAP_SERVERS): starting nothing"
    check_external
    return 0
  fi
  wipe_if_large
  take_lock
  local pid
  if pid="$(live_pid)"; then
    if broker_ready; then
      log "Apache Kafka already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
      return 0
    fi
    log "Apache Kafka (pid $pid) is running but not answering yet"
    if WAIT_LOG="$KAFKA_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "Apache Kafka on $KAFKA_HOST:$KAFKA_PORT" broker_ready; then
      return 0
    fi
    log "restarting it"
    stop_pid "$pid"
  elif pid="$(find_orphan)"; then
    log "found our Apache Kafka (pid $pid) without a valid pid file: adopting it"
    printf '%s\n' "$pid" >"$KAFKA_PID_FILE"
    WAIT_LOG="$KAFKA_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "Apache Kafka on $KAFKA_HOST:$KAFKA_PORT" broker_ready
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"

  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if tcp_open "$KAFKA_HOST" "$port"; then
      die "$KAFKA_HOST:$port is already taken by another process (not a broker started by this script); stop it, or set KAFKA_PORT/KAFKA_CONTROLLER_PORT to free ports, or set KAFKA_BOOTSTRAP_SERVERS to use that broker"
    fi
  done
  libs_installed || die "Apache Kafka $KAFKA_VERSION is not installed in $LIBS: run scripts/kafka.sh install first"
  have java || die "java not found: run scripts/kafka.sh install (it installs a JRE)"

  write_properties
  format_storage
  launch
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "the broker did not write its pid file $KAFKA_PID_FILE; see $KAFKA_STDOUT"
  WAIT_LOG="$KAFKA_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "Apache Kafka on $KAFKA_HOST:$KAFKA_PORT (pid $pid)" broker_ready
  log "Apache Kafka is running (pid $pid); it keeps running after this script: stop it with scripts/kafka.sh stop"
}

stop_pid() {
  local pid="$1"
  log "stopping Apache Kafka (pid $pid): SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "Apache Kafka (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$KAFKA_PID_FILE"
  log "Apache Kafka stopped"
}

cmd_stop() {
  if [[ "$MODE" == external ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set: this script did not start that broker, so it does not stop it"
    return 0
  fi
  take_lock
  local pid
  if pid="$(live_pid)" || pid="$(find_orphan)"; then
    stop_pid "$pid"
  else
    rm -f "$KAFKA_PID_FILE"
    log "Apache Kafka is not running"
  fi
}

cmd_status() {
  if [[ "$MODE" == external ]]; then
    log "mode: external (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS)"
    check_external
    return 0
  fi
  local rc=0 pid
  log "mode: local Apache Kafka $KAFKA_VERSION"
  if pid="$(live_pid)"; then
    log "broker: running, pid $pid"
  elif pid="$(find_orphan)"; then
    log "broker: running without a valid pid file, pid $pid"
  else
    log "broker: NOT running"
    rc=1
  fi
  if broker_ready; then
    log "port: $KAFKA_HOST:$KAFKA_PORT answers Kafka ApiVersions and Metadata"
  elif tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    log "port: $KAFKA_HOST:$KAFKA_PORT open but no Kafka answer"
    rc=1
  else
    log "port: $KAFKA_HOST:$KAFKA_PORT closed"
    rc=1
  fi
  log "data dir: $KAFKA_DATA (log $KAFKA_LOG)"
  if libs_installed; then
    log "jars: $LIBS; tools: $KAFKA_HOME/bin"
  else
    log "jars: not installed (run scripts/kafka.sh install)"
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------
# Topics are laid out by tributary-admin (the same code the services use to
# check them), so the partition counts and configs live in one place
# (runtime/src/topology.rs) and the command works on any Kafka broker.
cmd_topics() {
  [[ "$TRIBUTARY_TOPIC_PREFIX" =~ ^[A-Za-z0-9._-]+$ ]] \
    || die "TRIBUTARY_TOPIC_PREFIX='$TRIBUTARY_TOPIC_PREFIX': Kafka topic names allow only A-Z a-z 0-9 . _ -"
  [[ "$TRIBUTARY_PARTITIONS" =~ ^[1-9][0-9]*$ ]] \
    || die "TRIBUTARY_PARTITIONS='$TRIBUTARY_PARTITIONS' is not a positive number"
  if [[ "$MODE" == external ]]; then
    check_external
  fi
  find_cargo || die "cargo not found (not on PATH, not in ~/.cargo/bin): install a Rust toolchain to build tributary-admin"
  log "laying out topics of $TRIBUTARY_AGGREGATES with prefix '$TRIBUTARY_TOPIC_PREFIX' on $BOOT_HOST:$BOOT_PORT (tributary-admin ensure)"
  (cd "$TRIBUTARY_ROOT" \
    && KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$BOOT_HOST:$BOOT_PORT}" \
      TRIBUTARY_TOPIC_PREFIX="$TRIBUTARY_TOPIC_PREFIX" TRIBUTARY_PARTITIONS="$TRIBUTARY_PARTITIONS" \
      TRIBUTARY_AGGREGATES="$TRIBUTARY_AGGREGATES" \
      cargo run --quiet -p tributary-runtime --bin tributary-admin -- ensure </dev/null) \
    || die "could not lay out the topics (see above)"
}

cmd_tool() {
  local name="${1:-}"
  [[ -n "$name" && -n "${TOOLS[$name]:-}" ]] \
    || die "usage: $0 tool NAME [ARGS...]; NAME is one of: ${!TOOLS[*]}"
  shift
  libs_installed || die "Apache Kafka $KAFKA_VERSION is not installed: run scripts/kafka.sh install first"
  exec "$KAFKA_HOME/bin/$name" "$@"
}

if [[ "${1:-}" == tool ]]; then
  shift
  cmd_tool "$@"
fi
# Several commands may be given: scripts/kafka.sh install start topics
[[ $# -gt 0 ]] || set -- start
for command in "$@"; do
  case "$command" in
    install | start | stop | status | topics) ;;
    *)
      echo "usage: $0 [install|start|stop|status|topics]...  or  $0 tool NAME [ARGS...]" >&2
      exit 2
      ;;
  esac
done
for command in "$@"; do
  "cmd_$command"
done
