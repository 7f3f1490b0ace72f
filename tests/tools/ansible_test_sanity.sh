#!/usr/bin/env bash
# ansible-test sanity for the collection, offline.
# - ansible-test needs the collection at .../ansible_collections/codex/offline_ml: copy the tracked and
#   untracked-but-not-ignored files there (build/sanity/...).
# - ansible-test bootstraps pip in its sanity venvs with a script it downloads from the internet; offline we
#   put a stand-in into its cache that uses ensurepip and then pip (PyPI is the only index reachable here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${root}/.venv"
dest="${root}/build/sanity/ansible_collections/codex/offline_ml"

pip_version="$("${venv}/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)"
cache="${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "${cache}" ]; then
  mkdir -p "$(dirname "${cache}")"
  cat > "${cache}" <<'PY'
# Offline stand-in for ansible-test's get-pip bootstrap (written by tests/tools/ansible_test_sanity.sh):
# ensurepip, then pip itself at the requested version from the configured index.
import subprocess
import sys
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args)
PY
fi

rm -rf "${dest}"
mkdir -p "${dest}"
cd "${root}"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  mkdir -p "${dest}/$(dirname "$f")"
  cp -a "$f" "${dest}/$f"
done
cd "${dest}"
git init -q . && git add -A >/dev/null 2>&1   # ansible-test lists files through git when it can
exec "${venv}/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
