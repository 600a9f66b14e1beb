#!/usr/bin/env bash
# scripts/ext.sh - the extensions past stage 5.  An extension NAME is a
# patch, docs/extensions/NAME.patch, made at the top of the repository
# (patch -p1) against stage5-cgroups/: docs/extensions/README.md says the
# rest of its parts.
#
# Usage:
#   scripts/ext.sh list               the extensions, one NAME a line
#   scripts/ext.sh tree NAME DIR      write stage 5 with NAME's patch applied
#                                     into DIR/stage5-cgroups/ (DIR is made
#                                     afresh); fails if it does not apply
#   scripts/ext.sh lint               clang-format every patched tree's C
#                                     files (make lint)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
cd "$repo"
BASE=${STAGES[-1]}

list() {
	local patch
	for patch in docs/extensions/*.patch; do
		[[ ! -f $patch ]] || basename "$patch" .patch
	done
}

# tree NAME DIR: the last stage's sources (not its binary) copied into
# DIR/BASE/, then NAME's patch applied there.  --fuzz=0: a hunk applies
# where its context is exactly as the patch says (moved lines are fine),
# or the patch is stale and the build says so, rather than guess.
tree() {
	local name=$1 dir=$2 patch=docs/extensions/$1.patch out
	[[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "'$name': an extension's name is lowercase letters, digits and dashes"
	[[ -f $patch ]] || die "no extension '$name': there is no $patch (try: $(list | tr '\n' ' '))"
	rm -rf "$dir"
	mkdir -p "$dir/$BASE"
	cp -p "$BASE"/*.[ch] "$dir/$BASE/"
	if ! out=$(patch -p1 -d "$dir" --fuzz=0 --batch --forward --no-backup-if-mismatch -r - <"$patch" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$patch does not apply to $BASE/ (rebase it: see docs/extensions/README.md)"
	fi
	# A patch may only change the stage, never the rest of the kit.
	[[ -z $(find "$dir" -mindepth 1 -maxdepth 1 ! -name "$BASE") ]] ||
		die "$patch changes files outside $BASE/"
}

# lint: the files a patch adds are in no checkout, so make lint formats
# them here, under build/, where clang-format finds the project's style.
lint() {
	local name status=0
	mkdir -p build
	scratch=$(mktemp -d "$repo/build/ext-lint.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	while read -r name; do
		tree "$name" "$scratch/$name"
		clang-format --dry-run --Werror "$scratch/$name/$BASE"/*.[ch] || status=1
	done < <(list)
	return "$status"
}

case ${1:-}:$# in
list:* | lint:*) "$1" ;;
tree:3) tree "$2" "$3" ;;
*)
	usage >&2
	exit 2
	;;
esac
