#!/usr/bin/env bash
# The built collection tarball must hold no test trees, build output or venvs. It is built where docs/awx.md
# builds it for the AWX execution environment (build/ee), and tests/tools/check_ee.py then checks the EE's build
# context that `ansible-builder create` writes from it and from the staged mirror (build/mirror).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${root}/build/ee"
mkdir -p "${out}"
rm -f "${out}"/*.tar.gz
"${root}/.venv/bin/ansible-galaxy" collection build --force --output-path "${out}" "${root}" >/dev/null
tarball="$(ls "${out}"/*.tar.gz)"
bad="$(tar tzf "${tarball}" | grep -E '^(tests|molecule|build|\.venv|\.cache|benchmarks|demo|\.ci)(/|$)' || true)"
if [ -n "${bad}" ]; then
  echo "check_build: the collection tarball contains test/build trees:" >&2
  echo "${bad}" >&2
  exit 1
fi
echo "check_build: $(basename "${tarball}") has $(tar tzf "${tarball}" | wc -l) entries, no test trees"
"${root}/.venv/bin/python" "${root}/tests/tools/check_ee.py" "${tarball}"
