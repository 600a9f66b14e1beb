#!/usr/bin/env bash
# soak.sh - the reliability suite at soak counts:
#   make soak [SOAK_RUNS=1000] [SOAK_PARALLEL=32] [SOAK_KILLS=200]
# runs tests/reliability.bats in make test's sandbox with SOAK_RUNS runs in a
# row, SOAK_PARALLEL containers at once and SOAK_KILLS SIGKILLs of the tool
# at random moments per stage and mode (docs/README.md says what it checks).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
cd "$repo"

export RELIABILITY_RUNS=${SOAK_RUNS:-1000}
export RELIABILITY_PARALLEL=${SOAK_PARALLEL:-32}
export RELIABILITY_KILLS=${SOAK_KILLS:-200}
# A soak test runs for minutes: its time limit is an hour, not make test's.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-3600}
echo "soak: ${RELIABILITY_RUNS} runs in a row, ${RELIABILITY_PARALLEL} at once"
exec tests/run tests/reliability.bats
