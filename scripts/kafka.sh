#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Kafka for Tributary's tests: a local Tansu broker (a Kafka-protocol broker in
# Rust, https://crates.io/crates/tansu) with SQLite storage.
#
#   scripts/kafka.sh [install|start|stop|status|topics]...  (default: start)
#
# With KAFKA_BOOTSTRAP_SERVERS set by the caller, nothing is installed,
# started or stopped: `start` and `status` only check that the first
# host:port accepts connections (`topics` still lays out the topics there).
#
# Otherwise:
#   install  builds tansu $TANSU_VERSION into $TRIBUTARY_CACHE/tansu (first time
#            ~10-15 min on 2 cores) unless a working binary is already there
#   start    starts the broker (if not running) on 127.0.0.1:$KAFKA_PORT with
#            its data, pid file and log in $TRIBUTARY_CACHE/tansu-data; it
#            keeps running after this script exits
#   stop     stops it (SIGTERM, then SIGKILL after a bounded wait)
#   status   running or not, pid, port, data dir, binary version
#   topics   creates the pipeline's missing topics and checks their partition
#            counts, on any broker (tributary-admin ensure; builds it with cargo)
#
# Knobs: KAFKA_PORT (9092), TRIBUTARY_TOPIC_PREFIX (tributary),
# TRIBUTARY_PARTITIONS (8), TANSU_START_TIMEOUT (60s), TANSU_INSTALL_TIMEOUT
# (3600s), TANSU_LOG_LEVEL (RUST_LOG for the broker, default warn),
# TANSU_MAX_DATA_MB (768: larger broker data is wiped at start).
set -euo pipefail

LOG_TAG=kafka
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT="${TANSU_START_TIMEOUT:-60}"
STOP_TIMEOUT="${TANSU_STOP_TIMEOUT:-20}"
INSTALL_TIMEOUT="${TANSU_INSTALL_TIMEOUT:-3600}"
LISTENER="tcp://${KAFKA_HOST}:${KAFKA_PORT}"


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

# ---------------------------------------------------------------------------

tansu_works() {
  [[ -x "$TANSU_BIN" ]] && "$TANSU_BIN" --version >/dev/null 2>&1
}

tansu_version() {
  "$TANSU_BIN" --version 2>/dev/null | head -n 1
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

cmd_install() {
  if [[ "$MODE" == external ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set ($KAFKA_BOOTSTRAP_SERVERS): not installing a broker"
    return 0
  fi
  take_lock
  if tansu_works; then
    local v
    v="$(tansu_version)"
    if [[ "$v" == *" $TANSU_VERSION" ]]; then
      log "reusing $TANSU_BIN ($v)"
      return 0
    fi
    log "$TANSU_BIN is '$v', want $TANSU_VERSION: reinstalling"
  elif [[ -e "$TANSU_BIN" ]]; then
    log "$TANSU_BIN exists but does not run: reinstalling"
  fi
  find_cargo || die "cargo not found (not on PATH, not in ~/.cargo/bin): install a Rust toolchain to build tansu"
  have cc || have gcc || apt_install build-essential

  local target_dir="$TRIBUTARY_CACHE/tansu-build"
  local install_log="$TRIBUTARY_CACHE/tansu-install.log"
  mkdir -p "$TANSU_ROOT" "$target_dir"
  log "building tansu $TANSU_VERSION (features $TANSU_FEATURES) into $TANSU_ROOT"
  log "the first build takes ~10-15 minutes on 2 cores; build dir $target_dir; log $install_log"
  local cmd=(cargo install tansu --version "$TANSU_VERSION" --locked --force
    --features "$TANSU_FEATURES" --root "$TANSU_ROOT")
  log "\$ CARGO_TARGET_DIR=$target_dir ${cmd[*]}"
  CARGO_TARGET_DIR="$target_dir" timeout "$INSTALL_TIMEOUT" "${cmd[@]}" >"$install_log" 2>&1 </dev/null &
  local pid=$!
  local last=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if ((SECONDS % 60 < 5)); then
      last="$(grep -c '^ *Compiling ' "$install_log" 2>/dev/null || true)"
      log "still building tansu: ${last:-0} crates compiled so far ($(tail -n 1 "$install_log" 2>/dev/null | sed 's/^ *//'))"
    fi
  done
  local rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)) || ! tansu_works; then
    printf -- '---- last 40 lines of %s ----\n' "$install_log" >&2
    tail -n 40 "$install_log" >&2 || true
    ((rc == 124)) && die "building tansu timed out after ${INSTALL_TIMEOUT}s (TANSU_INSTALL_TIMEOUT); run again to resume from $target_dir"
    die "building tansu failed (exit $rc); full log: $install_log"
  fi
  log "installed $TANSU_BIN ($(tansu_version))"
}

# The pid in the pid file, if that process is alive and is our tansu.
live_pid() {
  [[ -f "$TANSU_PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$TANSU_PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_our_tansu "$pid" || return 1
  printf '%s\n' "$pid"
}

is_our_tansu() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 1
  local exe
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  exe="${exe% (deleted)}"
  [[ "$exe" == "$(readlink -f "$TANSU_BIN" 2>/dev/null || echo "$TANSU_BIN")" ]]
}

# A tansu of ours listening on our port but without (or with a stale) pid file.
find_orphan() {
  local d pid
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    is_our_tansu "$pid" || continue
    if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q -- "--listener-url $LISTENER "; then
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
    die "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS: $BOOT_HOST:$BOOT_PORT does not accept connections; start that broker, fix the variable, or unset it to use a local Tansu on 127.0.0.1:$KAFKA_PORT"
  fi
}

start_broker() {
  if [[ "$MODE" == external ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set ($KAFKA_BOOTSTRAP_SERVERS): starting nothing"
    check_external
    return 0
  fi
  take_lock
  local pid
  if pid="$(live_pid)"; then
    if broker_ready; then
      log "tansu already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
      return 0
    fi
    log "tansu (pid $pid) is running but not answering yet"
    if WAIT_LOG="$TANSU_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "tansu on $KAFKA_HOST:$KAFKA_PORT" broker_ready; then
      return 0
    fi
    log "restarting it"
    stop_pid "$pid"
  elif pid="$(find_orphan)"; then
    log "found tansu (pid $pid) serving $LISTENER without a valid pid file: adopting it"
    printf '%s\n' "$pid" >"$TANSU_PID_FILE"
    WAIT_LOG="$TANSU_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "tansu on $KAFKA_HOST:$KAFKA_PORT" broker_ready
    return 0
  fi
  rm -f "$TANSU_PID_FILE"

  if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    die "$KAFKA_HOST:$KAFKA_PORT is already taken by another process (not a tansu started by this script); stop it, or set KAFKA_PORT to another port, or set KAFKA_BOOTSTRAP_SERVERS to use that broker"
  fi
  tansu_works || die "no working tansu at $TANSU_BIN: run scripts/kafka.sh install first"

  mkdir -p "$TANSU_DATA"
  local cmd=("$TANSU_BIN" broker
    --cluster-id "$TANSU_CLUSTER_ID"
    --listener-url "$LISTENER"
    --advertised-listener-url "$LISTENER"
    --storage-engine "sqlite://tansu.db")
  log "starting tansu on $KAFKA_HOST:$KAFKA_PORT (data $TANSU_DATA, log $TANSU_LOG)"
  log "\$ cd $TANSU_DATA && RUST_LOG=${TANSU_LOG_LEVEL:-warn} ${cmd[*]}"
  printf '\n==== %s: starting tansu: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${cmd[*]}" >>"$TANSU_LOG"
  # Runs as `bash -c "$DETACH" _ PIDFILE CMD...`: records its pid, closes
  # every inherited descriptor above stderr (a daemon holding a caller's pipe
  # open would keep e.g. a CI log reader waiting), then becomes CMD.
  # shellcheck disable=SC2016 # expanded by the inner bash
  local DETACH='echo $$ >"$1"; shift
    for fd in $(ls /proc/$$/fd); do
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"'
  # The storage file is relative to the working directory (sqlite://tansu.db
  # resolves to $TANSU_DATA/tansu.db). setsid + nohup detach the broker from
  # this script's session; the inner shell writes its own pid, then execs.
  (
    cd "$TANSU_DATA"
    # Tansu also reads settings from the environment (and from a .env file in
    # its working directory): drop the ones a caller's environment could leak
    # in (a SCHEMA_REGISTRY would turn on record validation), keep the log
    # level our own.
    env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT -u CLUSTER_ID \
      -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
      RUST_LOG="${TANSU_LOG_LEVEL:-warn}" NO_COLOR=1 \
      setsid nohup bash -c "$DETACH" _ "$TANSU_PID_FILE" "${cmd[@]}" \
      >>"$TANSU_LOG" 2>&1 </dev/null 9>&- &
  )
  local tries=0
  while [[ ! -s "$TANSU_PID_FILE" ]] && ((tries < 50)); do
    sleep 0.1
    tries=$((tries + 1))
  done
  pid="$(cat "$TANSU_PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "tansu did not write its pid file $TANSU_PID_FILE; its log is $TANSU_LOG"
  WAIT_LOG="$TANSU_LOG" WAIT_PID="$pid" wait_for "$START_TIMEOUT" "tansu on $KAFKA_HOST:$KAFKA_PORT (pid $pid)" broker_ready
  log "tansu is running (pid $pid); it keeps running after this script: stop it with scripts/kafka.sh stop"
}

# Tansu 0.6.0's SQLite schema has no index on `header` (looked up once per fetched
# record, so every fetch scans all headers ever written) nor on `watermark`: the
# broker slows to a halt as topics fill up. The indexes change no behaviour, only
# the query plans; they are added once the broker has created its schema.
index_storage() {
  [[ "$MODE" == local ]] || return 0
  have python3 || die "python3 is needed to add the missing indexes to Tansu's SQLite storage"
  log "making sure Tansu's storage has its missing indexes (header, watermark)"
  (cd "$TANSU_DATA" && python3 - <<'PY'
import sqlite3
db = sqlite3.connect("tansu.db", timeout=60)
db.execute("CREATE INDEX IF NOT EXISTS tributary_header_record ON header (topition, offset_id)")
db.execute("CREATE INDEX IF NOT EXISTS tributary_watermark_topition ON watermark (topition)")
db.commit()
PY
  ) || die "could not add the indexes to $TANSU_DATA/tansu.db"
}

# Test topics are never deleted (see above), so the local broker's data only
# grows; past TANSU_MAX_DATA_MB (default 768) it is wiped before starting, so
# that long-lived machines stay fast. A store of 1.6 GB (after a 1M-event
# benchmark) made Tansu 0.6.0 panic in its idempotent-producer bookkeeping
# under the crash test's load, twice.
wipe_if_large() {
  [[ "$MODE" == local && -d "$TANSU_DATA" ]] || return 0
  local size_mb
  size_mb="$(du -sm "$TANSU_DATA" | cut -f1)"
  ((size_mb > ${TANSU_MAX_DATA_MB:-768})) || return 0
  log "broker data is ${size_mb} MB (over TANSU_MAX_DATA_MB=${TANSU_MAX_DATA_MB:-768}): stopping the broker and starting from empty storage"
  cmd_stop
  rm -rf "$TANSU_DATA"
}

cmd_start() {
  wipe_if_large
  start_broker
  index_storage
}

stop_pid() {
  local pid="$1"
  log "stopping tansu (pid $pid): SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "tansu (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$TANSU_PID_FILE"
  log "tansu stopped"
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
    rm -f "$TANSU_PID_FILE"
    log "tansu is not running"
  fi
}

cmd_status() {
  if [[ "$MODE" == external ]]; then
    log "mode: external (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS)"
    check_external
    return 0
  fi
  local rc=0 pid
  log "mode: local"
  if pid="$(live_pid)"; then
    log "tansu: running, pid $pid"
  elif pid="$(find_orphan)"; then
    log "tansu: running without a valid pid file, pid $pid"
  else
    log "tansu: NOT running"
    rc=1
  fi
  if broker_ready; then
    log "port: $KAFKA_HOST:$KAFKA_PORT answers Kafka ApiVersions"
  elif tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    log "port: $KAFKA_HOST:$KAFKA_PORT open but no Kafka answer"
    rc=1
  else
    log "port: $KAFKA_HOST:$KAFKA_PORT closed"
    rc=1
  fi
  log "data dir: $TANSU_DATA (log $TANSU_LOG)"
  if tansu_works; then
    log "binary: $TANSU_BIN ($(tansu_version))"
  else
    log "binary: none at $TANSU_BIN (run scripts/kafka.sh install)"
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------
# Topics: name partitions [config...]
# Topics are laid out by tributary-admin (the same code the services use to
# check them), so the partition counts and configs live in one place
# (runtime/src/topology.rs) and the command works on any Kafka-protocol broker.
cmd_topics() {
  [[ "$TRIBUTARY_TOPIC_PREFIX" =~ ^[A-Za-z0-9._-]+$ ]] \
    || die "TRIBUTARY_TOPIC_PREFIX='$TRIBUTARY_TOPIC_PREFIX': Kafka topic names allow only A-Z a-z 0-9 . _ -"
  [[ "$TRIBUTARY_PARTITIONS" =~ ^[1-9][0-9]*$ ]] \
    || die "TRIBUTARY_PARTITIONS='$TRIBUTARY_PARTITIONS' is not a positive number"
  if [[ "$MODE" == external ]]; then
    check_external
  fi
  find_cargo || die "cargo not found (not on PATH, not in ~/.cargo/bin): install a Rust toolchain to build tributary-admin"
  log "laying out topics with prefix '$TRIBUTARY_TOPIC_PREFIX' on $BOOT_HOST:$BOOT_PORT (tributary-admin ensure)"
  (cd "$TRIBUTARY_ROOT" \
    && KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$BOOT_HOST:$BOOT_PORT}" \
      TRIBUTARY_TOPIC_PREFIX="$TRIBUTARY_TOPIC_PREFIX" TRIBUTARY_PARTITIONS="$TRIBUTARY_PARTITIONS" \
      cargo run --quiet -p tributary-runtime --bin tributary-admin -- ensure </dev/null) \
    || die "could not lay out the topics (see above); Tansu 0.6.0 cannot delete single topics safely: to start over, scripts/kafka.sh stop; rm -rf $TANSU_DATA; scripts/kafka.sh start topics"
}

# Several commands may be given: scripts/kafka.sh install start topics
[[ $# -gt 0 ]] || set -- start
for command in "$@"; do
  case "$command" in
    install | start | stop | status | topics) ;;
    *)
      echo "usage: $0 [install|start|stop|status|topics]..." >&2
      exit 2
      ;;
  esac
done
for command in "$@"; do
  "cmd_$command"
done
