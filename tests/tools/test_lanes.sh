#!/usr/bin/env bash
# `make test`'s runner: the suites in two lanes that run at the same time.
#   lane A: lint, sanity, unit, then the fleet scenario (inside its own loopback-only network namespace, so its
#           mirrors and sshd ports are its own), then three scenarios
#   lane B: the other Molecule scenarios, then the integration tests
# The host's mirrors are started once by the caller (make test: with_mirrors.sh), shared by both lanes.
# Why two lanes on 2 cores: most of a scenario's or an integration test's time is spent waiting (installers,
# containers starting, SSH, olah), not on the CPU; lane A's first half is the CPU-bound part. One after the other the
# suites took about 50 min in CI; in two lanes about 30 after the set-up (README, "Tests").
# Each lane's output goes to build/test-logs/<lane>.log and to the terminal with the lane's name in front of every
# line. A lane stops at its first failed suite; the other lane runs to its end. The summary names each suite's
# status and minutes; the exit status is 0 only if every suite passed.
# Run through make (it exports PATH, CONTAINERS_CONF, the collection path and the wheelhouses): make test
# LANE_A / LANE_B override the suites of a lane (make targets suite-*), e.g. LANE_A="lint" LANE_B="" for a dry run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
logs="${root}/build/test-logs"
mkdir -p "${logs}"
# Balanced by measured minutes (a fresh clone of 27718b0, 2 cores, both lanes running): lane A 0.5 + 2.2 + 3.6 + 7.8
# + 6.4 + the soak's sample (18.4) = 38.9, lane B 2.4 + 1.2 + 2.2 + 3.4 + 3.0 + 23.8 = 35.8, before offline_mirror
# (about 3 min alone) joined lane B.
lane_a="${LANE_A-lint sanity unit fleet scenario-ci_gates soak-sample}"
lane_b="${LANE_B-scenario-torch_cpu scenario-torch_stub scenario-hf_offline_cache scenario-hf_per_user scenario-hf_bundle scenario-offline_mirror integration}"

# Every scenario of make's SCENARIOS runs in a lane: a scenario added there and not here would silently not run.
# (Not checked when LANE_A or LANE_B is given: then the caller chose.)
[ -n "${LANE_A+x}${LANE_B+x}" ] || for scenario in ${SCENARIOS:-}; do
  case " ${lane_a} ${lane_b} " in
    *" scenario-${scenario} "*) ;;
    *) echo "test_lanes.sh: scenario ${scenario} (in the Makefile's SCENARIOS) is in neither lane: add" \
            "scenario-${scenario} to lane_a or lane_b in $0" >&2
       exit 2 ;;
  esac
done

# run_lane NAME SUITE...: the suites one after the other; a line per suite to logs/NAME.status
run_lane() {
  local name=$1 suite start rc
  shift
  : > "${logs}/${name}.status"
  while [ $# -gt 0 ]; do
    suite=$1
    start=$(date +%s)
    echo "=== lane ${name}: ${suite} started $(date +%H:%M:%S)"
    make --no-print-directory -C "${root}" "suite-${suite}" < /dev/null
    rc=$?
    printf '%s %s %d %d\n' "${name}" "${suite}" "${rc}" "$(( $(date +%s) - start ))" >> "${logs}/${name}.status"
    echo "=== lane ${name}: ${suite} $([ "${rc}" = 0 ] && echo passed || echo "FAILED (exit ${rc})") in $(( ($(date +%s) - start) / 60 )) min"
    shift
    if [ "${rc}" != 0 ]; then
      for suite in "$@"; do printf '%s %s - 0\n' "${name}" "${suite}" >> "${logs}/${name}.status"; done
      return "${rc}"
    fi
  done
}

# lane NAME SUITE...: run_lane in the background, its output to the log and, prefixed, to the terminal
pids=()
lane() {
  local name=$1
  shift
  [ $# -gt 0 ] || return 0
  ( run_lane "${name}" "$@" 2>&1 | tee "${logs}/${name}.log" | sed -u "s/^/[${name}] /"; exit "${PIPESTATUS[0]}" ) &
  pids+=($!)
}

trap 'kill 0 2>/dev/null' INT TERM
started=$(date +%s)
# shellcheck disable=SC2086  # the lanes are word lists
lane A ${lane_a}
# shellcheck disable=SC2086
lane B ${lane_b}
status=0
for pid in "${pids[@]}"; do
  wait "${pid}" || status=1
done

echo "=== make test: summary (logs in build/test-logs/)"
for name in A B; do
  [ -f "${logs}/${name}.status" ] || continue
  while read -r lname suite rc secs; do
    case "${rc}" in
      0) verdict=passed ;;
      -) verdict="not run" ;;
      *) verdict=FAILED ;;
    esac
    printf '  lane %s  %-26s %-8s %3d min %02d s\n' "${lname}" "${suite}" "${verdict}" $((secs / 60)) $((secs % 60))
  done < "${logs}/${name}.status"
done
echo "  wall time $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
exit "${status}"
