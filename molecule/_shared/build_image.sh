#!/usr/bin/env bash
# Build a minimal local Debian test image for the podman-based test harness.
#
#   build_image.sh bookworm|trixie
#
# bookworm -> localhost/codex-offline-ml/debian12:<tag> (+ :latest)
# trixie   -> localhost/codex-offline-ml/debian13:<tag> (+ :latest)
#
# <tag> is a short hash of this script's content, the suite and the operator's
# public key, so an image is rebuilt only when its recipe or the key changes;
# when the tagged image already exists the script just prints it.
#
# SSH: the image carries openssh-server and sudo and an operator account `ops`
# (password locked, password-less sudo, key-only login). Its key pair is made on
# this machine the first time: build/ssh/ops_ed25519{,.pub} (ed25519, no
# passphrase, gitignored). The image has NO host keys and runs no sshd by
# itself: molecule/_shared/sshd.sh makes each container's host keys when it
# starts sshd on 127.0.0.1:<port>, and pins them in a known_hosts file. The image reference is always the LAST
# line of stdout; all progress output goes to stderr.
#
# Environment:
#   CONTAINERS_CONF  podman config (default: containers.conf next to this file)
#   DEBIAN_MIRROR    Debian mirror (default: the one apt uses on this host,
#                    falling back to http://deb.debian.org/debian)
#   FORCE_REBUILD=1  rebuild even if the tagged image exists
set -euo pipefail

step="startup"
die() { echo "build_image.sh: ERROR during step '${step}': $*" >&2; exit 1; }
trap 'echo "build_image.sh: FAILED during step \"${step}\" (exit $?, line ${LINENO})" >&2' ERR

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-${here}/containers.conf}"

step="arguments"
suite="${1:-}"
case "${suite}" in
  bookworm) name="debian12" ;;
  trixie)   name="debian13" ;;
  *) die "usage: $0 bookworm|trixie (got '${suite}')" ;;
esac

repo="localhost/codex-offline-ml/${name}"

# The operator's key pair (made once; serialised so parallel builds of both suites make one pair).
step="operator key"
ssh_dir="${repo_root}/build/ssh"
ops_key="${ssh_dir}/ops_ed25519"
mkdir -p "${ssh_dir}"
chmod 700 "${ssh_dir}"
(
  flock 8
  if [[ ! -s "${ops_key}" || ! -s "${ops_key}.pub" ]]; then
    command -v ssh-keygen >/dev/null || die "'ssh-keygen' not found (apt-get install -y openssh-client)"
    rm -f "${ops_key}" "${ops_key}.pub"
    ssh-keygen -q -t ed25519 -N '' -C "ops@codex-offline-ml-tests" -f "${ops_key}" >&2
  fi
) 8>"${ssh_dir}/.lock"
ops_pub="$(cat "${ops_key}.pub")"

tag="$( { cat "${BASH_SOURCE[0]}"; printf '\nsuite=%s\nkey=%s\n' "${suite}" "${ops_pub}"; } | sha256sum | cut -c1-12)"
ref="${repo}:${tag}"

step="cache check"
if [[ "${FORCE_REBUILD:-0}" != "1" ]] && podman image exists "${ref}"; then
  echo "${ref}"
  exit 0
fi

step="preflight"
[[ "${EUID}" -eq 0 ]] || die "debootstrap needs root"
for tool in debootstrap podman tar flock sha256sum; do
  command -v "${tool}" >/dev/null || die "'${tool}' not found (apt-get install -y debootstrap podman runc)"
done

# Same mirror apt uses on this host (deb822 .sources or one-line .list).
detect_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [[ -r "${f}" ]] || continue
    awk '
      /^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i }
      /^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; break } }
    ' "${f}"
  done | grep -E '^https?://[^ ]*/debian/?$' | head -n1 | sed 's:/*$::'
}
mirror="${DEBIAN_MIRROR:-$(detect_mirror || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"

build_dir="${repo_root}/build/images"
mkdir -p "${build_dir}/debootstrap-cache/${suite}"

# Serialise concurrent builds of the same suite, then re-check the cache.
step="lock"
exec 9>"${build_dir}/.lock-${suite}"
flock 9
if [[ "${FORCE_REBUILD:-0}" != "1" ]] && podman image exists "${ref}"; then
  echo "${ref}"
  exit 0
fi

work="$(mktemp -d "${build_dir}/${suite}.XXXXXX")"
rootfs="${work}/rootfs"

cleanup() {
  # debootstrap mounts proc/sys inside the target; never rm -rf through them.
  local m
  if [[ -d "${rootfs}" ]]; then
    awk -v r="${rootfs}" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts \
      | sort -r | while read -r m; do umount -l "${m}" 2>/dev/null || true; done
  fi
  rm -rf --one-file-system "${work}"
}
trap cleanup EXIT

# python3 + python3-venv (ensurepip wheels) is all the podman connection and
# Ansible modules need on the target; the rest is for the roles' checks. systemd-sysv: a container started with
# `podman run --systemd=always ... /sbin/init` runs systemd as PID 1 (the mirror host's services); the others
# keep running `sleep infinity`.
packages="python3,python3-venv,ca-certificates,procps,iproute2,openssh-server,sudo,systemd-sysv"

step="debootstrap ${suite} from ${mirror}"
echo "build_image.sh: debootstrap ${suite} (minbase) from ${mirror}" >&2
debootstrap \
  --variant=minbase \
  --include="${packages}" \
  --cache-dir="${build_dir}/debootstrap-cache/${suite}" \
  "${suite}" "${rootfs}" "${mirror}" >&2 \
  || { [[ -f "${rootfs}/debootstrap/debootstrap.log" ]] && tail -n 30 "${rootfs}/debootstrap/debootstrap.log" >&2; die "debootstrap failed"; }

step="operator account and sshd"
# ops: key-only login, password locked, password-less sudo (what a lab's Ansible account usually is).
chroot "${rootfs}" useradd --create-home --shell /bin/bash --user-group ops >&2
ops_ids=("$(chroot "${rootfs}" id -u ops)" "$(chroot "${rootfs}" id -g ops)")
install -d -m 0700 -o "${ops_ids[0]}" -g "${ops_ids[1]}" "${rootfs}/home/ops/.ssh"
install -m 0600 -o "${ops_ids[0]}" -g "${ops_ids[1]}" "${ops_key}.pub" "${rootfs}/home/ops/.ssh/authorized_keys"
printf 'ops ALL=(ALL:ALL) NOPASSWD: ALL\n' > "${rootfs}/etc/sudoers.d/ops"
chmod 0440 "${rootfs}/etc/sudoers.d/ops"
# No host keys in the image (every container would share them): sshd.sh makes them per container.
rm -f "${rootfs}"/etc/ssh/ssh_host_*
cat > "${rootfs}/etc/ssh/sshd_config.d/codex.conf" <<'EOF'
# codex.offline_ml test image: loopback only, keys only, no root login. sshd.sh adds -p <port>.
ListenAddress 127.0.0.1
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers ops
EOF
# sshd.sh starts sshd itself on the container's own port: the packaged unit (port 22 of the shared host network)
# never runs, also where systemd is PID 1.
ln -sfn /dev/null "${rootfs}/etc/systemd/system/ssh.service"
ln -sfn /dev/null "${rootfs}/etc/systemd/system/ssh.socket"
# A container has no audit/loginuid support: pam_loginuid "required" would close every session.
sed -i 's/^session[[:space:]]\+required[[:space:]]\+pam_loginuid.so/session optional pam_loginuid.so/' \
  "${rootfs}/etc/pam.d/sshd"

step="trim rootfs"
chroot "${rootfs}" apt-get clean >&2
rm -rf \
  "${rootfs}"/var/lib/apt/lists/* \
  "${rootfs}"/var/cache/apt/*.bin \
  "${rootfs}"/var/cache/debconf/*-old \
  "${rootfs}"/var/lib/dpkg/*-old \
  "${rootfs}"/usr/share/doc/* \
  "${rootfs}"/usr/share/man/* \
  "${rootfs}"/usr/share/info/* \
  "${rootfs}"/usr/share/lintian \
  "${rootfs}"/usr/share/locale/* \
  "${rootfs}"/debootstrap
find "${rootfs}/var/log" -type f -delete
# Keep later package installs in the container small too.
cat > "${rootfs}/etc/dpkg/dpkg.cfg.d/01-codex-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# podman bind-mounts these at run time; don't bake in the build host's.
: > "${rootfs}/etc/resolv.conf"
echo localhost > "${rootfs}/etc/hostname"
: > "${rootfs}/etc/machine-id"

step="podman import"
tar --numeric-owner --xattrs -C "${rootfs}" -cf - . \
  | podman import \
      --change 'CMD ["sleep","infinity"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'STOPSIGNAL SIGKILL' \
      --change "LABEL org.codex.offline_ml.suite=${suite} org.codex.offline_ml.recipe=${tag}" \
      --message "debootstrap ${suite} minbase (${packages})" \
      - "${ref}" >/dev/null

step="tag latest"
podman tag "${ref}" "${repo}:latest"

echo "build_image.sh: built ${ref} ($(podman image inspect --format '{{.Size}}' "${ref}") bytes)" >&2
echo "${ref}"
