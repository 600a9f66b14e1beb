#!/usr/bin/env bash
# stage-diff.sh - the step from one stage to the next, as a unified diff:
# the lesson in its smallest form, which scripts/docs.sh quotes in the docs.
#
# Usage: scripts/stage-diff.sh [STAGE | FROM TO]        (make diff [STAGE=N])
#   no argument: every step, 1->2, 2->3, ...; STAGE: the step into STAGE;
#   FROM TO: any two stages.  A stage is its directory or its number.
#
# Every *.c and *.h of either stage takes part, main.c first; a file only
# one has is new (from /dev/null) or removed.  No timestamps: the output
# depends only on the files.  At a terminal it goes through $PAGER
# (default: less -FRX, if installed).  Exit status: 0 when the diff was
# printed (even if the files differ), 2 on a bad argument or a missing stage.
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

# file_diff FROM-PATH TO-PATH: one file's diff; a missing one is /dev/null.
file_diff() {
	local a=$1 b=$2 a_path=$repo/$1 b_path=$repo/$2 rc=0
	[[ -f $a_path ]] || a=/dev/null a_path=/dev/null
	[[ -f $b_path ]] || b=/dev/null b_path=/dev/null
	diff -u --label "$a" --label "$b" "$a_path" "$b_path" || rc=$?
	# 1 is "they differ"; SIGPIPE is a reader who stopped (make diff | head).
	((rc == 128 + 13)) && exit 0
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
	local i from to
	case $# in
	0)
		for ((i = 1; i < ${#STAGES[@]}; i++)); do
			[[ ! -f $repo/${STAGES[i - 1]}/main.c || ! -f $repo/${STAGES[i]}/main.c ]] ||
				one_diff $((i - 1)) "$i"
		done
		;;
	1)
		to=$(stage_index "$1")
		((to > 0)) || die "${STAGES[0]} is the first stage: there is no step into it"
		one_diff $((to - 1)) "$to"
		;;
	2)
		# Assigned first: a die in $(...) ends the script only there.
		from=$(stage_index "$1")
		to=$(stage_index "$2")
		one_diff "$from" "$to"
		;;
	*) die "too many arguments; try --help" ;;
	esac
}

help_if_asked "$@"
if [[ -t 1 ]] && { [[ -n ${PAGER:-} ]] || have less; }; then
	# shellcheck disable=SC2086 # PAGER may hold options
	diffs "$@" | ${PAGER:-less -FRX}
else
	diffs "$@"
fi
