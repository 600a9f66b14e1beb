#!/usr/bin/env bash
# scripts/grade.sh - score a student's stage with that stage's own tests
# (make grade; docs/README.md, "Using the kit in a course", says how).
#
# Builds SRC (default: exercises/stageN-*/main.c) against common/, with the
# project's warnings shown but not fatal, then runs tests/stageN-*.bats on
# that binary only (CFS_GRADE_STAGE and CFS_GRADE_BIN in
# tests/helpers.bash).  A stage that is missing or does not compile scores 0.
#
# A submission is untrusted code (issue #24): stages 1 to 4 are built and
# graded in a sandbox, for root and an ordinary user alike: a user
# namespace whose root is nobody outside (or the grader; ids 1 to 65535
# inside are GRADE_SPARE_IDS, no one's, or the grader's /etc/subuid range),
# rootless to the stages; new mount, UTS, IPC, network and PID namespaces;
# a sysfs without the host's cgroups; every mount read-only
# (scripts/grade-readonly.c) but /tmp and a box for the build and a copy of
# the image.  The compiler shows only its messages about the submission and
# the kit's own files: an #include of another file shows nothing of it.
# Stage 5 needs root over a cgroup v2 tree: --vm builds it in the sandbox
# and tests it as root in the test VM (scripts/test-vm.sh), whose root
# could forge its score.  --trusted tests as root on the host, for code you
# trust, as does --ext NAME (docs/extensions/README.md): SRC is then a
# directory (exercises/ext-NAME/) or a file put over the patched stage.
# Time limits (docs/README.md): BATS_TEST_TIMEOUT, GRADE_TIMEOUT,
# GRADE_GRACE, GRADE_VM_TIMEOUT, and GRADE_CC_TIMEOUT (60 s) for the
# compiler; the score and the JUnit report count every test of the stage.
#
# Usage: scripts/grade.sh [--junit FILE] [--filter REGEX] [--first-failure] [--trusted | --vm] N [SRC]
#        scripts/grade.sh [--junit FILE] [--filter REGEX] --trusted --ext NAME [SRC]
# N is a stage, or rootless (docs/rootless.md's exercise).  --filter runs
# only the tests whose names match (bats --filter).  --first-failure (make
# exercise-check) runs them one at a time, up to the first that fails,
# which its last line names; else it ends with "stage N: K/M tests passed".
# Exit status: 0 for full marks, 1 if a test failed, 2 if SRC is missing or
# does not compile.
set -euo pipefail
shopt -s extglob nullglob
cd "$(dirname "$0")/.."
REPO=$(pwd -P)
PROG=grade
DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
help_if_asked "$@"

# The project's flags without -Werror; a skeleton's helpers are unused
# until the holes that call them are written.
STUDENT_CFLAGS=${STUDENT_CFLAGS:--std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -O2 -g}
CC=${CC:-cc}
TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-30}
GRADE_TIMEOUT=${GRADE_TIMEOUT:-600}
GRADE_CC_TIMEOUT=${GRADE_CC_TIMEOUT:-60}
NOBODY=65534
SPARE_IDS=${GRADE_SPARE_IDS:-2147418112}

# ---- the grade's inner half, in the sandbox or trusted ----

# compile OUT ARGS...: $CC ARGS and common/ into OUT, in the time limit,
# with no stdin; the compiler's messages on stdout.
compile() {
	local out=$1
	shift
	# shellcheck disable=SC2086 # STUDENT_CFLAGS is a list of flags
	timeout -k 5 "$GRADE_CC_TIMEOUT" "$CC" $STUDENT_CFLAGS -Wno-unused-function \
		-I"$REPO/common" -o "$out" "$@" "$REPO"/common/*.c </dev/null 2>&1
}

# inside STAGE BOX SRC ARGS...: as root of the sandbox's user namespace,
# build SRC into BOX/STAGE/container and run bats ARGS on it.  Exit status
# 3: SRC did not compile.
inside() {
	local stage=$1 box=$2 src=$3 out status=0 writable=(/tmp "$2" /proc)
	# Once the grader has written the maps, exec again to take uid 0's
	# capabilities there, and set again the parent-death signal it clears
	# (unshare --kill-child's, which ends the PID namespace with the grader).
	if [[ -z ${CFS_GRADE_MAPPED:-} ]]; then
		until [[ -n $(</proc/self/uid_map) ]]; do sleep 0.05; done
		CFS_GRADE_MAPPED=1 exec setpriv --pdeathsig KILL -- "$0" --inside "$@"
	fi
	unset CFS_GRADE_MAPPED
	export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	new_root "$box/../root"
	mount -t tmpfs -o mode=755 cfs-grade-box "$box"
	# The grader's copy of the image, owned by root of the namespace.
	mkdir "$box/$stage"
	ln -s "$REPO/rootfs" "$box/rootfs"
	mount --bind "$box/../image" "$REPO/rootfs"
	hostname cfs-test-host
	# Rootless, the stages keep layers and locks in the box, not in the
	# grader's home nor the host's /run.
	mkdir -m 700 "$box/home" "$box/run"
	export HOME=$box/home XDG_RUNTIME_DIR=$box/run
	unset XDG_STATE_HOME
	mount --make-rshared /
	# --vm: the binary goes out through one more writable directory.
	if [[ -n ${GRADE_BUILD_ONLY:-} ]]; then
		mount --bind "$box/../out" "$box/../out"
		writable+=("$box/../out")
	fi
	"$box/../grade-readonly" "${writable[@]}"
	cp "$src" "$box/$stage/main.c"
	echo "stage $CFS_GRADE_STAGE: building the submission"
	out=$(cd "$box" && compile "$stage/container" -fno-diagnostics-show-caret -I"$REPO/$stage" \
		"$stage/main.c" "$REPO/$stage"/!(main).c) || status=$?
	shown_diagnostics "$stage" <<<"$out"
	((status != 124 && status != 137)) ||
		echo "grade: the compiler did not finish in ${GRADE_CC_TIMEOUT}s"
	((status == 0)) || exit 3
	if [[ -n ${GRADE_BUILD_ONLY:-} ]]; then
		cp "$box/$stage/container" "$box/../out/container"
		exit 0
	fi
	run_tests "$box/$stage/container" bats --tap "${@:4}"
}

# trusted WORK STAGE ARGS...: as root in tests/run's sandbox.  An extension
# is the last stage with its patch applied and WORK/submission/ over it.
trusted() {
	local work=$1 stage=$2 dir=$REPO/$2 files=("$1/main.c" "$REPO/$2"/!(main).c)
	shift 2
	mkdir "$work/$stage"
	ln -s "$REPO/rootfs" "$work/rootfs"
	if [[ -n ${CFS_GRADE_EXT:-} ]]; then
		echo "$stage: building the submission"
		dir=$work/tree/${STAGES[-1]}
		scripts/ext.sh tree "$CFS_GRADE_EXT" "$work/tree" || exit 2
		cp "$work/submission"/* "$dir/"
		files=("$dir"/*.c)
	elif [[ -n ${GRADE_PREBUILT:-} ]]; then
		# In the test VM (--vm): the host built it, in its sandbox.
		cp "$GRADE_PREBUILT" "$work/$stage/container"
	else
		echo "stage $CFS_GRADE_STAGE: building the submission"
	fi
	[[ -e $work/$stage/container ]] || compile "$work/$stage/container" -I"$dir" "${files[@]}" || exit 3
	GRADE_SCRATCH=$work run_tests "$work/$stage/container" env -u CFS_SANDBOX tests/run "$@"
}

# run_tests BIN RUNNER ARGS...: RUNNER ARGS $GRADE_SUITE on BIN, TAP on
# stdout.  With CFS_GRADE_FIRST_FAILURE=1, the tests that GRADE_ONLY
# matches one at a time, up to the first that fails.
run_tests() {
	local name regex one=${GRADE_SCRATCH:-/tmp}/.grade-one
	export CFS_GRADE_BIN=$1 BATS_TEST_TIMEOUT=$TEST_TIMEOUT
	shift
	echo "$GRADE_LABEL: running $GRADE_SUITE on it"
	[[ ${CFS_GRADE_FIRST_FAILURE:-} == 1 ]] || exec "$@" "$GRADE_SUITE"
	while IFS= read -r name; do
		# The test's name as a regex that matches it alone.
		# shellcheck disable=SC2001 # sed escapes every special character at once
		regex=^$(sed 's/[]\\.()*+?{}|^$[]/\\&/g' <<<"$name")\$
		run_one "$one" "$@" --filter "$regex" "$GRADE_SUITE"
		cat "$one"
		if ! grep -q '^\(not \)\?ok ' "$one"; then
			echo "grade: the test '$name' cannot be run alone"
			exit 4
		fi
		if grep -q '^not ok ' "$one"; then
			echo "$GRADE_LABEL: a test failed: $name"
			exit 0
		fi
	done < <(sed -n 's/^@test "\(.*\)" {$/\1/p' "$GRADE_SUITE" | grep -E -- "$GRADE_ONLY")
}

# run_one OUT COMMAND...: COMMAND in a process group of its own, output in
# OUT, ended GRADE_GRACE seconds after its result is out: a process of the
# stage can keep bats' output open after the test.
run_one() {
	local out=$1 pid done_at=''
	shift
	setsid "$@" >"$out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if grep -q '^\(not \)\?ok ' "$out"; then
			done_at=${done_at:-$SECONDS}
			if ((SECONDS - done_at >= ${GRADE_GRACE:-30})); then
				kill -KILL -- "-$pid" 2>/dev/null || true
				break
			fi
		fi
		sleep 0.2
	done
	wait "$pid" || true
}

# new_root DIR: a root of our own, as bubblewrap makes one: a tmpfs at DIR
# with every top-level directory of / bound in, but a fresh /tmp and /proc
# (the host's cannot be unmounted in a user namespace, and a proc over it
# is a mount the tests would count); then pivot_root(8) into it.
new_root() {
	local dir=$1 entry
	mount -t tmpfs -o mode=755 cfs-grade-root "$dir"
	# Or else binding /work would bind this new root into itself.
	mount --make-unbindable "$dir"
	for entry in /* /.[!.]*; do
		[[ -e $entry || -L $entry ]] || continue
		case $entry in
		/proc | /tmp) mkdir "$dir$entry" ;;
		/sys)
			# The sandbox's own sysfs, with no cgroups below it; where the
			# kernel refuses it, the host's, with a tmpfs over its cgroups.
			mkdir "$dir/sys"
			if ! mount -t sysfs cfs-grade-sys "$dir/sys" 2>/dev/null; then
				mount --rbind /sys "$dir/sys"
				mount -t tmpfs -o mode=755,ro cfs-grade-cgroup "$dir/sys/fs/cgroup"
			fi
			;;
		*)
			if [[ -L $entry ]]; then
				cp -P "$entry" "$dir$entry"
			elif [[ -d $entry ]]; then
				mkdir "$dir$entry"
				mount --rbind "$entry" "$dir$entry"
			else
				touch "$dir$entry"
				mount --bind "$entry" "$dir$entry"
			fi
			;;
		esac
	done
	mount -t proc cfs-grade-proc "$dir/proc"
	mount -t tmpfs -o mode=1777 cfs-grade-tmp "$dir/tmp"
	mkdir "$dir/.old-root"
	cd "$dir"
	pivot_root . .old-root
	cd /
	# A checkout under /tmp (CI's may be) is bound back at its path.
	if [[ $REPO == /tmp/* ]]; then
		mkdir -p "$REPO"
		mount --rbind "/.old-root$REPO" "$REPO"
	fi
	umount -l /.old-root
	rmdir /.old-root
	cd "$REPO"
}

# shown_diagnostics STAGE: of the compiler's messages on stdin, only those
# about the submission and the kit's own files, not a file it named.
shown_diagnostics() {
	local stage=$1 hidden=0 line
	while IFS= read -r line; do
		case $line in
		"$stage/main.c:"* | "$REPO/common/"* | "$REPO/$stage/"* | "In file included from $stage/main.c:"*)
			printf '%s\n' "$line"
			;;
		?*) hidden=$((hidden + 1)) ;;
		esac
	done
	((hidden == 0)) || echo "grade: $hidden lines of the compiler's messages about files other than the submission are not shown"
}

# The inner half's entry points, for the grader below.
declare -A inner=([--inside]=inside [--trusted-inside]=trusted)
if [[ -n ${1:-} && -n ${inner[$1]:-} ]]; then
	"${inner[$1]}" "${@:2}"
	exit
fi

# ---- the grader ----

# misuse: the header's usage lines, on stderr.
misuse() {
	sed -n 's/^# //; /^Usage:/,/--ext NAME/p' "$0" >&2
	exit 2
}

junit='' filter=() first_failure=0 trusted=0 ext='' vm=0
while [[ ${1:-} == --* ]]; do
	case $1 in
	--ext | --junit | --filter) (($# >= 2)) || misuse ;;&
	--ext) ext=$2 && shift ;;
	--junit) junit=$2 && shift ;;
	--filter) filter=(--filter "$2") && shift ;;
	--first-failure) first_failure=1 ;;
	--trusted) trusted=1 ;;
	--vm) vm=1 ;;
	*) misuse ;;
	esac
	shift
done
if [[ -n $ext ]]; then
	(($# <= 1)) || misuse
	[[ -f docs/extensions/$ext.patch && $ext =~ ^[a-z][a-z0-9-]*$ ]] ||
		die "no extension '$ext': try one of $(scripts/ext.sh list | tr '\n' ' ')"
	n=${#STAGES[@]} stage=ext-$ext who=ext-$ext
	src=${1:-exercises/$stage} suite=tests/$stage.bats
	[[ -f $suite ]] || die "extension $ext has no $suite"
	export CFS_GRADE_EXT=$ext
elif (($# < 1 || $# > 2)); then
	misuse
elif [[ $1 == rootless ]]; then
	# Stage 1 with the maps to write, graded by the tests of rootless.bats
	# that stage 1 can pass: they run it as nobody and check the maps.
	((${#filter[@]} == 0)) || die "FILTER= is not offered for the rootless exercise: it is graded on a fixed set of tests"
	n=1 stage=${STAGES[0]} who=rootless
	src=${2:-exercises/rootless/main.c} suite=tests/rootless.bats
	filter=(--filter '^rootless: (root inside is the caller outside|the hostname is the container|exit statuses are the command|SIGTERM to the tool reaches|SIGKILL to the tool leaves nothing|a caller that ignores SIGCHLD)')
else
	[[ $1 =~ ^[1-9]$ && $1 -le ${#STAGES[@]} ]] ||
		die "no stage '$1': give STAGE=1 to ${#STAGES[@]}, or STAGE=rootless"
	n=$1 stage=${STAGES[$1 - 1]} who="stage $1"
	src=${2:-exercises/$stage/main.c} suite=tests/$stage.bats
fi
[[ -n $ext ]] || export CFS_GRADE_STAGE=$n
# For run_tests, in the sandbox or trusted.
export GRADE_SUITE=$suite GRADE_LABEL=$who GRADE_ONLY=${filter[1]:-}
[[ -z $junit || $junit == /* ]] || junit=$PWD/$junit
# Stage 5 makes cgroups, which the sandbox has none of; an extension of it
# runs as root on the host.
[[ -z $ext ]] || ((trusted)) ||
	die "$who's tests run the stage as root, where a submission could do anything: grade it on a disposable machine (a VM), as root, with TRUSTED=1; see docs/extensions/README.md"
((n != 5 || trusted || vm)) ||
	die "stage 5's tests need root over cgroup v2, which the sandbox cannot give: grade it in the test VM with VM=1 (make grade STAGE=5 VM=1), or, for code you trust, as root with TRUSTED=1; see docs/teaching.md"
((!trusted || !vm)) || die "--trusted and --vm: choose one"
((!trusted)) || [[ $(id -u) -eq 0 ]] ||
	die "the trusted grade runs the tests as root: containers need CAP_SYS_ADMIN (try: sudo make grade STAGE=$n TRUSTED=1)"
[[ -d rootfs ]] || die "no default image: run make first"

# The names of the tests, in order, as bats numbers them.
mapfile -t names < <(sed -n 's/^@test "\(.*\)" {$/\1/p' "$suite" | grep -E -- "$GRADE_ONLY")
total=${#names[@]} out_of_time=0 hung=

mkdir -p build
work=$(mktemp -d "$REPO/build/grade.XXXXXX")
chmod 755 "$work"
mkdir "$work/box" "$work/image" "$work/root"
log=$work/tap runner='' init=''
# stop_runner: the sandbox ends, and everything in it with its PID
# namespace, whose first process ($init) is gone only once the others are.
stop_runner() {
	local tries=200
	kill -KILL -- "-$runner" 2>/dev/null || kill -KILL "$runner" 2>/dev/null || true
	wait "$runner" 2>/dev/null || true
	while [[ -n $init && -e /proc/$init ]] && ((tries-- > 0)); do
		sleep 0.05
	done
}
# Ctrl-C, or the end: the sandbox goes first; then the scratch directory.
cleanup() {
	[[ -z $runner ]] || stop_runner
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "grade: interrupted" >&2; exit 130' INT TERM HUP

xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e 's/[^[:print:]\t]//g'; }

# tally: the results in $log, the first of each test N: result[N] is pass,
# skip or failure, timed[N] set if it timed out, details[N] its "#" lines.
result=() details=() timed=()
tally() {
	local line num=0
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok\ ([0-9]+)\  ]]; then
			num=${BASH_REMATCH[2]}
			if ((num < 1 || num > total)) || [[ -n ${result[num]:-} ]]; then
				num=0
			elif [[ -z ${BASH_REMATCH[1]} ]]; then
				result[num]=pass
				[[ $line != *" # skip"* ]] || result[num]=skip
			else
				result[num]=failure
				[[ $line != *" # timeout after "* ]] ||
					timed[num]=1 details[num]="timed out after ${TEST_TIMEOUT}s"$'\n'
			fi
		elif ((num > 0)) && [[ $line == "#"* ]]; then
			details[num]+="${line#\# }"$'\n'
		fi
	done <"$log"
}

# score WHY: passed, skipped and failed_list from result[]; a test with no
# result failed for WHY, but the first when the time ran out: it hung.
score() {
	local i
	passed=0 skipped=0 failed_list=()
	for ((i = 1; i <= total; i++)); do
		case ${result[i]:-} in
		pass) passed=$((passed + 1)) ;;
		skip) skipped=$((skipped + 1)) ;;
		failure) failed_list+=("$i${timed[i]:+ (timed out)}") ;;
		*)
			result[i]=failure details[i]=$1
			if ((out_of_time)) && [[ -z $hung ]]; then
				hung=$i details[i]="timed out: the grade's time limit ran out during this test"
				failed_list+=("$i (timed out)")
			else
				failed_list+=("$i (not run)")
			fi
			;;
		esac
	done
}

# write_junit: the JUnit report of every test of the stage, as scored.
write_junit() {
	local i counts="tests=\"$total\" failures=\"${#failed_list[@]}\" errors=\"0\" skipped=\"$skipped\""
	{
		printf '%s\n' '<?xml version="1.0" encoding="UTF-8"?>' "<testsuites $counts>" \
			"<testsuite name=\"${suite##*/}\" $counts>"
		for ((i = 1; i <= total; i++)); do
			echo "  <testcase classname=\"${suite##*/}\" name=\"$(xml_escape <<<"${names[i - 1]}")\">"
			case ${result[i]} in
			failure) echo "    <failure type=\"failure\">$(xml_escape <<<"${details[i]:-}")</failure>" ;;
			skip) echo "    <skipped/>" ;;
			esac
			echo "  </testcase>"
		done
		printf '</testsuite>\n</testsuites>\n'
	} >"$junit"
}

# No binary, no test ran: every test of the suite fails for the reason.
score_zero() {
	echo "$who: $1"
	out_of_time=0
	score "$1"
	[[ -z $junit ]] || write_junit
	echo "$who: 0/$total tests passed"
	exit 2
}

if [[ -n $ext ]]; then
	[[ -e $src ]] || score_zero "$src does not exist (make exercise EXT=$ext writes the skeleton)"
	mkdir "$work/submission"
	if [[ -d $src ]]; then
		find "$src" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) -exec cp -t "$work/submission" -- {} +
	else
		cp -- "$src" "$work/submission/"
	fi
elif [[ ! -f $src ]]; then
	score_zero "$src does not exist (make exercise STAGE=${who#stage } writes the skeleton)"
else
	# The submission, where the sandbox's user may read it.
	cp "$src" "$work/main.c"
	chmod 644 "$work/main.c"
fi
# The sandbox's last step (the test VM has no compiler, and needs none).
((trusted)) || "$CC" -std=c11 -D_GNU_SOURCE -O2 -o "$work/grade-readonly" scripts/grade-readonly.c
# A copy of the image owned by the sandbox's root: the host's root owns no
# id there, and the tests copy the image with its owners.
if [[ $(id -u) -eq 0 ]]; then
	cp -a rootfs/. "$work/image/"
	chown -hR "$NOBODY:$NOBODY" "$work/image"
elif ! cp -a --no-preserve=ownership rootfs/. "$work/image/"; then
	die "cannot copy the image rootfs/: make it as yourself (make clean all)"
fi

# subids FILE: "START COUNT" of the range in FILE (/etc/subuid or
# /etc/subgid) of $user or $uid.
subids() {
	awk -F: -v u="$user" -v i="$uid" '($1 == u || $1 == i) && $3 > 0 { print $2, $3; exit }' "$1" 2>/dev/null
}

# sandbox ARGS...: grade.sh --inside ARGS in the sandbox, in the background
# ($runner; $init is its PID namespace's first process), output to $log.
sandbox() {
	local uid gid user range grange map start count as=()
	uid=$(id -u) gid=$(id -g)
	((uid != 0)) || as=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups)
	"${as[@]}" unshare --user --mount --uts --ipc --net --pid --fork --kill-child --propagation private -- \
		"$REPO/scripts/grade.sh" --inside "$@" </dev/null >>"$log" 2>&1 &
	runner=$!
	# In its user namespace, unshare forks the PID namespace's first.
	until [[ $(readlink "/proc/$runner/ns/user" 2>/dev/null) != "$(readlink /proc/self/ns/user)" ]] &&
		init=$(cat "/proc/$runner/task/$runner/children" 2>/dev/null) && [[ -n $init ]]; do
		kill -0 "$runner" 2>/dev/null || die "the sandbox did not start: see $log"
		sleep 0.02
	done
	init=${init%% *}
	if ((uid == 0)); then
		# One write(2) each, as the kernel wants: cat, not printf.  The
		# gid map first: the sandbox goes on once it sees its uid map.
		map=$(printf '0 %d 1\n1 %d 65535' "$NOBODY" "$SPARE_IDS")
		{ cat <<<"$map" >"/proc/$runner/gid_map" && cat <<<"$map" >"/proc/$runner/uid_map"; } ||
			die "cannot write the sandbox's uid_map and gid_map"
		return
	fi
	# An ordinary user: the ids of /etc/subuid and /etc/subgid where the
	# user has some and newuidmap is there, or else the user alone.
	user=$(id -un)
	range=$(subids /etc/subuid) grange=$(subids /etc/subgid)
	if [[ -n $range && -n $grange ]] && have newuidmap && have newgidmap; then
		read -r start count <<<"$grange"
		newgidmap "$runner" 0 "$gid" 1 1 "$start" "$((count < 65535 ? count : 65535))" ||
			die "newgidmap could not map the sandbox's ids (see above)"
		read -r start count <<<"$range"
		newuidmap "$runner" 0 "$uid" 1 1 "$start" "$((count < 65535 ? count : 65535))" ||
			die "newuidmap could not map the sandbox's ids (see above)"
	else
		echo deny >"/proc/$runner/setgroups"
		echo "0 $gid 1" >"/proc/$runner/gid_map"
		echo "0 $uid 1" >"/proc/$runner/uid_map"
		echo "grade: $user has no ids in /etc/subuid and /etc/subgid (or no newuidmap): the tests that switch to another user inside will fail" >&2
	fi
}

# run_suite EXPECTED ARGS...: bats ARGS on the submission, its output in
# $log and shown as it comes (unless $quiet).  Once EXPECTED results are in,
# a process that keeps bats' output open gets GRADE_GRACE seconds; the
# whole run has until $deadline.  Returns 3 if it did not compile.
run_suite() {
	local expected=$1 done_at='' shown=0 status=0 why=
	shift
	: >"$log"
	if ((trusted)); then
		setsid "$REPO/scripts/grade.sh" --trusted-inside "$work" "$stage" "$@" </dev/null >>"$log" 2>&1 &
		runner=$!
	else
		sandbox "$stage" "$work/box" "$work/main.c" "$@"
	fi
	while kill -0 "$runner" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			why="the grade's time limit (GRADE_TIMEOUT=${GRADE_TIMEOUT}s) ran out"
			out_of_time=1
		elif (($(grep -c '^\(not \)\?ok ' "$log") >= expected)); then
			done_at=${done_at:-$SECONDS}
			((SECONDS - done_at < ${GRADE_GRACE:-30})) ||
				why="a process of the stage kept the tests waiting after the last one"
		fi
		if [[ -n $why ]]; then
			echo "grade: $why; stopped" >>"$log"
			stop_runner
			break
		fi
		((quiet)) || shown=$(show_new "$shown")
		sleep 0.2
	done
	wait "$runner" 2>/dev/null || status=$?
	stop_runner
	runner=
	((quiet)) || show_new "$shown" >/dev/null
	return "$status"
}

# show_new N [FILE SCRIPT]: the lines of FILE ($log) after the first N, on
# stderr, through sed -n SCRIPT (p); echo the new N.
show_new() {
	local lines file=${2:-$log}
	lines=$(wc -l <"$file")
	((lines <= $1)) || sed -n "$(($1 + 1)),${lines}${3:-p}" "$file" >&2
	echo "$lines"
}

# grade_in_vm: built in the sandbox, then graded by grade.sh --trusted as
# root in the test VM (vm-init.sh's run_grade), whose lines come back behind
# "TEST-VM-GRADE: ", its exit status behind "TEST-VM-GRADE-STATUS: " and
# its JUnit report behind "TEST-VM-JUNIT: ".  Exits.
grade_in_vm() {
	local dir=$work/vm status=0 shown=0 line failed pick='{s/^TEST-VM-GRADE: //p;/^test-vm: /p}'
	# An emulated CPU (no KVM) is several times slower: make test-vm's
	# time limit per test, and an hour for the grade.
	local test_timeout=${BATS_TEST_TIMEOUT:-300} vm_timeout=${GRADE_VM_TIMEOUT:-3600}
	mkdir "$work/out"
	[[ $(id -u) -ne 0 ]] || chown "$NOBODY:$NOBODY" "$work/out"
	deadline=$((SECONDS + GRADE_CC_TIMEOUT + 60))
	GRADE_BUILD_ONLY=1 run_suite 100000 || status=$?
	[[ $status != 3 && -f $work/out/container ]] || score_zero "$src does not compile"
	status=0
	mkdir "$dir"
	cp "$work/out/container" "$work/main.c" "$dir/"
	echo "$n $test_timeout $vm_timeout" >"$dir/settings"
	((${#filter[@]} == 0)) || printf '%s\n' "${filter[@]}" >"$dir/args"
	echo "stage $n: running tests/$stage.bats on it as root in the test VM (make test-vm's; a few minutes)" >&2
	: >"$work/vm.log"
	# Its own session: Ctrl-C here (stop_runner) takes qemu with it.
	setsid env TEST_VM_MODE=grade GRADE_VM_DIR="$dir" TEST_VM_TIMEOUT=$((vm_timeout + 900)) \
		"$REPO/scripts/test-vm.sh" </dev/null >"$work/vm.log" 2>&1 &
	runner=$!
	while kill -0 "$runner" 2>/dev/null; do
		shown=$(show_new "$shown" "$work/vm.log" "$pick")
		sleep 1
	done
	wait "$runner" 2>/dev/null || status=$?
	runner=
	show_new "$shown" "$work/vm.log" "$pick" >/dev/null
	sed -n 's/^TEST-VM-GRADE: //p' "$work/vm.log" >"$log"
	line=$(grep "^stage $n: [0-9]*/$total tests passed" "$log" | tail -n 1) ||
		score_zero "the test VM gave no score out of $total (scripts/test-vm.sh exited $status): see .cache/test-vm/serial.log"
	[[ -z $junit ]] || sed -n 's/^TEST-VM-JUNIT: //p' "$work/vm.log" >"$junit"
	failed=$(sed -n "s/^stage $n: failed: //p" "$log" | tail -n 1)
	[[ -z $failed ]] || echo "stage $n: failed: $failed"
	[[ -z ${GRADE_FAILED_FILE:-} ]] || printf '%s\n' "${failed//, / }" >"$GRADE_FAILED_FILE"
	echo "$line"
	# Full marks as the grade in the VM judged them, by the same rule as
	# here: a test the VM skipped is the machine's, not the submission's.
	[[ $(sed -n 's/^TEST-VM-GRADE-STATUS: //p' "$work/vm.log" | tail -n 1) == 0 ]] && exit 0
	exit 1
}

deadline=$((SECONDS + GRADE_TIMEOUT))
quiet=$first_failure
((!vm)) || grade_in_vm
# --first-failure: each test alone, in one sandbox, its output shown at
# the end: the time limit is per test, and bats' grace too (run_tests).
((!first_failure)) || deadline=$((SECONDS + GRADE_TIMEOUT * total))
status=0
CFS_GRADE_FIRST_FAILURE=$first_failure run_suite "$((first_failure ? 100000 : total))" "${filter[@]}" 2>&1 || status=$?
if ((status == 3)); then
	((!quiet)) || cat "$log"
	score_zero "$src does not compile"
fi
if ((first_failure)); then
	if ((status != 0)) || grep -q '^grade: ' "$log"; then
		cat "$log"
		echo "grade: the run ended with status $status" >&2
		exit 2
	fi
	if grep -q '^not ok ' "$log"; then
		cat "$log"
		grep -F "$who: a test failed: " "$log" | tail -n 1
		exit 1
	fi
	echo "$who: $total/$total tests passed"
	exit 0
fi
tally
score "not run: the grade was stopped before this test ended"
[[ -z $junit ]] || write_junit
joined=$(printf ', %s' "${failed_list[@]}")
((${#failed_list[@]} == 0)) || echo "$who: failed: ${joined#, }"
# The machine-readable list for make grade-all.
[[ -z ${GRADE_FAILED_FILE:-} ]] || printf '%s\n' "${failed_list[*]}" >"$GRADE_FAILED_FILE"
extra=
((skipped == 0)) || extra=" ($skipped skipped on this machine)"
echo "$who: $passed/$total tests passed$extra"
((passed + skipped == total && ${#failed_list[@]} == 0 && passed > 0))
