# shellcheck shell=bash
# Process helpers shared by mirrors.sh and hf_mirror.sh (sourced, not run, after they set `here`).

# root: the repository; run: the servers' pid and log files (netns.sh gives each network namespace its own).
root="$(cd "${here}/../.." && pwd)"
run="${CODEX_RUN_DIR:-${root}/build/run}"
mkdir -p "${run}"

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
  python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=1)" "$1" 2>/dev/null
}

# stop_group PID: TERM the process group PID leads (the servers are started with setsid), wait until PID is gone
# so that its port is free for the next start, KILL the group after 10 s.
stop_group() {
  local pid=$1
  kill -- "-${pid}" 2>/dev/null || kill "${pid}" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "${pid}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
}
