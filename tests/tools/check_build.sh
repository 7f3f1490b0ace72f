#!/usr/bin/env bash
# The built collection tarball must hold no test trees, build output or venvs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT
"${root}/.venv/bin/ansible-galaxy" collection build --force --output-path "${out}" "${root}" >/dev/null
tarball="$(ls "${out}"/*.tar.gz)"
bad="$(tar tzf "${tarball}" | grep -E '^(tests|molecule|build|\.venv|\.cache|benchmarks|demo|\.ci)(/|$)' || true)"
if [ -n "${bad}" ]; then
  echo "check_build: the collection tarball contains test/build trees:" >&2
  echo "${bad}" >&2
  exit 1
fi
echo "check_build: $(basename "${tarball}") has $(tar tzf "${tarball}" | wc -l) entries, no test trees"
