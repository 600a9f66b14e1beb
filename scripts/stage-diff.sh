#!/usr/bin/env bash
# stage-diff.sh - the step from one stage to the next, as a unified diff.
#
# Each stage is a standalone main.c that adds one idea to the one before it,
# so `diff -u` of two neighbouring stages is the lesson in its smallest form.
# The docs include these diffs verbatim: scripts/docs.sh calls this script to
# generate them, so they can never drift from the code.
#
# Usage:
#   scripts/stage-diff.sh                 every step: 1->2, 2->3, ... (make diff)
#   scripts/stage-diff.sh STAGE           the step into STAGE from the one before
#                                         (make diff STAGE=N)
#   scripts/stage-diff.sh FROM TO         any two stages
#
# At a terminal the diff goes through $PAGER (default: less -FRX, if
# installed); into a pipe or a file, as it is.
# A stage is named by its directory (stage3-mount) or its number (3).  The
# file headers carry no timestamps (--label), so the output depends only on
# the two files.  Exit status: 0 when the diff was printed (even if the files
# differ), 2 on a bad argument or a missing stage.
set -euo pipefail

DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# The index (0-based) of a stage given as a number or a directory name.
stage_index() {
	local arg=${1%/} i
	for i in "${!STAGES[@]}"; do
		if [[ $arg == "${STAGES[i]}" || $arg == "$((i + 1))" ]]; then
			echo "$i"
			return 0
		fi
	done
	die "unknown stage '$1': expected one of ${STAGES[*]} (or 1 to ${#STAGES[@]})"
}

# One diff, with paths relative to the repository and no timestamps.
one_diff() {
	local from=${STAGES[$1]} to=${STAGES[$2]} rc=0
	[[ -f $repo/$from/main.c ]] || die "$from/main.c does not exist"
	[[ -f $repo/$to/main.c ]] || die "$to/main.c does not exist"
	diff -u --label "$from/main.c" --label "$to/main.c" \
		"$repo/$from/main.c" "$repo/$to/main.c" || rc=$?
	# 1 means "the files differ".  A reader who stops reading (make diff |
	# head) closes the pipe: that is not an error, so stop quietly.
	((rc == 128 + 13)) && exit 0 # SIGPIPE
	((rc <= 1)) || die "diff failed on $from/main.c and $to/main.c"
}

# The diff or diffs the arguments ask for.
diffs() {
	local i to
	case $# in
	0)
		# Every step between neighbouring stages that both exist.
		for ((i = 1; i < ${#STAGES[@]}; i++)); do
			if [[ -f $repo/${STAGES[i - 1]}/main.c && -f $repo/${STAGES[i]}/main.c ]]; then
				one_diff $((i - 1)) "$i"
			fi
		done
		;;
	1)
		to=$(stage_index "$1")
		((to > 0)) || die "${STAGES[0]} is the first stage: there is no step into it"
		one_diff $((to - 1)) "$to"
		;;
	2)
		one_diff "$(stage_index "$1")" "$(stage_index "$2")"
		;;
	*)
		die "too many arguments; try --help"
		;;
	esac
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	usage
	exit 0
fi
if [[ -t 1 ]] && { [[ -n ${PAGER:-} ]] || have less; }; then
	# shellcheck disable=SC2086 # PAGER may hold options
	diffs "$@" | ${PAGER:-less -FRX}
else
	diffs "$@"
fi
