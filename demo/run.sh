#!/usr/bin/env bash
# make demo: start the demo container(s), converge playbooks/site.yml, print the torch diagnostic.
# Expects the environment make sets up (PATH with .venv, CONTAINERS_CONF, ANSIBLE_COLLECTIONS_PATH, mirrors up).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
image="${CODEX_IMAGE_DEBIAN12:?CODEX_IMAGE_DEBIAN12 is not set: run make demo}"
inventory="${root}/demo/inventory"
for host in $(ansible-inventory -i "${inventory}" --list | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["_meta"]["hostvars"]))'); do
  if [ "$(podman inspect -f '{{.State.Running}}' "${host}" 2>/dev/null)" != "true" ]; then
    podman rm -f "${host}" >/dev/null 2>&1 || true
    echo "demo: starting container ${host} from ${image}"
    podman run -d --name "${host}" --hostname "${host}" --network host --label codex.demo=1 "${image}" >/dev/null
  fi
done
echo "demo: converging playbooks/site.yml"
ansible-playbook -i "${inventory}" playbooks/site.yml
echo
echo "demo: torch diagnostic on each ML node (the same facts as ansible_local.torch_cpu.diagnostic):"
ansible -i "${inventory}" ml_nodes -m codex.offline_ml.torch_diagnostic \
  -a "python=/opt/codex/venv/bin/python require_cpu_build=true"
echo
echo "demo: done. The containers keep running; 'make demo-down' removes them."
