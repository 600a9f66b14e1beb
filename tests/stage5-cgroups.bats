#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Stage 5: a cgroup of its own, with limits on processes, memory and CPU.
# The limits are read from the host, in the files the kernel enforces, with
# the v1 or v2 names this machine has: the same suite runs on a hybrid host
# and in the pure v2 VM (make test-vm).  Every test's teardown also checks
# that no cgroup is left under */container* in /sys/fs/cgroup.  Each check
# runs against stage 5 and every later stage.

load helpers

# ---- the host's view of cgroups, found independently of the tool ----

cgroup_v2() { [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; }

# The cgroup2 hierarchy: all of /sys/fs/cgroup on v2, /sys/fs/cgroup/unified
# on a hybrid system.
unified_root() {
	if cgroup_v2; then echo /sys/fs/cgroup; else echo /sys/fs/cgroup/unified; fi
}

# Is controller $1 bound to a v1 hierarchy of its own?
v1_controller() { [[ $(stat -f -c %T "/sys/fs/cgroup/$1" 2>/dev/null) == cgroupfs ]]; }

# The host directory of process $1's cgroup for controller $2, from
# /proc/PID/cgroup: "N:ctl[,ctl]:/path" for a v1 hierarchy, "0::/path" for
# the unified one.
cgroup_of() {
	local path
	if v1_controller "$2"; then
		path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
		echo "/sys/fs/cgroup/$2$path"
	else
		path=$(awk -F: '$1 == 0 { print $3 }' "/proc/$1/cgroup")
		echo "$(unified_root)$path"
	fi
}

# The directories of the cgroup named $1, one per hierarchy, as documented:
# /sys/fs/cgroup/CONTROLLER/container/NAME (v1), /sys/fs/cgroup/container/NAME (v2).
cgroup_dirs() {
	local ctl
	for ctl in pids memory cpu; do
		if v1_controller "$ctl"; then
			echo "/sys/fs/cgroup/$ctl/container/$1"
		else
			echo "$(unified_root)/container/$1"
		fi
	done | awk '!seen[$0]++'
}

# The limit files of process $1's cgroups, "file=value", in this kernel's
# names; the swap file only where the kernel accounts for swap.
read_limits() {
	local d
	d=$(cgroup_of "$1" pids)
	echo "pids.max=$(cat "$d/pids.max")"
	d=$(cgroup_of "$1" memory)
	if v1_controller memory; then
		echo "memory.limit_in_bytes=$(cat "$d/memory.limit_in_bytes")"
		[[ ! -e $d/memory.memsw.limit_in_bytes ]] ||
			echo "memory.memsw.limit_in_bytes=$(cat "$d/memory.memsw.limit_in_bytes")"
	else
		echo "memory.max=$(cat "$d/memory.max")"
		[[ ! -e $d/memory.swap.max ]] || echo "memory.swap.max=$(cat "$d/memory.swap.max")"
	fi
	d=$(cgroup_of "$1" cpu)
	if v1_controller cpu; then
		echo "cpu.cfs_period_us=$(cat "$d/cpu.cfs_period_us")"
		echo "cpu.cfs_quota_us=$(cat "$d/cpu.cfs_quota_us")"
	else
		echo "cpu.max=$(cat "$d/cpu.max")"
	fi
}

# What read_limits must show for PID $1 given PIDS BYTES QUOTA PERIOD.
expected_limits() {
	local pid=$1 pids=$2 bytes=$3 quota=$4 period=$5 d
	echo "pids.max=$pids"
	d=$(cgroup_of "$pid" memory)
	if v1_controller memory; then
		echo "memory.limit_in_bytes=$bytes"
		[[ ! -e $d/memory.memsw.limit_in_bytes ]] || echo "memory.memsw.limit_in_bytes=$bytes"
	else
		echo "memory.max=$bytes"
		[[ ! -e $d/memory.swap.max ]] || echo "memory.swap.max=0"
	fi
	if v1_controller cpu; then
		echo "cpu.cfs_period_us=$period"
		echo "cpu.cfs_quota_us=$quota"
	else
		echo "cpu.max=$quota $period"
	fi
}

# Is the background container's PID 1 in a cgroup of the toolkit, for
# every controller?  The host sees the tool's child a little before that.
joined() {
	local ctl
	for ctl in pids memory cpu; do
		[[ $(cgroup_of "$ctr_pid" "$ctl") == */container/* ]] || return 1
	done
}

# ctr_ready N [OPTIONS]: start "sleep 1000" in a container in the
# background, and wait until it has joined its cgroup.  Not until it runs:
# under --cpus 0.01 in a slow VM, that takes seconds.
ctr_ready() {
	local n=$1
	shift
	ctr_bg "$n" "$@" sleep 1000
	wait_container
	wait_for 50 joined || fail "stage $n: PID $ctr_pid never joined its cgroup"
}

# Does cgroup directory $1 hold no process?
cgroup_empty() { [[ -z $(cat "$1/cgroup.procs") ]]; }

# ---- limits ----

# bats test_tags=smoke
@test "stage5: the limit files, read from the host while it runs, match the flags" {
	local actual
	for n in $(stages_from 5); do
		ctr_ready "$n" --pids-limit 7 --memory 64m --cpus 1.5
		actual=$(read_limits "$ctr_pid")
		log "host-side limits of PID $ctr_pid:" "$actual"
		expect_eq "$actual" "$(expected_limits "$ctr_pid" 7 67108864 150000 100000)" "stage $n limits"
		stop_bg
		expect_status 137
	done
}

@test "stage5: the defaults are 20 processes, 500M with no swap, and 2 CPUs" {
	for n in $(stages_from 5); do
		ctr_ready "$n"
		expect_eq "$(read_limits "$ctr_pid")" "$(expected_limits "$ctr_pid" 20 524288000 200000 100000)" "stage $n defaults"
		stop_bg
	done
}

@test "stage5: --cpus takes fractions and --memory takes k, m and g, powers of 1024" {
	local row cpus mem quota bytes
	for n in $(stages_from 5); do
		for row in "0.5 7168k 50000 7340032" "0.01 6M 1000 6291456" "3 1g 300000 1073741824" "1.25 100M 125000 104857600"; do
			read -r cpus mem quota bytes <<<"$row"
			ctr_ready "$n" --cpus "$cpus" --memory "$mem" --pids-limit 4194304
			expect_eq "$(read_limits "$ctr_pid")" "$(expected_limits "$ctr_pid" 4194304 "$bytes" "$quota" 100000)" "stage $n --cpus $cpus --memory $mem"
			stop_bg
		done
	done
}

@test "stage5: no swap beyond --memory: memsw equals the limit (v1), memory.swap.max is 0 (v2)" {
	local d
	for n in $(stages_from 5); do
		ctr_ready "$n" --memory 48m
		d=$(cgroup_of "$ctr_pid" memory)
		if v1_controller memory; then
			[[ -e $d/memory.memsw.limit_in_bytes ]] || {
				stop_bg
				skip "this kernel does not account for swap (no memory.memsw.*; boot with swapaccount=1)"
			}
			expect_eq "$(cat "$d/memory.memsw.limit_in_bytes")" 50331648 "stage $n memsw"
		else
			[[ -e $d/memory.swap.max ]] || {
				stop_bg
				skip "this kernel does not account for swap (no memory.swap.max)"
			}
			expect_eq "$(cat "$d/memory.swap.max")" 0 "stage $n memory.swap.max"
		fi
		stop_bg
	done
}

# The cgroup $1 was throttled in at least $2 periods.
throttled_in() { (($(awk '$1 == "nr_throttled" { print $2 }' "$1/cpu.stat") >= $2)); }

@test "stage5: --cpus caps CPU time: a busy loop under --cpus 0.1 is throttled" {
	local d throttled
	for n in $(stages_from 5); do
		ctr_bg "$n" --cpus 0.1 sh -c 'echo ready; while :; do :; done'
		wait_for 50 bg_output_has ready || fail "stage $n: the container never started"
		wait_container
		d=$(cgroup_of "$ctr_pid" cpu)
		wait_for 50 throttled_in "$d" 5
		throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat")
		log "cpu.stat: $(tr '\n' ' ' <"$d/cpu.stat")"
		[[ ${throttled:-0} -ge 5 ]] || fail "stage $n: throttled in only ${throttled:-0} periods"
		stop_bg
	done
}

# ---- joining ----

@test "stage5: a cgroup namespace: /proc/self/cgroup is / in every hierarchy, and the host's paths are hidden" {
	for n in $(stages_from 5); do
		ctr "$n" --name cgns-$$ sh -c 'cat /proc/self/cgroup; readlink /proc/self/ns/cgroup'
		expect_status 0
		expect_no_match "$output" "container|cgns-|cfs-test" "stage $n: a host path inside"
		expect_eq "$(grep -vc ':/$' <<<"$output")" 1 "stage $n: lines of /proc/self/cgroup that are not /"
		[[ $(tail -n 1 <<<"$output") != "$(readlink /proc/self/ns/cgroup)" ]] ||
			fail "stage $n: the container shares the suite's cgroup namespace"
	done
}

@test "stage5: /sys/fs/cgroup shows the container's own cgroup, read-only, with its limits" {
	local file
	for n in $(stages_from 5); do
		if v1_controller pids; then file=/sys/fs/cgroup/pids/pids.max; else file=/sys/fs/cgroup/pids.max; fi
		# shellcheck disable=SC2016 # expanded by the container's sh
		ctr "$n" --pids-limit 7 --name view-$$ sh -c 'cat "$1"; findmnt -no OPTIONS -T "$1"; find /sys/fs/cgroup -name "*view-*" -o -name container | head -n 3' sh "$file"
		expect_status 0
		expect_eq "$(sed -n 1p <<<"$output")" 7 "stage $n: $file inside"
		expect_match "$(sed -n 2p <<<"$output")" "^ro," "stage $n: the mount of $file"
		expect_eq "$(sed -n '3,$p' <<<"$output")" "" "stage $n: the host's tree, seen inside"
		# shellcheck disable=SC2016 # expanded by the container's sh
		ctr "$n" --pids-limit 7 sh -c 'echo 1000 >"$1"' sh "$file"
		expect_match "$stderr" "Read-only file system" "stage $n: a write to $file"
		ctr "$n" --memory 64m sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null'
		expect_eq "$output" $((64 << 20)) "stage $n: the memory limit inside"
	done
}

@test "stage5: the command is in its cgroup from its first instruction, and the tool is not" {
	local ctl line dir
	for n in $(stages_from 5); do
		# cat reads its own cgroup as it starts: nothing ran outside.  In
		# its cgroup namespace, whose root is the container's cgroup, that
		# is "/" (a cgroup outside the root would show as /..).
		ctr "$n" --name probe-$$ cat /proc/self/cgroup
		expect_status 0
		for ctl in pids memory cpu; do
			if v1_controller "$ctl"; then
				line=$(echo "$output" | awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }')
			else
				line=$(echo "$output" | awk -F: '$1 == 0 { print $3 }')
			fi
			expect_eq "$line" "/" "stage $n: the $ctl cgroup inside"
		done

		ctr_ready "$n"
		for ctl in pids memory cpu; do
			dir=$(cgroup_of "$ctr_pid" "$ctl")
			expect_match "$dir" "/container/ctr-$bg_pid\$" "stage $n: $ctl cgroup of PID 1"
			expect_eq "$(cat "$dir/cgroup.procs")" "$ctr_pid" "stage $n: $ctl cgroup.procs holds PID 1 alone"
			expect_no_match "$(cgroup_of "$bg_pid" "$ctl")" "/container/" "stage $n: the tool's $ctl cgroup"
		done
		stop_bg
	done
}

@test "stage5: on v2 the child starts inside its cgroup (clone3), and the fallback joins it first thing" {
	# CONTAINER_FORCE_FALLBACK=clone3 plays a kernel before 5.7, or a
	# seccomp filter that refuses clone3: the child must then join by
	# itself, and the limits hold all the same.
	local fallback
	for n in $(stages_from 5); do
		for fallback in "" clone3; do
			CONTAINER_FORCE_FALLBACK=$fallback ctr "$n" --verbose --pids-limit 5 forkcount
			expect_status 0
			expect_eq "$output" 4 "stage $n ($fallback): forkcount under --pids-limit 5"
			if cgroup_v2 && [[ -z $fallback ]]; then
				expect_match "$stderr" "clone3 with CLONE_INTO_CGROUP: the child starts in " "stage $n: the trace"
				expect_no_match "$stderr" "joined cgroup" "stage $n: no join after clone3"
			else
				expect_match "$stderr" "joined cgroup [^ ]*/container/ctr-[0-9]+ before running anything" "stage $n ($fallback): the trace"
			fi
		done
	done
}

# bats test_tags=smoke
@test "stage5: forkcount as PID 1 under --pids-limit 20 makes exactly 19 children" {
	for n in $(stages_from 5); do
		ctr "$n" --pids-limit 20 forkcount
		expect_status 0
		expect_eq "$output" 19 "stage $n: children under --pids-limit 20"
		ctr "$n" forkcount
		expect_eq "$output" 19 "stage $n: children under the default limit"
		ctr "$n" --pids-limit 5 forkcount
		expect_eq "$output" 4 "stage $n: children under --pids-limit 5"
		ctr "$n" --pids-limit 1 forkcount
		expect_eq "$output" 0 "stage $n: children under --pids-limit 1"
	done
}

# ---- the fork bomb ----

@test "stage5: a fork bomb stops at pids.max, the host keeps working, and killing it leaves nothing" {
	local d before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		# exec: PID 1 becomes sleep without a fork, and outlives the bomb's start.
		ctr_bg "$n" --pids-limit 20 bash -c ':(){ :|:& };: ; exec sleep 1000'
		wait_container
		wait_for 50 bg_output_has "Resource temporarily unavailable" ||
			fail "stage $n: the bomb never hit the limit"
		d=$(cgroup_of "$ctr_pid" pids)
		log "pids.current=$(cat "$d/pids.current") $(tr '\n' ' ' <"$d/pids.events")"
		[[ $(cat "$d/pids.current") -le 20 ]] || fail "stage $n: $(cat "$d/pids.current") tasks over pids.max 20"
		expect_match "$(cat "$d/pids.events")" "max [1-9]" "stage $n: pids.events"
		# The host forks freely meanwhile.
		# shellcheck disable=SC2016 # expanded by that sh
		timeout 10 sh -c 'for i in $(seq 100); do /bin/true || exit 1; done' ||
			fail "stage $n: the host cannot fork"
		stop_bg
		expect_status 137
		expect_no_leftovers "stage $n"
		expect_no_new_cgroups "$before" "stage $n after the bomb"
	done
}

@test "stage5: a fork bomb ended from inside by timeout leaves no process and no cgroup" {
	local before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr "$n" --pids-limit 20 timeout 3 bash -c ':(){ :|:& };: ; exec sleep 1000'
		expect_status 124
		# bash says "fork: retry: Resource temporarily unavailable".
		expect_match "$stderr" "fork: (retry: )?Resource temporarily unavailable" "stage $n: the bomb's stderr"
		expect_no_leftovers "stage $n"
		expect_no_new_cgroups "$before" "stage $n after the bomb"
	done
}

# ---- memory ----

@test "stage5: a command over --memory is killed: exit 137 and 'killed: out of memory'" {
	for n in $(stages_from 5); do
		ctr "$n" --memory 32M memhog 256
		expect_status 137
		expect_match "$stderr" "container: killed: out of memory \(limit 32M\)" "stage $n stderr"
		ctr "$n" --init --memory 32m memhog 256
		expect_status 137
		expect_match "$stderr" "container: killed: out of memory \(limit 32M\)" "stage $n --init stderr"
	done
}

@test "stage5: an OOM kill that PID 1 survives is reported, and PID 1's status is kept" {
	for n in $(stages_from 5); do
		ctr "$n" --memory 32M sh -c 'memhog 256; echo "memhog-status=$?"'
		expect_status 0
		expect_eq "$output" "memhog-status=137" "stage $n: the shell saw"
		expect_match "$stderr" "container: out of memory \(limit 32M\): 1 process killed" "stage $n stderr"
	done
}

@test "stage5: memory within the limit is no problem, and no OOM is reported" {
	for n in $(stages_from 5); do
		ctr "$n" --memory 64M memhog 16
		expect_status 0
		expect_no_match "$stderr" "out of memory" "stage $n stderr"
	done
}

@test "stage5: a 100 MB file under --memory 64m is written: the default layer is on disk, not memory" {
	# The test VM's root is a tmpfs, and so is the state directory there.
	if [[ $(stat -f -c %T /var/lib) == tmpfs ]]; then
		skip "/var/lib is on a tmpfs here: no disk for the writable layer"
	fi
	for n in $(stages_from 5); do
		ctr "$n" --memory 64m sh -c 'dd if=/dev/zero of=/var/tmp/big bs=1M count=100 2>/dev/null && stat -c %s /var/tmp/big'
		expect_status 0
		expect_eq "$output" $((100 << 20)) "stage $n: the file's size"
		expect_no_match "$stderr" "out of memory" "stage $n stderr"
		# The trade-off: a tmpfs layer is memory, charged to the container.
		ctr "$n" --memory 64m --tmpfs-layer sh -c 'dd if=/dev/zero of=/var/tmp/big bs=1M count=100 2>/dev/null'
		expect_status 137
		expect_match "$stderr" "out of memory" "stage $n --tmpfs-layer stderr"
	done
}

# ---- cleanup ----

# bats test_tags=smoke
@test "stage5: the cgroup is removed after a normal exit, a failing or missing command, and a failed setup" {
	local before src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr "$n" true
		expect_status 0
		expect_no_new_cgroups "$before" "stage $n after exit 0"
		ctr "$n" sh -c 'exit 3'
		expect_status 3
		expect_no_new_cgroups "$before" "stage $n after exit 3"
		ctr -127 "$n" no-such-command
		expect_status 127
		expect_no_new_cgroups "$before" "stage $n after a missing command"
		# Fails in the child, after it joined the cgroup: a volume onto a file.
		ctr "$n" --volume "$src:/etc/os-release" true
		expect_status 125
		expect_one_line_error
		expect_no_new_cgroups "$before" "stage $n after a failed setup"
	done
}

@test "stage5: a closed stderr (--verbose 2>&1 | head -c1) does not end the tool before its cleanup" {
	# The traces go on after head exits: a tool that SIGPIPE may end dies
	# (141) while it removes its cgroups, and leaves them.
	local before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		log "\$ stage$n/container run --verbose true 2>&1 | head -c1"
		"$(stage_bin "$n")" run --verbose true 2>&1 | head -c1 >/dev/null
		expect_eq "${PIPESTATUS[0]}" 0 "stage $n: the tool's status"
		expect_no_new_cgroups "$before" "stage $n"
	done
}

@test "stage5: the cgroup is removed after SIGTERM twice, SIGKILL of PID 1, and a forwarded SIGTERM" {
	local before dirs
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr_bg "$n" sh -c 'sleep 1000 & sleep 1000 & exec sleep 1000'
		wait_container
		dirs=$(cgroup_dirs "ctr-$bg_pid")
		stop_bg
		expect_status 137
		expect_no_new_cgroups "$before" "stage $n after two SIGTERMs"
		for d in $dirs; do
			[[ ! -e $d ]] || fail "stage $n: $d is left"
		done

		ctr_bg "$n" sh -c 'sleep 1000 & exec sleep 1000'
		wait_container
		kill -KILL "$ctr_pid"
		wait_bg
		expect_status 137
		expect_no_new_cgroups "$before" "stage $n after SIGKILL of PID 1"

		ctr_ready "$n" --init
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 143
		expect_no_new_cgroups "$before" "stage $n after SIGTERM under --init"
		expect_no_leftovers "stage $n"
	done
}

@test "stage5: a stale cgroup left by a SIGKILLed tool is removed by the next run" {
	local before name=stale-$$ d
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr_ready "$n" --name "$name"
		kill_tool
		expect_no_leftovers "stage $n"
		# SIGKILL cannot be caught: the cgroup stays, and empties.
		for d in $(cgroup_dirs "$name"); do
			[[ -d $d ]] || fail "stage $n: expected the stale $d"
			wait_for 30 cgroup_empty "$d" ||
				fail "stage $n: processes in the stale $d: $(cat "$d/cgroup.procs")"
		done
		# Its owner is gone: the next run removes it, whatever its own name.
		ctr "$n" --verbose true
		expect_status 0
		expect_match "$stderr" "removed stale cgroup [^ ]*/container/$name" "stage $n trace"
		expect_no_new_cgroups "$before" "stage $n after the next run"

		# And the name of a SIGKILLed tool's container can be used again.
		ctr_ready "$n" --name "$name"
		kill_tool
		expect_no_leftovers "stage $n"
		for d in $(cgroup_dirs "$name"); do
			wait_for 30 cgroup_empty "$d" || fail "stage $n: $d never emptied"
		done
		ctr "$n" --verbose --name "$name" true
		expect_status 0
		expect_match "$stderr" "created cgroup [^ ]*/container/$name"$'\n' "stage $n: the reused name"
		expect_no_new_cgroups "$before" "stage $n after reusing the name"
	done
}

# Process $1 lives: not a zombie, and no SIGKILL on its way.
survives() { ! exited "$1" && ! signal_pending "$1" 9; }

@test "stage5: a container that outlives its SIGKILLed tool is ended by the next run, which removes its cgroup" {
	# Without --init, a command that changes its credentials loses its
	# death signal (prctl(2)) and survives the tool: stages 1 to 4 cannot
	# help that, but stage 5 knows where it is.  The next run finds the
	# cgroup of a dead tool, kills what it holds, and removes it.
	local before name=orphan-$$ d
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr_bg "$n" --name "$name" "${NOBODY[@]}" sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready || fail "stage $n: the command never started"
		wait_container
		kill_tool
		# The tool is reaped: a death signal would have been sent already.
		survives "$ctr_pid" || fail "stage $n: the command died with the tool"
		for d in $(cgroup_dirs "$name"); do
			cgroup_empty "$d" && fail "stage $n: expected the survivor in $d"
		done
		ctr "$n" --verbose true
		expect_status 0
		expect_match "$stderr" "removed stale cgroup [^ ]*/container/$name" "stage $n trace"
		expect_no_leftovers "stage $n"
		expect_no_new_cgroups "$before" "stage $n after the next run"
	done
}

@test "stage5: the cleanup kills only what is still in the cgroup, not a reused PID that cgroup.procs listed" {
	# fake_procs.so adds a host process to every cgroup.procs the tool
	# reads, as if a PID read there had since gone to it.  The survivor of
	# a SIGKILLed tool makes the next run kill what its cgroup holds: v1
	# reads cgroup.procs (v2 writes cgroup.kill).  A tool that kills every
	# PID it read kills the host's process every time.
	local before name=reused-$$ victim
	before=$(cgroup_tree)
	sleep 1000 &
	victim=$!
	for n in $(stages_from 5); do
		ctr_bg "$n" --name "$name" setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready || fail "stage $n: the command never started"
		kill_tool
		LD_PRELOAD=$REPO/tests/shims/bin/fake_procs.so CFS_FAKE_PID=$victim ctr "$n" true
		expect_status 0
		expect_no_new_cgroups "$before" "stage $n after the next run"
		kill -0 "$victim" 2>/dev/null ||
			fail "stage $n: the tool killed host process $victim, which was never in its cgroup"
	done
	kill "$victim"
	wait "$victim" 2>/dev/null || true
	expect_no_leftovers "the survivors"
}

@test "stage5: --init under --pids-limit 1 says that the pids limit was reached" {
	for n in $(stages_from 5); do
		ctr "$n" --pids-limit 1 --init true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "pids limit" "stage $n"
	done
}

@test "stage5: another user's flocks on the cgroup directories neither stall a run nor keep a cgroup" {
	# flock(2) needs only an fd open for reading: nobody can lock
	# /sys/fs/cgroup, each hierarchy, container/ and each cgroup.  A tool
	# that locks those waits for nobody at its start and at its exit, and
	# takes a stale cgroup that nobody locked for a live one.
	local before name=locked-$$ dirs
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		ctr_ready "$n" --name "$name-stale"
		kill_tool
		expect_no_leftovers "stage $n"
		ctr_ready "$n" --name "$name"
		mapfile -t dirs < <(find /sys/fs/cgroup -maxdepth 1 -type d; cgroup_tree)
		attacker_locks "${dirs[@]}"
		run --separate-stderr timeout 10 "$(stage_bin "$n")" run true
		log_run "timeout 10 stage$n/container run true"
		expect_status 0
		# The running container's end removes its cgroup, without waiting.
		kill -KILL "$ctr_pid"
		wait_for 50 exited "$bg_pid" || fail "stage $n: the tool's exit waits for nobody's lock"
		wait_bg
		expect_status 137
		expect_no_new_cgroups "$before" "stage $n, with nobody's locks held"
		end_attacker
	done
}

@test "stage5: a --name in use exits 125 and leaves that container and its cgroup untouched" {
	local name=dup-$$ d limits
	for n in $(stages_from 5); do
		ctr_ready "$n" --name "$name"
		limits=$(read_limits "$ctr_pid")
		ctr "$n" --name "$name" --pids-limit 5 --memory 8m --cpus 0.1 true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "name '$name' is in use" "stage $n error"
		kill -0 "$ctr_pid" || fail "stage $n: the running container died"
		expect_eq "$(read_limits "$ctr_pid")" "$limits" "stage $n: the running container's limits"
		for d in $(cgroup_dirs "$name"); do
			expect_eq "$(cat "$d/cgroup.procs")" "$ctr_pid" "stage $n: $d/cgroup.procs"
		done
		stop_bg
		expect_status 137
		# Once it has ended, the name is free again.
		ctr "$n" --name "$name" true
		expect_status 0
	done
}

@test "stage5: six containers run at once, each in a cgroup of its own" {
	local i tools=() ctrs=() before st all d
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		tools=()
		for ((i = 0; i < 6; i++)); do
			"$(stage_bin "$n")" run --pids-limit $((10 + i)) sh -c 'echo ready; exec sleep 1000' \
				>"$BATS_TEST_TMPDIR/par.$i" 2>&1 &
			tools+=($!)
		done
		for ((i = 0; i < 6; i++)); do
			wait_for 50 grep -q ready "$BATS_TEST_TMPDIR/par.$i" || fail "stage $n: container $i never started"
			ctrs[i]=$(container_pid "${tools[$i]}")
		done
		all=""
		for ((i = 0; i < 6; i++)); do
			d=$(cgroup_of "${ctrs[$i]}" pids)
			expect_eq "$(cat "$d/cgroup.procs")" "${ctrs[$i]}" "stage $n: container $i alone in $d"
			expect_eq "$(cat "$d/pids.max")" $((10 + i)) "stage $n: container $i's pids.max"
			all+="$d"$'\n'
		done
		expect_eq "$(echo -n "$all" | sort -u | wc -l)" 6 "stage $n: distinct cgroups"
		for ((i = 0; i < 6; i++)); do
			kill -KILL "${ctrs[$i]}"
		done
		for ((i = 0; i < 6; i++)); do
			st=0
			wait "${tools[$i]}" || st=$?
			expect_eq "$st" 137 "stage $n: container $i's status"
		done
		expect_no_new_cgroups "$before" "stage $n after six containers"
	done
}

@test "stage5: concurrent starts, ends and SIGKILLed tools never disturb one another" {
	local round i tools=() victim st before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		for round in 1 2 3; do
			tools=()
			"$(stage_bin "$n")" run sleep 1000 >/dev/null 2>&1 &
			victim=$!
			for ((i = 0; i < 8; i++)); do
				"$(stage_bin "$n")" run sh -c 'exit 7' >"$BATS_TEST_TMPDIR/conc.$i" 2>&1 &
				tools+=($!)
			done
			sleep 0.1
			kill -KILL "$victim"
			for ((i = 0; i < 8; i++)); do
				st=0
				wait "${tools[$i]}" || st=$?
				[[ $st -eq 7 ]] || fail "stage $n round $round: run $i exited $st: $(cat "$BATS_TEST_TMPDIR/conc.$i")"
			done
			wait "$victim" || true
		done
		expect_no_leftovers "stage $n"
		ctr "$n" true
		expect_status 0
		expect_no_new_cgroups "$before" "stage $n after the concurrent runs"
	done
}

# ---- errors ----

long_name=$(printf 'n%.0s' {1..65})

bad_limits=(
	--pids-limit abc --pids-limit 0 --pids-limit -1 --pids-limit 1.5
	--pids-limit 99999999999999999999 --pids-limit 4194305 --pids-limit 20k
	--pids-limit ''
	--memory abc --memory 0 --memory -1 --memory -1M --memory 1M --memory 10X
	--memory 10T --memory 1.5G --memory 500MB --memory 99999999999999999999
	--memory 99999999999G --memory ''
	--cpus abc --cpus 0 --cpus -1 --cpus 0.001 --cpus 1.234 --cpus 1025
	--cpus 99999999999999999999 --cpus 1e3 --cpus 2x --cpus . --cpus ''
	--name a/b --name . --name .. --name '' --name "$long_name" --name -x
	--name 'a b' --name _x
	# cgroup control files: the name is a directory among them
	--name cgroup.procs --name tasks --name notify_on_release --name pids.max
	--name memory.max --name cpu.cfs_quota_us --name release_agent
	# a newline or an escape sequence must not reach stderr raw
	--pids-limit $'1\n2' --memory $'5\e[2J' --cpus $'1\n' --name $'a\nb'
)

@test "stage5: bad limits and names exit 125 with one line, before any cgroup exists" {
	# Not "i": bats 1.8's run --separate-stderr sets a global i.
	local k opt val before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		for ((k = 0; k < ${#bad_limits[@]}; k += 2)); do
			opt=${bad_limits[k]} val=${bad_limits[k + 1]}
			ctr "$n" "$opt" "$val" true
			expect_status 125 || fail "stage $n: $opt '$val'"
			expect_one_line_error
			expect_match "$stderr" "$opt" "stage $n: the error names the option"
			expect_no_match "$stderr" $'[\x01-\x1f]' "stage $n: control characters in the error"
			expect_no_new_cgroups "$before" "stage $n: $opt '$val'"
		done
	done
}

@test "stage5: a read-only cgroup filesystem gives a clear error, and creates nothing" {
	local before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		# In a mount namespace of its own, so the host's stay writable.
		# shellcheck disable=SC2016 # expanded by that sh
		run --separate-stderr unshare --mount --propagation private sh -c '
			for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
				mount -o remount,bind,ro "$m" || exit 99
			done
			exec "$0" run true' "$(stage_bin "$n")"
		log_run "stage$n/container run true, with every cgroup mount read-only"
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "Read-only file system \(hint: the cgroup filesystem is mounted read-only" "stage $n error"
		expect_no_new_cgroups "$before" "stage $n"
	done
}

@test "stage5: a missing controller gives a clear error that names it" {
	local before
	before=$(cgroup_tree)
	for n in $(stages_from 5); do
		# Hide pids, in a mount namespace of its own: cover its v1
		# hierarchy, or drop it from cgroup.controllers.
		# shellcheck disable=SC2016 # expanded by that sh
		run --separate-stderr unshare --mount --propagation private sh -c '
			if [ "$(stat -f -c %T /sys/fs/cgroup/pids 2>/dev/null)" = cgroupfs ]; then
				mount -t tmpfs none /sys/fs/cgroup/pids || exit 99
			fi
			for f in /sys/fs/cgroup/cgroup.controllers /sys/fs/cgroup/unified/cgroup.controllers; do
				[ -e "$f" ] || continue
				sed "s/\bpids\b//" "$f" >"$1/controllers"
				mount --bind "$1/controllers" "$f" || exit 99
			done
			exec "$0" run true' "$(stage_bin "$n")" "$BATS_TEST_TMPDIR"
		log_run "stage$n/container run true, with the pids controller hidden"
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "no pids controller" "stage $n error"
		expect_no_new_cgroups "$before" "stage $n"
	done
}

# ---- documentation and tracing ----

@test "stage5: --verbose prints the path of each cgroup it creates and removes" {
	local d name=verbose-$$
	for n in $(stages_from 5); do
		ctr "$n" --verbose --name "$name" true
		expect_status 0
		for d in $(cgroup_dirs "$name"); do
			expect_match "$stderr" "stage$n: created cgroup $d" "stage $n trace"
			expect_match "$stderr" "stage$n: removed cgroup $d" "stage $n trace"
		done
		expect_match "$stderr" "stage$n: cgroup mode: (v1|v2|hybrid)" "stage $n trace"
	done
}

@test "stage5: --help lists the limits, their defaults, and where the cgroups live" {
	for n in $(stages_from 5); do
		raw "$n" --help
		expect_status 0
		expect_match "$output" "--pids-limit N" "stage $n --help"
		expect_match "$output" "--memory SIZE" "stage $n --help"
		expect_match "$output" "--cpus X" "stage $n --help"
		expect_match "$output" "--name NAME" "stage $n --help"
		expect_match "$output" "/sys/fs/cgroup/container/NAME" "stage $n --help"
		expect_match "$output" "/sys/fs/cgroup/CONTROLLER/container/NAME" "stage $n --help"
	done
}
