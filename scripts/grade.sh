#!/usr/bin/env bash
# scripts/grade.sh - score a student's stage with that stage's own tests
# (make grade).
#
# Builds SRC (default: the workspace's exercises/stageN-*/main.c) against
# the project's common/, with the project's warnings shown but not fatal,
# then runs tests/stageN-*.bats against that one binary only
# (CFS_GRADE_STAGE and CFS_GRADE_BIN in tests/helpers.bash), in the same
# sandbox as make check (tests/run).  A stage that is missing or does not
# compile scores 0, and the compiler's messages are shown.
#
# Usage: scripts/grade.sh [--junit FILE] [--filter REGEX] N [SRC]
# --filter runs only the tests whose names match REGEX (bats --filter).
# --first-failure (for make exercise-check) runs the tests one at a time and
# stops at the first that fails, which it names on its last line instead.
# It ends with one line: "stage N: K/M tests passed".  Exit status: 0 for
# full marks, 1 if a test failed, 2 if SRC is missing or does not compile.
# Needs root, like the suites: run it on a disposable VM.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)

mapfile -t STAGES <scripts/stages.txt
# The project's flags without -Werror.  Unused functions are no warning
# here: a skeleton's helpers are unused until the holes that call them are
# written.
STUDENT_CFLAGS=${STUDENT_CFLAGS:--std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -O2 -g}
CC=${CC:-cc}

usage() {
	echo "usage: $0 [--junit FILE] [--filter REGEX] [--first-failure] N [SRC]" >&2
	exit 2
}

junit=
filter=()
first_failure=0
while [[ ${1:-} == --* ]]; do
	case $1 in
	--junit | --filter)
		[[ $# -ge 2 ]] || usage
		if [[ $1 == --junit ]]; then
			junit=$2
		else
			filter=(--filter "$2")
		fi
		shift 2
		;;
	--first-failure)
		first_failure=1
		shift
		;;
	*) usage ;;
	esac
done
[[ $# -ge 1 && $# -le 2 ]] || usage
n=$1
if ! [[ $n =~ ^[1-9]$ ]] || ((n > ${#STAGES[@]})); then
	echo "grade: no stage '$n': give STAGE=1 to ${#STAGES[@]}" >&2
	exit 2
fi
stage=${STAGES[n - 1]}
src=${2:-exercises/$stage/main.c}
suite=tests/$stage.bats
if [[ -n $junit && $junit != /* ]]; then
	junit=$PWD/$junit
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "grade: the tests need root: containers need CAP_SYS_ADMIN (try: sudo make grade STAGE=$n)" >&2
	exit 2
fi

# The scratch directory holds the build and the report; the binary sits in
# a directory named like the stage's, beside a link to the default image,
# which the binary finds at ../rootfs.  It is under the checkout, not /tmp,
# because tests/run mounts a fresh /tmp.
mkdir -p build
work=$(mktemp -d "$REPO/build/grade.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/$stage" "$work/report"
ln -s "$REPO/rootfs" "$work/rootfs"
bin=$work/$stage/container

total=$(bats --count "${filter[@]}" "$suite")

xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# No binary, no test passes: every test of the suite fails with the reason.
score_zero() {
	local why=$1 details=$2
	echo "stage $n: $why"
	if [[ -n $junit ]]; then
		{
			echo '<?xml version="1.0" encoding="UTF-8"?>'
			echo "<testsuites tests=\"$total\" failures=\"$total\" errors=\"0\" skipped=\"0\">"
			echo "<testsuite name=\"$stage.bats\" tests=\"$total\" failures=\"$total\" errors=\"0\" skipped=\"0\">"
			sed -n 's/^@test "\(.*\)" {$/\1/p' "$suite" | grep -E -- "${filter[1]:-}" | xml_escape | while IFS= read -r name; do
				echo "  <testcase classname=\"$stage.bats\" name=\"$name\">"
				echo "    <failure type=\"failure\">$(xml_escape <<<"$why")"
				xml_escape <<<"$details"
				echo "    </failure>"
				echo "  </testcase>"
			done
			echo "</testsuite>"
			echo "</testsuites>"
		} >"$junit"
	fi
	echo "stage $n: 0/$total tests passed"
	exit 2
}

if [[ ! -f $src ]]; then
	score_zero "$src does not exist (make exercise STAGE=$n writes the skeleton)" ""
fi
echo "stage $n: building $src"
# The stage's other files (stage 5's cgroup_life.c) are the project's own:
# the exercise is main.c.
stage_files=()
for c in "$REPO/$stage"/*.c; do
	[[ $c == "$REPO/$stage/main.c" ]] || stage_files+=("$c")
done
# shellcheck disable=SC2086 # STUDENT_CFLAGS is a list of flags
if ! out=$("$CC" $STUDENT_CFLAGS -Wno-unused-function -I"$REPO/common" -I"$REPO/$stage" -o "$bin" "$src" "${stage_files[@]}" "$REPO"/common/*.c 2>&1); then
	printf '%s\n' "$out"
	score_zero "$src does not compile" "$out"
fi
[[ -z $out ]] || printf '%s\n' "$out"

echo "stage $n: running $suite on it"
report=()
[[ -z $junit ]] || report=(--report-formatter junit --output "$work/report")
# A private sandbox of its own, even when called from inside one (a test
# of this script): tests/run mounts a fresh /tmp wherever it runs.
log=$work/tap
# run_suite EXPECTED ARGS...: tests/run ARGS, its output in $log.  A wrong
# stage can leave a process behind that holds bats' output open (one that
# leaks its /proc mount hides itself from the teardown's search), and bats
# then waits for it forever.  So once EXPECTED results are in, it gets
# GRADE_GRACE seconds to end, and the whole run GRADE_TIMEOUT; then timeout
# kills its process group.  A test with no result counts as failed.
run_suite() {
	local expected=$1 tpid done_at=
	shift
	timeout --kill-after=10 "${GRADE_TIMEOUT:-1800}" \
		env -u CFS_SANDBOX CFS_GRADE_STAGE="$n" CFS_GRADE_BIN="$bin" \
		tests/run "$@" >"$log" 2>&1 &
	tpid=$!
	while kill -0 "$tpid" 2>/dev/null; do
		if (($(grep -c '^\(not \)\?ok ' "$log") >= expected)); then
			done_at=${done_at:-$SECONDS}
			if ((SECONDS - done_at >= ${GRADE_GRACE:-30})); then
				echo "grade: the tests did not end after the last one: a process of the stage kept them waiting; stopped" >>"$log"
				kill -TERM "$tpid"
				break
			fi
		fi
		sleep 1
	done
	wait "$tpid" || true
}
if ((first_failure)); then
	while IFS= read -r name; do
		# The test's name as a regex that matches it alone.
		# shellcheck disable=SC2001 # sed escapes every special character at once
		regex=^$(sed 's/[]\\.()*+?{}|^$[]/\\&/g' <<<"$name")\$
		run_suite 1 --filter "$regex" "$suite"
		if ! grep -q '^\(not \)\?ok ' "$log"; then
			cat "$log"
			echo "grade: the test '$name' cannot be run alone" >&2
			exit 2
		fi
		if grep -q '^not ok ' "$log"; then
			cat "$log"
			echo "stage $n: a test failed: $name"
			exit 1
		fi
	done < <(sed -n 's/^@test "\(.*\)" {$/\1/p' "$suite")
	: >"$log"
fi
: >"$log"
tail -n +1 -f "$log" 2>/dev/null &
tailer=$!
run_suite "$total" "${report[@]}" "${filter[@]}" "$suite"
sleep 1 # tail shows the last lines
kill "$tailer" 2>/dev/null || true
wait "$tailer" 2>/dev/null || true

passed=$(grep -c '^ok ' "$log") || true
skipped=$(grep -c '^ok .* # skip' "$log") || true
failed=$(grep -c '^not ok ' "$log") || true
passed=$((passed - skipped))
counted=$((total - skipped))
if [[ -n $junit ]]; then
	if [[ -f $work/report/report.xml ]]; then
		cp "$work/report/report.xml" "$junit"
	else
		echo "grade: bats wrote no JUnit report: the run was stopped" >&2
	fi
fi
extra=
((skipped == 0)) || extra=" ($skipped skipped on this machine)"
echo "stage $n: $passed/$counted tests passed$extra"
((passed == counted && failed == 0 && passed > 0))
