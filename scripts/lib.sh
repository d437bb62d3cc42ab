# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this
# Shared helpers for the local-infrastructure scripts. Source it, don't run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every script sets LOG_TAG (e.g. "postgres") so its messages read
# "==> postgres: starting cluster 15/main". All messages go to stderr, so a
# script's stdout stays free for values meant for the caller.

# Repository root (the parent of scripts/).
TRIBUTARY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TRIBUTARY_ROOT

# Everything this project downloads, builds or keeps between runs lives here.
TRIBUTARY_CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
export TRIBUTARY_CACHE

# ---- Kafka (local Apache Kafka broker) -----------------------------------
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# Pinned here and in scripts/kafka/pom.xml (scripts/kafka.sh checks they agree).
KAFKA_VERSION="4.4.0"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_HOME="${KAFKA_HOME:-$TRIBUTARY_CACHE/kafka-$KAFKA_VERSION}"
KAFKA_DATA="${KAFKA_DATA:-$KAFKA_HOME/data}"
KAFKA_PID_FILE="$KAFKA_DATA/kafka.pid"
KAFKA_LOG="$KAFKA_DATA/server.log"
KAFKA_STDOUT="$KAFKA_DATA/stdout.log"
KAFKA_MAX_DATA_MB="${KAFKA_MAX_DATA_MB:-4096}"
KAFKA_MAX_PARTITIONS="${KAFKA_MAX_PARTITIONS:-3000}"
TRIBUTARY_TOPIC_PREFIX="${TRIBUTARY_TOPIC_PREFIX:-tributary}"
TRIBUTARY_PARTITIONS="${TRIBUTARY_PARTITIONS:-8}"
# The aggregate types whose topics `kafka.sh topics` lays out: the bank example's, which the
# demo and the tests run (another domain sets its own).
TRIBUTARY_AGGREGATES="${TRIBUTARY_AGGREGATES:-account,email-claim,user,transfer}"

# ---- PostgreSQL -----------------------------------------------------------
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_DEFAULT_URL="postgres://postgres@${PG_HOST}:${PG_PORT}/postgres"
PG_DATABASES=(tributary tributary_test)

LOG_TAG="${LOG_TAG:-tributary}"

log() {
  printf '==> %s: %s\n' "$LOG_TAG" "$*" >&2
}

warn() {
  printf '==> %s: WARNING: %s\n' "$LOG_TAG" "$*" >&2
}

die() {
  printf '==> %s: ERROR: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

have() {
  command -v "$1" >/dev/null 2>&1
}

# run_logged CMD...: print the command, then run it.
run_logged() {
  log "\$ $*"
  "$@"
}

# apt_install PKG...: install Debian packages, running `apt-get update` once
# per process first.
_TRIBUTARY_APT_UPDATED=""
apt_install() {
  have apt-get || die "need to install '$*' but apt-get is not available; install it by hand"
  if [[ "$(id -u)" -ne 0 ]]; then
    die "need to install '$*' with apt-get but not running as root; install it by hand"
  fi
  if [[ -z "$_TRIBUTARY_APT_UPDATED" ]]; then
    run_logged apt-get update -qq
    _TRIBUTARY_APT_UPDATED=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  run_logged apt-get install -y -qq --no-install-recommends "$@"
}

# wait_for SECONDS DESCRIPTION COMMAND...
#
# Polls COMMAND (every 0.5s) until it succeeds, for at most SECONDS. On
# timeout, fails naming DESCRIPTION. Optional environment:
#   WAIT_LOG=FILE  a log to name (and print the tail of) on failure
#   WAIT_PID=PID   a process that must stay alive: fail at once if it exits
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  local logfile="${WAIT_LOG:-}" pid="${WAIT_PID:-}"
  log "waiting up to ${seconds}s for $what"
  while true; do
    if "$@" >/dev/null 2>&1; then
      log "$what is up"
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      _wait_for_fail "$what exited before it came up" "$logfile"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _wait_for_fail "$what did not come up within ${seconds}s" "$logfile"
      return 1
    fi
    sleep 0.5
  done
}

_wait_for_fail() {
  local msg="$1" logfile="$2"
  if [[ -n "$logfile" ]]; then
    printf '==> %s: ERROR: %s; its log is %s\n' "$LOG_TAG" "$msg" "$logfile" >&2
    if [[ -f "$logfile" ]]; then
      printf -- '---- last 40 lines of %s ----\n' "$logfile" >&2
      tail -n 40 "$logfile" >&2 || true
      printf -- '---- end of %s ----\n' "$logfile" >&2
    fi
  else
    printf '==> %s: ERROR: %s\n' "$LOG_TAG" "$msg" >&2
  fi
}

# tcp_open HOST PORT: true when HOST:PORT accepts a TCP connection (2s max).
tcp_open() {
  local host="$1" port="$2"
  host="${host#[}"
  host="${host%]}"
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# kafka_api_versions HOST PORT: true when HOST:PORT answers a Kafka
# ApiVersions v0 request (correlation id 1) with error code 0. A real protocol
# check that needs nothing but bash.
kafka_api_versions() {
  local host="$1" port="$2"
  host="${host#[}"
  host="${host%]}"
  local reply
  # Request: size=12 | api_key=18 | api_version=0 | correlation_id=1 |
  # client_id="tb" (int16 length 2). Reply starts: size(4) correlation_id(4)
  # error_code(2).
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02tb" >&3
    head -c 10 <&3 | od -An -tx1 | tr -d " \n"
  ' _ "$host" "$port" 2>/dev/null)" || return 1
  [[ "${#reply}" -eq 20 && "${reply:8:12}" == "000000010000" ]]
}

# kafka_metadata HOST PORT: a Metadata v1 request for no topics gets an answer.
# Unlike ApiVersions it is answered from the broker's metadata (the brokers
# and the controller it knows), so readiness means serving, not only listening.
kafka_metadata() {
  local host="$1" port="$2"
  host="${host#[}"
  host="${host%]}"
  local reply
  # Request: size=16 | api_key=3 | api_version=1 | correlation_id=2 |
  # client_id="tb" | topics: empty array. Reply starts: size(4) correlation_id(4).
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "\x00\x00\x00\x10\x00\x03\x00\x01\x00\x00\x00\x02\x00\x02tb\x00\x00\x00\x00" >&3
    head -c 8 <&3 | od -An -tx1 | tr -d " \n"
  ' _ "$host" "$port" 2>/dev/null)" || return 1
  [[ "${#reply}" -eq 16 && "${reply:8:8}" == "00000002" ]]
}

# The sha256 of file $1 (a pom whose resolved jars are stamped with it).
pom_digest() {
  sha256sum "$1" | cut -d' ' -f1
}

# Dies unless the pom $1 pins <kafka.version> to KAFKA_VERSION, the version the
# caches are named after.
check_pom_kafka_version() {
  local pinned
  pinned="$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$1")"
  [[ "$pinned" == "$KAFKA_VERSION" ]] \
    || die "$1 pins Kafka $pinned but KAFKA_VERSION is $KAFKA_VERSION (scripts/lib.sh): make them agree"
}

# Copies the runtime dependencies of the Maven project POM into OUT, with the
# local repository M2, in the background under TIMEOUT seconds, printing a
# progress line every 10 s; on failure shows the log's tail and dies naming
# WHAT (e.g. "the Kafka jars") and the variable that sets the timeout.
#   maven_copy_dependencies POM M2 OUT LOG TIMEOUT TIMEOUT_VAR WHAT
maven_copy_dependencies() {
  local pom="$1" m2="$2" out="$3" install_log="$4" limit="$5" limit_var="$6" what="$7"
  local cmd=(mvn -B -Dstyle.color=never -f "$pom" "-Dmaven.repo.local=$m2"
    dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$out")
  log "\$ ${cmd[*]}"
  timeout "$limit" "${cmd[@]}" >"$install_log" 2>&1 </dev/null &
  local pid=$! next=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then
      next=$((SECONDS + 10))
      log "still resolving: $(grep -c 'Downloaded from' "$install_log" 2>/dev/null || true) files downloaded so far"
    fi
  done
  local rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    printf -- '---- last 40 lines of %s ----\n' "$install_log" >&2
    tail -n 40 "$install_log" >&2 || true
    ((rc == 124)) && die "resolving $what timed out after ${limit}s ($limit_var); run again to resume"
    die "resolving $what failed (exit $rc): is Maven Central reachable? full log: $install_log"
  fi
}

# find_cargo: make sure `cargo` is on PATH (rustup puts it in ~/.cargo/bin,
# which non-login shells such as CI's may not have on PATH).
find_cargo() {
  if ! have cargo && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  have cargo
}
