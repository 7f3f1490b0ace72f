#!/usr/bin/env bash
# Run a command with the test mirrors up and the image references exported:
#   with_mirrors.sh molecule test -s torch_cpu
# Starts the mirrors if they are not running and stops them afterwards only if it started them,
# so concurrent runs share one set of servers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
env_lines="$("${here}/mirrors.sh" start)"
set -a
eval "${env_lines}"
CODEX_IMAGE_DEBIAN12="$(cat "${root}/build/image-debian12")"
export CODEX_IMAGE_DEBIAN12
if [ -f "${root}/build/image-debian13" ]; then
  CODEX_IMAGE_DEBIAN13="$(cat "${root}/build/image-debian13")"
  export CODEX_IMAGE_DEBIAN13
fi
set +a
if [ "${CODEX_MIRRORS_STARTED}" = 1 ]; then
  trap '"${here}/mirrors.sh" stop' EXIT
fi
"$@"
