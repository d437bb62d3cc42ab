#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Tributary's test command: sets up everything the tests need, then runs
#   cargo fmt --all --check
#   cargo clippy --workspace --all-targets -- -D warnings
#   cargo test --workspace [ARGS...]
#   scripts/deploy-check.sh  (deploy/: manifests, image, rules, dashboard, live Prometheus)
#
#   scripts/test.sh [extra cargo test args...]
#
# Set-up, all idempotent and fast once done (works on a brand-new machine):
#   1. Python venv for interop tests      (scripts/python-env.sh)
#   2. PostgreSQL + test databases         (scripts/postgres.sh start)
#   3. Apache Kafka broker + topics        (scripts/kafka.sh install/start/topics;
#                                           the first install resolves its jars from
#                                           Maven Central, ~30 s)
#   4. kcat                                (Debian's package, for the standard-tools test)
#   5. the JVM consumer                    (scripts/jvm-consumer.sh: tests/jvm built with
#                                           Maven, for the JVM interoperability test)
#   6. the Kafka Connect jars              (scripts/connect.sh resolve: the worker and
#                                           the JDBC sink from Maven Central, for the
#                                           bench's smoke test, ~30 s the first time)
# The tests then see:
#   KAFKA_BOOTSTRAP_SERVERS  yours if set, else 127.0.0.1:$KAFKA_PORT (9092)
#   DATABASE_URL             yours if set, else postgres://postgres@127.0.0.1:5432/tributary_test
#   TRIBUTARY_PYTHON         the venv's python (has fastavro and confluent-kafka)
#   TRIBUTARY_BROKER_PAUSE, TRIBUTARY_BROKER_RESUME
#                            for the local broker: commands that freeze and
#                            resume it (yours are kept when you give
#                            KAFKA_BOOTSTRAP_SERVERS)
#   TRIBUTARY_KAFKA_TOOLS    the installed Kafka tools' bin directory
#                            (kafka-consumer-groups, ...)
#   TRIBUTARY_JVM_CONSUMER   the JVM consumer's launcher (tests/jvm)
#   BENCH_CONNECT_SCRIPT     scripts/connect.sh, with its jars resolved
# With KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL set, those servers are used and
# nothing local is started for them. The broker is left running afterwards
# (scripts/kafka.sh stop stops it).
set -euo pipefail

LOG_TAG="test"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TRIBUTARY_ROOT"

SCRIPTS="$TRIBUTARY_ROOT/scripts"
CALLER_KAFKA="${KAFKA_BOOTSTRAP_SERVERS:-}"
CALLER_DB="${DATABASE_URL:-}"

STEP_NAMES=()
STEP_RESULTS=()
CURRENT_STEP=""
STEP_START=0
RUN_START=$SECONDS

# run_step NAME COMMAND...: run COMMAND in this shell; `set -e` ends the whole
# run on failure, and the EXIT trap reports NAME as the step that failed.
run_step() {
  CURRENT_STEP="$1"
  shift
  STEP_START=$SECONDS
  printf '\n' >&2
  log "---- $CURRENT_STEP ----"
  "$@"
  STEP_NAMES+=("$CURRENT_STEP")
  STEP_RESULTS+=("ok ($((SECONDS - STEP_START))s)")
  CURRENT_STEP=""
}

summary() {
  local rc=$?
  if [[ -n "$CURRENT_STEP" ]]; then
    STEP_NAMES+=("$CURRENT_STEP")
    STEP_RESULTS+=("FAILED after $((SECONDS - STEP_START))s (exit $rc)")
  fi
  {
    printf '\n==================== tributary test summary ====================\n'
    local i
    for i in "${!STEP_NAMES[@]}"; do
      printf '  %-34s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
    done
    printf '  %-34s %s\n' "KAFKA_BOOTSTRAP_SERVERS" "${KAFKA_BOOTSTRAP_SERVERS:-(not set yet)}"
    printf '  %-34s %s\n' "DATABASE_URL" "$(sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"${DATABASE_URL:-(not set yet)}")"
    printf '  %-34s %s\n' "TRIBUTARY_PYTHON" "${TRIBUTARY_PYTHON:-(not set yet)}"
    printf '  %-34s %s\n' "TRIBUTARY_JVM_CONSUMER" "${TRIBUTARY_JVM_CONSUMER:-(not set yet)}"
    printf '  %-34s %s\n' "BENCH_CONNECT_SCRIPT" "${BENCH_CONNECT_SCRIPT:-(not set yet)}"
    if [[ -z "$CALLER_KAFKA" && -f "$KAFKA_PID_FILE" ]]; then
      printf '  %-34s %s\n' "broker" "Apache Kafka $KAFKA_VERSION left running (pid $(cat "$KAFKA_PID_FILE" 2>/dev/null), 127.0.0.1:$KAFKA_PORT); stop: scripts/kafka.sh stop"
    fi
    if ((rc == 0)); then
      printf 'RESULT: all steps ok in %ss\n' "$((SECONDS - RUN_START))"
    else
      printf 'RESULT: FAILED at step "%s" after %ss (exit %s)\n' "${CURRENT_STEP:-?}" "$((SECONDS - RUN_START))" "$rc"
    fi
    printf '================================================================\n'
  } >&2
  # One plain closing line with the totals of every cargo test binary.
  if [[ -f "$TEST_LOG" ]]; then
    awk '/^test result:/ {
           for (i = 2; i <= NF; i++) {
             if ($i == "passed;") passed += $(i - 1)
             if ($i == "failed;") failed += $(i - 1)
             if ($i == "ignored;") skipped += $(i - 1)
           }
         }
         END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped }' "$TEST_LOG"
  fi
}
TEST_LOG="$TRIBUTARY_CACHE/cargo-test.log"
rm -f "$TEST_LOG"
trap summary EXIT

# cargo test, its output also kept in $TEST_LOG for the totals line.
cargo_test() {
  mkdir -p "$TRIBUTARY_CACHE"
  cargo test --workspace "$@" 2>&1 | tee "$TEST_LOG"
}

python_env() {
  TRIBUTARY_PYTHON="$(bash "$SCRIPTS/python-env.sh" | tail -n 1)"
  [[ -x "$TRIBUTARY_PYTHON" ]] || die "python-env.sh gave no python ('$TRIBUTARY_PYTHON')"
  export TRIBUTARY_PYTHON
}

cargo_tools() {
  find_cargo || die "cargo not found (neither on PATH nor in ~/.cargo/bin): install a Rust toolchain (rustup)"
  log "$(cargo --version)"
  cargo fmt --version >/dev/null 2>&1 || die "cargo fmt is missing: rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || die "cargo clippy is missing: rustup component add clippy"
}

jvm_consumer() {
  TRIBUTARY_JVM_CONSUMER="$(bash "$SCRIPTS/jvm-consumer.sh" | tail -n 1)"
  [[ -x "$TRIBUTARY_JVM_CONSUMER" ]] || die "jvm-consumer.sh gave no launcher ('$TRIBUTARY_JVM_CONSUMER')"
  export TRIBUTARY_JVM_CONSUMER
}

# The Kafka Connect worker's jars, for the catch-up smoke test's JDBC sink.
connect_jars() {
  bash "$SCRIPTS/connect.sh" resolve >/dev/null
  export BENCH_CONNECT_SCRIPT="$SCRIPTS/connect.sh"
}

# Debian's kcat, which the standard-tools test runs against the local broker.
kcat_tool() {
  if have kcat; then
    log "$(kcat -V 2>&1 | head -n 1)"
  else
    apt_install kcat
  fi
}

# Put ~/.cargo/bin on PATH before anything needs cargo (kafka.sh install too).
find_cargo || true

run_step "python env" python_env
run_step "postgres" bash "$SCRIPTS/postgres.sh" start
run_step "kafka install" bash "$SCRIPTS/kafka.sh" install
run_step "kafka start" bash "$SCRIPTS/kafka.sh" start
run_step "kafka topics" bash "$SCRIPTS/kafka.sh" topics
run_step "kcat" kcat_tool
run_step "jvm consumer" jvm_consumer
run_step "connect jars" connect_jars

export KAFKA_BOOTSTRAP_SERVERS="${CALLER_KAFKA:-127.0.0.1:$KAFKA_PORT}"
export TRIBUTARY_KAFKA_TOOLS="$KAFKA_HOME/bin"
if [[ -z "$CALLER_KAFKA" ]]; then
  # The forced-retry test freezes the broker process this script started.
  broker_pid="$(cat "$KAFKA_PID_FILE")"
  export TRIBUTARY_BROKER_PAUSE="kill -STOP $broker_pid"
  export TRIBUTARY_BROKER_RESUME="kill -CONT $broker_pid"
fi
export DATABASE_URL="${CALLER_DB:-postgres://postgres@127.0.0.1:$PG_PORT/tributary_test}"
log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
log "DATABASE_URL=$(sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$DATABASE_URL")"
log "TRIBUTARY_PYTHON=$TRIBUTARY_PYTHON"

run_step "cargo toolchain" cargo_tools
run_step "cargo fmt --all --check" cargo fmt --all --check
run_step "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
TEST_ARGS=("$@")
run_step "cargo test --workspace${TEST_ARGS[*]:+ ${TEST_ARGS[*]}}" cargo_test "${TEST_ARGS[@]}"
run_step "deploy assets" bash "$SCRIPTS/deploy-check.sh"
