#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# PostgreSQL for Tributary's tests.
#
#   scripts/postgres.sh [start|status|stop]     (default: start)
#
# With DATABASE_URL set by the caller, nothing is installed or started: the
# server it names must be reachable, and the test databases are created on it.
# Without it, the local server at postgres://postgres@127.0.0.1:5432 is used:
# started if installed but stopped, installed from Debian's packages if
# missing. Either way the databases `tributary` and `tributary_test` (and the
# one DATABASE_URL names) are created if missing.
set -euo pipefail

LOG_TAG=postgres
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT="${PG_START_TIMEOUT:-60}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"

if [[ -n "${DATABASE_URL:-}" ]]; then
  MODE=external
  URL="$DATABASE_URL"
else
  MODE=local
  URL="$PG_DEFAULT_URL"
fi

# The URL with any password hidden, for messages.
redact() {
  sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"
}

# admin_url URL: the same server, database `postgres` (it always exists, the
# database in URL may not exist yet).
admin_url() {
  local url="$1"
  if [[ "$url" != *://* ]]; then
    # key=value form: a later dbname= overrides an earlier one.
    printf '%s dbname=postgres\n' "$url"
    return
  fi
  local base="${url%%\?*}"
  local query="${url#"$base"}"
  local scheme="${base%%://*}"
  local rest="${base#*://}"
  local authority="${rest%%/*}"
  printf '%s://%s/postgres%s\n' "$scheme" "$authority" "$query"
}

# url_dbname URL: the database a postgres:// URL names (empty if none).
url_dbname() {
  local url="$1"
  [[ "$url" == *://* ]] || return 0
  local base="${url%%\?*}"
  local rest="${base#*://}"
  [[ "$rest" == */* ]] || return 0
  printf '%s\n' "${rest#*/}"
}

psql_q() {
  local url="$1"
  shift
  psql "$url" -w -X -q -t -A -v ON_ERROR_STOP=1 "$@"
}

reachable() {
  if have pg_isready; then
    pg_isready -q -d "$1" -t 3
  elif have psql; then
    # pg_isready is missing: any answer short of "connection refused" means up.
    psql_q "$(admin_url "$1")" -c 'select 1' >/dev/null 2>&1
  else
    return 1
  fi
}

# The local cluster to manage: "VERSION NAME", preferring cluster "main" of the
# newest version under /etc/postgresql. Empty when there is none.
local_cluster() {
  local conf
  conf="$(compgen -G '/etc/postgresql/*/main' | sort -V | tail -n 1 || true)"
  if [[ -z "$conf" ]]; then
    conf="$(compgen -G '/etc/postgresql/*/*/postgresql.conf' | sed 's#/postgresql.conf$##' | sort -V | tail -n 1 || true)"
  fi
  [[ -n "$conf" ]] || return 0
  local name="${conf##*/}"
  local ver="${conf%/*}"
  ver="${ver##*/}"
  printf '%s %s\n' "$ver" "$name"
}

# Newest server version installed under /usr/lib/postgresql (empty if none).
installed_server_version() {
  local bin
  bin="$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1 || true)"
  [[ -n "$bin" ]] || return 0
  bin="${bin%/bin/postgres}"
  printf '%s\n' "${bin##*/}"
}

allow_loopback_trust() {
  local ver="$1" name="$2"
  local hba="/etc/postgresql/$ver/$name/pg_hba.conf"
  [[ -f "$hba" ]] || die "cluster $ver/$name has no $hba"
  if grep -q '^# tributary: trust postgres over loopback' "$hba"; then
    return 0
  fi
  log "user postgres cannot log in over loopback without a password: allowing trust auth for it on 127.0.0.1 and ::1 in $hba"
  local tmp
  tmp="$(mktemp)"
  {
    echo '# tributary: trust postgres over loopback (added by scripts/postgres.sh for the local test cluster)'
    echo 'host    all    postgres    127.0.0.1/32    trust'
    echo 'host    all    postgres    ::1/128         trust'
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
  run_logged pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
}

start_cluster() {
  local ver="$1" name="$2"
  if pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" status >/dev/null 2>&1; then
    log "cluster $ver/$name is already running"
  else
    log "starting cluster $ver/$name"
    run_logged pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
  fi
}

ensure_psql() {
  if ! have psql; then
    log "psql not found: installing postgresql-client"
    apt_install postgresql-client
  fi
}

wait_ready() {
  local log_file=""
  if [[ "$MODE" == local && -n "${CLUSTER:-}" ]]; then
    # shellcheck disable=SC2086
    set -- $CLUSTER
    log_file="/var/log/postgresql/postgresql-$1-$2.log"
  fi
  WAIT_LOG="$log_file" wait_for "$START_TIMEOUT" "postgres at $(redact "$URL")" reachable "$URL"
}

# The local cluster is the scripts' own test server: user postgres logs in over
# loopback without a password. A cluster that came with the machine's packages
# (Debian's default pg_hba.conf asks for one) gets the trust lines added.
ensure_loopback_login() {
  ensure_psql
  if psql_q "$(admin_url "$URL")" -c 'select 1' >/dev/null 2>&1; then
    return 0
  fi
  [[ -n "${CLUSTER:-}" ]] || return 0
  # shellcheck disable=SC2086
  allow_loopback_trust $CLUSTER
}

ensure_local_server() {
  CLUSTER="$(local_cluster)"
  if reachable "$URL"; then
    log "server at $(redact "$URL") is reachable"
    ensure_loopback_login
    return 0
  fi
  if [[ -z "$CLUSTER" ]]; then
    local ver
    ver="$(installed_server_version)"
    if [[ -z "$ver" ]]; then
      log "PostgreSQL is not installed: installing it from Debian's packages"
      apt_install postgresql
      CLUSTER="$(local_cluster)"
      ver="$(installed_server_version)"
    fi
    if [[ -z "$CLUSTER" ]]; then
      [[ -n "$ver" ]] || die "installing postgresql gave no server under /usr/lib/postgresql"
      log "no cluster exists: creating cluster $ver/main on port $PG_PORT"
      run_logged pg_createcluster --port "$PG_PORT" "$ver" main
      CLUSTER="$ver main"
    fi
  fi
  # shellcheck disable=SC2086
  start_cluster $CLUSTER
  wait_ready
  ensure_loopback_login
}

ensure_databases() {
  ensure_psql
  local admin
  admin="$(admin_url "$URL")"
  if ! psql_q "$admin" -c 'select 1' >/dev/null; then
    die "postgres at $(redact "$admin") accepts connections but psql cannot log in (see the error above); check the user, password and pg_hba.conf"
  fi
  local dbs=("${PG_DATABASES[@]}")
  local own
  own="$(url_dbname "$URL")"
  if [[ -n "$own" && "$own" != postgres && " ${dbs[*]} " != *" $own "* ]]; then
    dbs+=("$own")
  fi
  local db
  for db in "${dbs[@]}"; do
    if [[ "$(psql_q "$admin" -v db="$db" <<<"select 1 from pg_database where datname = :'db'")" == 1 ]]; then
      log "database $db exists"
    else
      log "creating database $db"
      if ! psql_q "$admin" -v db="$db" <<<'create database :"db"' \
        && [[ "$(psql_q "$admin" -v db="$db" <<<"select 1 from pg_database where datname = :'db'")" != 1 ]]; then
        die "could not create database $db on $(redact "$admin")"
      fi
    fi
  done
}

cmd_start() {
  if [[ "$MODE" == external ]]; then
    log "DATABASE_URL is set: using $(redact "$URL"), starting nothing"
    if ! have pg_isready && ! have psql; then
      ensure_psql
    fi
    if ! reachable "$URL"; then
      die "cannot reach the server in DATABASE_URL ($(redact "$URL")): start it, fix DATABASE_URL, or unset DATABASE_URL to use a local server on 127.0.0.1:$PG_PORT"
    fi
    log "server at $(redact "$URL") is reachable"
  else
    ensure_local_server
  fi
  ensure_databases
  log "ready: $(redact "$URL")"
}

cmd_status() {
  log "mode: $MODE ($(redact "$URL"))"
  if [[ "$MODE" == local ]]; then
    local cluster
    cluster="$(local_cluster)"
    if [[ -n "$cluster" ]]; then
      # shellcheck disable=SC2086
      log "local cluster: $cluster ($(pg_ctlcluster --skip-systemctl-redirect $cluster status >/dev/null 2>&1 && echo running || echo stopped))"
    else
      log "local cluster: none installed"
    fi
  fi
  if ! reachable "$URL"; then
    log "server: NOT reachable"
    return 1
  fi
  log "server: reachable"
  if have psql; then
    local dbs
    if dbs="$(psql_q "$(admin_url "$URL")" -c \
      'select datname from pg_database where not datistemplate order by 1' 2>&1)"; then
      log "databases: $(tr '\n' ' ' <<<"$dbs")"
      local db
      for db in "${PG_DATABASES[@]}"; do
        grep -qx "$db" <<<"$dbs" || log "missing database: $db (run: scripts/postgres.sh start)"
      done
    else
      log "cannot list databases: $dbs"
    fi
  fi
}

cmd_stop() {
  if [[ "$MODE" == external ]]; then
    log "DATABASE_URL is set: this script did not start that server, so it does not stop it"
    return 0
  fi
  local cluster
  cluster="$(local_cluster)"
  if [[ -z "$cluster" ]]; then
    log "no local cluster under /etc/postgresql: nothing to stop"
    return 0
  fi
  # shellcheck disable=SC2086
  if pg_ctlcluster --skip-systemctl-redirect $cluster status >/dev/null 2>&1; then
    log "stopping cluster ${cluster/ //}"
    # shellcheck disable=SC2086
    run_logged pg_ctlcluster --skip-systemctl-redirect $cluster stop
  else
    log "cluster ${cluster/ //} is not running"
  fi
}

case "${1:-start}" in
  start) cmd_start ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *)
    echo "usage: $0 [start|status|stop]" >&2
    exit 2
    ;;
esac
