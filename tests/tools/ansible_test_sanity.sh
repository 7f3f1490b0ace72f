#!/usr/bin/env bash
# ansible-test sanity for the collection, offline and inside the checkout.
#   tests/tools/ansible_test_sanity.sh [ANSIBLE-TEST SANITY OPTIONS]   fetch the wheels if missing, then run sanity
#   tests/tools/ansible_test_sanity.sh fetch                            only fetch the wheels (idempotent)
# - ansible-test needs the collection at .../ansible_collections/codex/offline_ml: copy the tracked and
#   untracked-but-not-ignored files there (build/sanity/ansible_collections/...).
# - ansible-test keeps its get-pip bootstrap script (~/.ansible/test/cache) and the sanity tests' virtual
#   environments (~/.ansible/test/venv) under $HOME, with no option or variable to move them, and passes only HOME
#   and PATH (not PIP_*) to the pip it runs. So it runs with HOME=build/sanity/home: nothing is written outside the
#   checkout, and pip reads its user configuration from there (home/.config/pip/pip.conf: no-index, find-links of
#   build/sanity/wheels). Every pip install of the run is then offline.
# - build/sanity/wheels: the wheels of ansible-test's pinned sanity requirements (its _data/requirements/sanity.*.txt)
#   and of the pip it bootstraps, built once per ansible-test version with pip in isolated mode (this machine's pip
#   configuration adds no source). That fetch is the only step that reaches the package index, like `make venv`.
# - The get-pip stand-in in that cache installs the bundled pip (ensurepip) and then the pinned pip from the wheels,
#   instead of the script ansible-test would download.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${root}/.venv"
sanity="${root}/build/sanity"
dest="${sanity}/ansible_collections/codex/offline_ml"
home="${sanity}/home"
wheels="${sanity}/wheels"

# ansible-test's version, the pip it bootstraps, and its requirements directory
read -r at_version pip_version requirements < <("${venv}/bin/python" - <<'PY'
import pathlib, re, ansible_test
from importlib.metadata import version
base = pathlib.Path(ansible_test.__file__).parent
src = (base / "_internal" / "python_requirements.py").read_text()
print(version("ansible-core"), re.search(r"pip='([0-9.]+)'", src).group(1), base / "_data" / "requirements")
PY
)
stamp="${wheels}/.stamp-${at_version}"

fetch() {
  [ -f "${stamp}" ] && return 0
  echo "ansible_test_sanity.sh: fetching the wheels of ansible-test ${at_version}'s sanity requirements into ${wheels}"
  rm -rf "${wheels}" && mkdir -p "${wheels}"
  local f
  # one file at a time: each sanity test has its own venv, so two files may pin one distribution differently
  for f in "pip==${pip_version}" "${requirements}"/sanity.*.txt; do
    [ -f "${f}" ] && set -- -r "${f}" || set -- "${f}"
    PIP_CONFIG_FILE=/dev/null "${venv}/bin/python" -m pip wheel --isolated --disable-pip-version-check -q \
      --wheel-dir "${wheels}" "$@"
  done
  touch "${stamp}"
}

fetch
[ "${1-}" = fetch ] && exit 0

mkdir -p "${home}/.config/pip" "${home}/.ansible/test/cache"
cat > "${home}/.config/pip/pip.conf" <<EOF
[global]
no-index = true
find-links = ${wheels}
disable-pip-version-check = true
EOF
cat > "${home}/.ansible/test/cache/get_pip_${pip_version//./_}.py" <<'PY'
# Offline stand-in for ansible-test's get-pip bootstrap (written by tests/tools/ansible_test_sanity.sh): the bundled
# pip, then the requested pip from the wheels that HOME's pip.conf names.
import subprocess
import sys
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args)
PY

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
HOME="${home}" exec "${venv}/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
