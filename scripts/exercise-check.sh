#!/usr/bin/env bash
# scripts/exercise-check.sh - prove every exercise can be graded (make
# exercise-check, run by CI after make check).  For each stage, the
# rootless exercise and each extension (scripts/exercise.sh):
#   - the untouched skeleton builds and fails grading;
#   - the reference (stageN-*/main.c, an extension's patch) gets full marks;
#   - each hole of scripts/exercise-holes.txt, blanked alone, fails at
#     least one test: no hole is decoration.
# Usage: scripts/exercise-check.sh [N... | rootless | ext-NAME...]
#        (default: every stage, the rootless exercise, every extension)
# It ends with one line: "exercise-check: N checks, N failed".
set -uo pipefail
DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
help_if_asked "$@"
cd "$repo" || exit 2
mkdir -p build
work=$(mktemp -d "$PWD/build/exercise-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

checks=0 failed=0
# expect WHAT WANT SRC N: grade SRC as exercise N; WANT is "pass" or
# "fail" (a test failed, not "did not compile": --first-failure proves it).
# Stage 5 and the extensions, the project's own code, are graded trusted.
expect() {
	local what=$1 want=$2 src=$3 n=$4 status=0 start=$SECONDS mode=() which=("$4") score expected=0
	[[ $want == pass ]] || mode=(--first-failure) expected=1
	if [[ $n == ext-* ]]; then
		mode+=(--trusted --ext "${n#ext-}") which=()
	elif [[ $n != rootless ]] && ((n >= 5)); then
		mode+=(--trusted)
	fi
	scripts/grade.sh "${mode[@]}" "${which[@]}" "$src" >"$work/out" 2>&1 || status=$?
	checks=$((checks + 1))
	score=$(tail -n 1 "$work/out")
	if ((status == expected)); then
		echo "ok   $what: $score ($((SECONDS - start))s)"
	else
		failed=$((failed + 1))
		echo "FAIL $what: expected to $want, got exit $status: $score"
		sed 's/^/     /' "$work/out"
	fi
}

# skeleton N DEST [HOLE]: exercise N's skeleton (only HOLE blanked) in DEST.
skeleton() {
	if [[ $1 == ext-* ]]; then
		scripts/exercise.sh ext-skeleton "${1#ext-}" "$2" "${3:-}"
	else
		scripts/exercise.sh skeleton "$1" "${3:-}" >"$2"
	fi
}

# What can be checked: each stage written so far (one with a main.c), the
# rootless exercise on stage 1's, and each extension.
mapfile -t exts < <(scripts/ext.sh list)
known=" "
for i in "${!STAGES[@]}"; do
	[[ ! -f ${STAGES[i]}/main.c ]] || known+="$((i + 1)) "
done
[[ ! -f ${STAGES[0]}/main.c ]] || known+="rootless "
known+="${exts[*]/#/ext-} "
# shellcheck disable=SC2086 # one name a word
(($#)) || set -- $known
# An unknown name is misuse, said at once: not a crash or a FAIL halfway.
for n in "$@"; do
	[[ $known == *" $n "* ]] || die "no exercise '$n': one of${known% }"
done
for n in "$@"; do
	# An extension's submission is the directory of its patched stage; the
	# rootless exercise is stage 1's main.c with holes of its own.
	sk=$work/$n/main.c holes=holes what="stage $n"
	if [[ $n == ext-* ]]; then
		sk=$work/$n/skeleton ref=$work/$n/ref/${STAGES[-1]} holes=ext-holes what=$n
	elif [[ $n == rootless ]]; then
		ref=${STAGES[0]}/main.c what=rootless
	else
		ref=${STAGES[n - 1]}/main.c
	fi
	mkdir -p "$work/$n"
	if ! skeleton "$n" "$sk"; then
		failed=$((failed + 1))
		echo "FAIL $what: no skeleton (see above)"
		continue
	fi
	expect "$what: the skeleton builds and fails" fail "$sk" "$n"
	[[ $n != ext-* ]] || scripts/ext.sh tree "${n#ext-}" "$work/$n/ref"
	expect "$what: the reference gets full marks" pass "$ref" "$n"
	while read -r hole; do
		skeleton "$n" "$sk" "$hole" || {
			failed=$((failed + 1))
			continue
		}
		expect "$what: without ${hole%%=*}, a test fails" fail "$sk" "$n"
	done < <(scripts/exercise.sh "$holes" "${n#ext-}")
done
echo "exercise-check: $checks checks, $failed failed, ${SECONDS}s"
((failed == 0))
