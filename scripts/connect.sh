#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Kafka Connect for Tributary's benchmark: a standalone Connect worker running
# Debezium's JDBC sink connector, the tool users would pick instead of
# Tributary's projector to keep a PostgreSQL table up to date from a Kafka
# topic. The benchmark (scripts/bench.sh, bench/) starts it as a child process
# beside the projector; by hand it is run the same way.
#
#   scripts/connect.sh resolve
#       resolves the worker's jars (scripts/connect/pom.xml: connect-runtime and
#       connect-json $KAFKA_VERSION, the Debezium JDBC sink, the PostgreSQL
#       driver, log4j2) from Maven Central into $CONNECT_HOME/lib, once (~10-30 s
#       the first time; reused until the pom changes: a sha256 stamp records
#       it), and prints that directory on stdout
#   scripts/connect.sh standalone WORKER_PROPERTIES CONNECTOR_PROPERTIES...
#       resolves if needed, then execs java running
#       org.apache.kafka.connect.cli.ConnectStandalone with those files (the
#       process stays this script's pid: signal it to stop the worker). It logs
#       to stdout. scripts/connect/worker.properties and
#       scripts/connect/jdbc-sink.properties are templates for the two files
#       (their @PLACEHOLDERS@ are the caller's to fill). A failed task does not
#       end the worker: watch GET http://127.0.0.1:<rest port>/connectors/<name>/status
#       for "FAILED". The sink has consumed everything when its consumer group
#       connect-<name> has committed the log end offset of every partition
#       (kafka-consumer-groups --describe: LAG 0); it commits every
#       offset.flush.interval.ms, after the rows are written
#   scripts/connect.sh --help
#
# Knobs: CONNECT_HEAP (512m: the JVM's -Xmx), CONNECT_JVM_OPTS (more JVM
# options, word-split), CONNECT_LOG_LEVEL (info: the root log level),
# CONNECT_LOG4J (a log4j2 configuration file to use instead of the one written
# to $CONNECT_HOME), CONNECT_HOME ($TRIBUTARY_CACHE/connect-$KAFKA_VERSION),
# TRIBUTARY_M2_REPO ($TRIBUTARY_CACHE/m2, the Maven repository kafka.sh uses
# too), CONNECT_INSTALL_TIMEOUT (900 s). A JRE 17+ and Maven are installed from
# Debian's packages if missing.
set -euo pipefail

LOG_TAG=connect
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNECT_HOME="${CONNECT_HOME:-$TRIBUTARY_CACHE/connect-$KAFKA_VERSION}"
CONNECT_HEAP="${CONNECT_HEAP:-512m}"
CONNECT_LOG_LEVEL="${CONNECT_LOG_LEVEL:-info}"
INSTALL_TIMEOUT="${CONNECT_INSTALL_TIMEOUT:-900}"
POM="$TRIBUTARY_ROOT/scripts/connect/pom.xml"
LIB="$CONNECT_HOME/lib"
LIB_STAMP="$LIB/.tributary-pom.sha256"
M2_REPO="${TRIBUTARY_M2_REPO:-$TRIBUTARY_CACHE/m2}"
LOG4J_CONFIG="$CONNECT_HOME/log4j2.properties"
MAIN_CLASS=org.apache.kafka.connect.cli.ConnectStandalone

usage() {
  # The header comment above, without the shebang and shellcheck lines.
  sed -n '3,/^set -euo pipefail/{/^set -euo pipefail/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}


lib_installed() {
  [[ -f "$LIB_STAMP" && "$(cat "$LIB_STAMP")" == "$(pom_digest "$POM")" ]] \
    && compgen -G "$LIB/connect-runtime-$KAFKA_VERSION.jar" >/dev/null \
    && compgen -G "$LIB/debezium-connector-jdbc-*.jar" >/dev/null
}

ensure_java() {
  if ! have java; then
    log "no java found: installing openjdk-17-jre-headless from Debian's packages"
    apt_install openjdk-17-jre-headless
  fi
  local version major
  version="$(java -version 2>&1 | head -n 1)"
  major="$(sed -E 's/^[^"]*"([0-9]+).*/\1/' <<<"$version")"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "java is too old ($version): Debezium 3 and Kafka Connect $KAFKA_VERSION need Java 17 or later"
  fi
}

# Resolves Connect's and the sink's jars into $1 (log in $2).
run_maven() {
  log "resolving Kafka Connect $KAFKA_VERSION and the JDBC sink from Maven Central into $LIB (log $2)"
  maven_copy_dependencies "$POM" "$M2_REPO" "$1" "$2" "$INSTALL_TIMEOUT" CONNECT_INSTALL_TIMEOUT "the Connect jars"
}

# The worker logs to stdout; Connect's and the sink's per-batch and
# per-rebalance chatter stays at warn.
write_log4j_config() {
  cat >"$LOG4J_CONFIG.tmp" <<'EOF'
# Written by scripts/connect.sh: the Connect worker logs to stdout.
status = warn
appender.stdout.type = Console
appender.stdout.name = stdout
appender.stdout.target = SYSTEM_OUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${env:CONNECT_LOG_LEVEL:-info}
rootLogger.appenderRef.stdout.ref = stdout
# Config dumps of every client and every Hibernate start-up line.
logger.clientconfig.name = org.apache.kafka.clients
logger.clientconfig.level = warn
logger.common.name = org.apache.kafka.common
logger.common.level = warn
logger.hibernate.name = org.hibernate
logger.hibernate.level = warn
logger.reflections.name = org.reflections
logger.reflections.level = error
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = warn
EOF
  mv "$LOG4J_CONFIG.tmp" "$LOG4J_CONFIG"
}

cmd_resolve() {
  [[ -f "$POM" ]] || die "missing $POM"
  check_pom_kafka_version "$POM"
  mkdir -p "$CONNECT_HOME"
  # One resolve at a time; a second caller waits and then reuses the first one's.
  exec 8>"$CONNECT_HOME/.lock"
  if ! flock -n 8; then
    log "another scripts/connect.sh holds $CONNECT_HOME/.lock: waiting (up to ${INSTALL_TIMEOUT}s)"
    flock -w "$INSTALL_TIMEOUT" 8 || die "timed out waiting for $CONNECT_HOME/.lock"
  fi
  ensure_java
  if lib_installed; then
    log "reusing Kafka Connect $KAFKA_VERSION in $LIB"
  else
    have mvn || apt_install maven
    local staging="$CONNECT_HOME/lib.partial" started=$SECONDS
    rm -rf "$staging"
    run_maven "$staging" "$CONNECT_HOME/install.log"
    compgen -G "$staging/connect-runtime-$KAFKA_VERSION.jar" >/dev/null \
      || die "Maven finished but $staging has no connect-runtime-$KAFKA_VERSION.jar; see $CONNECT_HOME/install.log"
    compgen -G "$staging/debezium-connector-jdbc-*.jar" >/dev/null \
      || die "Maven finished but $staging has no debezium-connector-jdbc jar; see $CONNECT_HOME/install.log"
    # Exactly one kafka-clients, the broker's version: a second one (from a
    # connector that ships its own) would make the class path ambiguous.
    local clients
    clients="$(find "$staging" -maxdepth 1 -name 'kafka-clients-*.jar' -printf '%f ')"
    [[ "$clients" == "kafka-clients-$KAFKA_VERSION.jar " ]] \
      || die "expected only kafka-clients-$KAFKA_VERSION.jar in $staging, found: ${clients:-none}"
    pom_digest "$POM" >"$staging/.tributary-pom.sha256"
    rm -rf "$LIB"
    mv "$staging" "$LIB"
    log "installed Kafka Connect $KAFKA_VERSION: $(find "$LIB" -name '*.jar' | wc -l) jars in $LIB ($((SECONDS - started))s)"
  fi
  write_log4j_config
  exec 8>&-
}

cmd_standalone() {
  [[ $# -ge 2 ]] || die "usage: $0 standalone WORKER_PROPERTIES CONNECTOR_PROPERTIES..."
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || die "no such file: $f"
    if grep -q '@[A-Z_]*@' "$f"; then
      die "$f still has placeholders ($(grep -o '@[A-Z_]*@' "$f" | sort -u | tr '\n' ' ')): fill them first"
    fi
  done
  cmd_resolve
  local log4j="${CONNECT_LOG4J:-$LOG4J_CONFIG}"
  export CONNECT_LOG_LEVEL
  # CONNECT_JVM_OPTS is split into words on purpose.
  # shellcheck disable=SC2206
  local extra=(${CONNECT_JVM_OPTS:-})
  local cmd=(java "-Xms128m" "-Xmx$CONNECT_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$log4j" "${extra[@]}"
    -cp "$LIB/*" "$MAIN_CLASS" "$@")
  log "\$ ${cmd[*]}"
  exec "${cmd[@]}"
}

case "${1:-}" in
  resolve)
    [[ $# -eq 1 ]] || die "usage: $0 resolve"
    cmd_resolve
    printf '%s\n' "$LIB"
    ;;
  standalone)
    shift
    cmd_standalone "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
