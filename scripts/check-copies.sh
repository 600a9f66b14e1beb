#!/usr/bin/env bash
# check-copies.sh - a function repeated in several stages stays the same.
#
# Each stage repeats the functions it shares with the stage before, so that
# it reads on its own; a fix made in one copy must then reach every copy.
# This compares each static function of stageN/main.c (with its leading
# comment block, up to the first line that is exactly "}", as kernel style
# writes it), and each other source file (copied whole, as stage 4's
# extras.c is in stage 5), with its copy in the nearest earlier stage that
# has one.  It fails on a difference that scripts/copies-allowed.txt does
# not name ("FUNCTION-or-FILE STAGE REASON"), and on a line there that
# names none, so that the list stays short and true.
#
# Usage: scripts/check-copies.sh [ROOT]   check ROOT/stage*/ (default: the
#        checkout) against ROOT/scripts/copies-allowed.txt
# Exit status: 0 when every copy matches, 1 when one does not, 2 on misuse.
set -euo pipefail
DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=${1:-$repo}
allowed=$root/scripts/copies-allowed.txt

if (($# > 1)) || [[ ${1:-} == -* ]]; then
	usage >&2
	exit 2
fi
[[ -f $allowed ]] || die "no $allowed"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# extract FILE OUTDIR: write each function of FILE to OUTDIR/NAME.
extract() {
	awk -v out="$2" '
	/^\/\*/ && !infn { comment = ""; incomment = 1 }
	incomment {
		comment = comment $0 "\n"
		incomment = !/\*\//
		next
	}
	!infn && /^static [^=;]*[A-Za-z0-9_]\(/ && !/;$/ {
		match($0, /[A-Za-z0-9_]+\(/)
		name = substr($0, RSTART, RLENGTH - 1)
		text = comment
		comment = ""
		infn = 1
	}
	infn {
		text = text $0 "\n"
		if ($0 == "}") {
			printf "%s", text > (out "/" name)
			close(out "/" name)
			infn = 0
		}
		next
	}
	{ comment = "" }
	' "$1"
}

stages=()
for main in "$root"/stage[0-9]*/main.c; do
	stage=$(basename "$(dirname "$main")")
	stages+=("$stage")
	mkdir -p "$scratch/$stage"
	extract "$main" "$scratch/$stage"
done

status=0
declare -A changed=()
# compare DIR [SUFFIX]: each stage's copy under DIR/STAGE/ against the
# nearest earlier stage that has it; SUFFIX follows its name in the messages:
# "()" for a function.
compare() {
	local dir=$1 suffix=${2:-} i j stage copy name
	for ((i = 1; i < ${#stages[@]}; i++)); do
		stage=${stages[i]}
		for copy in "$dir/$stage"/*; do
			name=$(basename "$copy")
			[[ -e $copy ]] || continue
			[[ $dir != "$root" || ($name == *.[ch] && $name != main.c) ]] || continue
			for ((j = i - 1; j >= 0; j--)); do
				[[ -f $dir/${stages[j]}/$name ]] && break
			done
			((j >= 0)) || continue
			cmp -s "$dir/${stages[j]}/$name" "$copy" && continue
			changed[$name $stage]=1
			awk -v f="$name" -v s="$stage" '!/^#/ && $1 == f && $2 == s { found = 1 } END { exit !found }' "$allowed" && continue
			echo "check-copies: $name$suffix differs between ${stages[j]} and $stage; make the copies identical, or list '$name $stage REASON' in scripts/copies-allowed.txt:" >&2
			diff -u --label "${stages[j]}/$name" --label "$stage/$name" "$dir/${stages[j]}/$name" "$copy" >&2 || true
			status=1
		done
	done
}
# The functions of each main.c, then the other source files, whole.
compare "$scratch" "()"
compare "$root"

while read -r fn stage _; do
	[[ -z $fn || $fn == \#* ]] && continue
	if [[ -z ${changed[$fn $stage]:-} ]]; then
		echo "check-copies: scripts/copies-allowed.txt lists '$fn $stage', but $stage does not change $fn(); remove the line" >&2
		status=1
	fi
done <"$allowed"

exit "$status"
