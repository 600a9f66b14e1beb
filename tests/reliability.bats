#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Reliability: nothing is left behind under repetition, concurrency, faults,
# resource exhaustion and bad input.  Runs against stage 5, which has the
# most to clean up, and stage 4 wherever it applies.  Every test's teardown
# compares the host's mounts, /tmp, the toolkit's cgroups, hostname and
# processes with what they were before it.  `make test` runs each scenario
# at smoke counts, enough to catch a leak that every run makes; `make
# soak` runs them at soak counts (RELIABILITY_RUNS, RELIABILITY_PARALLEL,
# RELIABILITY_KILLS), for what only shows once in hundreds.

load helpers

RUNS=${RELIABILITY_RUNS:-20}
PARALLEL=${RELIABILITY_PARALLEL:-8}
KILLS=${RELIABILITY_KILLS:-10}
# Each of these kills takes a whole run of the tool with --layer: fewer.
LAYER_KILLS=$((KILLS / 2))

# The stages this suite drives: 4 and 5, where they are built.
heavy_stages() { stages_from 4; }

# Entries under the toolkit's cgroup parents: none when nothing runs.
container_cgroups() {
	find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -path '*/container/*' 2>/dev/null || true
}

@test "reliability: $RUNS runs in a row leave nothing behind" {
	local i
	for n in $(heavy_stages); do
		for ((i = 0; i < RUNS; i++)); do
			"$(stage_bin "$n")" run true ||
				fail "stage $n: run $i exited $?"
		done
		expect_eq "$(container_cgroups)" "" "stage $n: cgroups after $RUNS runs"
	done
}

@test "reliability: $PARALLEL containers at once with default names all succeed and each sees only itself" {
	local i pids=() st
	for n in $(heavy_stages); do
		pids=()
		for ((i = 0; i < PARALLEL; i++)); do
			"$(stage_bin "$n")" run sh -c 'sleep 0.5; ls /proc | grep -c "^[0-9]"' \
				>"$BATS_TEST_TMPDIR/par.$i" 2>&1 &
			pids+=($!)
		done
		for ((i = 0; i < PARALLEL; i++)); do
			st=0
			wait "${pids[$i]}" || st=$?
			[[ $st -eq 0 ]] || fail "stage $n: container $i exited $st: $(cat "$BATS_TEST_TMPDIR/par.$i")"
			# sh, and the ls or grep of its pipeline.
			[[ $(cat "$BATS_TEST_TMPDIR/par.$i") -le 3 ]] ||
				fail "stage $n: container $i sees $(cat "$BATS_TEST_TMPDIR/par.$i") processes"
		done
		expect_eq "$(container_cgroups)" "" "stage $n: cgroups after $PARALLEL containers"
	done
}

@test "reliability: SIGKILL to the tool at any moment leaves no process, and the next run cleans up" {
	local delay
	for n in $(heavy_stages); do
		for delay in 0 0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.3; do
			ctr_bg "$n" sleep 1000
			sleep "$delay"
			kill_tool
			expect_no_leftovers "stage $n, SIGKILL after ${delay}s"
		done
		# A tool killed mid-run leaves an empty cgroup; the next run
		# finds its owner gone and removes it.
		ctr "$n" true
		expect_status 0
		expect_eq "$(container_cgroups)" "" "stage $n: cgroups after the next run"
	done
}

@test "reliability: SIGKILL to the tool at $KILLS random moments in 0-20 ms, with and without --init, leaves nothing once the next run pruned" {
	local k ms init
	for n in $(heavy_stages); do
		for init in "" --init; do
			for ((k = 0; k < KILLS; k++)); do
				ms=$((RANDOM % 21))
				ctr_bg "$n" $init sleep 1000
				sleep "0.$(printf '%03d' "$ms")"
				kill_tool
				expect_no_leftovers "stage $n $init, SIGKILL after ${ms} ms"
			done
			ctr "$n" true
			expect_status 0
			expect_eq "$(container_cgroups)" "" "stage $n $init: cgroups after the next run"
		done
	done
}

@test "reliability: SIGTERM during setup ends the container cleanly" {
	local delay
	for n in $(heavy_stages); do
		for delay in 0 0.001 0.005 0.02; do
			ctr_bg "$n" sleep 1000
			sleep "$delay"
			stop_bg
			[[ $status -eq 137 || $status -eq 143 ]] ||
				fail "stage $n, SIGTERM after ${delay}s: status $status"
			expect_no_leftovers "stage $n"
		done
		expect_eq "$(container_cgroups)" "" "stage $n: cgroups"
	done
}

@test "reliability: SIGTERM and SIGKILL to the tool during setup with --layer, $LAYER_KILLS times each, leave no unused layer once the next run swept" {
	# A layer the tool made and the container never wrote to is not the
	# user's data: the run removes it, or, after a SIGKILL, the next run.
	local k ms sig left
	for n in $(heavy_stages); do
		for sig in TERM KILL; do
			for ((k = 0; k < LAYER_KILLS; k++)); do
				ms=$((RANDOM % 21))
				ctr_bg "$n" --layer "$BATS_TEST_TMPDIR/layer-$n-$sig-$k" sleep 1000
				sleep "0.$(printf '%03d' "$ms")"
				if [[ $sig == KILL ]]; then kill_tool; else stop_bg; fi
				expect_no_leftovers "stage $n, SIG$sig after ${ms} ms"
			done
			ctr "$n" true
			expect_status 0
			left=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name "layer-$n-$sig-*" | wc -l)
			expect_eq "$left" 0 "stage $n: unused layers left after $LAYER_KILLS SIG$sig"
			expect_eq "$(container_cgroups)" "" "stage $n: cgroups after the next run"
		done
	done
}

@test "reliability: a command that exits at once, during the tool's own setup, is handled" {
	for n in $(heavy_stages); do
		ctr "$n" sh -c 'exit 3'
		expect_status 3
		ctr "$n" --init true
		expect_status 0
	done
}

@test "reliability: when PID 1 exits, the processes it leaves running are killed too" {
	for n in $(heavy_stages); do
		ctr "$n" sh -c 'sleep 1000 & sleep 1000 & exit 0'
		expect_status 0
		expect_no_leftovers "stage $n"
		ctr "$n" --init sh -c 'sleep 1000 & exit 4'
		expect_status 4
		expect_no_leftovers "stage $n --init"
	done
}

@test "reliability: a container that fills its writable layer gets ENOSPC; the next one starts normally" {
	for n in $(heavy_stages); do
		# The default layer on disk is bounded by the host's disk only:
		# the 1 GiB tmpfs layer is filled instead.  Stage 5's memory limit
		# would stop it first: lift it.
		local limits=(--tmpfs-layer)
		((n >= 5)) && limits+=(--memory 2G)
		ctr "$n" "${limits[@]}" sh -c 'dd if=/dev/zero of=/fill bs=1M 2>&1; echo dd-status=$?'
		expect_status 0
		expect_match "$output" "No space left on device" "stage $n"
		expect_match "$output" "dd-status=1" "stage $n"
		ctr "$n" sh -c 'echo fresh > /x && cat /x'
		expect_status 0
		expect_eq "$output" fresh "stage $n: the next container"
	done
}

@test "reliability: a fork bomb stops at the pids limit and the host keeps working" {
	[[ -f $(stage_bin 5) ]] || skip "stage 5 is not built"
	# The bomb runs 3 s, then PID 1 exits and takes every fork with it.
	ctr 5 --pids-limit 20 bash -c ':(){ :|:& };: ; sleep 3; exit 0'
	expect_status 0
	expect_match "$stderr" "Resource temporarily unavailable" "the bomb hit the limit"
	expect_no_leftovers "the bomb"
	ctr 5 true
	expect_status 0
	expect_eq "$(container_cgroups)" "" "cgroups after the bomb"
}

@test "reliability: a memory hog is killed at the limit with a message, and the next container starts" {
	[[ -f $(stage_bin 5) ]] || skip "stage 5 is not built"
	ctr 5 --memory 32M memhog 256
	expect_status 137
	expect_match "$stderr" "out of memory" "stage 5"
	ctr 5 true
	expect_status 0
}

# ---- bad input: each row is "STAGE|ARG..." (args separated by |) ----

long=$(printf 'x%.0s' {1..65})

bad_inputs=(
	"1|"
	"1|run"
	"1|start|true"
	"1|run|--hostname||true"
	"1|run|--hostname|$long|true"
	"1|run|--hostname|--verbose|true"
	"1|run|--hostname"
	"1|run|--no-such-option|true"
	"1|run|--init|true"
	"1|run||"
	"2|run|--rootfs|/|true"
	"3|run|--memory|1G|true"
	"4|run|--rootfs|/|true"
	"4|run|--rootfs|/nonexistent|true"
	"4|run|--rootfs|/etc/passwd|true"
	"4|run|--rootfs||true"
	"4|run|--rootfs|--verbose|true"
	"4|run|--volume|/tmp|true"
	"4|run|--volume|:/data|true"
	"4|run|--volume|/tmp:|true"
	"4|run|--volume|/tmp:data|true"
	"4|run|--volume|/tmp:/a/../b|true"
	"4|run|--volume|/tmp:/|true"
	"4|run|--volume|/tmp:/data:rx|true"
	"4|run|--volume|/nonexistent:/data|true"
	"4|run|--volume|/etc/passwd:/data|true"
	"4|run|--layer|/nonexistent/layer|true"
	"4|run|--layer||true"
	"4|run|--pids-limit|5|true"
	"5|run|--pids-limit|abc|true"
	"5|run|--pids-limit|0|true"
	"5|run|--pids-limit|-5|true"
	"5|run|--pids-limit|99999999999999999999|true"
	"5|run|--pids-limit||true"
	"5|run|--pids-limit|20k|true"
	"5|run|--memory|10X|true"
	"5|run|--memory|0|true"
	"5|run|--memory|-1M|true"
	"5|run|--memory|99999999999G|true"
	"5|run|--memory|1M|true"
	"5|run|--memory||true"
	"5|run|--cpus|0|true"
	"5|run|--cpus|-1|true"
	"5|run|--cpus|abc|true"
	"5|run|--cpus|1.234|true"
	"5|run|--cpus|99999|true"
	"5|run|--cpus|1e3|true"
	"5|run|--name|a/b|true"
	"5|run|--name|.|true"
	"5|run|--name|..|true"
	"5|run|--name||true"
	"5|run|--name|$long|true"
	"5|run|--name|--init|true"
)

@test "reliability: ${#bad_inputs[@]} malformed invocations each exit 125 with one line, and create nothing" {
	local row n args tried=0
	local layer=$BATS_TEST_TMPDIR/never-created
	for row in "${bad_inputs[@]}"; do
		IFS='|' read -r -a args <<<"$row"
		n=${args[0]}
		args=("${args[@]:1}")
		[[ -f $REPO/$(stage_dir "$n")/main.c ]] || continue
		raw "$n" "${args[@]}"
		expect_status 125 || fail "row '$row'"
		expect_one_line_error || fail "row '$row'"
		tried=$((tried + 1))
	done
	((tried >= 30)) || fail "only $tried rows ran"
	# A valid --layer with a bad value elsewhere: the layer is not made.
	for n in $(heavy_stages); do
		raw "$n" run --layer "$layer" --hostname "$long" true
		expect_status 125
		[[ ! -e $layer ]] || fail "stage $n created $layer for a bad invocation"
	done
}

@test "reliability: not root exits 125 with one line, and creates nothing" {
	local layer=$BATS_TEST_TMPDIR/never-created
	for n in $(heavy_stages); do
		as_nobody "$n" run --layer "$layer" true
		expect_status 125
		expect_one_line_error
		[[ ! -e $layer ]] || fail "stage $n created $layer as nobody"
	done
}
