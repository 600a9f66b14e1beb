# tests/helpers.bash - loaded by every suite in setup().
#
# Helpers in the spirit of runc's bats suite: run the built programs exactly
# as a student types them, log every command with its status and output so a
# failing test explains itself, and check the host's side before and after
# every test: hostname, mount table, /tmp, the toolkit's cgroups, processes.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
STAGE_DIRS=(stage1-uts stage2-pid stage3-mount stage4-rootfs stage5-cgroups)
LAST_STAGE=${#STAGE_DIRS[@]}

# Grading (scripts/grade.sh, make grade): CFS_GRADE_STAGE=N with
# CFS_GRADE_BIN=PATH runs the checks on that binary as stage N, and on no
# other stage.
CFS_GRADE_STAGE=${CFS_GRADE_STAGE:-}

# The stage directory and binary of stage N.
stage_dir() { echo "${STAGE_DIRS[$1 - 1]}"; }
stage_bin() {
	if [[ $1 == "$CFS_GRADE_STAGE" ]]; then
		echo "$CFS_GRADE_BIN"
	else
		echo "$REPO/$(stage_dir "$1")/container"
	fi
}

# Stage N and every later stage that exists in this checkout: a later stage
# must keep every feature of an earlier one, so each check runs on them all.
stages_from() {
	local n
	if [[ -n $CFS_GRADE_STAGE ]]; then
		((CFS_GRADE_STAGE < $1)) || echo "$CFS_GRADE_STAGE"
		return 0
	fi
	for ((n = $1; n <= LAST_STAGE; n++)); do
		[[ -f $REPO/$(stage_dir "$n")/main.c ]] && echo "$n"
	done
	return 0
}

# Print to the test's output, which bats shows when the test fails.
log() { printf '%s\n' "$*" >&2; }

fail() {
	log "FAIL: $*"
	return 1
}

# The command ctr runs the stage under: none, or setpriv to another user
# (tests/rootless.bats sets it).
AS_USER=()

# ctr [-127] N [OPTIONS] COMMAND...: `container run` of stage N, through
# bats' run, logged.  Sets $status, $output (stdout) and $stderr.  A leading
# -127 tells bats that status 127 is expected, not a missing test program.
ctr() {
	local expect=()
	if [[ $1 == -127 ]]; then
		expect=(-127)
		shift
	fi
	local n=$1
	shift
	run "${expect[@]}" --separate-stderr "${AS_USER[@]}" "$(stage_bin "$n")" run "$@"
	log_run "${AS_USER[*]:+${AS_USER[*]} }stage$n/container run $*"
}

# raw N ARGS...: the stage binary with arbitrary arguments (no "run").
raw() {
	local n=$1
	shift
	run --separate-stderr "$(stage_bin "$n")" "$@"
	log_run "stage$n/container $*"
}

# as_nobody N ARGS...: `container ARGS` of stage N as user nobody, through
# bats' run, logged.
as_nobody() {
	local n=$1
	shift
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$(stage_bin "$n")" "$@"
	log_run "setpriv --reuid=nobody stage$n/container $*"
}

log_run() {
	log "\$ $1"
	log "  status: $status"
	log "  stdout: ${output}"
	log "  stderr: ${stderr:-}"
}

expect_status() {
	[[ $status -eq $1 ]] || fail "expected exit status $1, got $status"
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[[ $1 == "$2" ]] || fail "$3: expected '$2', got '$1'"
}

# expect_match TEXT REGEX WHAT
expect_match() {
	[[ $1 =~ $2 ]] || fail "$3: '$1' does not match /$2/"
}

# expect_no_match TEXT REGEX WHAT
expect_no_match() {
	[[ ! $1 =~ $2 ]] || fail "$3: '$1' matches /$2/"
}

# The error contract: exactly one line on stderr, "container: ...".
expect_one_line_error() {
	local lines
	lines=$(printf '%s\n' "$stderr" | grep -c .) || true
	[[ $lines -eq 1 ]] || fail "expected one line on stderr, got $lines"
	expect_match "$stderr" '^container: ' "stderr"
}

# On a machine N times slower than usual (an emulated VM: make test-vm
# ARCH=arm64), CFS_TEST_WAIT_SCALE=N stretches every wait by N.  A wait
# ends as soon as its check passes, so a longer one only delays a failure.
WAIT_SCALE=${CFS_TEST_WAIT_SCALE:-1}

# Retry a check for up to $1 tenths of a second (times WAIT_SCALE).  The
# check is a command, run again on every try: pass a function such as
# no_leftover_pids, never `test -z "$(...)"`, whose argument the shell
# expands only once.
wait_for() {
	local tries=$(($1 * WAIT_SCALE))
	shift
	while ! "$@"; do
		((tries-- > 0)) || return 1
		sleep 0.1
	done
}

# ---- a terminal, as a person at a keyboard ----

# screen_shows FILE REGEX N: the terminal's output so far, in FILE, has at
# least N matches of REGEX (N prompts, say).
screen_shows() {
	local count
	count=$(grep -oaE -- "$2" "$1" 2>/dev/null | wc -l)
	((count >= $3))
}

# at_terminal FEEDER COMMAND: run COMMAND under a pseudo-terminal, script(1),
# its keyboard being the function FEEDER, which types each line only once
# the screen shows what a person would wait for (screen_shows on $screen).
# Sets $status and $output, which is what the terminal showed.
at_terminal() {
	local feeder=$1
	screen=$BATS_TEST_TMPDIR/screen
	: >"$screen"
	status=0
	timeout 30 script -qfec "$2" /dev/null < <("$feeder") >"$screen" 2>&1 || status=$?
	output=$(cat "$screen")
	log "\$ script -qec '${2#"$REPO"/}'"
	log "  status: $status"
	log "  screen: $output"
}

# ---- the host's side ----

# Every test's processes carry this in their environment, so teardown can
# find any that survived, wherever they were re-parented.
export CFS_TEST_MARK

leftover_pids() {
	local mark=$CFS_TEST_MARK
	# The subshell drops the mark from its own environment first, so the
	# grep that looks for it does not find itself.
	(
		unset CFS_TEST_MARK
		grep -lsa "CFS_TEST_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null |
			cut -d/ -f3
	) || true
}

# The open fds of process $1, in order: "0 1 2".
fds_of() { find "/proc/$1/fd" -mindepth 1 -printf '%f\n' | sort -n | paste -sd ' '; }

# The names in directory $1, in order, on one line.
entries() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd ' '; }

no_leftover_pids() { [[ -z $(leftover_pids) ]]; }

# expect_no_leftovers WHAT: every process this test started is gone, once
# they had up to 3 s to finish exiting.
expect_no_leftovers() {
	wait_for 30 no_leftover_pids || fail "$1: left behind: $(leftover_pids)"
}

# kill_tool: SIGKILL the background tool itself, as `kill -9` does, and reap
# it: it can clean nothing up.
kill_tool() {
	kill -KILL "$bg_pid"
	wait "$bg_pid" 2>/dev/null || true
}

# Start the tool in the background, its output in $BATS_TEST_TMPDIR/bg.out;
# sets $bg_pid to the tool's PID.
ctr_bg() {
	local n=$1 bin
	shift
	bin=$(stage_bin "$n") # not inside the subshell: its fork would look like the container
	: >"$BATS_TEST_TMPDIR/bg.out" # emptied before, or a check could read the last run's
	log "\$ stage$n/container run $* &"
	# exec in a subshell without bats' ERR trap: $! is then the tool itself,
	# and its exit status is ours to read, not a test failure.
	(
		trap - ERR
		exec "$bin" run "$@"
	) >>"$BATS_TEST_TMPDIR/bg.out" 2>&1 &
	bg_pid=$!
}

# Wait until the background tool has started its container; sets $ctr_pid.
wait_container() {
	local tries=$((50 * WAIT_SCALE))
	ctr_pid=$(container_pid "$bg_pid")
	while [[ -z $ctr_pid ]]; do
		((tries-- > 0)) || fail "the container of tool $bg_pid never started"
		sleep 0.1
		ctr_pid=$(container_pid "$bg_pid")
	done
}

# Wait for the background tool; sets $status and $output.
wait_bg() {
	status=0
	wait "$bg_pid" || status=$?
	output=$(cat "$BATS_TEST_TMPDIR/bg.out")
	log "  status: $status"
	log "  output: $output"
}

bg_output_has() { grep -q -- "$1" "$BATS_TEST_TMPDIR/bg.out"; }

# End a background container by killing its first process with SIGKILL:
# the tool sees it die and cleans up as after any exit.
kill_container() {
	local pid
	pid=$(container_pid "$bg_pid")
	[[ -n $pid ]] && kill -KILL "$pid"
	wait_bg
}

# Is signal $2 (a number) still pending for process $1, sent but not yet
# taken?  The tool blocks the signals it forwards until it waits for them.
signal_pending() {
	local name mask bit=$((1 << ($2 - 1)))
	while read -r name mask; do
		[[ $name == SigPnd: || $name == ShdPnd: ]] || continue
		((16#$mask & bit)) && return 0
	done <"/proc/$1/status"
	return 1
}
signal_taken() { ! signal_pending "$1" "$2"; }

# End a background tool as a user who insists: SIGTERM, and a second one
# once the tool has taken the first (two standard signals sent together
# coalesce into one), which makes it kill the container with SIGKILL.
stop_bg() {
	kill -TERM "$bg_pid"
	wait_for 50 signal_taken "$bg_pid" 15 || true
	kill -TERM "$bg_pid" 2>/dev/null || true
	wait_bg
}

# A tool killed with SIGKILL cannot clean up after itself; what it leaves
# (stage 5's empty cgroup) is removed by the next run of that stage.
next_run_cleans_up() {
	"$(stage_bin "$1")" run true || fail "stage $1: the run after a SIGKILL exited $?"
}

# expect_trapped_term N [OPTIONS...]: SIGTERM to the tool reaches a command
# of stage N that traps it, and its trap decides the exit status.
expect_trapped_term() {
	local n=$1
	shift
	ctr_bg "$n" "$@" sh -c 'trap "echo got-TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done'
	wait_for 50 bg_output_has ready
	kill -TERM "$bg_pid"
	wait_bg
	expect_status 42
	expect_match "$output" "got-TERM" "stage $n $*"
}

# The container's first process, as the host sees it: the tool's child.
container_pid() { pgrep -P "$1" | head -n 1 || true; }

cgroup_tree() {
	find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -path '*/container*' 2>/dev/null | sort
}

# expect_no_new_cgroups BEFORE WHAT: the cgroup tree is as it was.  The
# suites run in a cgroup namespace of their own (tests/run), so the tree
# holds only what they made: a container that a student runs in another
# terminal is not in it.
expect_no_new_cgroups() {
	expect_eq "$(cgroup_tree)" "$1" "$2: the cgroup tree"
}

host_snapshot() {
	{
		echo "hostname: $(hostname)"
		echo "--- mounts"
		cat /proc/self/mounts
		echo "--- /tmp"
		find /tmp -mindepth 1 -maxdepth 1 ! -name '.bats-tap' ! -name 'bats-run-*' | sort
		echo "--- cgroups"
		cgroup_tree
	} >"$1"
}

common_setup() {
	CFS_TEST_MARK="t$$-$BATS_TEST_NUMBER-$RANDOM"
	if [[ $(id -u) -ne 0 ]]; then
		skip "needs root: run the suites with tests/run"
	fi
	host_snapshot "$BATS_TEST_TMPDIR/host.before"
}

# Kill what a failed test may have left, then check the host is as it was.
common_teardown() {
	local pids left
	pids=$(leftover_pids)
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		kill -9 $pids 2>/dev/null || true
		left="processes left behind: $pids"
	fi
	wait_for 20 no_leftover_pids || true
	host_snapshot "$BATS_TEST_TMPDIR/host.after"
	if ! diff -u "$BATS_TEST_TMPDIR/host.before" "$BATS_TEST_TMPDIR/host.after" >&2; then
		fail "the host changed during the test (diff above)"
		return 1
	fi
	if [[ -n ${left:-} ]]; then
		fail "$left"
		return 1
	fi
}

setup() { common_setup; }
teardown() { common_teardown; }

# ---- images ----

# copy_image DEST: a private copy of the default image, for a test that
# changes it or must prove that nothing else did.
# The image's contents, not the directory: rootfs may be a symlink.
copy_image() { mkdir "$1" && cp -a "$REPO/rootfs/." "$1/"; }

# tree_state DIR: every entry of DIR with its type, mode, owner, size, times
# and link target, then every file's checksum: equal before and after means
# nothing in DIR was modified.
tree_state() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %U:%G %s %T@ %C@ %l\n' | LC_ALL=C sort
		find . -type f -exec md5sum {} + | LC_ALL=C sort -k 2
	)
}

# ---- subordinate ids, as an administrator gives them ----

# with_etc SETUP CMD...: CMD, as root, in a mount namespace of its own whose
# /etc is an overlay of the host's, changed first by the shell commands
# SETUP, as an administrator would change it; the host's own files are
# never touched.
with_etc() {
	local over
	over=$(mktemp -d "$BATS_TEST_TMPDIR/etc.XXXXXX")
	mkdir "$over/upper" "$over/work"
	# shellcheck disable=SC2016 # $1, $2 and $@ are the inner bash's
	unshare --mount --propagation private bash -c '
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc &&
			eval "$2" || exit 99
		shift 2
		exec "$@"' bash "$over" "$@"
}

# with_subids CMD...: CMD where /etc/subuid and /etc/subgid give nobody uids
# 100000-165535 and gids 200000-265535.
with_subids() {
	with_etc 'echo nobody:100000:65536 >>/etc/subuid && echo nobody:200000:65536 >>/etc/subgid' "$@"
}
