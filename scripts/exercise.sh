#!/usr/bin/env bash
# scripts/exercise.sh - the exercise workspace of a course (make exercise;
# docs/README.md, "Using the kit in a course").
#
# A skeleton is a stage's main.c with each hole of
# scripts/exercise-holes.txt blanked: a function keeps its comment and
# signature, and its body becomes a TODO and a stub that exits with "stage
# N: NAME() is not written yet", so that it builds and runs from the start;
# a NAME=VALUE hole gets VALUE, the previous stage's.  The rootless
# exercise ("rootless" for N; docs/rootless.md) is stage 1 with the holes
# "rootless :: ..."; an extension's is its patched stage with those of
# "ext-NAME :: ...", in whichever file defines them.
#
# Usage:
#   scripts/exercise.sh write [--force] [N... | --ext NAME]
#       write exercises/stageN-*/main.c (default: every stage, and
#       N=rootless), or exercises/ext-NAME/
#   scripts/exercise.sh skeleton N [HOLE]    print stage N's skeleton; with
#                                            HOLE, blank only that one
#   scripts/exercise.sh holes N              list stage N's holes
#   scripts/exercise.sh ext-skeleton NAME DIR [HOLE]   extension NAME's, into DIR
#   scripts/exercise.sh ext-holes NAME       list extension NAME's holes
#
# A student's work is never lost: write refuses to replace a skeleton that
# exists, and --force (make exercise FORCE=1) keeps it as main.c.~TIME~ first.
set -euo pipefail
PROG=exercise
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
help_if_asked "$@"
cd "$repo"
HOLES=scripts/exercise-holes.txt

stage_dir() {
	[[ $1 != rootless ]] || set -- 1
	[[ $1 =~ ^[1-9]$ && $1 -le ${#STAGES[@]} ]] ||
		die "no stage '$1': give STAGE=1 to ${#STAGES[@]}, or STAGE=rootless"
	echo "${STAGES[$1 - 1]}"
}

# The exercise's name, as its stub and its messages say it.
label() {
	[[ $1 == rootless || $1 == ext-* ]] || set -- "stage $1"
	echo "$1"
}

# The holes of exercise N: "NAME<TAB>TASK<TAB>USE<TAB>READ", one a line.
holes() {
	awk -v n="$1" 'BEGIN { FS = " :: "; OFS = "\t" }
		/^#/ || NF == 0 { next }
		NF != 5 { printf "%s:%d: expected 5 fields separated by \" :: \"\n", FILENAME, FNR > "/dev/stderr"; bad = 1; next }
		$1 == n { print $2, $3, $4, $5 }
		END { exit bad }' "$HOLES"
}

# pick N [HOLE]: the holes of exercise N, or only HOLE; there must be one.
pick() {
	local list
	list=$(holes "$1") || exit # a bad line in $HOLES, named on stderr
	[[ -z ${2:-} ]] || list=$(awk -F '\t' -v h="$2" '$1 == h || $1 ~ "^" h "=" ' <<<"$list")
	[[ -n $list || -z ${2:-} ]] || die "$(label "$1") has no hole '$2' in $HOLES"
	[[ -n $list ]] || die "$(label "$1") has no holes in $HOLES"
	echo "$list"
}

# skeleton N [HOLE]: stage N's main.c with its holes (or only HOLE) blanked.
skeleton() {
	local dir list
	dir=$(stage_dir "$1")
	[[ -f $dir/main.c ]] || die "$dir/main.c does not exist"
	list=$(pick "$1" "${2:-}") || exit
	cut_holes "$(label "$1")" "$dir/main.c" "$list"
}

# cut_holes LABEL SRC LIST [SOME]: SRC with each hole of LIST (lines as
# holes() prints them) blanked; a stub says "LABEL: NAME() is not written
# yet".  A function starts at a line "static ... NAME(" that is not a
# declaration and its body ends at the first line that is exactly "}"
# (kernel style).  With SOME, SRC may lack a hole (another file has it).
cut_holes() {
	awk -v n="$1" -v src="$2" -v list="$HOLES" -v holes="$3" -v some="${4:-}" '
	# One paragraph of the TODO comment, wrapped to 80 columns.
	function para(indent, text, width, nw, w, k, line) {
		width = 80 - (indent == "" ? 0 : 8) - 3
		nw = split(text, w, " ")
		for (k = 1; k <= nw; k++)
			if (line != "" && length(line) + 1 + length(w[k]) > width) {
				print indent " * " line
				line = "    " w[k]
			} else
				line = line == "" ? w[k] : line " " w[k]
		print indent " * " line
	}
	function todo(i, indent) {
		print indent "/*"
		para(indent, "TODO: " task[i] ".")
		para(indent, "Use: " use[i] ".")
		para(indent, "Read: " read[i] ".")
		print indent " */"
	}
	BEGIN {
		nh = split(holes, lines, "\n")
		for (i = 1; i <= nh; i++) {
			split(lines[i], f, "\t")
			name[i] = f[1]; task[i] = f[2]; use[i] = f[3]; read[i] = f[4]
			if (name[i] ~ /=/) {
				value[i] = substr(name[i], index(name[i], "=") + 1)
				name[i] = substr(name[i], 1, index(name[i], "=") - 1)
				isdef[i] = 1
			}
		}
	}
	# A #define hole: the TODO, then the previous stage value.
	/^#define[ \t]/ {
		for (i = 1; i <= nh; i++)
			if (isdef[i] && $2 == name[i]) {
				todo(i, "")
				print "#define " name[i] " " value[i]
				found[i]++
				next
			}
	}
	# A function hole: keep the signature, replace the body.  In an
	# extension, a hole may be a function that its own file exports.
	/^[A-Za-z_].*\(/ && !/;[ \t]*$/ {
		for (i = 1; i <= nh; i++)
			if (!isdef[i] && match($0, "[^A-Za-z0-9_]" name[i] "\\(")) {
				found[i]++
				sig = $0
				print
				while (sig !~ /\)[ \t]*$/ && (getline line) > 0) {
					print line
					sig = sig " " line
				}
				if ((getline line) <= 0 || line != "{") {
					printf "exercise: %s: %s() does not open its body with a line \"{\"\n", src, name[i] > "/dev/stderr"
					bad = 1
				}
				print "{"
				todo(i, "\t")
				# (void) each parameter: the stub does not use them.
				params = substr(sig, index(sig, name[i] "(") + length(name[i]) + 1)
				sub(/\)[ \t]*$/, "", params)
				np = split(params, p, ",")
				for (j = 1; j <= np; j++) {
					gsub(/\[[^]]*\]/, "", p[j])
					sub(/[ \t]+$/, "", p[j])
					if (p[j] !~ /^[ \t]*void$/ && match(p[j], /[A-Za-z_][A-Za-z0-9_]*$/))
						print "\t(void)" substr(p[j], RSTART, RLENGTH) ";"
				}
				printf "\tdiex(\"%s: %s() is not written yet\");\n", n, name[i]
				while ((closed = (getline line) > 0) && line != "}")
					;
				if (!closed) {
					printf "exercise: %s: the body of %s() has no closing line \"}\"\n", src, name[i] > "/dev/stderr"
					bad = 1
				}
				print "}"
				next
			}
	}
	{ print }
	END {
		for (i = 1; i <= nh; i++) {
			what = isdef[i] ? "#define " name[i] : name[i] "()"
			if (found[i] > 1 || (!found[i] && some == "")) {
				printf "exercise: %s lists %s for %s, but %s has %s: update the list\n", list, what, n, src, found[i] ? found[i] " of them" : "none", name[i] > "/dev/stderr"
				bad = 1
			}
		}
		exit bad
	}' "$2"
}

# ext_skeleton NAME DIR [HOLE]: into DIR (made afresh), every file of the
# last stage with NAME's patch applied, with the holes of "ext-NAME" (or
# only HOLE) blanked in whichever file defines them.
ext_skeleton() {
	local name=$1 dir=$2 list file tree hole
	[[ $name =~ ^[a-z][a-z0-9-]*$ && -f docs/extensions/$name.patch ]] ||
		die "no extension '$name': try one of $(scripts/ext.sh list | tr '\n' ' ')"
	list=$(pick "ext-$name" "${3:-}") || exit
	tree=$(mktemp -d)
	# shellcheck disable=SC2064 # expand $tree now
	trap "rm -rf '$tree'" RETURN
	scripts/ext.sh tree "$name" "$tree"
	rm -rf "$dir"
	mkdir -p "$dir"
	for file in "$tree/${STAGES[-1]}"/*; do
		cut_holes "ext-$name" "$file" "$list" some >"$dir/${file##*/}" || return 1
	done
	while IFS=$'\t' read -r hole _; do
		grep -rqF -- "${hole%%=*}() is not written yet" "$dir" ||
			grep -rqE "^#define[ \t]+${hole%%=*}[ \t]" "$dir" ||
			die "$HOLES lists ${hole%%=*} for ext-$name, but no file of its patched stage defines it: update the list"
	done <<<"$list"
}

# write [--force] [N... | --ext NAME]: exercises/stageN-*/main.c, or
# exercises/ext-NAME/, unless it exists (--force: after a backup).
write() {
	local force=0 items=() n dir dest tmp backup path links how status
	while (($#)); do
		case $1 in
		--force) force=1 ;;
		--ext) items+=("ext-${2:-}") && shift ;;
		*) items+=("$1") ;;
		esac
		shift
	done
	((${#items[@]})) || mapfile -t items < <(seq 1 ${#STAGES[@]} && echo rootless)
	for n in "${items[@]}"; do
		if [[ $n == ext-* ]]; then
			dest=exercises/$n
			links=(exercises "$dest" "$dest"/*)
		else
			dir=$(stage_dir "$n")
			[[ -f $dir/main.c ]] || continue
			[[ $n != rootless ]] || dir=rootless
			dest=exercises/$dir/main.c
			links=(exercises "exercises/$dir" "$dest")
		fi
		# Never write through a link: exercises/ is the student's, and a
		# link there could point anywhere, sudo or not.
		for path in "${links[@]}"; do
			[[ ! -L $path ]] || die "$path is a symbolic link: not followed (remove it, or make it a directory)"
		done
		if [[ -e $dest && $force -eq 0 ]]; then
			echo "exercise: $dest exists, and may hold your work: kept (FORCE=1 replaces it, after a backup)" >&2
			continue
		fi
		mkdir -p "${dest%/*}"
		status=0
		if [[ $n == ext-* ]]; then
			tmp=$(mktemp -d "exercises/.$n.XXXXXX")
			# In a subshell: its die must not leave $tmp behind.
			(ext_skeleton "${n#ext-}" "$tmp") || status=$?
			how="on a VM with: sudo make grade EXT=${n#ext-} TRUSTED=1"
		else
			tmp=$(mktemp "exercises/$dir/.main.c.XXXXXX")
			skeleton "$n" >"$tmp" || status=$?
			how="with: make grade STAGE=$n"
			[[ $n == rootless ]] || ((n < ${#STAGES[@]})) || how="in the test VM with: sudo make grade STAGE=$n VM=1"
		fi
		if ((status)); then
			rm -rf "$tmp"
			die "$(label "$n"): no skeleton written"
		fi
		[[ ! -d $tmp ]] || chmod 755 "$tmp"
		if [[ -e $dest ]]; then
			backup=$dest.~$(date +%Y%m%d-%H%M%S)~
			mv "$dest" "$backup"
			echo "exercise: kept your $dest as $backup"
		fi
		mv "$tmp" "$dest"
		echo "exercise: wrote $dest$([[ $n != ext-* ]] || echo /) (grade it $how)"
	done
}

# COMMAND:ARGUMENTS
case ${1:-}:$# in
write:*) write "${@:2}" ;;
skeleton:[23]) skeleton "$2" "${3:-}" ;;
holes:2) stage_dir "$2" >/dev/null && holes "$2" | cut -f1 ;;
ext-skeleton:[34]) ext_skeleton "$2" "$3" "${4:-}" ;;
ext-holes:2) holes "ext-$2" | cut -f1 ;;
*)
	usage >&2
	exit 1
	;;
esac
