#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Python virtualenv for Tributary's interop tests.
#
# Run it:     TRIBUTARY_PYTHON="$(scripts/python-env.sh)"
#   Progress goes to stderr; the only line on stdout (so also the last one) is
#   the venv's python, e.g. /root/.cache/tributary/venv/bin/python.
# Or source it from bash:   . scripts/python-env.sh
#   which exports TRIBUTARY_PYTHON instead of printing it (and returns non-zero
#   on failure, leaving the caller's shell options alone).
#
# The venv lives at $TRIBUTARY_CACHE/venv (default ~/.cache/tributary/venv) and
# is reused as long as scripts/requirements-test.txt and the interpreter are
# unchanged (a sha256 stamp in the venv records them); otherwise it is rebuilt.

_tributary_python_env() {
  set -euo pipefail
  LOG_TAG=python
  # shellcheck source=lib.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

  local req="$TRIBUTARY_ROOT/scripts/requirements-test.txt"
  local venv="${TRIBUTARY_VENV:-$TRIBUTARY_CACHE/venv}"
  local stamp="$venv/.tributary-requirements.sha256"
  local base_python="${PYTHON:-python3}"

  [[ -f "$req" ]] || die "missing $req"
  if ! have "$base_python"; then
    log "$base_python not found: installing python3 from Debian's packages"
    apt_install python3 python3-venv python3-pip
  fi

  local want
  want="$({ sha256sum "$req" | cut -d' ' -f1; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import fastavro, confluent_kafka' >/dev/null 2>&1; then
    log "reusing venv $venv (requirements unchanged)"
  else
    if [[ -d "$venv" ]]; then
      log "requirements or interpreter changed (or venv broken): rebuilding $venv"
    else
      log "creating venv $venv with $("$base_python" --version 2>&1)"
    fi
    mkdir -p "$(dirname "$venv")"
    if ! "$base_python" -m venv --clear "$venv" >&2; then
      log "python3 -m venv failed: installing python3-venv from Debian's packages"
      apt_install python3-venv
      "$base_python" -m venv --clear "$venv" >&2
    fi
    log "installing $(grep -Ev '^\s*(#|$)' "$req" | tr '\n' ' ')"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install \
      --no-input --progress-bar off -q -r "$req" >&2
    "$venv/bin/python" -c 'import fastavro, confluent_kafka' \
      || die "packages from $req installed but do not import"
    printf '%s\n' "$want" >"$stamp"
  fi
  log "fastavro $("$venv/bin/python" -c 'import fastavro; print(fastavro.__version__)'), confluent-kafka $("$venv/bin/python" -c 'import confluent_kafka; print(confluent_kafka.__version__)')"
  printf '%s\n' "$venv/bin/python"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: run in a subshell so `set -e` and `exit` stay out of the caller.
  if TRIBUTARY_PYTHON="$(_tributary_python_env)"; then
    export TRIBUTARY_PYTHON
    unset -f _tributary_python_env
  else
    unset -f _tributary_python_env
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
  fi
else
  _tributary_python_env
fi
