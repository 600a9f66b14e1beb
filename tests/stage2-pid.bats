#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Stage 2: a PID namespace.  The command is PID 1, with what that implies for
# signals and zombies, and --init puts a minimal init in that seat.  Each
# check runs against stage 2 and every later stage.

load helpers

# The state letters of the processes whose parent is $1, as the host sees them.
child_states() { ps -o stat= --ppid "$1" 2>/dev/null | tr -d ' \n' || true; }

# A zombie among the children of $1.
has_zombie() { [[ $(child_states "$1") == *Z* ]]; }

# The command has left its subshell: a child of $1 is called sleep (the
# command after its exec, or the orphan, which only then is $1's).
sleeps_under() { [[ -n $(pgrep -x sleep -P "$1") ]]; }

# The orphan is gone from under $1: it was reaped (or is a zombie).
orphan_gone() { [[ $(child_states "$1") != SS ]]; }

# bats test_tags=smoke
@test "stage2: the command is PID 1" {
	for n in $(stages_from 2); do
		ctr "$n" sh -c 'echo $$'
		expect_status 0
		expect_eq "$output" 1 "stage $n: PID of the command"
	done
}

@test "stage2: the host sees the container's PID 1 under an ordinary PID" {
	for n in $(stages_from 2); do
		ctr_bg "$n" sleep 1000
		wait_container
		[[ $ctr_pid -gt 1 ]] || fail "stage $n: host PID $ctr_pid"
		# NSpid lists the PID in each namespace, outermost first.
		expect_match "$(grep NSpid "/proc/$ctr_pid/status")" "[[:space:]]${ctr_pid}[[:space:]]+1$" "stage $n NSpid"
		kill_container
	done
}

@test "stage2: --init makes the command PID 2, under an init that is PID 1" {
	for n in $(stages_from 2); do
		ctr "$n" --init sh -c 'echo $$'
		expect_status 0
		expect_eq "$output" 2 "stage $n: PID of the command under --init"
	done
}

@test "stage2: --init exits with the command's status" {
	for n in $(stages_from 2); do
		ctr "$n" --init sh -c 'exit 5'
		expect_status 5
		ctr -127 "$n" --init no-such-command-here
		expect_status 127
	done
}

@test "stage2: without --init, a PID 1 that never waits collects zombies" {
	# The orphan "sleep 0.2" is re-parented to PID 1; sleep 30 never reaps it.
	for n in $(stages_from 2); do
		ctr_bg "$n" sh -c '(sleep 0.2 &); exec sleep 30'
		wait_container
		wait_for 50 has_zombie "$ctr_pid" ||
			fail "stage $n: no zombie under PID 1: '$(child_states "$ctr_pid")'"
		kill_container
	done
}

@test "stage2: --init reaps orphaned zombies" {
	for n in $(stages_from 2); do
		ctr_bg "$n" --init sh -c '(sleep 0.2 &); exec sleep 30'
		wait_container
		wait_for 50 sleeps_under "$ctr_pid" || fail "stage $n: the command never ran"
		wait_for 50 orphan_gone "$ctr_pid" || fail "stage $n: the orphan never exited"
		# Under init: the command, asleep (S), and nothing else: no
		# zombie (Z), and not an empty list that proves nothing.
		expect_eq "$(child_states "$ctr_pid")" "S" "stage $n: the processes under init"
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 143
	done
}

@test "stage2: PID 1 ignores SIGTERM it has no handler for; a second SIGTERM kills it" {
	for n in $(stages_from 2); do
		ctr_bg "$n" --verbose sleep 1000
		wait_container
		# The tool forwards the first (its trace says so before it does);
		# had PID 1 died of it, the status would be 143, not SIGKILL's 137.
		stop_bg
		expect_status 137
		expect_match "$output" "forwarding SIGTERM to the container" "stage $n: the first SIGTERM"
		expect_match "$output" "second SIGTERM: killing the container with SIGKILL" "stage $n: the second"
	done
}

@test "stage2: --init forwards SIGTERM, and the command dies of it" {
	for n in $(stages_from 2); do
		ctr_bg "$n" --init sleep 1000
		wait_container
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 143
	done
}

@test "stage2: --init passes a trapped SIGTERM to the command" {
	for n in $(stages_from 2); do
		expect_trapped_term "$n" --init
	done
}

# bats test_tags=smoke
@test "stage2: SIGKILL to the tool kills every process in the container" {
	for n in $(stages_from 2); do
		ctr_bg "$n" sh -c 'sleep 1000 & sleep 1000 & echo ready; wait'
		wait_for 50 bg_output_has ready
		kill_tool
		expect_no_leftovers "stage $n"
		next_run_cleans_up "$n"
	done
}

@test "stage2: /proc is still the host's, so the container sees the host's processes" {
	# The lesson that motivates stage 3: a PID namespace alone does not
	# change what ps reads.
	ctr 2 sh -c "test -d /proc/$$ && echo host-visible"
	expect_status 0
	expect_eq "$output" host-visible "stage 2"
	ctr 2 sh -c 'ls /proc | grep -c "^[0-9]"'
	[[ $output -gt 10 ]] || fail "stage 2 sees only $output processes"
}

@test "stage2: --init's PID 1 and the command hold only fds 0, 1 and 2, seen from the host" {
	local cmd
	for n in $(stages_from 2); do
		# fd 7 is the host's /, as after `exec 7</`.
		ctr_bg "$n" --init sleep 1000 7</
		wait_container
		wait_for 50 pgrep -P "$ctr_pid" || fail "stage $n: no command under init"
		cmd=$(pgrep -P "$ctr_pid")
		expect_eq "$(fds_of "$ctr_pid")" "0 1 2" "stage $n: the fds of init"
		expect_eq "$(fds_of "$cmd")" "0 1 2" "stage $n: the fds of the command"
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 143
	done
}

@test "stage2: with --init, a command that drops its privileges still dies with a SIGKILLed tool" {
	# A change of credentials clears the command's own death signal
	# (prctl(2)); init keeps its signal, and its death ends the namespace.
	for n in $(stages_from 2); do
		ctr_bg "$n" --init "${NOBODY[@]}" sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready || fail "stage $n: the command never started"
		kill_tool
		expect_no_leftovers "stage $n"
		next_run_cleans_up "$n"
	done
}
