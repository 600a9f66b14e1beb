#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Stage 1: a hostname of its own, and the command-line contract every stage
# shares (exit statuses, errors, signals, interactive use).  Each check runs
# against stage 1 and every later stage.

load helpers

# bats test_tags=smoke
@test "stage1: the default hostname is 'container'" {
	for n in $(stages_from 1); do
		ctr "$n" hostname
		expect_status 0
		expect_eq "$output" container "stage $n hostname"
	done
}

@test "stage1: --hostname sets the container's hostname" {
	for n in $(stages_from 1); do
		ctr "$n" --hostname web-1 hostname
		expect_status 0
		expect_eq "$output" web-1 "stage $n hostname"
	done
}

# bats test_tags=smoke
@test "stage1: the host's hostname never changes, even when the container renames itself" {
	local before
	before=$(hostname)
	for n in $(stages_from 1); do
		ctr "$n" sh -c 'hostname renamed-inside && hostname'
		expect_status 0
		expect_eq "$output" renamed-inside "stage $n hostname inside"
		expect_eq "$(hostname)" "$before" "stage $n: the host's hostname"
	done
}

@test "stage1: a hostname of 64 characters works and 65 exits 125" {
	local h64 h65
	h64=$(printf 'a%.0s' {1..64})
	h65=${h64}b
	for n in $(stages_from 1); do
		ctr "$n" --hostname "$h64" hostname
		expect_status 0
		expect_eq "$output" "$h64" "stage $n hostname"
		ctr "$n" --hostname "$h65" hostname
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "hostname" "stage $n error"
		ctr "$n" --hostname "" hostname
		expect_status 125
		expect_one_line_error
	done
}

@test "stage1: the command's own exit status is the tool's" {
	for n in $(stages_from 1); do
		ctr "$n" sh -c 'exit 7'
		expect_status 7
		ctr "$n" true
		expect_status 0
		ctr "$n" false
		expect_status 1
	done
}

# The container's sleep, the command or init's child: sets $pid.
find_sleep() { pid=$(pgrep -x sleep -P "$ctr_pid,$bg_pid"); }

@test "stage1: a command killed by signal N exits 128+N" {
	local sig code init pid
	for n in $(stages_from 1); do
		ctr_bg "$n" sleep 1000
		wait_container
		kill -KILL "$ctr_pid"
		wait_bg
		expect_status 137
		# From stage 2 on the command is PID 1, which no other signal ends
		# from outside: under --init it is an ordinary process again.
		init=()
		((n == 1)) || init=(--init)
		for sig in TERM:143 SEGV:139; do
			code=${sig#*:}
			sig=${sig%:*}
			ctr_bg "$n" "${init[@]}" sh -c 'ulimit -c 0 && exec sleep 1000'
			wait_container
			wait_for 50 find_sleep || fail "stage $n: no sleep started"
			kill "-$sig" "$pid"
			wait_bg
			expect_status "$code" || fail "stage $n ${init[*]}: SIG$sig"
		done
	done
}

@test "stage1: a command that cannot be executed exits 126" {
	for n in $(stages_from 1); do
		ctr "$n" /tmp
		expect_status 126
		expect_one_line_error
		expect_match "$stderr" "^container: exec /tmp: Permission denied" "stage $n"
	done
}

@test "stage1: a command that does not exist exits 127" {
	for n in $(stages_from 1); do
		ctr -127 "$n" no-such-command-here
		expect_status 127
		expect_one_line_error
		expect_match "$stderr" "no-such-command-here: No such file" "stage $n"
	done
}

@test "stage1: bad usage exits 125 with one line of error" {
	for n in $(stages_from 1); do
		raw "$n"
		expect_status 125
		expect_one_line_error
		raw "$n" start true
		expect_status 125
		expect_one_line_error
		ctr "$n"
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "missing COMMAND" "stage $n"
		ctr "$n" --no-such-option true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "unknown option '--no-such-option'" "stage $n"
		# In a cluster the letter at fault is named, not an argument
		# getopt has not yet moved past (it said 'run').
		ctr "$n" -xq true
		expect_status 125
		expect_one_line_error
		expect_eq "$stderr" "container: unknown option '-x'; try --help" "stage $n -xq"
		ctr "$n" --hostname
		expect_status 125
		expect_one_line_error
		ctr "$n" --hostname --verbose true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "looks like an option" "stage $n"
	done
}

@test "stage1: a hostname follows RFC 1123, and no value is ever echoed with its control characters" {
	local bad
	for n in $(stages_from 1); do
		for bad in a/b 'a b' a_b $'a\nb' $'web\e[31m' 'ä'; do
			ctr "$n" --hostname "$bad" hostname
			expect_status 125
			expect_one_line_error
			expect_match "$stderr" "invalid --hostname" "stage $n: '$bad'"
			expect_no_match "$stderr" $'[\x01-\x1f]' "stage $n: control characters in the error"
		done
		ctr "$n" --hostname my-host.example.org hostname
		expect_status 0
		expect_eq "$output" my-host.example.org "stage $n"
		# A misspelt option or a subcommand is echoed too.
		raw "$n" $'ru\nn' true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" 'ru\\nn' "stage $n: the newline shown as \\n"
	done
}

@test "stage1: an option of a later stage exits 125 and names that stage" {
	ctr 1 --init true
	expect_status 125
	expect_one_line_error
	expect_match "$stderr" "introduced in stage 2 \(stage2-pid\)" "stage 1 --init"
	local n
	for n in 1 2 3; do
		[[ -f $(stage_bin "$n") ]] || continue
		ctr "$n" --rootfs / true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "introduced in stage 4 \(stage4-rootfs\)" "stage $n --rootfs"
	done
	for n in $(stages_from 1); do
		((n < 5)) || continue
		ctr "$n" --pids-limit 5 true
		expect_status 125
		expect_match "$stderr" "introduced in stage 5 \(stage5-cgroups\)" "stage $n --pids-limit"
	done
}

@test "stage1: a mistyped long option exits 125 and suggests the option meant" {
	local n
	for n in $(stages_from 1); do
		ctr "$n" --pids-limt 5 true
		expect_status 125
		expect_one_line_error
		expect_eq "$stderr" "container: unknown option '--pids-limt' (did you mean --pids-limit?); try --help" "stage $n"
		ctr "$n" --hostnme=box true
		expect_status 125
		expect_match "$stderr" "\(did you mean --hostname\?\)" "stage $n --hostnme=box"
		ctr "$n" --xyzzy true
		expect_status 125
		expect_no_match "$stderr" "did you mean" "stage $n --xyzzy"
	done
}

@test "stage1: options stop at COMMAND, so the command keeps its own" {
	for n in $(stages_from 1); do
		ctr "$n" echo --hostname x -v
		expect_status 0
		expect_eq "$output" "--hostname x -v" "stage $n"
		# shellcheck disable=SC2016 # expanded by the container's sh
		ctr "$n" -- sh -c 'echo "$0 $1"' -v --init
		expect_status 0
		expect_eq "$output" "-v --init" "stage $n"
	done
}

@test "stage1: --help prints a man-page usage on stdout and exits 0; --version too" {
	for n in $(stages_from 1); do
		raw "$n" --help
		expect_status 0
		expect_match "$output" "SYNOPSIS" "stage $n --help"
		expect_match "$output" "container run \[OPTIONS\]" "stage $n --help"
		expect_eq "${stderr:-}" "" "stage $n --help stderr"
		raw "$n" run --help
		expect_status 0
		expect_match "$output" "SYNOPSIS" "stage $n run --help"
		raw "$n" --version
		expect_status 0
		expect_match "$output" "$(stage_dir "$n")" "stage $n --version"
	done
}

@test "stage1: without root, every stage runs in a user namespace where the caller is root; stage 5 needs a delegated cgroup v2" {
	for n in $(stages_from 1); do
		as_nobody "$n" run id -u
		if ((n < 5)); then
			expect_status 0
			expect_eq "$output" "0" "stage $n: id -u inside"
			continue
		fi
		# This suite's cgroups belong to root: nothing is delegated to
		# nobody, on v1, hybrid or v2 alike.
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "cgroup v2|delegated" "stage $n"
	done
}

@test "stage1: --verbose traces each step, and where the command runs" {
	for n in $(stages_from 1); do
		ctr "$n" --verbose true
		expect_status 0
		expect_match "$stderr" "stage$n: .*hostname" "stage $n trace"
		expect_match "$stderr" "stage$n: running \[true\] as PID [0-9]+ on the host" "stage $n trace"
		ctr "$n" true
		expect_eq "${stderr:-}" "" "stage $n without --verbose is quiet"
	done
}

@test "stage1: SIGTERM to the tool reaches a command that traps it" {
	for n in $(stages_from 1); do
		expect_trapped_term "$n"
	done
}

# bats test_tags=smoke
@test "stage1: SIGKILL to the tool leaves no process behind" {
	for n in $(stages_from 1); do
		ctr_bg "$n" sleep 1000
		wait_container
		kill_tool
		expect_no_leftovers "stage $n"
		next_run_cleans_up "$n"
	done
}

@test "stage1: a tool killed before its child armed the death signal leaves no container behind" {
	# slow_prctl.so holds the child 1 s before PR_SET_PDEATHSIG, and says
	# so; the tool is killed inside that window.  A tool that let the child
	# go before it armed would leave "sleep 1000" running every time.
	for n in $(stages_from 1); do
		LD_PRELOAD=$REPO/tests/shims/bin/slow_prctl.so CFS_PRCTL_DELAY_MS=1000 \
			ctr_bg "$n" sleep 1000
		wait_for 50 bg_output_has "slow_prctl: holding the child" ||
			fail "stage $n: the child never reached prctl"
		kill_tool
		# The child wakes from its delay, finds the tool gone and says so
		# on the stderr it shared with the tool.
		wait_for 50 bg_output_has "no go-ahead" ||
			fail "stage $n: the child said nothing: $(cat "$BATS_TEST_TMPDIR/bg.out")"
		expect_match "$(grep container: "$BATS_TEST_TMPDIR/bg.out")" "^container: no go-ahead from the tool: it is gone$" "stage $n: the child's last word"
		expect_no_leftovers "stage $n"
		next_run_cleans_up "$n"
	done
}

@test "stage1: the command holds only fds 0, 1 and 2, whatever the caller had open" {
	# fd 7 is the host's / (as after `exec 7</`), and bats keeps fd 3
	# open; ls lists its own directory as fd 3.
	for n in $(stages_from 1); do
		ctr "$n" ls /proc/self/fd 7</
		expect_status 0
		expect_eq "$(echo "$output" | paste -sd ' ')" "0 1 2 3" "stage $n: the fds of ls"
		ctr "$n" sh -c 'ls /proc/self/fd/7/' 7</
		expect_status 2
	done
}

# The keyboard of the interactive test: each line once the screen shows what
# a person would wait for (the typed line is echoed too, hence the counts).
type_into_bash() {
	wait_for 100 screen_shows "$screen" '# ' 1 && echo 'hostname; sleep 30'
	wait_for 100 screen_shows "$screen" 'container' 1 && printf '\003'
	wait_for 100 screen_shows "$screen" '# ' 2 && echo 'echo still-alive; exit 3'
}

@test "stage1: an interactive shell works under a terminal, and Ctrl-C stops only the foreground command" {
	local start
	for n in $(stages_from 1); do
		start=$SECONDS
		at_terminal type_into_bash "$(stage_bin "$n") run bash --norc -i"
		expect_status 3
		expect_match "$output" "container" "stage $n hostname"
		((SECONDS - start < 20)) || fail "stage $n: Ctrl-C did not interrupt sleep 30"
		expect_match "$output" "still-alive" "stage $n: the shell survived Ctrl-C"
	done
}

# ---- a session and a terminal of the container's own ----

@test "stage1: the container cannot type into the user's shell (TIOCSTI)" {
	for n in $(stages_from 1); do
		tiocsti_at_terminal "$n"
	done
}

@test "stage1: an interactive run has a terminal of its own, not the caller's" {
	local outer inner
	for n in $(stages_from 1); do
		at_terminal true "tty; $(stage_bin "$n") run tty"
		expect_status 0
		# the first line is the caller's; what the container prints
		# may follow a ^@, script's end of input echoed by its terminal
		outer=$(sed -n 1p <<<"$output" | tr -d '\r')
		inner=$(sed -n 2p <<<"$output" | tr -d '\r' | grep -o '/dev/pts/[0-9]*$')
		expect_match "$outer" '^/dev/pts/[0-9]+$' "stage $n: the caller's tty"
		expect_match "$inner" '^/dev/pts/[0-9]+$' "stage $n: tty inside"
		# from stage 4 the devpts is the container's own: its first
		# terminal is /dev/pts/0, whatever the caller's is called
		if ((n >= 4)); then
			expect_eq "$inner" /dev/pts/0 "stage $n: the container's own devpts"
		else
			[[ $inner != "$outer" ]] || fail "stage $n: the container has the caller's terminal $outer"
		fi
	done
}

# The keyboard of the resize test: once the container shows the first
# size, resize the outer terminal, as a person dragging the window would.
resize_outer_terminal() {
	wait_for 100 screen_shows "$screen" 'size 30 100' 1 &&
		stty -F "$(cat "$BATS_TEST_TMPDIR/outer-tty")" rows 40 cols 120
}

@test "stage1: stty size inside is the caller's terminal's, and follows a resize" {
	# shellcheck disable=SC2016 # expanded by the container's sh
	local loop='echo "inside $(tty)"; i=0; while [ $i -lt 100 ]; do s=$(stty size); echo "size $s"; [ "$s" = "40 120" ] && exit 0; i=$((i + 1)); sleep 0.1; done; exit 1'
	for n in $(stages_from 1); do
		at_terminal resize_outer_terminal "stty rows 30 cols 100; tty >$BATS_TEST_TMPDIR/outer-tty; $(stage_bin "$n") run sh -c '$loop'"
		expect_status 0
		# the very first size: the command may ask before the relay runs
		expect_eq "$(grep -a -m1 -o 'size [0-9]* [0-9]*' <<<"$output")" "size 30 100" "stage $n: the first size"
		expect_match "$output" "size 40 120" "stage $n: the size after the resize"
		# the container's own terminal, which the tool resized (from
		# stage 4 its devpts is its own, and any name may repeat)
		expect_match "$output" "inside /dev/pts/" "stage $n: a terminal inside"
		if ((n < 4)); then
			expect_no_match "$output" "inside $(cat "$BATS_TEST_TMPDIR/outer-tty")" "stage $n: the caller's terminal"
		fi
	done
}

@test "stage1: Ctrl-Z on a bare command gives the shell its prompt back, and fg resumes it" {
	for n in $(stages_from 1); do
		ctrl_z_at_terminal "$n"
	done
}

@test "stage1: a run without a terminal on stdin gets no pty: pipes are unchanged" {
	for n in $(stages_from 1); do
		at_terminal true "echo piped | $(stage_bin "$n") run sh -c 'tty >&2; cat' | od -An -c"
		expect_status 0
		expect_match "$output" "not a tty" "stage $n: stdin is the pipe"
		expect_match "$output" 'p   i   p   e   d  \\n' "stage $n: the bytes of the pipe"
		expect_no_match "$output" '\\r' "stage $n: no CR added"
	done
}

@test "stage1: a caller that ignores SIGCHLD does not hang the tool or --init" {
	local sigign=$REPO/tests/progs/bin/sigign
	for n in $(stages_from 1); do
		run --separate-stderr timeout 10 "$sigign" "$(stage_bin "$n")" run sh -c 'exit 7'
		log_run "sigign stage$n/container run sh -c 'exit 7'"
		expect_status 7
		if ((n >= 2)); then
			run --separate-stderr timeout 10 "$sigign" "$(stage_bin "$n")" run --init true
			log_run "sigign stage$n/container run --init true"
			expect_status 0
		fi
	done
}

@test "stage1: the user's terminal leaves raw mode when the container is killed, and keeps 128+N" {
	local init
	for n in $(stages_from 1); do
		init=
		((n >= 2)) && init=--init # a PID 1 cannot SIGKILL itself
		# shellcheck disable=SC2016,SC2034 # expanded inside; read by type_command_then_exit
		typed_command="$(stage_bin "$n") run $init sh -c 'kill -9 \$\$'; echo status-\$?; stty -a | grep -o -- '-\\?icanon'"
		at_terminal type_command_then_exit "env PS1='outer> ' bash --norc --noprofile -i"
		expect_match "$output" "status-137" "stage $n: the exit status"
		grep -aq '^icanon' <<<"$output" || fail "stage $n: the terminal's canonical mode is not back"
		expect_no_match "$output" "-icanon" "stage $n: the terminal left in raw mode"
	done
}
