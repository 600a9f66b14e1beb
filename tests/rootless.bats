#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# shellcheck disable=SC2030,SC2031 # $status: set by run, read by deny()
# Rootless mode: every stage run by a user without root (uid 65534 here, as
# as_nobody runs it) enters a user namespace of its own, where the user is
# root, and keeps its stage's behaviour: the hostname, PID 1, /proc, the
# new root, volumes, the minimal /dev, exit statuses, signals, and nothing
# left behind.  Root inside has no power over the host: the security table
# at the end.  Stage 5 needs a delegated cgroup v2; on v1 or hybrid, and in
# this suite's root-owned cgroups, it exits 125 and says why.  On v2,
# tests/run delegates a cgroup to uid 65534 as systemd's user@.service does,
# and the tests tagged cgroup_v2_delegated run stage 5 in it: the pids cap
# and the memory limit hold without root (make test-vm runs them; tests/run
# leaves them out on v1 and hybrid hosts, which cannot delegate).

load helpers

setup() {
	common_setup
	# A scratch directory that nobody can reach: BATS_TEST_TMPDIR's parents
	# are root's alone.  Removed before teardown's look at /tmp.
	SCRATCH=$(mktemp -d /tmp/rootless.XXXXXX)
	chmod 755 "$SCRATCH"
}

teardown() {
	rm -rf "$SCRATCH"
	common_teardown
}

# The stages that run rootless in any cgroup: 1 to 4.  Stage 5 needs the
# delegated cgroup below.
rootless_stages() {
	local n
	for n in $(stages_from 1); do
		((n < 5)) && echo "$n"
	done
	return 0
}
rootless_stages_from() {
	local n
	for n in $(rootless_stages); do
		((n >= $1)) && echo "$n"
	done
	return 0
}

# nobody_ctr [-127] N ARGS...: `container run ARGS` of stage N as nobody.
nobody_ctr() {
	# shellcheck disable=SC2034 # read by ctr, which this calls
	local AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	ctr "$@"
}

# nobody_bg N ARGS...: ctr_bg as nobody; setpriv execs the tool, so
# $bg_pid is the tool itself.
nobody_bg() {
	local n=$1 bin
	shift
	bin=$(stage_bin "$n")
	: >"$BATS_TEST_TMPDIR/bg.out"
	log "\$ setpriv --reuid=nobody stage$n/container run $* &"
	(
		trap - ERR
		exec setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" run "$@"
	) >>"$BATS_TEST_TMPDIR/bg.out" 2>&1 &
	bg_pid=$!
}

@test "rootless: the repository and the image are readable by nobody" {
	run setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$(stage_bin 1)"
	expect_status 0
	run setpriv --reuid=65534 --regid=65534 --clear-groups ls "$REPO/rootfs/etc"
	expect_status 0
}

@test "rootless: root inside is the caller outside: id -u is 0, ps -o uid on the host shows 65534" {
	for n in $(rootless_stages); do
		nobody_bg "$n" sh -c 'id -u; cat /proc/self/uid_map; echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		wait_container
		expect_eq "$(ps -o uid= -p "$ctr_pid" | tr -d ' ')" 65534 "stage $n: the container's uid on the host"
		kill_container
		expect_eq "$(sed -n 1p <<<"$output")" 0 "stage $n: id -u inside"
		expect_match "$(sed -n 2p <<<"$output")" '^ +0 +65534 +1$' "stage $n: the uid map"
	done
}

@test "rootless: the hostname is the container's own, and the host keeps its name" {
	for n in $(rootless_stages); do
		nobody_ctr "$n" --hostname rootless-box hostname
		expect_status 0
		expect_eq "$output" rootless-box "stage $n"
		expect_eq "$(hostname)" cfs-test-host "stage $n: the host's hostname"
	done
}

@test "rootless: from stage 2 the command is PID 1, and --init runs it as PID 2" {
	for n in $(rootless_stages_from 2); do
		# shellcheck disable=SC2016 # expanded by the container's sh
		nobody_ctr "$n" sh -c 'echo $$'
		expect_status 0
		expect_eq "$output" 1 "stage $n"
		# shellcheck disable=SC2016
		nobody_ctr "$n" --init sh -c 'echo $$'
		expect_eq "$output" 2 "stage $n --init"
	done
}

@test "rootless: from stage 3 /proc shows only the container's processes" {
	for n in $(rootless_stages_from 3); do
		nobody_ctr "$n" sh -c 'findmnt -no FSTYPE /proc | tail -n 1; ls /proc | grep -c "^[0-9]"'
		expect_status 0
		expect_eq "$(sed -n 1p <<<"$output")" proc "stage $n: /proc"
		(($(sed -n 2p <<<"$output") <= 3)) || fail "stage $n sees too many processes"
	done
}

@test "rootless: stage 4 pivots: no chroot escape, the root is an overlay, /proc/PID/root is the container's" {
	local marker=$SCRATCH/host-only-file
	touch "$marker"
	for n in $(rootless_stages_from 4); do
		nobody_ctr "$n" escape "$marker"
		expect_status 0
		expect_eq "$output" "contained: $marker is not reachable" "stage $n: escape"
		nobody_ctr "$n" findmnt -no FSTYPE /
		expect_eq "$output" overlay "stage $n: the root"
		nobody_bg "$n" sh -c 'touch /hello && echo ready && exec sleep 1000'
		wait_for 50 bg_output_has ready
		wait_container
		[[ -f /proc/$ctr_pid/root/hello ]] || fail "stage $n: /hello not seen through /proc/PID/root"
		[[ ! -e $REPO/rootfs/hello ]] || fail "stage $n: /hello in the image"
		kill_container
	done
}

@test "rootless: stage 4's /dev holds the host's harmless devices, bound in, and they work" {
	for n in $(rootless_stages_from 4); do
		nobody_ctr "$n" ls -A /dev
		expect_status 0
		expect_eq "$(paste -sd ' ' <<<"$output")" "fd full null ptmx pts random stderr stdin stdout tty urandom zero" "stage $n: ls -A /dev"
		nobody_ctr "$n" stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
		expect_eq "$output" "$(printf '%s\n' '/dev/null 1:3 666' '/dev/zero 1:5 666' '/dev/full 1:7 666' \
			'/dev/random 1:8 666' '/dev/urandom 1:9 666' '/dev/tty 5:0 666')" "stage $n: the devices"
		nobody_ctr "$n" sh -c 'echo x >/dev/null && head -c 2 /dev/zero | od -An -tx1 | xargs &&
			head -c 8 /dev/urandom | wc -c && ! echo x 2>/dev/null >/dev/full && touch /tmp/t'
		expect_status 0
		expect_eq "$(paste -sd ' ' <<<"$output")" "00 00 8" "stage $n: the devices work, /tmp is writable"
	done
}

@test "rootless: stage 4's volumes: files get in and out, and :ro holds" {
	local vol=$SCRATCH/vol
	mkdir "$vol"
	chown 65534:65534 "$vol"
	echo "from the host" >"$vol/in"
	for n in $(rootless_stages_from 4); do
		rm -f "$vol/out"
		nobody_ctr "$n" --volume "$vol:/data" sh -c 'cat /data/in && echo out >/data/out && stat -c %u /data/out'
		expect_status 0
		expect_eq "$output" "$(printf 'from the host\n0')" "stage $n: inside"
		expect_eq "$(stat -c %u "$vol/out")" 65534 "stage $n: the file's owner on the host"
		nobody_ctr "$n" --volume "$vol:/data:ro" sh -c 'echo x >/data/new'
		expect_status 2
		[[ ! -e $vol/new ]] || fail "stage $n: wrote through :ro"
	done
}

# doctor as root for nobody, whoever runs make check: it checks the user
# sudo ran it for, if any.
DOCTOR=(env -u SUDO_USER -u SUDO_UID "$REPO/scripts/doctor.sh")

# subids_ctr N ARGS...: nobody_ctr, with those subordinate ids.
subids_ctr() {
	# shellcheck disable=SC2034 # read by ctr, which this calls
	local AS_USER=(with_subids setpriv --reuid=65534 --regid=65534 --clear-groups)
	ctr "$@"
}

# The VM's image has no newuidmap; the host's make check runs this.
# bats test_tags=toolchain
@test "rootless: with subordinate ids the whole range is mapped, and a file chowned inside keeps its owner outside" {
	local vol=$SCRATCH/vol
	command -v newuidmap >/dev/null || fail "newuidmap is not installed (apt-get install uidmap)"
	mkdir "$vol"
	chown 65534:65534 "$vol"
	for n in $(rootless_stages); do
		subids_ctr "$n" cat /proc/self/uid_map /proc/self/gid_map
		expect_status 0
		expect_match "$output" $'^ +0 +65534 +1\n +1 +100000 +65536\n +0 +65534 +1\n +1 +200000 +65536$' "stage $n: the maps"
	done
	for n in $(rootless_stages_from 4); do
		rm -f "$vol/f"
		subids_ctr "$n" --volume "$vol:/data" sh -c 'touch /data/f && chown 5:7 /data/f && stat -c %u:%g /data/f'
		expect_status 0
		expect_eq "$output" "5:7" "stage $n: the owner inside"
		expect_eq "$(stat -c %u:%g "$vol/f")" "100004:200006" "stage $n: the owner on the host (uid 1 inside is 100000)"
	done
	expect_no_leftovers "subids"
}

# make doctor reads the same files, and names the helper or the range that
# is missing, with the fix.
# bats test_tags=toolchain
@test "rootless: make doctor says whether subordinate ids can be mapped, and how to fix it" {
	# In SCRATCH, which nobody can reach: doctor's tries run as nobody.
	local bin=$SCRATCH/bin prog
	run --separate-stderr "${DOCTOR[@]}"
	log_run "scripts/doctor.sh"
	expect_match "$output" "warn +rootless: no subordinate ids for nobody in /etc/subuid and /etc/subgid.* fix: sudo usermod --add-subuids [0-9]+-[0-9]+ --add-subgids [0-9]+-[0-9]+ nobody" "no range"
	run --separate-stderr with_subids "${DOCTOR[@]}"
	log_run "with_subids scripts/doctor.sh"
	expect_match "$output" "ok +rootless: subordinate ids for nobody: uids 100000-165535 and gids 200000-265535, mapped with newuidmap and newgidmap" "a range"
	mkdir "$bin"
	for prog in /usr/bin/*; do
		[[ ${prog##*/} == newuidmap || ${prog##*/} == newgidmap ]] || ln -s "$prog" "$bin/"
	done
	run --separate-stderr with_subids env PATH="$bin:/usr/sbin" "${DOCTOR[@]}"
	log_run "with_subids PATH=(no newuidmap) scripts/doctor.sh"
	expect_match "$output" "warn +rootless: nobody has subordinate ids, but there is no newuidmap or newgidmap.* fix: apt-get install uidmap" "no helper"
}

# The range doctor offers is one that no user has yet.
@test "rootless: make doctor offers a range of subordinate ids above every range given" {
	run --separate-stderr with_etc \
		'printf "%s\n" "# a comment" alice:100000:65536 bob:abc:5 >/etc/subuid && echo carol:300000:1000 >/etc/subgid' \
		"${DOCTOR[@]}"
	log_run "doctor.sh with only alice:100000:65536 and carol:300000:1000"
	expect_match "$output" "fix: sudo usermod --add-subuids 301000-366535 --add-subgids 301000-366535 nobody" "the range offered"
	# With neither file, as on a system where no user has a range yet.
	run --separate-stderr with_etc 'rm -f /etc/subuid /etc/subgid' "${DOCTOR[@]}"
	log_run "doctor.sh with no /etc/subuid and no /etc/subgid"
	expect_status 0
	expect_match "$output" "fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody" "the range offered"
	expect_match "$output" "summary: can run: 1 2 3 4 5" "the rest of the report"
}

# A SUDO_USER that /etc/passwd does not know is noted, and the report goes on.
@test "rootless: make doctor for a sudo user it cannot find warns and goes on" {
	run --separate-stderr env SUDO_USER=cfs-no-such-user "$REPO/scripts/doctor.sh"
	log_run "SUDO_USER=cfs-no-such-user scripts/doctor.sh"
	expect_status 0
	expect_match "$output" "warn +rootless: no user cfs-no-such-user in /etc/passwd: subordinate ids not checked" "the note"
	expect_match "$output" "summary: can run: 1 2 3 4 5" "the rest of the report"
}

# Without them, one id is mapped: a chown to another fails inside.
@test "rootless: without subordinate ids only the caller is mapped, and a chown to another id fails" {
	local vol=$SCRATCH/vol
	mkdir "$vol"
	chown 65534:65534 "$vol"
	for n in $(rootless_stages_from 4); do
		nobody_ctr "$n" --volume "$vol:/data" sh -c 'touch /data/f && chown 5:7 /data/f'
		expect_status 1
		expect_match "$stderr" "Invalid argument" "stage $n"
		expect_eq "$(stat -c %u:%g "$vol/f")" "65534:65534" "stage $n: the owner on the host"
	done
}

@test "rootless: exit statuses are the command's, 128+N for a signal, 127 and 126" {
	for n in $(rootless_stages); do
		nobody_ctr "$n" sh -c 'exit 7'
		expect_status 7
		# From stage 2 the command is PID 1, which ignores a signal it has
		# no handler for: --init makes it PID 2.
		local init=()
		((n == 1)) || init=(--init)
		# shellcheck disable=SC2016
		nobody_ctr "$n" "${init[@]}" sh -c 'kill -USR1 $$'
		expect_status 138
		# A PATH that nobody can search: root's own directories in it
		# (/root/...) make execvp fail with EACCES, 126, before stage 4.
		PATH=/usr/sbin:/usr/bin:/sbin:/bin nobody_ctr -127 "$n" no-such-command
		expect_status 127
		nobody_ctr "$n" /etc/passwd
		expect_status 126
	done
}

@test "rootless: SIGTERM to the tool reaches a command that traps it" {
	for n in $(rootless_stages); do
		nobody_bg "$n" sh -c 'trap "echo got-TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done'
		wait_for 50 bg_output_has ready
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 42
		expect_match "$output" got-TERM "stage $n"
	done
}

@test "rootless: SIGKILL to the tool leaves nothing behind" {
	for n in $(rootless_stages); do
		nobody_bg "$n" sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		wait_container
		kill_tool
		expect_no_leftovers "stage $n"
	done
}

@test "rootless: stage 5 without a delegated cgroup v2 exits 125 with one line that says why, and makes nothing" {
	[[ -f $REPO/stage5-cgroups/main.c ]] || skip "no stage 5"
	nobody_ctr 5 true
	expect_status 125
	expect_one_line_error
	expect_match "$stderr" "needs cgroup v2|needs a cgroup delegated" "stage 5"
	expect_match "$stderr" "systemd|run as root" "stage 5: the fix"
}

# ---- stage 5 in a delegated cgroup v2 ----

# The cgroup tests/run delegates to uid 65534 on v2, where systemd's
# user@.service would put a logged-in user's.
DELEGATED=/sys/fs/cgroup/user.slice/user-65534.slice/user@65534.service

# expect_delegated: the delegation is there, as systemd makes it.  Its
# absence fails a test: tests/run runs these only where it makes it.
expect_delegated() {
	local f owners
	[[ -d $DELEGATED ]] || fail "no delegated cgroup $DELEGATED: tests/run makes it on cgroup v2"
	owners=$(for f in "" /cgroup.procs /cgroup.subtree_control /cgroup.threads; do
		stat -c '%u' "$DELEGATED$f"
	done | sort -u)
	expect_eq "$owners" 65534 "the owner of $DELEGATED and its cgroup.procs, cgroup.subtree_control, cgroup.threads"
	expect_match "$(cat "$DELEGATED/cgroup.controllers")" "cpu.*memory.*pids" "the controllers offered in $DELEGATED"
}

# What the delegated cgroup holds: its sub-cgroups, its processes and the
# controllers it passes on.  After a run, as before it.
delegated_state() {
	find "$DELEGATED" -mindepth 1 -type d | sort
	echo "procs: $(paste -sd ' ' "$DELEGATED/cgroup.procs")"
	echo "subtree_control: $(cat "$DELEGATED/cgroup.subtree_control")"
}

# delegated_ctr N ARGS...: stage N as nobody, started in the delegated
# cgroup, as `systemd-run --user --scope -p Delegate=yes container run ARGS`
# starts it: root moves the process in, and setpriv execs the tool there.
delegated_ctr() {
	# shellcheck disable=SC2016,SC2034 # expanded by that sh; read by ctr
	local AS_USER=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$DELEGATED"
		setpriv --reuid=65534 --regid=65534 --clear-groups)
	ctr "$@"
}

# delegated_beside_shell N ARGS...: as delegated_ctr, but from a shell of
# nobody's that stays in the delegated cgroup while the tool runs, as a
# terminal's shell does in its own delegated scope.
delegated_beside_shell() {
	local n=$1
	shift
	# shellcheck disable=SC2016 # expanded by those two sh
	run --separate-stderr sh -c 'echo $$ >"$0/cgroup.procs" && exec setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "\"\$0\" run \"\$@\"; exit \$?" "$@"' \
		"$DELEGATED" "$(stage_bin "$n")" "$@"
	log_run "(nobody's shell in the delegated cgroup) stage$n/container run $*"
}

# bats test_tags=cgroup_v2_delegated
@test "rootless: stage 5 in a delegated cgroup v2 makes the container's cgroup there and caps a fork bomb at --pids-limit" {
	local before
	expect_delegated
	before=$(delegated_state)
	for n in $(stages_from 5); do
		delegated_ctr "$n" --name deleg-$$ cat /proc/self/cgroup
		expect_status 0
		expect_eq "$output" "0::${DELEGATED#/sys/fs/cgroup}/container/deleg-$$" "stage $n: the container's cgroup"
		delegated_ctr "$n" --pids-limit 5 forkcount
		expect_status 0
		expect_eq "$output" 4 "stage $n: children under --pids-limit 5"
		delegated_ctr "$n" --pids-limit 20 forkcount
		expect_eq "$output" 19 "stage $n: children under --pids-limit 20"
		delegated_ctr "$n" --pids-limit 20 timeout 3 bash -c ':(){ :|:& };: ; exec sleep 1000'
		expect_status 124
		expect_match "$stderr" "fork: (retry: )?Resource temporarily unavailable" "stage $n: the bomb's stderr"
		expect_no_leftovers "stage $n"
		expect_eq "$(delegated_state)" "$before" "stage $n: the delegated cgroup after the bomb"
	done
}

# bats test_tags=cgroup_v2_delegated
@test "rootless: stage 5 in a delegated cgroup v2 is OOM-killed at --memory and says so, and leaves nothing" {
	local before
	expect_delegated
	before=$(delegated_state)
	for n in $(stages_from 5); do
		delegated_ctr "$n" --memory 32M memhog 256
		expect_status 137
		expect_match "$stderr" "container: killed: out of memory \(limit 32M\)" "stage $n stderr"
		delegated_ctr "$n" --memory 64M memhog 16
		expect_status 0
		expect_no_match "$stderr" "out of memory" "stage $n: within the limit"
		expect_no_leftovers "stage $n"
		expect_eq "$(delegated_state)" "$before" "stage $n: the delegated cgroup after the OOM kill"
	done
}

# bats test_tags=cgroup_v2_delegated
@test "rootless: stage 5 beside another process in its delegated cgroup exits 125 (v2's no-internal-process rule) and leaves nothing" {
	local before
	expect_delegated
	before=$(delegated_state)
	for n in $(stages_from 5); do
		delegated_beside_shell "$n" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "Device or resource busy.*no cgroup but the root both hold processes and pass controllers on.*share the delegated cgroup: start the tool alone in one, with systemd-run --user --scope -p Delegate=yes" "stage $n"
		expect_no_leftovers "stage $n"
		expect_eq "$(delegated_state)" "$before" "stage $n: the delegated cgroup"
	done
}

# ---- the security table: root inside has no power over the host ----

# deny N WHAT COMMAND...: as nobody, COMMAND fails in stage N's container.
deny() {
	local n=$1 what=$2
	shift 2
	nobody_ctr "$n" --volume "$SCRATCH:/vol" "$@"
	((status != 0)) || fail "stage $n: $what was allowed without root"
}

@test "rootless: mknod, devtmpfs, sysfs, cgroupfs, sysrq, /proc/sys and open_by_handle_at are denied" {
	for n in $(rootless_stages_from 4); do
		deny "$n" mknod mknod /tmp/sda b 8 0
		deny "$n" "mount devtmpfs" mount -t devtmpfs none /mnt
		deny "$n" "mount sysfs" mount -t sysfs none /mnt
		deny "$n" "mount cgroup2" mount -t cgroup2 none /mnt
		deny "$n" "mount cgroup v1" mount -t cgroup -o pids none /mnt
		if [[ -e /proc/sysrq-trigger ]]; then
			deny "$n" "write sysrq-trigger" sh -c 'echo h >/proc/sysrq-trigger'
		else
			log "no /proc/sysrq-trigger on this kernel: that row is not tried"
		fi
		# shellcheck disable=SC2016 # expanded by the container's sh
		deny "$n" "write /proc/sys" sh -c 'v=$(cat /proc/sys/vm/overcommit_memory) && echo "$v" >/proc/sys/vm/overcommit_memory'
		deny "$n" open_by_handle_at byhandle /vol
		expect_match "$output" "denied: Operation not permitted" "stage $n: byhandle"
	done
}

@test "rootless: the same table as real root is allowed, which is what the user namespace takes away" {
	local n=4
	ctr "$n" mknod /tmp/sda b 8 0
	expect_status 0
	ctr "$n" mount -t devtmpfs none /mnt
	expect_status 0
	ctr "$n" --volume "$SCRATCH:/vol" byhandle /vol
	expect_status 0
}
