#!/usr/bin/env bash
# scripts/grade-all.sh - grade a folder of submissions (make grade-all).
#
# Every DIR/NAME.c, and every DIR/NAME/main.c, is graded as stage N by
# scripts/grade.sh, one at a time, each in its own sandbox: a hostile or a
# hanging submission costs its own time limit and nothing else.  Writes
# OUT/NAME.xml (JUnit) and OUT/grades.csv ("name,score,total,failed
# tests"), and prints the same as a table.  --vm: stage 5, each in a test
# VM of its own; GRADE_FILTER=REGEX: only the tests whose names match.
#
# Usage: scripts/grade-all.sh [--trusted | --vm] N DIR [OUT]   (OUT: DIR/grades)
set -euo pipefail
PROG=grade-all
DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
help_if_asked "$@"

mode=() filter=()
[[ -z ${GRADE_FILTER:-} ]] || filter=(--filter "$GRADE_FILTER")
if [[ ${1:-} == --trusted || ${1:-} == --vm ]]; then
	mode=("$1")
	shift
fi
[[ $# -ge 2 && $# -le 3 ]] || die "usage: $0 [--trusted | --vm] N DIR [OUT]"
n=$1 dir=${2%/}
out=${3:-$dir/grades}
[[ -d $dir ]] || die "$dir is not a directory"
mkdir -p "$out"
csv=$out/grades.csv
echo "name,score,total,failed tests" >"$csv"
printf '%-20s %7s  %s\n' name score "failed tests"
for src in "$dir"/*.c "$dir"/*/main.c; do
	[[ -f $src ]] || continue
	name=$(basename "${src%/main.c}")
	[[ $src == */main.c ]] || name=${name%.c}
	failed_file=$(mktemp)
	GRADE_FAILED_FILE=$failed_file "$repo/scripts/grade.sh" "${mode[@]}" "${filter[@]}" \
		--junit "$out/$name.xml" "$n" "$src" >"$out/$name.log" 2>&1 || true
	score=$(grep -o "^stage $n: [0-9]*/[0-9]* tests passed" "$out/$name.log" | tail -n 1 | grep -o '[0-9]*/[0-9]*') || score=
	failed=$(cat "$failed_file")
	rm -f "$failed_file"
	if [[ -z $score ]]; then
		score='0/?'
		failed="the grade did not finish: see $out/$name.log"
	fi
	if [[ -z $failed ]] && grep -q "does not compile" "$out/$name.log"; then
		failed="all: does not compile"
	fi
	echo "$name,${score%/*},${score#*/},\"$failed\"" >>"$csv"
	printf '%-20s %7s  %s\n' "$name" "$score" "$failed"
done
echo "grade-all: $csv"
