#!/usr/bin/env bash
# make demo: the demo lab (demo/inventory: the mirror host, two Debian 12 ML nodes, one Debian 13 CI runner) as
# containers on this machine, brought to the hardened state by playbooks/site.yml, then audited by playbooks/audit.yml.
# The connected side first: molecule/_shared/lab_release.sh stages one release from the test index and the Hub
# mirror and signs it with a throwaway key (or finds it staged already); the mirror host gets it as a carried disk
# (build/lab-release plugged in read-only at /media/carried), verifies, imports and serves it under systemd, and
# the nodes install from it: no node talks to the harness's index or Hub mirror.
# Prints where the report is and each host's verdicts. Run it again: site.yml changes nothing and the verdicts
# are the same (the script compares them with the previous run's and says so).
# Expects the environment make sets up (PATH with .venv, CONTAINERS_CONF, ANSIBLE_COLLECTIONS_PATH) and the wheel
# mirrors up (make runs it under molecule/_shared/with_mirrors.sh); starts the Hub mirror itself when it is not up.
# make demo-down removes the containers (label codex.demo=1).
# Ansible reaches the hosts as a lab does: SSH as `ops` with become (sudo), pipelining and ControlPersist
# (demo/inventory/group_vars/all.yml). Each container runs its own sshd on 127.0.0.1:<ansible_port of its
# host_vars>; molecule/_shared/sshd.sh starts it and pins its host key in build/ssh/known_hosts (read out through
# podman exec, never accepted on first use). The operator's key pair is build/ssh/ops_ed25519 (make images).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
if [ -z "${CODEX_INDEX_URL:-}" ]; then
  exec molecule/_shared/with_mirrors.sh "${root}/demo/run.sh" "$@"
fi
if [ -z "${CODEX_HF_MIRROR_URL:-}" ]; then
  exec molecule/_shared/hf_mirror.sh run "${root}/demo/run.sh" "$@"
fi
export CODEX_MIRROR_DIR="${root}/build/mirror"
inventory="${root}/demo/inventory"
reports="${root}/build/demo/audit"
mkdir -p "${reports}"

ssh_dir="${root}/build/ssh"
release_dir="${root}/build/lab-release"
eval "$(molecule/_shared/lab_release.sh "${release_dir}")"
export CODEX_LAB_RELEASE_ID CODEX_LAB_RELEASE_DIR="${release_dir}"
echo "demo: release ${CODEX_LAB_RELEASE_ID} staged and signed in ${release_dir}"
if [ ! -s "${ssh_dir}/ops_ed25519" ]; then
  echo "demo: ${ssh_dir}/ops_ed25519 is missing: run 'make images' (it makes the operator's key pair)" >&2
  exit 1
fi
# host -> image (host_vars codex_demo_image: debian12 | debian13 -> build/image-debian12 | build/image-debian13),
# its sshd port (host_vars ansible_port) and whether it runs systemd (host_vars codex_demo_systemd: the mirror host)
hosts_images="$(ansible-inventory -i "${inventory}" --list | python3 -c '
import json, sys
meta = json.load(sys.stdin)["_meta"]["hostvars"]
for host in sorted(meta):
    print(host, meta[host].get("codex_demo_image", "debian12"), meta[host]["ansible_port"],
          "systemd" if meta[host].get("codex_demo_systemd") else "plain")
')"
while read -r host flavour port init; do
  ref_file="${root}/build/image-${flavour}"
  if [ ! -s "${ref_file}" ]; then
    echo "demo: ${ref_file} is missing: run 'make images' (it builds the Debian 12 and 13 images)" >&2
    exit 1
  fi
  image="$(cat "${ref_file}")"
  if [ "$(podman inspect -f '{{.State.Running}}' "${host}" 2>/dev/null)" != "true" ] \
     || [ "$(podman inspect -f '{{.ImageName}}' "${host}")" != "${image}" ]; then
    podman rm -f -t 0 "${host}" >/dev/null 2>&1 || true
    echo "demo: starting ${host} from ${image}"
    if [ "${init}" = systemd ]; then
      podman run -d --name "${host}" --hostname "${host}" --network host --label codex.demo=1 --systemd=always \
        -v "${release_dir}:/media/carried:ro" "${image}" /sbin/init >/dev/null
      # sshd.sh needs a running system: wait for systemd to finish booting (degraded is fine: no unit is ours yet)
      for _ in $(seq 60); do
        state="$(podman exec "${host}" systemctl is-system-running 2>/dev/null || true)"
        case "${state}" in running | degraded) break ;; esac
        sleep 1
      done
    else
      podman run -d --name "${host}" --hostname "${host}" --network host --label codex.demo=1 "${image}" >/dev/null
    fi
  fi
  molecule/_shared/sshd.sh start "${host}" "${port}" "${ssh_dir}/known_hosts"
done <<< "${hosts_images}"
export CODEX_SSH_DIR="${ssh_dir}"

# The CI system's checkout of the project the runner gates (demo/ci_project), before site.yml lists it.
for host in $(ansible-inventory -i "${inventory}" --list | python3 -c '
import json, sys
print(" ".join(json.load(sys.stdin).get("ci_runners", {}).get("hosts", [])))
'); do
  podman exec "${host}" mkdir -p /srv/ci/demo-sample
  podman cp "${root}/demo/ci_project/." "${host}:/srv/ci/demo-sample"
  ci_hosts="${ci_hosts:-} ${host}"
done

previous=""
if [ -f "${reports}/latest/fleet.json" ]; then
  previous="$(mktemp)"
  cp "${reports}/latest/fleet.json" "${previous}"
fi

echo "demo: converging playbooks/site.yml over ${inventory}"
log="$(mktemp)"
if ! ansible-playbook -i "${inventory}" playbooks/site.yml | tee "${log}"; then
  echo "demo: site.yml failed (output above)" >&2
  exit 1
fi
changed="$(sed -n '/PLAY RECAP/,$p' "${log}" | grep -o 'changed=[0-9]*' | awk -F= '{n += $2} END {print n + 0}')"
rm -f "${log}"

# What a user types on the runner (a login shell, inside the project), and what it prints.
for host in ${ci_hosts:-}; do
  echo
  echo "demo: on ${host}: cd /srv/ci/demo-sample && COVERAGE_MIN=85 nox -s tests"
  podman exec "${host}" bash -lc 'cd /srv/ci/demo-sample && COVERAGE_MIN=85 nox -s tests' 2>&1 \
    | grep -E '^(codex-gate: |SKIPPED|=+ .*(passed|failed)|nox > Session)' || true
done

echo
echo "demo: auditing the fleet with playbooks/audit.yml (read-only)"
ansible-playbook -i "${inventory}" playbooks/audit.yml -e "audit_report_dir=${reports}"

python3 - "${reports}/latest" "${previous}" "${changed}" <<'EOF'
import json, os, sys
latest, previous, changed = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = json.load(open(os.path.join(latest, "fleet.json")))
run_dir = os.path.realpath(latest)
print()
print("demo: report  %s" % os.path.join(run_dir, "fleet.html"))
print("      also    %s, %s" % (os.path.join(run_dir, "fleet.json"), os.path.join(run_dir, "junit.xml")))
checks = doc["checks"]
width = max(len(h["host"]) for h in doc["hosts"])
print("      %s  %s" % ("host".ljust(width), "  ".join(checks)))
for h in doc["hosts"]:
    cells = [h["checks"].get(c, {}).get("status", "-").ljust(len(c)) for c in checks]
    print("      %s  %s" % (h["host"].ljust(width), "  ".join(cells)))
for m in (doc.get("mirror") or {}).get("hosts", []):
    print("demo: mirror host %s serves release %s (manifest %s), %s; health %s" % (
        m["host"], m["release"], (m["manifest_sha256"] or "?")[:12], m["signature"], "ok" if m["health"] else "FAILED"))
s = doc["summary"]
print("demo: %d of %d hosts compliant; site.yml changed %d task%s" % (
    s["compliant_hosts"], s["hosts"], changed, "" if changed == 1 else "s"))
verdicts = lambda d: dict(((h["host"], c), v["status"]) for h in d["hosts"] for c, v in h["checks"].items())
if previous:
    before = json.load(open(previous))
    same = verdicts(before) == verdicts(doc)
    print("demo: verdicts %s the previous run's (%s)" % ("are the same as" if same else "DIFFER from",
                                                        before.get("generated_at")))
    os.unlink(previous)
if not doc["compliant"]:
    print("demo: NOT compliant: %s" % ", ".join(s["noncompliant_hosts"]))
    sys.exit(1)
EOF
echo "demo: done. The containers keep running; 'make demo-down' removes them."
