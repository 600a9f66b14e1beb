#!/usr/bin/env bash
# docs.sh - keep docs/ true to the code: regenerate the generated blocks of
# the docs and check their prose (docs/README.md, "Keeping the docs true").
#
# Usage:
#   scripts/docs.sh check  [--no-run] [FILE...]            (make docs-check)
#   scripts/docs.sh update [--no-run] [--force] [FILE...]  (make docs-update)
#
# FILE defaults to README.md, docs/*.md and docs/extensions/*.md.  `check`
# changes nothing; `update` rewrites the generated blocks, then checks.
# --no-run leaves the transcripts alone (they need root); --force rewrites
# every transcript, even where it differs only in what normalize() forgives.
# BLOCK_TIMEOUT=60: a run block's seconds; BG_DELAY=0.5: the seconds a
# command in it that ends in "&" gets to start.
#
# A block, outside code fences, from "<!-- generated: KIND ARGS -->" to
# "<!-- end -->":
#   diff FROM TO       scripts/stage-diff.sh FROM TO, in a ```diff fence
#   code FILE NAME...  each function with the comment above it, in a ```c fence
#   run [if=cgroup-v1|if=cgroup-v2|if=runc]
#                      a ```console fence: its "$ " lines (a "\" at the end
#                      goes on) re-run as root in scripts/docs-runner.sh's
#                      sandbox, the lines between regenerated; if= runs it
#                      only on that cgroup version, or where runc is
#
# Exit status: 0 if the docs are up to date, 1 if not (each problem named by
# file, line and block), 2 on bad usage.
set -euo pipefail

DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

BLOCK_TIMEOUT=${BLOCK_TIMEOUT:-60}
BG_DELAY=${BG_DELAY:-0.5}
SANDBOX_HOSTNAME=host
# The same path in every checkout, so that the transcripts are too.
SANDBOX_REPO=/home/you/containers-from-scratch

mode="" run_blocks=1 force=0 work=""
files=()
nblocks=0 nruns=0 nskipped=0 nfuncs=0 nlinks=0 nupdated=0

# problem FILE LINE MESSAGE: one drift, named so that it can be found; kept
# in a file, since some are found in a subshell.
problem() {
	echo "docs: $1:$2: $3" >&2
	echo "$1:$2: $3" >>"$work/problems"
}

# fail MESSAGE: a generator's error, its output's last line; ends the $(...) it runs in.
fail() {
	echo "$*"
	exit 1
}

# normalize: the only differences between two runs that are forgiven: a
# host PID in the --verbose trace, and a default container name (ctr-PID).
normalize() {
	sed -E -e 's/PID [0-9]+ (on the host|into its cgroup)/PID <pid> \1/g' \
		-e 's/ctr-[0-9]+/ctr-<pid>/g'
}

# gen_code FILE NAME...: each function, from the comment right above it to
# the first "}" alone on a line.
gen_code() {
	local file=$1 name first=1
	shift
	[[ -f $file ]] || fail "no such file: $file"
	echo '```c'
	for name in "$@"; do
		((first)) || echo
		first=0
		awk -v name="$name" '
			{ line[NR] = $0 }
			!start && /^[A-Za-z]/ && $0 ~ ("(^|[^A-Za-z0-9_])" name "\\(") && !/;[ \t]*$/ { start = NR }
			start && !end && $0 == "}" { end = NR }
			END {
				if (!start)
					exit 1
				s = start
				if (line[s - 1] ~ /\*\/[ \t]*$/)
					while (--s > 1 && line[s] !~ /^\/\*/)
						;
				for (i = s; i <= (end ? end : NR); i++)
					print line[i]
			}' "$file" || fail "no function $name() in $file"
	done
	echo '```'
}

gen_diff() {
	(($# == 2)) || fail "diff needs two stages"
	echo '```diff'
	scripts/stage-diff.sh "$1" "$2" 2>&1 || return 1
	echo '```'
}

# The shell's job messages, which come when they will: "[1]+  Exit 137 ...",
# "(wd now: ...)", and ".../docs-runner.sh: line 41: 1234 Killed ...".
JOB_MESSAGE_RE='^(\[[0-9]+\][-+ ] +[A-Z]|\(wd( now)?: |[^ ]*docs-runner\.sh: line [0-9]+: +[0-9]+ )'

# Processes that carry a run block's mark, wherever they ended up.
marked_pids() {
	grep -lsa "DOCS_RUN_MARK=$1" /proc/[0-9]*/environ 2>/dev/null |
		cut -d/ -f3 | grep -vx "$$" || true
}

# kill_marked MARK: TERM twice (the second makes the tool kill its
# container), then KILL what is left after 3 s; prints how many there were.
# shellcheck disable=SC2086 # one word per process
kill_marked() {
	local pids sig t
	pids=$(marked_pids "$1")
	wc -w <<<"$pids"
	[[ -n $pids ]] || return 0
	for sig in TERM TERM; do
		kill -s "$sig" $pids 2>/dev/null || true
		sleep 0.2
	done
	for ((t = 0; t < 30; t++)); do
		pids=$(marked_pids "$1")
		[[ -n $pids ]] || return 0
		sleep 0.1
	done
	kill -s KILL $pids 2>/dev/null || true
}

# gen_run FILE LINE BODY_FILE: a transcript, its commands (cmd.1 to cmd.N
# in a scratch directory) re-run in the sandbox (out.1 to out.N).
gen_run() {
	local dir mark n i rc=0 left
	dir=$(mktemp -d "$work/run.XXXXXX")
	# shellcheck disable=SC2016 # awk, not shell
	n=$(awk -v dir="$dir" '
		/^```/ { fence = !fence; next }
		!fence || (cmd == "" && !/^\$ /) { next }
		{ cmd = cmd == "" ? substr($0, 3) : cmd "\n" $0 }
		cmd !~ /\\$/ { f = dir "/cmd." ++n; printf "%s", cmd >f; close(f); cmd = "" }
		END { print n + 0 }' "$3")
	((n > 0)) || fail "run block with no \"\$ \" command in a \`\`\`console fence"
	echo "$n" >"$dir/count"
	mark="$$-$RANDOM$RANDOM"
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb DOCS_RUN_MARK="$mark" \
		REPO="$repo" SANDBOX_REPO="$SANDBOX_REPO" \
		SANDBOX_HOSTNAME="$SANDBOX_HOSTNAME" BG_DELAY="$BG_DELAY" \
		timeout -k 10 "$BLOCK_TIMEOUT" \
		unshare --mount --propagation private --uts -- \
		bash "$repo/scripts/docs-runner.sh" "$dir" 2>"$dir/runner.err" || rc=$?
	left=$(kill_marked "$mark")
	((rc != 124 && rc != 137)) || fail "timed out after ${BLOCK_TIMEOUT}s"
	((rc == 0)) || fail "the sandbox failed (exit $rc): $(head -n 3 "$dir/runner.err")"
	((left == 0)) ||
		problem "$1" "$2" "the run block left $left process(es) running after it ended; they were killed"
	echo '```console'
	for ((i = 1; i <= n; i++)); do
		sed '1s/^/$ /' "$dir/cmd.$i"
		echo
		# No carriage returns or trailing blanks, which an editor would
		# strip, and no job messages.
		[[ ! -f $dir/out.$i ]] || tr -d '\r' <"$dir/out.$i" | sed -E 's/[[:space:]]*$//' |
			grep -vE "$JOB_MESSAGE_RE" || true
	done
	echo '```'
}

# regenerate FILE LINE SPEC BODY_FILE: sets kind, and new (the block's
# text, which starts as the old one) or err.
regenerate() {
	local args cond
	read -r kind args <<<"$3"
	case $kind in
	diff | code)
		# shellcheck disable=SC2086 # words
		new=$(gen_$kind $args) || err=${new##*$'\n'}
		;;
	run)
		cond=${args#if=}
		if ((!run_blocks)) || [[ $args == if=cgroup-v[12] && $cond != "$cgroups_here" ]]; then
			nskipped=$((nskipped + 1))
		elif [[ -n $args && ! $args =~ ^if=(cgroup-v1|cgroup-v2|runc)$ ]]; then
			err="unknown run option '$args' (expected if=cgroup-v1, if=cgroup-v2 or if=runc)"
		elif [[ $cond == runc ]] && ! have runc; then
			echo "docs: $1:$2: runc is not installed: this block is left as it is" >&2
			nskipped=$((nskipped + 1))
		else
			nruns=$((nruns + 1))
			new=$(gen_run "$1" "$2" "$4") || err=$new
			# Same after normalization: keep the old text.
			if [[ -z $err ]] && ((!force)) && [[ $(normalize <<<"$new") == "$(normalize <<<"$old")" ]]; then
				new=$old
			fi
		fi
		;;
	*) err="unknown kind of generated block '$kind' (expected diff, code or run)" ;;
	esac
}

# blocks FILE: "START<TAB>END<TAB>SPEC" for each generated block, by line
# number (END 0: no end); a marker inside a code fence is an example.
blocks() {
	awk "$FENCE_AWK"'
		start && $0 == "<!-- end -->" { print start "\t" NR "\t" spec; start = 0; next }
		start || infence($0) { next }
		/^<!-- generated: .* -->$/ { start = NR; spec = substr($0, 17, length($0) - 20) }
		END { if (start) print start "\t0\t" spec }' "$1"
}

# process_file FILE: regenerate every block; in update mode, rewrite FILE.
process_file() {
	local file=$1 out body start end spec kind old new err filter label copied=0
	out=$(mktemp "$work/out.XXXXXX")
	body=$(mktemp "$work/body.XXXXXX")
	while IFS=$'\t' read -r start end spec; do
		# Up to the marker, as it is.
		awk -v from=$((copied + 1)) -v to="$start" 'NR >= from && NR <= to' "$file" >>"$out"
		copied=$start
		if ((end == 0)); then
			problem "$file" "$start" "generated block '$spec' has no <!-- end -->"
			break
		fi
		awk -v from="$start" -v to="$end" 'NR > from && NR < to' "$file" >"$body"
		copied=$((end - 1))
		nblocks=$((nblocks + 1))
		old=$(<"$body")
		new=$old err=""
		regenerate "$file" "$start" "$spec" "$body"
		if [[ -n $err ]]; then
			problem "$file" "$start" "generated: $spec: $err"
			new=$old
		elif [[ $new != "$old" && $mode == update ]]; then
			nupdated=$((nupdated + 1))
			echo "docs: $file:$start: regenerated '$spec'"
		elif [[ $new != "$old" ]]; then
			problem "$file" "$start" "generated: $spec: out of date (run: make docs-update)"
			# A transcript is shown as it was compared: normalized.
			filter=cat label=generated
			[[ $kind != run ]] || filter=normalize label="fresh run"
			diff -u --label "in $file" --label "$label" <($filter <<<"$old") <($filter <<<"$new") |
				head -n 40 >&2 || true
		fi
		[[ -z $new ]] || printf '%s\n' "$new" >>"$out"
	done < <(blocks "$file")
	awk -v from=$((copied + 1)) 'NR >= from' "$file" >>"$out"
	if [[ $mode == update && $(<"$out") != "$(<"$file")" ]]; then
		cat "$out" >"$file"
	fi
}

# Code fences as CommonMark has them: ``` or more opens one, and only a
# line of at least as many backticks closes it, so that a ````text fence
# can show a ``` fence.  infence() is true on the fence lines too.
# shellcheck disable=SC2016 # awk, not shell
FENCE_AWK='
function ticks(line) {
	sub(/^ +/, "", line)
	return match(line, /[^`]/) ? RSTART - 1 : length(line)
}
function infence(line,    n) {
	if (!fence && line ~ /^ ? ? ?```/) {
		fence = ticks(line)
		return 1
	}
	if (fence && line ~ /^ ? ? ?```+[ \t]*$/ && (n = ticks(line)) >= fence) {
		fence = 0
		return 1
	}
	return fence > 0
}'

# The GitHub anchor of every heading in a Markdown file, one a line.
anchors() {
	awk "$FENCE_AWK"'infence($0) { next } /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
		tr '[:upper:]' '[:lower:]' |
		sed -E 's/[^a-z0-9 _-]//g; s/ /-/g' |
		awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

# Where `name()` may be defined for this doc: a chapter's own stage (main.c
# first, as the messages name it), an extension's patched stage, or any
# stage for the other docs; and common/ and tests/progs/ for all.
sources_for() {
	local doc=$1 base n
	base=$(basename "$doc")
	if [[ $doc == docs/extensions/*.md && -f docs/extensions/${base%.md}.patch ]]; then
		ls "build/ext-${base%.md}/tree/${STAGES[-1]}"/*.c
	elif [[ $base =~ ^0([1-9])-(.*)\.md$ ]]; then
		local dir=stage${BASH_REMATCH[1]}-${BASH_REMATCH[2]}
		echo "$dir/main.c"
		printf '%s\n' "$dir"/*.c | grep -vxF "$dir/main.c" || true
	else
		for n in "${STAGES[@]}"; do
			[[ -f $n/main.c ]] && ls "$n"/*.c
		done
	fi
	ls common/*.c tests/progs/*.c 2>/dev/null || true
}

# refs FILE: what the prose (outside code fences and generated blocks) is
# checked for, one "LINENO<TAB>KIND<TAB>VALUE" a line: a line number,
# `name()`, a path in the repository in backticks, `make target`, the target
# of a Markdown link; and an "unmarked" block of hand-kept output, which must
# say that it is one.  Output is a line after a command line ("$ ", "# ",
# "PS> ") that is neither a command nor the continuation of one ending in "\".
refs() {
	awk "$FENCE_AWK"'
		function each(re, kind, from, to,    s) {
			s = $0
			while (match(s, re)) {
				print NR "\t" kind "\t" substr(s, RSTART + from, RLENGTH - from - to)
				s = substr(s, RSTART + RLENGTH)
			}
		}
		/^<!-- generated: .* -->$/ && !fence { gen = 1; next }
		gen && /^<!-- end -->$/ { gen = 0; next }
		gen { next }
		{ was = fence; f = infence($0) }
		f && !was {
			# A fence of four backticks or more shows Markdown itself.
			start = NR; out = 0; cmd = 0; cont = 0; example = (fence > 3)
			marked = (prev ~ /^\*Illustration: recorded [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] .*\*$/)
			next
		}
		f && was && !fence {
			if (out && !marked && !example) print start "\tunmarked\t"
			next
		}
		f {
			line = $0; sub(/^ +/, "", line)
			if (line ~ /^(\$|#|PS>) /) cmd = 1
			else if (cmd && !cont && line != "") out = 1
			cont = (line ~ /\\$/)
			next
		}
		$0 != "" { prev = $0 }
		{
			if (tolower($0) ~ /(^|[^a-z])lines? [0-9]|\.(c|h|sh|md|bats|bash):[0-9]|#l[0-9]/)
				print NR "\tline\t"
			each("`[A-Za-z_][A-Za-z0-9_]*\\(\\)`", "func", 1, 3)
			each("`(\\./)?(stage[1-9]-[a-z0-9]+|common|tests|scripts|docs|\\.ci)(/[A-Za-z0-9_.*<>-]*)*`", "path", 1, 1)
			each("`make [a-z][a-z0-9-]*`", "make", 6, 1)
			each("\\]\\([^)]+\\)", "link", 2, 1)
		}' "$1"
}

declare -A defined=() anchors_of=()

check_prose() {
	local file=$1 dir lineno kind value src path anchor where
	local -a srcs
	dir=$(dirname "$file")
	mapfile -t srcs < <(sources_for "$file")
	where="${srcs[0]}, common/ or tests/progs/"
	[[ $(basename "$file") == 0[1-9]-*.md ]] || where="any stage's main.c, common/ or tests/progs/"
	while IFS=$'\t' read -r lineno kind value; do
		case $kind in
		line) problem "$file" "$lineno" "refers to a line number; name the function instead" ;;
		unmarked)
			problem "$file" "$lineno" "output that make docs-check does not re-run: make it a generated run block, or put '*Illustration: recorded YYYY-MM-DD on MACHINE ...*' on the line above the fence"
			;;
		func)
			nfuncs=$((nfuncs + 1))
			for src in "${srcs[@]}" ""; do
				[[ -n $src && -n ${defined["$src:$value"]+set} ]] && break
			done
			[[ -n $src ]] || problem "$file" "$lineno" "\`$value()\` is not defined in $where"
			;;
		path)
			path=${value#./}
			[[ $path == *[*\<\>]* || -e ${path%/} ]] ||
				problem "$file" "$lineno" "\`$path\` does not exist"
			;;
		make)
			[[ $value == *=* ]] || grep -qE "^$value:" Makefile ||
				problem "$file" "$lineno" "\`make $value\`: no such target in the Makefile"
			;;
		link)
			value=${value%% *}
			[[ $value =~ ^[a-z]+: ]] && continue
			nlinks=$((nlinks + 1))
			path=$dir/${value%%#*}
			[[ $value != '#'* ]] || path=$file
			anchor=""
			[[ $value != *'#'* ]] || anchor=${value#*#}
			if [[ ! -e $path ]]; then
				problem "$file" "$lineno" "broken link: $value (no such file)"
			elif [[ -n $anchor && $path == *.md ]]; then
				[[ -n ${anchors_of[$path]+set} ]] || anchors_of[$path]=$(anchors "$path")
				grep -qxF -- "$anchor" <<<"${anchors_of[$path]}" ||
					problem "$file" "$lineno" "broken link: $value (no heading with that anchor)"
			fi
			;;
		esac
	done < <(refs "$file")
}

# The functions of every C file a doc may name, looked up once: a line that
# starts with a letter, has a "(", and does not end in ";" (a prototype).
index_functions() {
	local file name
	while IFS=$'\t' read -r file name; do
		defined["$file:$name"]=1
	done < <(awk '/^[A-Za-z]/ && index($0, "(") && $0 !~ /;[ \t]*$/ {
			head = substr($0, 1, index($0, "(") - 1)
			if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/))
				print FILENAME "\t" substr(head, RSTART, RLENGTH)
		}' stage*/*.c common/*.c tests/progs/*.c build/ext-*/tree/*/*.c 2>/dev/null)
}

# Every stage that exists has its chapter.
check_chapters() {
	local n chapter
	for n in "${!STAGES[@]}"; do
		chapter=docs/0$((n + 1))-${STAGES[n]#*-}.md
		[[ ! -f ${STAGES[n]}/main.c || -f $chapter ]] ||
			problem "$chapter" 0 "${STAGES[n]} exists but has no chapter"
	done
}

main() {
	local start=$SECONDS file ext summary problems
	help_if_asked "$@"
	(($#)) || { usage >&2; exit 2; }
	[[ $1 == check || $1 == update ]] || die "unknown command '$1'; try --help"
	mode=$1
	shift
	while (($#)); do
		case $1 in
		--no-run) run_blocks=0 ;;
		--force) force=1 ;;
		-*) die "unknown option '$1'; try --help" ;;
		*) files+=("$1") ;;
		esac
		shift
	done
	[[ $mode == update ]] || ((!force)) || die "--force is for update only"
	if ((${#files[@]} == 0)); then
		compgen -G 'docs/*.md' >/dev/null || die "no docs/*.md"
		for file in README.md docs/*.md docs/extensions/*.md; do
			[[ ! -f $file ]] || files+=("$file")
		done
	fi
	((!run_blocks)) || [[ $(id -u) -eq 0 ]] ||
		die "the captured transcripts are re-run as root (try: sudo make docs-$mode), or use --no-run"
	# The version that holds the controllers: v1 on a hybrid host too.
	cgroups_here=cgroup-v1
	[[ $(cgroup_mode) != v2 ]] || cgroups_here=cgroup-v2

	work=$(mktemp -d "${TMPDIR:-/tmp}/docs.XXXXXX")
	: >"$work/problems"
	trap 'rm -rf -- "$work"' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 141' PIPE
	trap 'exit 143' TERM

	# An extension's chapter quotes its patched stage, build/ext-NAME/tree/:
	# made afresh here, so that the check needs no build and is never stale.
	while read -r ext; do
		scripts/ext.sh tree "$ext" "build/ext-$ext/tree" >/dev/null 2>"$work/ext.err" ||
			problem "docs/extensions/$ext.patch" 0 "does not apply: $(tail -n 1 "$work/ext.err")"
	done < <(scripts/ext.sh list)
	for file in "${files[@]}"; do
		[[ -f $file ]] || die "no such file: $file"
		process_file "$file"
	done
	index_functions
	for file in "${files[@]}"; do
		check_prose "$file"
	done
	check_chapters

	summary="${#files[@]} files, $nblocks generated blocks ($nruns run"
	((nskipped == 0)) || summary+=", $nskipped left as they are: $( ((run_blocks)) && echo "other cgroup version" || echo "--no-run")"
	summary+="), $nfuncs function names, $nlinks links, $((SECONDS - start))s"
	[[ $mode != update ]] || echo "docs-update: $nupdated blocks regenerated; $summary"
	problems=$(wc -l <"$work/problems")
	if ((problems)); then
		echo "docs-check: FAILED, $problems problem(s); $summary" >&2
		exit 1
	fi
	echo "docs-check: ok; $summary"
}

main "$@"
