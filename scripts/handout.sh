#!/usr/bin/env bash
# scripts/handout.sh - the kit as a course hands it out for stage N (make
# handout; docs/README.md, "Using the kit in a course"): a tarball in which
# stage N is the exercise and its answer is nowhere.  stageN-*/main.c and
# exercises/stageN-*/main.c are the skeleton (scripts/exercise.sh); the
# later stages, their suites and the extensions are gone (each starts from
# stage N's answer), and the later chapters cut down to their title; every
# generated block that would show the answer (a diff to stage N or a later
# one, a listing of a function with one of N's holes) is left out, with a
# line that says so.  The rest stays as it is.
#
# Usage: scripts/handout.sh N [OUT]   (OUT: build/handout-stageN-*.tar.gz)
set -euo pipefail
PROG=handout
DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
help_if_asked "$@"
cd "$repo"

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 N [OUT]"
n=$1
[[ $n =~ ^[1-9]$ && $n -le ${#STAGES[@]} ]] || die "no stage '$n': give STAGE=1 to ${#STAGES[@]}"
stage=${STAGES[n - 1]}
out=${2:-build/handout-$stage.tar.gz}
name=containers-from-scratch-$stage

mkdir -p build
work=$(mktemp -d "$repo/build/handout.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/$name
mkdir "$dest"

# The kit's own files: what git tracks, as they are in the work tree; in a
# copy without git, everything but builds, images and students' work.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z | while IFS= read -r -d '' file; do
		[[ ! -e $file ]] || printf '%s\0' "$file"
	done | tar --null -T - -cf - | tar -C "$dest" -xf -
else
	tar --exclude=./.git --exclude=./rootfs --exclude=./.cache --exclude=./build \
		--exclude=./exercises -cf - . | tar -C "$dest" -xf -
fi

# Stage N: the skeleton, in the stage and in the student's workspace.
scripts/exercise.sh skeleton "$n" >"$dest/$stage/main.c"
mkdir -p "$dest/exercises/$stage"
cp "$dest/$stage/main.c" "$dest/exercises/$stage/main.c"
cat >>"$dest/Makefile" <<EOF

# The handout of stage $n (scripts/handout.sh): the skeleton's helpers are
# unused until the holes that call them are written.
$stage/container: ALL_CFLAGS += -Wno-error=unused-function
EOF

# The later stages, their suites and chapters.
for ((k = n + 1; k <= ${#STAGES[@]}; k++)); do
	later=${STAGES[k - 1]}
	rm -rf "${dest:?}/$later" "$dest/tests/$later.bats"
	for chapter in "$dest"/docs/0"$k"-*.md; do
		[[ ! -f $chapter ]] || printf '%s\n\n%s\n' "$(head -n 1 "$chapter")" \
			"Not in this handout: this stage comes after stage $n, whose exercise it would answer." >"$chapter"
	done
done
head -n "$n" scripts/stages.txt >"$dest/scripts/stages.txt"
# The extensions patch the last stage, and a patch's context lines are
# that stage's code: they come after it, in a handout of their own.
rm -rf "$dest/docs/extensions" "$dest"/tests/ext-*.bats

# The generated blocks that show the answer, in every Markdown file.
holes=$(scripts/exercise.sh holes "$n" | sed 's/=.*//' | paste -sd ' ')
while IFS= read -r -d '' md; do
	awk -v n="$n" -v holes="$holes" -v stages="${STAGES[*]}" '
	BEGIN {
		ns = split(stages, s, " ")
		for (i = 1; i <= ns; i++) index_of[s[i]] = i
		split(holes, h, " ")
		for (i in h) hole[h[i]] = 1
	}
	# The stage a path or a directory belongs to: 0 for none.
	function stage_of(path) {
		sub(/\/.*/, "", path)
		return (path in index_of) ? index_of[path] : 0
	}
	# A diff to stage N or a later one; a later stage'"'"'s code, or N'"'"'s
	# with a hole in it ("<!-- generated: code FILE FUNCTION... -->").
	function answers(f, i, nf) {
		nf = split($0, f, " ")
		if (f[3] == "diff")
			return stage_of(f[5]) >= n || stage_of(f[4]) >= n
		if (stage_of(f[4]) > n)
			return 1
		for (i = 5; i < nf && stage_of(f[4]) == n; i++)
			if (f[i] in hole)
				return 1
		return 0
	}
	skip && /^<!-- end -->/ { skip = 0; next }
	skip { next }
	/^<!-- generated: (diff|code) / && answers() {
		print "*Left out of this handout: this block would show the answer to stage " n "'"'"'s exercise.*"
		skip = 1
		next
	}
	{ print }' "$md" >"$md.new"
	mv "$md.new" "$md"
done < <(find "$dest" -name '*.md' -print0)

tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$out" "$name"
grade="make grade STAGE=$n"
# The last stage makes cgroups: it is graded in the test VM.
((n < ${#STAGES[@]})) || grade="sudo $grade VM=1"
echo "handout: wrote $out: stage $n's skeleton in $name/exercises/$stage/main.c (make, then $grade)"
