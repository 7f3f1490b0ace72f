#!/usr/bin/env bash
# The connected side of the demo lab and the fleet scenario: one signed release for the mirror host, staged with
# the real playbooks/stage.yml from the test index and the Hub mirror (both must be up: run it under
# with_mirrors.sh and hf_mirror.sh), signed with a throwaway key made here on first use:
#   lab_release.sh DIR         prints CODEX_LAB_RELEASE_ID=<id> (the release is DIR/<id>, its key DIR/release_ed25519)
#   lab_release.sh DIR CMD...  runs CMD with CODEX_LAB_RELEASE_ID and CODEX_LAB_RELEASE_DIR=DIR exported (the fleet)
# The id is a digest of the staging settings and the committed locks, so a second run (make demo again) finds the
# same release complete and stages nothing; a change of a lock stages a new release, which the mirror host then
# imports and serves.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
dir="${1:?usage: lab_release.sh DIR [CMD...]}"
shift
: "${CODEX_INDEX_URL:?the test index is not up: run under molecule/_shared/with_mirrors.sh}"
: "${CODEX_HF_MIRROR_URL:?the Hub mirror is not up: run under molecule/_shared/hf_mirror.sh run}"
mkdir -p "${dir}"
chmod 0700 "${dir}"
if [ ! -s "${dir}/release_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N "" -C stager@lab -f "${dir}/release_ed25519"
fi

# The nodes' sets (the demo inventory's locks) and the mirror host's servers, from the committed locks.
settings="$(python3 - "${root}" "${dir}" <<'EOF'
import hashlib, json, os, sys
root, out = sys.argv[1], sys.argv[2]
locks = os.path.join(root, "molecule", "_shared", "locks")
sets = {
    "torch_cpu_hf": ["torch==2.13.0+cpu", "transformers==5.24.0", "huggingface-hub==2.4.0"],
    "ci_gates_py313": ["nox==2026.10.20", "pytest==9.2.0", "pytest-cov==7.1.0", "coverage==7.17.5"],
    "hf_offline_cache_py313": ["huggingface-hub==2.4.0"],
    "offline_mirror": ["pypiserver==2.4.2", "gunicorn==27.0.1", "whitenoise==6.12.0"],
}
settings = {
    "stage_releases_dir": out,
    "stage_signing_key": os.path.join(out, "release_ed25519"),
    "stage_wheels_index_url": os.environ["CODEX_INDEX_URL"],
    "stage_wheels_sets": sets,
    "stage_wheels_set_python_versions": {"ci_gates_py313": "3.13", "hf_offline_cache_py313": "3.13"},
    "stage_wheels_lock_dir": locks,
    "stage_wheels_resolve": "none",
    "stage_wheels_progress_poll": 0,
    "stage_hf_python": os.path.join(root, "build", "olah-venv", "bin", "python"),
    "stage_hf_endpoint": os.environ["CODEX_HF_MIRROR_URL"],
    "stage_hf_repos": [{"repo_id": "codex-test/tiny-bert",
                        "revision": os.environ.get("CODEX_HF_TINY_BERT_COMMIT") or "main"}],
}
digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
for name in sorted(sets):
    with open(os.path.join(locks, name + ".txt"), "rb") as handle:
        digest.update(handle.read())
settings["stage_release_id"] = "lab-" + digest.hexdigest()[:12]
print(json.dumps(settings))
EOF
)"
id="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["stage_release_id"])' "${settings}")"
if [ ! -s "${dir}/${id}/manifest.json.sig" ]; then
  rm -rf "${dir:?}/${id}"
  printf '%s\n' "${settings}" > "${dir}/stage-${id}.json"
  echo "lab_release: staging ${dir}/${id} with playbooks/stage.yml" >&2
  ansible-playbook "${root}/playbooks/stage.yml" -e "@${dir}/stage-${id}.json" > "${dir}/stage-${id}.log" 2>&1 || {
    tail -40 "${dir}/stage-${id}.log" >&2
    echo "lab_release: staging failed (log: ${dir}/stage-${id}.log)" >&2
    exit 1
  }
fi
if [ $# -gt 0 ]; then
  export CODEX_LAB_RELEASE_ID="${id}" CODEX_LAB_RELEASE_DIR="${dir}"
  exec "$@"
fi
echo "CODEX_LAB_RELEASE_ID=${id}"
