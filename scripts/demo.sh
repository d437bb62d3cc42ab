#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Tributary's main job, one command: the whole pipeline on this machine.
#
#   scripts/demo.sh
#
# Starts what is missing (PostgreSQL, Apache Kafka and its topics, as the
# test command does), builds and starts the projector and the producer
# (gateway + processor + saga runner), drives a short scenario through the
# gateway — accounts, deposits, transfers of which one fails and is refunded,
# registrations of which one is a duplicate e-mail — prints what happened and
# what the read API answers, then leaves the services running with their URLs
# until Ctrl-C, which stops them cleanly.
#
# Honours KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (then starts nothing for
# them). Ports: PRODUCER_HTTP_ADDR (127.0.0.1:8080), PROJECTOR_HTTP_ADDR
# (127.0.0.1:8081). Logs go to $TRIBUTARY_CACHE/demo/.
set -euo pipefail

LOG_TAG=demo
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TRIBUTARY_ROOT"

export PRODUCER_HTTP_ADDR="${PRODUCER_HTTP_ADDR:-127.0.0.1:8080}"
export PROJECTOR_HTTP_ADDR="${PROJECTOR_HTTP_ADDR:-127.0.0.1:8081}"
GATEWAY="http://$PRODUCER_HTTP_ADDR"
READS="http://$PROJECTOR_HTTP_ADDR"
DEMO_DIR="$TRIBUTARY_CACHE/demo"
mkdir -p "$DEMO_DIR"

bash scripts/postgres.sh start
bash scripts/kafka.sh install start topics
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/tributary}"
export LOG_FORMAT="${LOG_FORMAT:-text}"

find_cargo || die "cargo not found: install a Rust toolchain (rustup)"
log "building the projector and the producer (release)"
cargo build --release --quiet -p tributary-projector -p tributary-bank
TARGET="${CARGO_TARGET_DIR:-$TRIBUTARY_ROOT/target}/release"

PIDS=()
stop_services() {
  log "stopping the services"
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  log "stopped"
}
trap stop_services EXIT

log "starting the projector on $READS (log $DEMO_DIR/projector.log)"
"$TARGET/projector" run >"$DEMO_DIR/projector.log" 2>&1 &
PIDS+=($!)
log "starting the producer on $GATEWAY (log $DEMO_DIR/producer.log)"
"$TARGET/producer" all >"$DEMO_DIR/producer.log" 2>&1 &
PIDS+=($!)

ready() { curl -fsS -o /dev/null "$1/readyz"; }
WAIT_LOG="$DEMO_DIR/projector.log" wait_for 60 "the projector at $READS" ready "$READS"
WAIT_LOG="$DEMO_DIR/producer.log" wait_for 60 "the producer at $GATEWAY" ready "$GATEWAY"

RUN="$(date +%s)"
# send AGGREGATE ID COMMAND_JSON: POST a command, print the answer, remember it in $ANSWER.
send() {
  local body
  body="$(printf '{"aggregate":"%s","id":"%s","command":%s}' "$1" "$2" "$3")"
  ANSWER="$(curl -sS -w '\n%{http_code}' -H 'content-type: application/json' -d "$body" "$GATEWAY/v1/commands")"
  STATUS="${ANSWER##*$'\n'}"
  ANSWER="${ANSWER%$'\n'*}"
  printf '  %-11s %-22s %s -> %s %s\n' "$1" "$2" "$(json_get "$3" type)" "$STATUS" "$(summary "$ANSWER")"
}
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }
summary() {
  python3 -c '
import json, sys
a = json.loads(sys.argv[1])
print(a.get("reason") or a.get("error") or "version %s, token %s" % (a.get("version"), a.get("consistency_token")))' "$1"
}
# read PATH [TOKEN]: GET from the read API, waiting for TOKEN when given.
read_api() {
  local url="$READS$1"
  [[ -n "${2:-}" ]] && url="$url?consistency=$2"
  printf '  GET %s\n    %s\n' "$1" "$(curl -sS "$url")"
}
token() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("consistency_token") or "")' "$ANSWER"; }
# The transfer and user sagas finish on their own, after the command that started them was
# answered: the command's token reads the request (a transfer `requested`, a user
# `registering`), and no token covers what the saga writes later, so the demo waits (bounded,
# quietly) for the saga's end to be visible, then reads.
# saga_done PATH FIELD VALUE...: the read API's PATH has FIELD equal to one of VALUEs.
saga_done() {
  local path="$1" field="$2"
  shift 2
  local got
  got="$(curl -fs "$READS$path" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1],""))' "$field" 2>/dev/null)" || return 1
  local want
  for want in "$@"; do [[ "$got" == "$want" ]] && return 0; done
  return 1
}
# wait_saga WHAT PATH FIELD VALUE...: wait up to 30 s for saga_done, then GET PATH.
wait_saga() {
  local what="$1" path="$2"
  shift 2
  local deadline=$((SECONDS + 30))
  until saga_done "$path" "$@"; do
    if ((SECONDS >= deadline)); then
      warn "$what did not finish within 30 s (see $DEMO_DIR/producer.log)"
      break
    fi
    sleep 0.2
  done
  read_api "$path"
}
wait_transfer() { wait_saga "transfer $1" "/v1/transfers/$1" status completed failed; }

A="acc-a-$RUN" B="acc-b-$RUN" C="acc-c-$RUN"
printf '\n== accounts\n'
send account "$A" '{"type":"OpenAccount","owner_id":"ann","currency":"EUR"}'
send account "$B" '{"type":"OpenAccount","owner_id":"bob","currency":"EUR"}'
send account "$C" '{"type":"OpenAccount","owner_id":"cid","currency":"EUR"}'
send account "$C" '{"type":"CloseAccount"}'
send account "$A" '{"type":"Deposit","amount":100000,"reference":"salary"}'
send account "$A" '{"type":"Withdraw","amount":250}'
send account "$B" '{"type":"Withdraw","amount":999999}'
read_api "/v1/accounts/$A" "$(token)"

printf '\n== transfers (the saga debits, credits, completes; a refused credit is refunded)\n'
send transfer "t1-$RUN" "{\"type\":\"RequestTransfer\",\"source_account_id\":\"$A\",\"target_account_id\":\"$B\",\"amount\":30000,\"currency\":\"EUR\"}"
send transfer "t2-$RUN" "{\"type\":\"RequestTransfer\",\"source_account_id\":\"$A\",\"target_account_id\":\"$C\",\"amount\":5000,\"currency\":\"EUR\"}"
send transfer "t3-$RUN" "{\"type\":\"RequestTransfer\",\"source_account_id\":\"$B\",\"target_account_id\":\"$A\",\"amount\":99999999,\"currency\":\"EUR\"}"
wait_transfer "t1-$RUN"
wait_transfer "t2-$RUN"
wait_transfer "t3-$RUN"
read_api "/v1/accounts/$A"
read_api "/v1/accounts/$B"
read_api "/v1/accounts/$A/ledger"

printf '\n== registrations (the user asks; the e-mail claim, single writer of its address, decides)\n'
send user "user-1-$RUN" "{\"type\":\"RequestUserRegistration\",\"email\":\"ann-$RUN@example.org\",\"display_name\":\"Ann\"}"
read_api "/v1/users/user-1-$RUN" "$(token)"
wait_saga "the registration of user-1-$RUN" "/v1/users/user-1-$RUN" status registered not_registered
send user "user-2-$RUN" "{\"type\":\"RequestUserRegistration\",\"email\":\" ANN-$RUN@Example.org \",\"display_name\":\"Another Ann\"}"
wait_saga "the registration of user-2-$RUN" "/v1/users/user-2-$RUN" status registered not_registered
read_api "/v1/users/by-email/ann-$RUN@example.org"

cat <<EOT

The pipeline is running:
  command gateway   $GATEWAY/v1/commands   (OpenAPI: $GATEWAY/openapi.json)
  read API          $READS/v1/accounts/{id} … (OpenAPI: $READS/openapi.json)
  metrics           $GATEWAY/metrics  $READS/metrics
  logs              $DEMO_DIR
Press Ctrl-C to stop.
EOT
wait "${PIDS[@]}"
