#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Validates everything under deploy/ (scripts/test.sh runs it after the Rust tests):
#
#   scripts/deploy-check.sh            static checks, then the live Prometheus check
#   scripts/deploy-check.sh --static   static checks only (no broker or database needed)
#
# Static (deploy/tools/validate.py): hadolint and the image rules; `kubectl kustomize` of each
# overlay; every rendered object against the Kubernetes schemas (kubernetes-validate, strict)
# or the custom resources' schemas (deploy/tools/crd_schemas.py); checkov with the skips
# justified in deploy/tools/checkov.yaml; the manifests' and compose's commands, variables,
# ports and probes against the binaries' --help; `promtool check rules` and `promtool test
# rules`; the PrometheusRule in sync with the rule file; the alerts' runbook links against the
# headings of docs/OPERATIONS.md; the Grafana dashboard's conventions, and the dashboard against
# Grafana's schema for its schemaVersion (deploy/tools/dashboard-schema/check.mjs: `tsc` and
# @grafana/schema, with a broken copy that must be refused).
# Live (deploy/tools/live_prometheus.py): Debian's prometheus scrapes a running projector and
# producer on KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL and evaluates the rules against them.
#
# Installs what it needs, idempotently: Debian's prometheus (promtool) and docker-compose
# (`docker-compose config` validates compose.yaml without an engine), and a venv with
# deploy/tools/requirements.txt in $TRIBUTARY_CACHE/deploy-venv (rebuilt only when that file
# changes), and deploy/tools/dashboard-schema's npm packages (`npm ci` from its lockfile) in
# $TRIBUTARY_CACHE/dashboard-schema (likewise). Measured on 2 cores: the first run on a new
# machine spends about 1.5 min in pip, 1.5-2 min in apt and a few seconds in npm; a run with
# everything installed takes about 45 s (static checks 15-25 s, of which 4-5 s are the
# dashboard schema check; live check about 16 s).
set -euo pipefail

LOG_TAG="deploy"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TRIBUTARY_ROOT"

MODE="${1:-all}"
REQ="$TRIBUTARY_ROOT/deploy/tools/requirements.txt"
VENV="${TRIBUTARY_DEPLOY_VENV:-$TRIBUTARY_CACHE/deploy-venv}"
WORK="$TRIBUTARY_CACHE/deploy-check"
SCHEMA_PKG="$TRIBUTARY_ROOT/deploy/tools/dashboard-schema"
SCHEMA_MODULES="${TRIBUTARY_DASHBOARD_SCHEMA_DIR:-$TRIBUTARY_CACHE/dashboard-schema}"

debian_tools() {
  local missing=()
  have promtool && have prometheus || missing+=(prometheus)
  have docker-compose || missing+=(docker-compose)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian's packages"
    apt_install "${missing[@]}"
  fi
  # Debian's prometheus package starts a server where an init system runs; this check starts
  # its own and needs no other.
  log "$(promtool --version 2>&1 | head -n 1); $(docker-compose version --short 2>/dev/null || echo docker-compose)"
}

deploy_venv() {
  local base_python="${PYTHON:-python3}" want stamp="$VENV/.tributary-requirements.sha256"
  want="$({ sha256sum "$REQ" | cut -d' ' -f1; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "reusing venv $VENV"
    return
  fi
  log "creating venv $VENV from deploy/tools/requirements.txt (about 1.5 min the first time)"
  mkdir -p "$(dirname "$VENV")"
  if ! "$base_python" -m venv --clear "$VENV" >&2; then
    apt_install python3-venv
    "$base_python" -m venv --clear "$VENV" >&2
  fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install \
    --no-input --progress-bar off -q -r "$REQ" >&2
  printf '%s\n' "$want" >"$stamp"
}

# TypeScript and @grafana/schema, exactly as deploy/tools/dashboard-schema/package-lock.json
# pins them (versions and hashes), reinstalled only when the lockfile or package.json changes.
dashboard_schema_tools() {
  if ! have node || ! have npm; then
    apt_install nodejs npm
  fi
  local want stamp="$SCHEMA_MODULES/.tributary-lock.sha256"
  want="$(cat "$SCHEMA_PKG/package.json" "$SCHEMA_PKG/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [[ -d "$SCHEMA_MODULES/node_modules" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "reusing $SCHEMA_MODULES (node $(node --version))"
    return
  fi
  log "installing deploy/tools/dashboard-schema's npm packages into $SCHEMA_MODULES"
  mkdir -p "$SCHEMA_MODULES"
  cp "$SCHEMA_PKG/package.json" "$SCHEMA_PKG/package-lock.json" "$SCHEMA_MODULES/"
  # `npm ci` replaces any node_modules/ there; --ignore-scripts: no package runs code at install.
  (cd "$SCHEMA_MODULES" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
  printf '%s\n' "$want" >"$stamp"
}

# The binaries whose --help the manifests are checked against, and which the live check runs.
build_binaries() {
  find_cargo || die "cargo not found: install a Rust toolchain (rustup)"
  cargo build --workspace --bins --quiet
  BIN_DIR="${CARGO_TARGET_DIR:-$TRIBUTARY_ROOT/target}/debug"
  local binary
  for binary in projector producer tributary-admin; do
    [[ -x "$BIN_DIR/$binary" ]] || die "cargo build left no $BIN_DIR/$binary"
  done
}

debian_tools
deploy_venv
dashboard_schema_tools
build_binaries
mkdir -p "$WORK"
# The pinned kubectl (kustomize v5) and hadolint come first on PATH.
export PATH="$VENV/bin:$PATH"
log "$(kubectl version --client 2>/dev/null | tr '\n' ' ')"

start=$SECONDS
"$VENV/bin/python" deploy/tools/validate.py --bin-dir "$BIN_DIR" --work "$WORK" \
  --dashboard-schema "$SCHEMA_MODULES"
log "static checks passed in $((SECONDS - start))s"

if [[ "$MODE" != "--static" ]]; then
  [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" && -n "${DATABASE_URL:-}" ]] \
    || die "the live check needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (scripts/test.sh sets both); or run with --static"
  start=$SECONDS
  log "live check: Prometheus scraping projector and producer on $KAFKA_BOOTSTRAP_SERVERS"
  "$VENV/bin/python" deploy/tools/live_prometheus.py --bin-dir "$BIN_DIR" --work "$WORK"
  log "live check passed in $((SECONDS - start))s"
fi
