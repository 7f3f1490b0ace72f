#!/usr/bin/env bash
# sshd in a running test container (an image from build_image.sh), and its host key pinned on the controller.
#   sshd.sh start CONTAINER PORT KNOWN_HOSTS
#     1. makes the container's own ed25519 host key if it has none (the image carries no host keys, so no two
#        containers share one),
#     2. starts sshd in it on 127.0.0.1:PORT (the image's sshd_config.d/codex.conf: ListenAddress 127.0.0.1,
#        keys only, AllowUsers ops); a no-op when that sshd is already listening,
#     3. reads the host key out through `podman exec` (a trusted channel: the container runtime, not the network)
#        and writes it to KNOWN_HOSTS as "[127.0.0.1]:PORT ssh-ed25519 ...", replacing any older line for that
#        address, so ssh checks the key strictly (never StrictHostKeyChecking=no).
# Used by demo/run.sh, the fleet scenario's prepare, the SSH integration test and benchmarks/bench_fleet.py.
# The containers use host networking (or the fleet's loopback-only namespace): 127.0.0.1 is the only address.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-${here}/containers.conf}"

die() { echo "sshd.sh: $*" >&2; exit 1; }

[ "${1:-}" = start ] && [ $# -eq 4 ] || die "usage: $0 start CONTAINER PORT KNOWN_HOSTS"
container=$2
port=$3
known_hosts=$4
case "${port}" in
  '' | *[!0-9]*) die "PORT must be a number, got '${port}'" ;;
esac
[ "${port}" -ge 1024 ] && [ "${port}" -le 65535 ] || die "PORT must be 1024-65535, got ${port}"
podman container exists "${container}" || die "no container '${container}'"

listening() {
  podman exec "${container}" ss -Hltn "sport = :${port}" 2>/dev/null | grep -q .
}

hostkey=/etc/ssh/ssh_host_ed25519_key
podman exec "${container}" sh -euc '
  test -x /usr/sbin/sshd || { echo "no /usr/sbin/sshd in this image: rebuild it with make images" >&2; exit 1; }
  test -s "$1" || ssh-keygen -q -t ed25519 -N "" -f "$1"
  mkdir -p /run/sshd && chmod 0755 /run/sshd' sh "${hostkey}"

if ! listening; then
  # sshd daemonises; it stays in the container after podman exec returns.
  podman exec "${container}" /usr/sbin/sshd -p "${port}" -o "HostKey=${hostkey}" \
    || die "sshd did not start in ${container} (port ${port})"
  for _ in $(seq 1 50); do
    listening && break
    sleep 0.1
  done
  listening || die "sshd in ${container} is not listening on 127.0.0.1:${port}"
fi
# Nothing but 127.0.0.1:PORT (the check the issue asks for: no other address).
others="$(podman exec "${container}" ss -Hltnp 2>/dev/null | awk '/sshd/ && $4 != "127.0.0.1:'"${port}"'" {print $4}')"
[ -z "${others}" ] || die "sshd in ${container} listens on ${others}: it must listen on 127.0.0.1:${port} only"

key="$(podman exec "${container}" cat "${hostkey}.pub" | awk '{print $1, $2}')"
case "${key}" in
  "ssh-ed25519 "*) ;;
  *) die "unexpected host key in ${container}: '${key}'" ;;
esac
mkdir -p "$(dirname "${known_hosts}")"
exec 9>>"${known_hosts}.lock"
flock 9
touch "${known_hosts}"
entry="[127.0.0.1]:${port}"
{ grep -v -F "${entry} " "${known_hosts}" || true; echo "${entry} ${key}"; } > "${known_hosts}.new"
chmod 0644 "${known_hosts}.new"
mv -f "${known_hosts}.new" "${known_hosts}"
echo "sshd.sh: ${container} sshd on 127.0.0.1:${port}, host key pinned in ${known_hosts}"
