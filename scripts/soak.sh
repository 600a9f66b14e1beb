#!/usr/bin/env bash
# scripts/soak.sh - the reliability suite at soak counts (make soak).
#
#   make soak [SOAK_RUNS=1000] [SOAK_PARALLEL=32] [SOAK_KILLS=200]
#
# Runs tests/reliability.bats, in the same sandbox as make test, with
# SOAK_RUNS sequential runs, SOAK_PARALLEL concurrent containers, and
# SOAK_KILLS SIGKILLs of the tool at random moments per stage and mode, and as
# many SIGTERMs and SIGKILLs during setup with --layer, after which no unused
# layer may be left once the next run swept (the count must be 0).  Every
# scenario compares the host's mounts, /tmp, cgroups, hostname and processes
# before and after, so a green soak means the host was left as found.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

export RELIABILITY_RUNS=${SOAK_RUNS:-1000}
export RELIABILITY_PARALLEL=${SOAK_PARALLEL:-32}
export RELIABILITY_KILLS=${SOAK_KILLS:-200}
# A soak test runs for minutes: its time limit is an hour, not make test's.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-3600}
echo "soak: ${RELIABILITY_RUNS} runs in a row, ${RELIABILITY_PARALLEL} at once"
exec tests/run tests/reliability.bats
