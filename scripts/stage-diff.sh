#!/usr/bin/env bash
# stage-diff.sh - the step from one stage to the next, as a unified diff.
#
# Each stage is a standalone program that adds one idea to the one before
# it, so `diff -u` of two neighbouring stages is the lesson in its smallest
# form.  Every source file of the stage takes part (its *.c and *.h, main.c
# first): a file that only the later stage has is shown as a new file (from
# /dev/null, as git shows it), and one that only the earlier has as removed.
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
# the files.  Exit status: 0 when the diff was printed (even if the files
# differ), 2 on a bad argument or a missing stage.
set -euo pipefail

DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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

# The source files of stage directory $1, main.c first, one per line.
sources() {
	echo main.c
	find "$repo/$1" -maxdepth 1 -type f -name '*.[ch]' ! -name main.c -printf '%f\n' | LC_ALL=C sort
}

# One file's diff, FROM-PATH TO-PATH (either may be missing: /dev/null),
# with paths relative to the repository and no timestamps.
file_diff() {
	local a=$1 b=$2 a_path=$repo/$1 b_path=$repo/$2 rc=0
	[[ -f $a_path ]] || a=/dev/null a_path=/dev/null
	[[ -f $b_path ]] || b=/dev/null b_path=/dev/null
	diff -u --label "$a" --label "$b" "$a_path" "$b_path" || rc=$?
	# 1 means "the files differ".  A reader who stops reading (make diff |
	# head) closes the pipe: that is not an error, so stop quietly.
	((rc == 128 + 13)) && exit 0 # SIGPIPE
	((rc <= 1)) || die "diff failed on $a and $b"
}

# One step: every source file of either stage.
one_diff() {
	local from=${STAGES[$1]} to=${STAGES[$2]} file
	[[ -f $repo/$from/main.c ]] || die "$from/main.c does not exist"
	[[ -f $repo/$to/main.c ]] || die "$to/main.c does not exist"
	while read -r file; do
		file_diff "$from/$file" "$to/$file"
	done < <({ sources "$from" && sources "$to"; } | awk '!seen[$0]++')
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
