#!/usr/bin/env bash
# Start/stop the test mirrors, all bound to 127.0.0.1 (one place; every scenario and test uses them):
#   index      pypiserver --disable-fallback over build/mirror/wheels      $CODEX_INDEX_URL
#   find_links plain HTTP directory over build/mirror/wheels               $CODEX_FINDLINKS_URL
#   stub index pypiserver over build/stub-mirror (the stub torch only)     $CODEX_STUB_INDEX_URL
# Usage: mirrors.sh start|stop|status   (prints the URLs as KEY=VALUE on start)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=proc.sh
. "${here}/proc.sh"  # also sets root and run (the servers' pid and log files), and makes run
py="${root}/.venv/bin/python"
INDEX_PORT="${CODEX_INDEX_PORT:-18141}"
FINDLINKS_PORT="${CODEX_FINDLINKS_PORT:-18142}"
STUB_PORT="${CODEX_STUB_PORT:-18143}"

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do
    if "${py}" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:${port}/', timeout=1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "mirrors.sh: ${name} did not answer on 127.0.0.1:${port}; log: ${run}/${name}.log" >&2
  tail -20 "${run}/${name}.log" >&2 || true
  return 1
}

started=0
mine=()  # the servers this call started
start_one() {
  local name=$1 port=$2; shift 2
  if [ -f "${run}/${name}.pid" ] && kill -0 "$(cat "${run}/${name}.pid")" 2>/dev/null; then
    return 0
  fi
  # A server someone else left on the port would answer in place of ours and never be stopped by us.
  if port_in_use "${port}"; then
    echo "mirrors.sh: something already listens on 127.0.0.1:${port} and it is not this checkout's ${name}" \
         "(${run}/${name}.pid); stop it, or set CODEX_${name^^}_PORT to a free port" >&2
    return 1
  fi
  started=1
  setsid "$@" >"${run}/${name}.log" 2>&1 < /dev/null &
  echo $! > "${run}/${name}.pid"
  mine+=("${name}")
  wait_port "${port}" "${name}"
}

# A start that failed half-way stops what it had started, so that nothing is left running.
abort_start() {
  local name
  for name in "${mine[@]}"; do
    stop_group "$(cat "${run}/${name}.pid")"
    rm -f "${run}/${name}.pid"
  done
  exit 1
}

case "${1:-}" in
  start)
    [ -d "${root}/build/mirror/wheels" ] || { echo "mirrors.sh: build/mirror/wheels is missing: run 'make mirror' first" >&2; exit 1; }
    [ -d "${root}/build/stub-mirror" ] || { echo "mirrors.sh: build/stub-mirror is missing: run 'make mirror' first" >&2; exit 1; }
    start_one index "${INDEX_PORT}" "${root}/.venv/bin/pypi-server" run -i 127.0.0.1 -p "${INDEX_PORT}" \
      --disable-fallback -a . -P . "${root}/build/mirror/wheels" || abort_start
    start_one findlinks "${FINDLINKS_PORT}" "${py}" -m http.server --bind 127.0.0.1 \
      --directory "${root}/build/mirror/wheels" "${FINDLINKS_PORT}" || abort_start
    start_one stub "${STUB_PORT}" "${root}/.venv/bin/pypi-server" run -i 127.0.0.1 -p "${STUB_PORT}" \
      --disable-fallback -a . -P . "${root}/build/stub-mirror" || abort_start
    echo "CODEX_INDEX_URL=http://127.0.0.1:${INDEX_PORT}/simple/"
    echo "CODEX_FINDLINKS_URL=http://127.0.0.1:${FINDLINKS_PORT}/"
    echo "CODEX_STUB_INDEX_URL=http://127.0.0.1:${STUB_PORT}/simple/"
    # 1 when this call started a server (the caller then stops them), 0 when they were already up.
    echo "CODEX_MIRRORS_STARTED=${started}"
    ;;
  stop)
    for name in index findlinks stub; do
      if [ -f "${run}/${name}.pid" ]; then
        stop_group "$(cat "${run}/${name}.pid")"
        rm -f "${run}/${name}.pid"
      fi
    done
    ;;
  status)
    for name in index findlinks stub; do
      if [ -f "${run}/${name}.pid" ] && kill -0 "$(cat "${run}/${name}.pid")" 2>/dev/null; then echo "${name}: up"; else echo "${name}: down"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
