#!/usr/bin/env bash
# docs.sh - keep docs/ true to the code.
#
# Usage:
#   scripts/docs.sh check  [--no-run] [FILE...]    (make docs-check)
#   scripts/docs.sh update [--no-run] [--force] [FILE...]  (make docs-update)
#
# FILE defaults to README.md, every docs/*.md and docs/extensions/*.md.
# `check` changes nothing and exits 1 if the docs have drifted from the
# code; `update` rewrites the generated blocks in place and then runs the
# same checks.  --no-run leaves the captured transcripts alone (they need
# root): for a quick look as a normal user.
# --force rewrites every transcript with the new run's text, even where it
# differs only in what normalization forgives.
#
# GENERATED BLOCKS.  A chapter never holds pasted code, diffs or output.  It
# holds blocks between two HTML comments, which Markdown does not render:
#
#   <!-- generated: diff stage2-pid stage3-mount -->
#       a ```diff fence: scripts/stage-diff.sh stage2-pid stage3-mount
#   <!-- end -->
#
#   <!-- generated: code stage1-uts/main.c child start_container -->
#       a ```c fence: each named function of that file, with the comment
#       right above it, in the order given
#   <!-- end -->
#
#   <!-- generated: run [if=cgroup-v1|if=cgroup-v2|if=runc] -->
#       a ```console fence: a transcript.  Its "$ " lines are the commands,
#       written exactly as a student types them (a line ending in "\" goes
#       on); everything between them is their output, which is regenerated.
#   <!-- end -->
#
# A run block is executed as root, from the top of the repository, by
# scripts/docs-runner.sh in a sandbox of its own: `unshare --mount --uts`,
# in which / is then made rshared (mount propagation as on a systemd host,
# but in new peer groups, so no mount reaches the real host), /tmp is a
# fresh tmpfs, the hostname is "host", and the repository is bind-mounted at
# SANDBOX_REPO (on a tmpfs over /home) and is the working directory: the
# transcripts show the same paths in every checkout.  Its commands run one
# after another in one bash, with stdin from /dev/null, stdout and stderr
# together, and a clean environment (LANG=C.UTF-8).  `sudo` is the real
# sudo(8), as a reader runs it (root may use it on every distribution);
# the runner's header says what the sandbox adds for it.
# The shell's job messages ("[1]+  Exit 137 ...") are left out, since when
# they are printed is a race; so are carriage returns and trailing blanks.
# A command that ends in "&" gets BG_DELAY seconds to start before the next
# one, as a person typing would give it.  When the block ends, every job
# still running gets SIGTERM twice (the second one makes the container tool
# kill its container) and, if it lingers, SIGKILL; every process that carries
# the block's mark in its environment is found and killed the same way, and
# reported.  Each block has BLOCK_TIMEOUT seconds.  A block marked if=... runs
# only on a machine whose cgroup controllers are on that version, and is left
# as it is elsewhere.  A block marked if=runc runs only where runc(8) is
# installed; elsewhere it is left as it is, with one line on stderr.
#
# NORMALIZATION.  Some output legitimately differs from run to run and from
# machine to machine.  Before two transcripts are compared, both go through
# normalize(), which changes only this:
#   - a host PID in the --verbose trace: "PID <digits> on the host" and "PID
#     <digits> into its cgroup" become "PID <pid> ..."
#   - a default container name, "ctr-<digits>" (the tool's PID), becomes
#     "ctr-<pid>"
# Nothing else is forgiven.  `update` keeps a block's old text when the new
# run is the same after normalization, so re-running it does not churn the
# docs with new PIDs.
#
# OTHER CHECKS, on the prose (outside code fences and generated blocks):
#   - `name()` in backticks is one of our functions: it must be defined in
#     the chapter's own stageN-*/main.c, in common/*.c or tests/progs/*.c
#     (docs that are not a chapter: in any of them).  Man pages are written
#     `clone(2)`, with the section, and are not checked.
#   - a path in backticks under stageN-*/, common/, tests/, scripts/, docs/
#     or .ci/ exists; `make TARGET` names a target of the Makefile.
#   - every relative link [text](target#anchor) points at a file that exists
#     and, for a .md target with an anchor, at a heading that exists.
#   - nothing refers to line numbers ("line 42", "main.c:42", "#L42"),
#     which go stale with the next edit.
#   - every stage that exists has its chapter, docs/0N-*.md.
#   - a code fence outside the generated blocks that shows output (a "$ "
#     or "# " command line followed by a line that is not one) is an
#     illustration, and says so just above it, in a line of its own:
#       *Illustration: recorded 2026-12-02 on the development VM, ...*
#     with the date it was recorded; `make docs-check` does not re-run it.
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
# Where the repository appears in a run block's sandbox, whatever its real
# path: the transcripts are the same in every checkout.
SANDBOX_REPO=/home/you/containers-from-scratch

mode=""
run_blocks=1
force=0
files=()
problems=0
nblocks=0
nruns=0
nskipped=0
nfuncs=0
nlinks=0
nupdated=0
work=""

# problem FILE LINE MESSAGE: one drift, named so that it can be found.
# Kept in a file, since some are found in a subshell.
problem() {
	echo "docs: $1:$2: $3" >&2
	echo "$1:$2: $3" >>"$work/problems"
}

cleanup() {
	if [[ -n $work && -d $work ]]; then
		rm -rf -- "$work"
	fi
}

# ---- generated blocks ----

# normalize: the only differences between two runs that are forgiven.
normalize() {
	sed -E -e 's/PID [0-9]+ (on the host|into its cgroup)/PID <pid> \1/g' \
		-e 's/ctr-[0-9]+/ctr-<pid>/g'
}

# The cgroup version that holds the controllers here: v2 when
# /sys/fs/cgroup itself is cgroup2, v1 otherwise (legacy or hybrid).
cgroup_version() {
	if [[ $(cgroup_mode) == v2 ]]; then
		echo cgroup-v2
	else
		echo cgroup-v1
	fi
}

# gen_code FILE NAME...: each function with the comment right above it.
gen_code() {
	local file=$1 name first=1
	shift
	[[ -f $file ]] || {
		echo "no such file: $file"
		return 1
	}
	echo '```c'
	for name in "$@"; do
		((first)) || echo
		first=0
		awk -v name="$name" '
			{ line[NR] = $0 }
			END {
				for (i = 1; i <= NR; i++)
					if ((line[i] ~ ("^[A-Za-z].*[^A-Za-z0-9_]" name "\\(") ||
					     line[i] ~ ("^" name "\\(")) && line[i] !~ /;[ \t]*$/) {
						start = i
						break
					}
				if (!start)
					exit 1
				s = start
				if (s > 1 && line[s - 1] ~ /\*\/[ \t]*$/) {
					s--
					while (s > 1 && line[s] !~ /^\/\*/)
						s--
				}
				for (e = start; e < NR && line[e] != "}"; e++)
					;
				for (k = s; k <= e; k++)
					print line[k]
			}' "$file" || {
			echo "no function $name() in $file"
			return 1
		}
	done
	echo '```'
}

gen_diff() {
	(($# == 2)) || {
		echo "diff needs two stages"
		return 1
	}
	echo '```diff'
	scripts/stage-diff.sh "$1" "$2" 2>&1 || return 1
	echo '```'
}

# The shell's own messages about background jobs, left out of transcripts:
# "[1]+  Exit 137   sudo ...", "(wd now: ...)", and the non-interactive
# form ".../scripts/docs-runner.sh: line 41: 1234 Killed   ...".
JOB_MESSAGE_RE='^(\[[0-9]+\][-+ ] +[A-Z]|\(wd( now)?: |[^ ]*docs-runner\.sh: line [0-9]+: +[0-9]+ )'

# Processes that carry a run block's mark, wherever they ended up.
marked_pids() {
	grep -lsa "DOCS_RUN_MARK=$1" /proc/[0-9]*/environ 2>/dev/null |
		cut -d/ -f3 | grep -vx "$$" || true
}

# kill_marked MARK: TERM twice, then KILL; prints how many there were.
kill_marked() {
	local pids sig t n=0
	pids=$(marked_pids "$1")
	if [[ -n $pids ]]; then
		n=$(wc -w <<<"$pids")
		for sig in TERM TERM; do
			# shellcheck disable=SC2086
			kill -s "$sig" $pids 2>/dev/null || true
			sleep 0.2
		done
		for ((t = 0; t < 30; t++)); do
			[[ -z $(marked_pids "$1") ]] && break
			sleep 0.1
		done
		pids=$(marked_pids "$1")
		# shellcheck disable=SC2086
		[[ -z $pids ]] || kill -s KILL $pids 2>/dev/null || true
	fi
	echo "$n"
}

# gen_run FILE LINE BODY_FILE: regenerate a transcript from its "$ " lines.
gen_run() {
	local file=$1 lineno=$2 body=$3 dir mark n=0 i cmd="" line in_fence=0 rc=0 left
	dir=$(mktemp -d "$work/run.XXXXXX")
	while IFS= read -r line; do
		if [[ $line == '```'* ]]; then
			in_fence=$((!in_fence))
			continue
		fi
		((in_fence)) || continue
		if [[ -n $cmd ]]; then
			cmd+=$'\n'$line
		elif [[ $line == '$ '* ]]; then
			cmd=${line#'$ '}
		else
			continue
		fi
		if [[ $cmd != *\\ ]]; then
			n=$((n + 1))
			printf '%s' "$cmd" >"$dir/cmd.$n"
			cmd=""
		fi
	done <"$body"
	if ((n == 0)); then
		echo "run block with no \"\$ \" command in a \`\`\`console fence"
		return 1
	fi
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
	if ((rc == 124 || rc == 137)); then
		echo "timed out after ${BLOCK_TIMEOUT}s"
		return 1
	elif ((rc != 0)); then
		echo "the sandbox failed (exit $rc): $(head -n 3 "$dir/runner.err")"
		return 1
	fi
	if ((left > 0)); then
		problem "$file" "$lineno" "the run block left $left process(es) running after it ended; they were killed"
	fi
	echo '```console'
	for ((i = 1; i <= n; i++)); do
		sed '1s/^/$ /' "$dir/cmd.$i"
		echo
		if [[ -f $dir/out.$i ]]; then
			# No carriage returns, no trailing blanks: an editor would
			# strip them and make the block look stale.  No job
			# messages of the shell: when they come is a race.
			tr -d '\r' <"$dir/out.$i" | sed -E 's/[[:space:]]*$//' |
				grep -vE "$JOB_MESSAGE_RE" || true
		fi
	done
	echo '```'
}

# process_file FILE: regenerate every block; in update mode, rewrite FILE.
process_file() {
	local file=$1 out line spec kind args i=0 start body old new err cond fence=""
	local -a lines
	mapfile -t lines <"$file"
	out=$(mktemp "$work/out.XXXXXX")
	body=$(mktemp "$work/body.XXXXXX")
	while ((i < ${#lines[@]})); do
		line=${lines[i]}
		# A marker inside a code fence is an example, not a block.
		if [[ -z $fence && $line =~ ^\ {0,3}(\`{3,}) ]]; then
			fence=${BASH_REMATCH[1]}
		elif [[ -n $fence && $line =~ ^\ {0,3}(\`{3,})[[:space:]]*$ ]] &&
			((${#BASH_REMATCH[1]} >= ${#fence})); then
			fence=""
		fi
		if [[ -n $fence || ! $line =~ ^'<!-- generated: '(.*)' -->'$ ]]; then
			printf '%s\n' "$line" >>"$out"
			i=$((i + 1))
			continue
		fi
		spec=${BASH_REMATCH[1]}
		start=$((i + 1))
		printf '%s\n' "$line" >>"$out"
		: >"$body"
		i=$((i + 1))
		while ((i < ${#lines[@]})) && [[ ${lines[i]} != '<!-- end -->' ]]; do
			printf '%s\n' "${lines[i]}" >>"$body"
			i=$((i + 1))
		done
		if ((i >= ${#lines[@]})); then
			problem "$file" "$start" "generated block '$spec' has no <!-- end -->"
			cat "$body" >>"$out"
			break
		fi
		nblocks=$((nblocks + 1))
		read -r kind args <<<"$spec"
		old=$(cat "$body")
		new=""
		err=""
		case $kind in
		diff)
			# shellcheck disable=SC2086
			new=$(gen_diff $args) || err=$new
			;;
		code)
			# shellcheck disable=SC2086
			new=$(gen_code $args) || err=$new
			;;
		run)
			cond=${args#if=}
			if ((!run_blocks)); then
				new=$old
				nskipped=$((nskipped + 1))
			elif [[ -n $args && ($args != if=* || ($cond != cgroup-v1 && $cond != cgroup-v2 && $cond != runc)) ]]; then
				err="unknown run option '$args' (expected if=cgroup-v1, if=cgroup-v2 or if=runc)"
			elif [[ $cond == runc ]] && ! command -v runc >/dev/null; then
				echo "docs: $file:$start: runc is not installed: this block is left as it is" >&2
				new=$old
				nskipped=$((nskipped + 1))
			elif [[ -n $args && $cond != runc && $cond != "$(cgroup_version)" ]]; then
				new=$old
				nskipped=$((nskipped + 1))
			else
				nruns=$((nruns + 1))
				new=$(gen_run "$file" "$start" "$body") || err=$new
				# Same after normalization: keep the old text.
				if [[ -z $err ]] && ((!force)) &&
					[[ $(normalize <<<"$new") == "$(normalize <<<"$old")" ]]; then
					new=$old
				fi
			fi
			;;
		*)
			err="unknown kind of generated block '$kind' (expected diff, code or run)"
			;;
		esac
		if [[ -n $err ]]; then
			problem "$file" "$start" "generated: $spec: $err"
			new=$old
		elif [[ $new != "$old" ]]; then
			if [[ $mode == update ]]; then
				nupdated=$((nupdated + 1))
				echo "docs: $file:$start: regenerated '$spec'"
			else
				problem "$file" "$start" "generated: $spec: out of date (run: make docs-update)"
				if [[ $kind == run ]]; then
					diff -u --label "in $file" --label "fresh run" \
						<(normalize <<<"$old") <(normalize <<<"$new") | head -n 40 >&2 || true
				else
					diff -u --label "in $file" --label "generated" \
						<(printf '%s\n' "$old") <(printf '%s\n' "$new") | head -n 40 >&2 || true
				fi
			fi
		fi
		[[ -z $new ]] || printf '%s\n' "$new" >>"$out"
		printf '%s\n' "${lines[i]}" >>"$out"
		i=$((i + 1))
	done
	if [[ $mode == update && $(<"$out") != "$(<"$file")" ]]; then
		cat "$out" >"$file"
	fi
}

# ---- checks on the prose ----

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

# prose FILE: "LINENO<TAB>text" for every line outside code fences and
# generated blocks.
prose() {
	awk "$FENCE_AWK"'
		infence($0) { next }
		/^<!-- generated: .* -->$/ { gen = 1; next }
		gen && /^<!-- end -->$/ { gen = 0; next }
		gen { next }
		{ print NR "\t" $0 }' "$1"
}

# The GitHub anchor of every heading in a Markdown file, one a line.
anchors() {
	awk "$FENCE_AWK"'infence($0) { next } /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
		tr '[:upper:]' '[:lower:]' |
		sed -E 's/[^a-z0-9 _-]//g; s/ /-/g' |
		awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

# Where `name()` may be defined for this doc: a chapter's own stage, or
# any stage for the other docs; and common/ and tests/progs/ for all.
sources_for() {
	local doc=$1 base n
	base=$(basename "$doc")
	if [[ $doc == docs/extensions/*.md && -f docs/extensions/${base%.md}.patch ]]; then
		# An extension's chapter: the last stage with its patch
		# applied, which make builds in build/ext-NAME/tree/.
		ls "build/ext-${base%.md}/tree/${STAGES[-1]}"/*.c
	elif [[ $base =~ ^0([1-9])-(.*)\.md$ ]]; then
		# main.c first, as the messages name it; then any other .c beside it.
		local dir=stage${BASH_REMATCH[1]}-${BASH_REMATCH[2]} c
		echo "$dir/main.c"
		for c in "$dir"/*.c; do
			[[ $c == "$dir/main.c" ]] || echo "$c"
		done
	else
		for n in "${STAGES[@]}"; do
			[[ -f $n/main.c ]] && ls "$n"/*.c
		done
	fi
	ls common/*.c tests/progs/*.c 2>/dev/null || true
}

# "FILE<TAB>NAME" for every function defined in the C files: a line that
# starts with a letter, has a "(", and does not end in ";" (a prototype).
# shellcheck disable=SC2016 # awk, not shell
DEFS_AWK='
/^[A-Za-z]/ && index($0, "(") && $0 !~ /;[ \t]*$/ {
	head = substr($0, 1, index($0, "(") - 1)
	if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/))
		print FILENAME "\t" substr(head, RSTART, RLENGTH)
}'

# What the prose checks look for, one "LINENO<TAB>KIND<TAB>VALUE" a line:
# a reference to a line number, `name()`, a path in the repository in
# backticks, `make target`, and the target of a Markdown link.
# shellcheck disable=SC2016 # awk, not shell
REFS_AWK='
function each(text, re, kind, from, to,    s) {
	s = text
	while (match(s, re)) {
		print n "\t" kind "\t" substr(s, RSTART + from, RLENGTH - from - to)
		s = substr(s, RSTART + RLENGTH)
	}
}
{
	n = substr($0, 1, index($0, "\t") - 1)
	text = substr($0, index($0, "\t") + 1)
	if (tolower(text) ~ /(^|[^a-z])lines? [0-9]|\.(c|h|sh|md|bats|bash):[0-9]|#l[0-9]/)
		print n "\tline\t"
	each(text, "`[A-Za-z_][A-Za-z0-9_]*\\(\\)`", "func", 1, 3)
	each(text, "`(\\./)?(stage[1-9]-[a-z0-9]+|common|tests|scripts|docs|\\.ci)(/[A-Za-z0-9_.*<>-]*)*`", "path", 1, 1)
	each(text, "`make [a-z][a-z0-9-]*`", "make", 6, 1)
	each(text, "\\]\\([^)]+\\)", "link", 2, 1)
}'

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
		line)
			problem "$file" "$lineno" "refers to a line number; name the function instead"
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
			path=${value%%#*}
			anchor=""
			[[ $value == *'#'* ]] && anchor=${value#*#}
			if [[ -z $path ]]; then
				path=$file
			else
				path=$dir/$path
			fi
			if [[ ! -e $path ]]; then
				problem "$file" "$lineno" "broken link: $value (no such file)"
			elif [[ -n $anchor && $path == *.md ]]; then
				[[ -n ${anchors_of[$path]+set} ]] || anchors_of[$path]=$(anchors "$path")
				grep -qxF -- "$anchor" <<<"${anchors_of[$path]}" ||
					problem "$file" "$lineno" "broken link: $value (no heading with that anchor)"
			fi
			;;
		esac
	done < <(prose "$file" | awk "$REFS_AWK")
}

# check_illustrations FILE: a hand-kept output block must say that it is one.
# A fence counts as output when a command line ("$ ", "# ", "PS> ") is
# followed by a line that is neither a command nor the continuation of one
# ending in "\".  A fence of four backticks or more, which shows Markdown
# with its fences, is an example of the format, not output.
check_illustrations() {
	local file=$1 lineno
	while read -r lineno; do
		problem "$file" "$lineno" "output that make docs-check does not re-run: make it a generated run block, or put '*Illustration: recorded YYYY-MM-DD on MACHINE ...*' on the line above the fence"
	done < <(awk "$FENCE_AWK"'
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
			if (out && !marked && !example) print start
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
	' "$file")
}

# The functions of every C file a doc may name, looked up once.
index_functions() {
	local file name
	while IFS=$'\t' read -r file name; do
		defined["$file:$name"]=1
	done < <(awk "$DEFS_AWK" stage*/*.c common/*.c tests/progs/*.c build/ext-*/tree/*/*.c 2>/dev/null)
}

# Every stage that exists has its chapter.
check_chapters() {
	local n stage
	for n in "${!STAGES[@]}"; do
		stage=${STAGES[n]}
		[[ -f $stage/main.c ]] || continue
		if [[ ! -f docs/0$((n + 1))-${stage#*-}.md ]]; then
			problem "docs/0$((n + 1))-${stage#*-}.md" 0 "$stage exists but has no chapter"
		fi
	done
}

# ---- main ----

main() {
	local start=$SECONDS file

	(($#)) || {
		usage >&2
		exit 2
	}
	case $1 in
	check | update) mode=$1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown command '$1'; try --help" ;;
	esac
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
	if ((force)) && [[ $mode != update ]]; then
		die "--force is for update only"
	fi
	if ((${#files[@]} == 0)); then
		files=(docs/*.md)
		[[ -f ${files[0]} ]] || die "no docs/*.md"
		[[ ! -f README.md ]] || files=(README.md "${files[@]}")
		# The chapters of the extensions past the last stage.
		for f in docs/extensions/*.md; do
			[[ ! -f $f ]] || files+=("$f")
		done
	fi
	if ((run_blocks)) && [[ $(id -u) -ne 0 ]]; then
		die "the captured transcripts are re-run as root (try: sudo make docs-$mode), or use --no-run"
	fi

	work=$(mktemp -d "${TMPDIR:-/tmp}/docs.XXXXXX")
	: >"$work/problems"
	trap cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 141' PIPE
	trap 'exit 143' TERM

	# An extension's chapter quotes its patched stage, which make builds
	# in build/ext-NAME/tree/: made afresh here from the patch, so that the
	# check needs no build and never quotes a stale tree.
	local ext
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
		check_illustrations "$file"
	done
	check_chapters

	local summary
	summary="${#files[@]} files, $nblocks generated blocks ($nruns run"
	((nskipped == 0)) || summary+=", $nskipped left as they are: $( ((run_blocks)) && echo "other cgroup version" || echo "--no-run")"
	summary+="), $nfuncs function names, $nlinks links, $((SECONDS - start))s"
	if [[ $mode == update ]]; then
		echo "docs-update: $nupdated blocks regenerated; $summary"
	fi
	problems=$(wc -l <"$work/problems")
	if ((problems)); then
		echo "docs-check: FAILED, $problems problem(s); $summary" >&2
		exit 1
	fi
	echo "docs-check: ok; $summary"
}

main "$@"
