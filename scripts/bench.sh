#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Tributary's benchmarks, one command:
#
#   scripts/bench.sh catchup  [--quick] [bench catchup flags...]
#   scripts/bench.sh commands [--quick] [bench commands flags...]
#
# Sets up what is missing (PostgreSQL and its databases, Apache Kafka, as
# the test command does, and for `catchup` the Kafka Connect worker's jars:
# scripts/connect.sh resolve, unless --no-connect), builds the bench, the
# projector and the producer in release, runs the scenario, prints its table
# and writes
# bench/results/<scenario>-<date>.json (machine, broker and PostgreSQL
# versions, the exact command). `bench catchup --help` and
# `bench commands --help` (after a build) list the flags; --quick runs a small
# version in about a minute.
#
# Honours KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (then starts nothing for
# them; the database defaults to the `tributary` database of the local
# PostgreSQL). Every run uses a topic prefix and schemas of its own and drops
# its schemas at the end (--keep-schemas keeps them); topics are never deleted.
set -euo pipefail

LOG_TAG=bench
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TRIBUTARY_ROOT"

case "${1:-}" in
  catchup | commands) ;;
  *)
    echo "usage: $0 catchup|commands [--quick] [flags...]" >&2
    exit 2
    ;;
esac

CALLER_KAFKA="${KAFKA_BOOTSTRAP_SERVERS:-}"
bash scripts/postgres.sh start
bash scripts/kafka.sh install start
export KAFKA_BOOTSTRAP_SERVERS="${CALLER_KAFKA:-127.0.0.1:$KAFKA_PORT}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/tributary}"
if [[ -z "$CALLER_KAFKA" ]]; then
  BENCH_BROKER_VERSION="Apache Kafka $KAFKA_VERSION (local single KRaft node, heap $KAFKA_HEAP)"
else
  BENCH_BROKER_VERSION="${BENCH_BROKER_VERSION:-external broker at $KAFKA_BOOTSTRAP_SERVERS}"
fi
export BENCH_BROKER_VERSION
# The command as the reader should repeat it.
BENCH_COMMAND="scripts/bench.sh $*"
export BENCH_COMMAND

# The catch-up's Kafka Connect JDBC sink: its jars resolved before anything is
# timed (the first time from Maven Central), its launcher handed to the bench.
if [[ "$1" == catchup && " $* " != *" --no-connect "* ]]; then
  bash scripts/connect.sh resolve >/dev/null
  export BENCH_CONNECT_SCRIPT="$TRIBUTARY_ROOT/scripts/connect.sh"
fi

find_cargo || die "cargo not found: install a Rust toolchain (rustup)"
log "building the bench, the projector and the producer (release)"
cargo build --release --quiet -p tributary-bench -p tributary-projector -p tributary-bank
TARGET="${CARGO_TARGET_DIR:-$TRIBUTARY_ROOT/target}/release"

log "$BENCH_COMMAND (broker: $BENCH_BROKER_VERSION)"
"$TARGET/bench" "$@"
