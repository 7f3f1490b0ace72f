#!/usr/bin/env bash
# A network namespace that has only a loopback interface: the proof that what runs inside has no way out.
#   netns.sh create NAME          create it if missing (`ip netns add NAME`, `lo` up; no other link, no route)
#   netns.sh delete NAME          delete it (processes still inside keep it alive until they end)
#   netns.sh exec NAME -- CMD...  run CMD inside it
#   netns.sh run NAME -- CMD...   create it if missing, check it, run CMD inside; exits with CMD's status.
#                                 Afterwards the namespace is deleted if this call created it and no process is
#                                 left in it; containers still running (molecule converge without destroy) keep
#                                 it, so the next run joins them in the same namespace.
#   netns.sh show NAME            the links and routes inside
# Example (the Makefile's fleet target):
#   molecule/_shared/netns.sh run codex-fleet -- molecule/_shared/with_mirrors.sh \
#     molecule/_shared/hf_mirror.sh run molecule test -s fleet
# Inside, CODEX_NETNS=NAME, and CODEX_RUN_DIR=build/run/netns-NAME so that mirrors.sh and hf_mirror.sh keep the
# pid files of the servers they start in the namespace apart from the host's (same ports, another 127.0.0.1).
#
# Why nsenter and not `ip netns exec`: `ip netns exec` also unshares the mount namespace and remounts /sys for
# the network namespace, which hides /sys/fs/cgroup; runc then fails to start any container ("no cgroup mount
# found in mountinfo"). `nsenter --net=/run/netns/NAME` joins the network namespace only: mounts, cgroups and
# podman's storage stay the host's, and a container started inside with `--network host` shares the namespace,
# so it sees `lo` and nothing else.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"

usage() {
  echo "usage: $0 create|delete|show NAME | exec|run NAME -- CMD..." >&2
  exit 2
}

[ $# -ge 2 ] || usage
action=$1
name=$2
shift 2
case "${name}" in
  "" | *[!A-Za-z0-9_.-]*) echo "netns.sh: bad namespace name '${name}'" >&2; exit 2 ;;
esac

exists() {
  [ -e "/run/netns/${name}" ]
}

inside() {
  nsenter --net="/run/netns/${name}" "$@"
}

create() {
  if ! exists; then
    ip netns add "${name}"
    created=1
  fi
  inside ip link set lo up
}

# The namespace must hold `lo` and nothing else, with no route: refuse to run in one that has more.
check() {
  local links routes
  links="$(inside ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')"
  routes="$(inside ip route show
            inside ip -6 route show | grep -v '^\(::1\|fe80\|multicast\|local\|anycast\)' || true)"
  if [ "${links}" != "lo " ] || [ -n "${routes}" ]; then
    echo "netns.sh: namespace ${name} is not loopback-only: links: ${links}; routes: ${routes:-none}" >&2
    exit 1
  fi
}

# Delete the namespace unless a process (a container still running) is left in it.
delete_if_empty() {
  if [ -z "$(ip netns pids "${name}" 2>/dev/null)" ]; then
    ip netns delete "${name}" 2>/dev/null || true
  fi
}

strip_dashes() {
  if [ "${1:-}" = "--" ]; then
    shift
  fi
  [ $# -gt 0 ] || usage
  cmd=("$@")
}

created=0
case "${action}" in
  create)
    create
    check
    ;;
  delete)
    if exists; then
      ip netns delete "${name}"
    fi
    ;;
  show)
    exists || { echo "netns.sh: no namespace ${name}" >&2; exit 1; }
    echo "links:"
    inside ip -o link show
    echo "routes (IPv4, IPv6):"
    inside ip route show
    inside ip -6 route show
    ;;
  exec | run)
    strip_dashes "$@"
    if [ "${action}" = exec ]; then
      exists || { echo "netns.sh: no namespace ${name}: run '$0 create ${name}' first" >&2; exit 1; }
    else
      create
      if [ "${created}" = 1 ]; then
        trap delete_if_empty EXIT
      fi
    fi
    check
    mkdir -p "${root}/build/run/netns-${name}"
    set +e
    CODEX_NETNS="${name}" CODEX_RUN_DIR="${root}/build/run/netns-${name}" \
      nsenter --net="/run/netns/${name}" "${cmd[@]}"
    rc=$?
    set -e
    exit "${rc}"
    ;;
  *) usage ;;
esac
