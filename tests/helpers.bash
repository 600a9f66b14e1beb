# tests/helpers.bash - loaded by every suite in setup().
#
# Helpers in the spirit of runc's bats suite: run the built programs exactly
# as a student types them, log every command with its status and output so a
# failing test explains itself, and check the host's side before and after
# every test: hostname, mount table, /tmp, the toolkit's cgroups, processes.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
mapfile -t STAGE_DIRS <"$REPO/scripts/stages.txt"
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

# The extensions past stage 5 (docs/extensions/NAME.patch applied to stage 5):
# make builds each into build/ext-NAME/container, and grading one
# (make grade EXT=NAME) sets CFS_GRADE_EXT=NAME with CFS_GRADE_BIN.
CFS_GRADE_EXT=${CFS_GRADE_EXT:-}
ext_bin() {
	if [[ $1 == "$CFS_GRADE_EXT" ]]; then
		echo "$CFS_GRADE_BIN"
	else
		echo "$REPO/build/ext-$1/container"
	fi
}

# Are the suites root of a user namespace that is not the host's, as in
# make grade's sandbox?  The stages are rootless there (common/userns.c):
# the host's devices bound into /dev, the layers in the user's state
# directory; the checks of those check what rootless mode does instead.
userns_root() { ! grep -qE '^ +0 +0 +4294967295$' /proc/self/uid_map; }

# CFS_TEST_MIN_STAGE=N: check only stage N and later.  make test-vm sets 5:
# stages 1 to 4 never touch cgroups, and make test checks them on the host.
MIN_STAGE=${CFS_TEST_MIN_STAGE:-1}

# Stage N and every later stage that exists in this checkout: a later stage
# must keep every feature of an earlier one, so each check runs on them all.
stages_from() {
	local n
	if [[ -n $CFS_GRADE_STAGE ]]; then
		((CFS_GRADE_STAGE < $1)) || echo "$CFS_GRADE_STAGE"
		return 0
	fi
	for ((n = $1 > MIN_STAGE ? $1 : MIN_STAGE; n <= LAST_STAGE; n++)); do
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

# The command ctr, ctr_bg and raw run the stage under: none, or another
# user.  NOBODY is how a test becomes the unprivileged user (uid 65534):
# nobody_ctr, nobody_bg and as_nobody below set AS_USER to it.
AS_USER=()
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

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
	run --separate-stderr "${AS_USER[@]}" "$(stage_bin "$n")" "$@"
	log_run "${AS_USER[*]:+${AS_USER[*]} }stage$n/container $*"
}

# nobody_ctr, nobody_bg and as_nobody: ctr, ctr_bg and raw as nobody.
# shellcheck disable=SC2034 # AS_USER: read by ctr, ctr_bg and raw
nobody_ctr() {
	local AS_USER=("${NOBODY[@]}")
	ctr "$@"
}
# shellcheck disable=SC2034
nobody_bg() {
	local AS_USER=("${NOBODY[@]}")
	ctr_bg "$@"
}
# shellcheck disable=SC2034
as_nobody() {
	local AS_USER=("${NOBODY[@]}")
	raw "$@"
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

# ---- the container's own terminal (tests/stage1-uts.bats, rootless.bats) ----

# in_stage N PROG: the path of a test program of tests/progs for stage N:
# the image has them in its PATH from stage 4 on; before, the host's.
in_stage() {
	if (($1 >= 4)); then echo "$2"; else echo "$REPO/tests/progs/bin/$2"; fi
}

# The keyboard of an outer interactive shell ($PS1 'outer> '): run
# $typed_command, then `echo done-2` once it ends, then exit.
type_command_then_exit() {
	# shellcheck disable=SC2016 # expanded by the outer shell
	wait_for 100 screen_shows "$screen" 'outer> ' 1 && printf '%s; echo done-$((1+1))\n' "$typed_command"
	wait_for 100 screen_shows "$screen" 'done-2' 1 && echo exit
}

# tiocsti_at_terminal N [USER-PREFIX...]: at an outer interactive shell
# under a pseudo-terminal, run tests/progs/tiocsti in stage N, which pushes
# "echo pwned-$((6*7))" into every terminal it holds.  The outer shell must
# never run it: pwned-42 must not be on the screen.
tiocsti_at_terminal() {
	local n=$1
	shift
	typed_command="$(stage_bin "$n") run $(in_stage "$n" tiocsti)"
	at_terminal type_command_then_exit "$* env PS1='outer> ' bash --norc --noprofile -i"
	expect_match "$output" "done-2" "stage $n: the outer shell went on"
	expect_match "$output" "fd 0: " "stage $n: the probe ran"
	expect_no_match "$output" "pwned-42" "stage $n: the outer shell ran what the container typed"
}

# The keyboard of the Ctrl-Z test: Ctrl-Z once the command runs, `fg` at
# the outer shell's prompt, then a line for the resumed command to read.
type_ctrl_z_fg() {
	# shellcheck disable=SC2016 # expanded by the outer shell
	wait_for 100 screen_shows "$screen" 'outer> ' 1 && printf '%s; echo done-$((1+1))\n' "$typed_command"
	wait_for 100 screen_shows "$screen" 'started-2' 1 && printf '\032'
	wait_for 100 screen_shows "$screen" 'outer> ' 2 && echo fg
	# a line typed before the tool runs again waits in the terminal
	wait_for 100 screen_shows "$screen" 'outer> fg' 1 && echo ok
	wait_for 100 screen_shows "$screen" 'done-2' 1 && echo exit
}

# ctrl_z_at_terminal N [USER-PREFIX...]: Ctrl-Z on a bare command in
# stage N stops it and gives the outer shell its prompt back; fg resumes it.
ctrl_z_at_terminal() {
	local n=$1
	shift
	# shellcheck disable=SC2016 # expanded by the container's sh
	typed_command="$(stage_bin "$n") run sh -c 'echo started-\$((1+1)); read x; echo resumed-\$x'"
	at_terminal type_ctrl_z_fg "$* env PS1='outer> ' bash --norc --noprofile -i"
	expect_match "$output" "Stopped" "stage $n: Ctrl-Z stopped the job"
	expect_match "$output" "resumed-ok" "stage $n: fg resumed it"
	expect_match "$output" "done-2" "stage $n: the outer shell went on"
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
# sets $bg_pid to the tool's PID.  Under AS_USER too, which must then be a
# program that execs the rest (setpriv), not a shell function.
ctr_bg() {
	local n=$1 bin
	shift
	bin=$(stage_bin "$n") # not inside the subshell: its fork would look like the container
	: >"$BATS_TEST_TMPDIR/bg.out" # emptied before, or a check could read the last run's
	log "\$ ${AS_USER[*]:+${AS_USER[*]} }stage$n/container run $* &"
	# exec in a subshell without bats' ERR trap: $! is then the tool itself,
	# and its exit status is ours to read, not a test failure.
	(
		trap - ERR
		exec "${AS_USER[@]}" "$bin" run "$@"
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

# Has process $1 exited (gone, or a zombie not yet reaped)?
exited() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[[ ${stat%% *} == [ZX] ]]
}

# Wait for the background tool, for up to 60 s (times WAIT_SCALE); sets
# $status and $output.  A tool that is still running then fails the test,
# which says so, and is killed.
wait_bg() {
	status=0
	if ! wait_for 600 exited "$bg_pid"; then
		kill -KILL "$bg_pid" 2>/dev/null || true
		wait "$bg_pid" 2>/dev/null || true
		output=$(cat "$BATS_TEST_TMPDIR/bg.out")
		log "  output: $output"
		fail "the tool ($bg_pid) was still running after $((60 * WAIT_SCALE)) s: killed"
		return 1
	fi
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

# The time limit: tests/run sets BATS_TEST_TIMEOUT for every test.  At the
# limit bats fails the test with "# timeout after Ns" and sends SIGTERM to
# the test's own children only; a tool whose container ignores SIGTERM,
# or a grandchild, would keep the test, and the run, waiting.  So a
# watchdog, started here, SIGKILLs every process the test started (by its
# mark) just after bats' limit: the test then fails by name and teardown
# runs.  It waits with read -t on a fifo, which needs no child process.
start_watchdog() {
	[[ -n ${BATS_TEST_TIMEOUT:-} ]] || return 0
	local fifo=$BATS_TEST_TMPDIR/watchdog
	mkfifo "$fifo"
	(
		trap - ERR   # a failure here is no test's failure
		trap '' TERM # bats' own timeout sends it to this one too
		read -r -t $((BATS_TEST_TIMEOUT + 2)) <>"$fifo" || true
		for _ in 1 2 3; do
			# shellcheck disable=SC2046 # one PID per word
			kill -KILL $(leftover_pids) 2>/dev/null || true
			read -r -t 1 <>"$fifo" || true
		done
	) >/dev/null 2>&1 3>&- &
	watchdog_pid=$!
}

stop_watchdog() {
	[[ -n ${watchdog_pid:-} ]] || return 0
	kill -KILL "$watchdog_pid" 2>/dev/null || true
	wait "$watchdog_pid" 2>/dev/null || true
	watchdog_pid=
}

common_setup() {
	CFS_TEST_MARK="t$$-$BATS_TEST_NUMBER-$RANDOM"
	start_watchdog
	if [[ $(id -u) -ne 0 ]]; then
		skip "needs root: run the suites with tests/run"
	fi
	host_snapshot "$BATS_TEST_TMPDIR/host.before"
}

# Kill what a failed test may have left, then check the host is as it was.
common_teardown() {
	local pids left
	stop_watchdog
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

# ---- another user ----

# attacker_locks PATH...: as nobody, take flock(2) on every PATH that is
# free, which anyone can do on a file or directory it can open for reading,
# and hold them until end_attacker; sets $attacker_pid.
attacker_locks() {
	local script='' fd=10 p
	for p in "$@"; do
		script+="exec $fd<'$p' && { flock -x -n $fd || true; } && "
		fd=$((fd + 1))
	done
	log "\$ setpriv --reuid=nobody flock -x $* &"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		bash -c "${script}echo locked && exec sleep 1000" >"$BATS_TEST_TMPDIR/attacker.out" 2>&1 &
	attacker_pid=$!
	wait_for 50 grep -q locked "$BATS_TEST_TMPDIR/attacker.out" ||
		fail "the attacker never got its locks: $(cat "$BATS_TEST_TMPDIR/attacker.out")"
}

end_attacker() {
	kill "$attacker_pid"
	wait "$attacker_pid" 2>/dev/null || true
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
