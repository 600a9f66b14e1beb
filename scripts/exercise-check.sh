#!/usr/bin/env bash
# scripts/exercise-check.sh - prove every exercise can be graded (make
# exercise-check, run by CI after make check).  For each stage:
#   - the untouched skeleton builds and fails grading;
#   - the reference, stageN-*/main.c, gets full marks;
#   - each hole of scripts/exercise-holes.txt, blanked alone, fails at
#     least one test: no hole is decoration.
# And the same for each extension past the last stage (scripts/ext.sh):
# its skeleton fails, its patch gets full marks, each of its holes counts.
# And for the rootless exercise (scripts/exercise.sh).
# Usage: scripts/exercise-check.sh [N... | rootless | ext-NAME...]
#        (default: every stage, the rootless exercise, every extension)
# It ends with one line: "exercise-check: N checks, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

mapfile -t STAGES <scripts/stages.txt
mkdir -p build
work=$(mktemp -d "$PWD/build/exercise-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

checks=0
failed=0
# expect WHAT WANT SRC N: grade SRC as stage N (or extension ext-NAME);
# WANT is "pass" or "fail" (fail means a test failed, not that it did not
# compile).  To fail, one failing test is enough: the tests run one at a
# time, up to the first.
expect() {
	local what=$1 want=$2 src=$3 n=$4 status=0 start=$SECONDS mode=() which=("$4")
	[[ $want == pass ]] || mode=(--first-failure)
	# The project's own code: stage 5, which needs root over cgroups, and
	# the extensions are graded as root on the host; the others in the
	# sandbox, as a student's.
	if [[ $n == ext-* ]]; then
		mode+=(--trusted --ext "${n#ext-}")
		which=()
	elif [[ $n != rootless ]] && ((n >= 5)); then
		mode+=(--trusted)
	fi
	scripts/grade.sh "${mode[@]}" "${which[@]}" "$src" >"$work/out" 2>&1 || status=$?
	checks=$((checks + 1))
	local score
	score=$(tail -n 1 "$work/out")
	if { [[ $want == pass ]] && ((status == 0)); } ||
		{ [[ $want == fail ]] && ((status == 1)); }; then
		echo "ok   $what: $score ($((SECONDS - start))s)"
	else
		failed=$((failed + 1))
		echo "FAIL $what: expected to $want, got exit $status: $score"
		sed 's/^/     /' "$work/out"
	fi
}

# check_ext NAME: the same three checks for an extension, whose
# submission is the directory of its patched stage.
check_ext() {
	local name=$1 hole ref=$work/ext-$1/ref
	if ! scripts/exercise.sh ext-skeleton "$name" "$work/ext-$name/skeleton"; then
		failed=$((failed + 1))
		echo "FAIL ext-$name: no skeleton (see above)"
		return
	fi
	expect "ext-$name: the skeleton builds and fails" fail "$work/ext-$name/skeleton" "ext-$name"
	scripts/ext.sh tree "$name" "$ref"
	expect "ext-$name: the reference gets full marks" pass "$ref/${STAGES[-1]}" "ext-$name"
	while read -r hole; do
		scripts/exercise.sh ext-skeleton "$name" "$work/ext-$name/skeleton" "$hole" || {
			failed=$((failed + 1))
			continue
		}
		expect "ext-$name: without ${hole%%=*}, a test fails" fail "$work/ext-$name/skeleton" "ext-$name"
	done < <(scripts/exercise.sh ext-holes "$name")
}

if [[ $# -eq 0 ]]; then
	mapfile -t exts < <(scripts/ext.sh list)
	set -- $(seq 1 ${#STAGES[@]}) rootless "${exts[@]/#/ext-}"
fi
for n in "$@"; do
	if [[ $n == ext-* ]]; then
		check_ext "${n#ext-}"
		continue
	fi
	# The rootless exercise is stage 1's main.c with holes of its own.
	if [[ $n == rootless ]]; then
		stage=${STAGES[0]} what=rootless
	else
		stage=${STAGES[n - 1]} what="stage $n"
	fi
	[[ -f $stage/main.c ]] || continue
	mkdir -p "$work/$n"
	if ! scripts/exercise.sh skeleton "$n" >"$work/$n/main.c"; then
		failed=$((failed + 1))
		echo "FAIL $what: no skeleton (see above)"
		continue
	fi
	expect "$what: the skeleton builds and fails" fail "$work/$n/main.c" "$n"
	expect "$what: the reference gets full marks" pass "$stage/main.c" "$n"
	while read -r hole; do
		scripts/exercise.sh skeleton "$n" "$hole" >"$work/$n/main.c" || {
			failed=$((failed + 1))
			continue
		}
		expect "$what: without ${hole%%=*}, a test fails" fail "$work/$n/main.c" "$n"
	done < <(scripts/exercise.sh holes "$n")
done
echo "exercise-check: $checks checks, $failed failed, ${SECONDS}s"
((failed == 0))
