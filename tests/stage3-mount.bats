#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Stage 3: a mount namespace with private propagation and a fresh /proc.  The
# suite runs in a sandbox whose / is shared, like every systemd host, so a
# mount that leaks shows up in the host's mount table.  Each check runs
# against stage 3 and every later stage.

load helpers

@test "stage3: the test sandbox's / has shared propagation, like a systemd host" {
	# If this fails, the checks below prove nothing: see tests/run.
	expect_eq "$(findmnt -no PROPAGATION /)" shared "propagation of /"
}

# bats test_tags=smoke
@test "stage3: /proc shows only the container's processes" {
	for n in $(stages_from 3); do
		ctr "$n" sh -c "test -d /proc/$$ && echo host-visible; ls /proc | grep -c '^[0-9]'"
		expect_status 0
		expect_no_match "$output" "host-visible" "stage $n"
		# sh, and ls or grep: a handful at most.
		[[ $output -le 3 ]] || fail "stage $n sees $output processes"
	done
}

@test "stage3: ps inside lists PID 1 and itself only" {
	for n in $(stages_from 3); do
		ctr "$n" ps -e -o pid=,comm=
		expect_status 0
		expect_eq "$(echo "$output" | tr -s ' ' | sed 's/^ //')" "1 ps" "stage $n ps"
	done
}

@test "stage3: / is private inside the container" {
	for n in $(stages_from 3); do
		ctr "$n" cat /proc/self/mountinfo
		expect_status 0
		# The 5th field of mountinfo is the mount point; shared:N would follow.
		local root
		root=$(echo "$output" | awk '$5 == "/"' | tail -n 1)
		[[ -n $root ]] || fail "stage $n: no / in mountinfo"
		expect_no_match "$root" "shared:" "stage $n: / inside"
	done
}

# bats test_tags=smoke
@test "stage3: mounts made inside never appear on the shared host" {
	local before
	before=$(cat /proc/self/mounts)
	for n in $(stages_from 3); do
		ctr_bg "$n" sh -c 'mount -t tmpfs leak-test /mnt && echo ready && sleep 1000'
		wait_for 50 bg_output_has ready
		expect_eq "$(cat /proc/self/mounts)" "$before" "stage $n: host mounts while it runs"
		kill_container
		expect_eq "$(cat /proc/self/mounts)" "$before" "stage $n: host mounts after"
	done
}

@test "stage3: the host's /proc is intact afterwards" {
	for n in $(stages_from 3); do
		ctr "$n" true
		expect_status 0
		[[ -d /proc/$$ ]] || fail "stage $n: the host's /proc lost PID $$"
		expect_eq "$(awk '$2 == "/proc"' /proc/self/mounts | wc -l)" 1 "stage $n: proc mounts on /proc"
		ps -p $$ >/dev/null || fail "stage $n: ps on the host"
	done
}
