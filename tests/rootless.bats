#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# shellcheck disable=SC2030,SC2031 # $status: set by run, read by deny()
# shellcheck disable=SC2153 # NOBODY: set by helpers.bash
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

@test "rootless: the repository and the image are readable by nobody" {
	run "${NOBODY[@]}" test -x "$(stage_bin 1)"
	expect_status 0
	run "${NOBODY[@]}" ls "$REPO/rootfs/etc"
	expect_status 0
}

@test "rootless: root inside is the caller outside: id -u is 0, ps -o uid on the host shows 65534" {
	local inside
	for n in $(rootless_stages); do
		nobody_bg "$n" sh -c 'id -u; cat /proc/self/uid_map; echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		wait_container
		expect_eq "$(ps -o uid= -p "$ctr_pid" | tr -d ' ')" 65534 "stage $n: the container's uid on the host"
		expect_match "$(cat "/proc/$ctr_pid/uid_map")" '^ +0 +65534 +1$' "stage $n: the uid map, read on the host"
		kill_container
		expect_eq "$(sed -n 1p <<<"$output")" 0 "stage $n: id -u inside"
		# From stage 4 the command is in a user namespace inside the
		# first (lock_mounts()), and a map read inside is relative to the
		# namespace above: the same ids, one to one.
		inside=65534
		((n < 4)) || inside=0
		expect_match "$(sed -n 2p <<<"$output")" "^ +0 +$inside +1\$" "stage $n: the uid map, read inside"
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
		expect_eq "$(paste -sd ' ' <<<"$output")" "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero" "stage $n: ls -A /dev"
		nobody_ctr "$n" stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
		expect_eq "$output" "$(printf '%s\n' '/dev/null 1:3 666' '/dev/zero 1:5 666' '/dev/full 1:7 666' \
			'/dev/random 1:8 666' '/dev/urandom 1:9 666' '/dev/tty 5:0 666')" "stage $n: the devices"
		nobody_ctr "$n" sh -c 'echo x >/dev/null && head -c 2 /dev/zero | od -An -tx1 | xargs &&
			head -c 8 /dev/urandom | wc -c && ! echo x 2>/dev/null >/dev/full && touch /tmp/t'
		expect_status 0
		expect_eq "$(paste -sd ' ' <<<"$output")" "00 00 8" "stage $n: the devices work, /tmp is writable"
	done
}

@test "rootless: stage 4's /dev/shm is a tmpfs of its own, and /sys the host's, bound in read-only with every mount below it" {
	local below
	# The host's mounts below /sys: each one must be read-only inside.
	below=$(awk '$5 ~ "^/sys/" { print $5 }' /proc/self/mountinfo | sort -u | paste -sd ' ')
	for n in $(rootless_stages_from 4); do
		nobody_ctr "$n" sh -c 'findmnt -no FSTYPE /dev/shm; stat -c %a /dev/shm; echo x >/dev/shm/f && cat /dev/shm/f'
		expect_status 0
		expect_eq "$(paste -sd ' ' <<<"$output")" "tmpfs 1777 x" "stage $n: /dev/shm"
		# shellcheck disable=SC2016 # expanded by the container's awk
		nobody_ctr "$n" sh -c 'ls /sys/devices/system/cpu | grep -c "^cpu[0-9]"; awk '"'"'$5 ~ "^/sys(/|$)" { print $6 }'"'"' /proc/self/mountinfo | grep -vc "^ro,"; touch /sys/new'
		expect_eq "$(sed -n 1p <<<"$output")" "$(find /sys/devices/system/cpu -maxdepth 1 -name 'cpu[0-9]*' | wc -l)" "stage $n: the CPUs"
		expect_eq "$(sed -n 2p <<<"$output")" 0 "stage $n: mounts at or below /sys that are not read-only (the host has: $below)"
		expect_match "$stderr" "Read-only file system" "stage $n: a new file in /sys"
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

# with_submount SRC TARGET CMD...: CMD, as root, in a mount namespace of its
# own where SRC is bound on TARGET, as a USB stick under /media would be; the
# host's mount table never sees it.
with_submount() {
	# shellcheck disable=SC2016 # $0, $1 and $@ are the inner sh's
	unshare --mount --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$@"
}

# submount_ctr SRC TARGET N ARGS...: nobody_ctr, with SRC bound on TARGET.
submount_ctr() {
	# shellcheck disable=SC2034 # read by ctr, which this calls
	local AS_USER=(with_submount "$1" "$2" setpriv --reuid=65534 --regid=65534 --clear-groups)
	shift 2
	ctr "$@"
}

# The attacker's try: remount rw, keeping every other flag the volume has
# (VFS-OPTIONS), so that only the read-only flag is at stake; then the same
# on a fresh bind of the volume.  mount(8) says "permission denied" for
# EPERM.
# shellcheck disable=SC2016 # expanded by the container's sh
REMOUNT_RW='for m in /vol /vol/sub; do
	o=$(findmnt -no VFS-OPTIONS "$m")
	mount -o "remount,bind,rw,${o#ro,}" "$m" && echo "remounted $m"
	mount -o remount,bind,rw "$m" && echo "remounted $m"
	echo x 2>/dev/null >"$m/new" && echo "wrote $m"
done
mount --rbind /vol /mnt && o=$(findmnt -no VFS-OPTIONS /mnt) &&
	mount -o "remount,bind,rw,${o#ro,}" /mnt && echo "remounted a bind of /vol"
echo x 2>/dev/null >/mnt/new && echo "wrote a bind of /vol"
exit 0'

@test "rootless: root inside cannot remount a :ro volume, a mount below it, or a bind of it read-write" {
	local vol=$SCRATCH/vol sub=$SCRATCH/sub
	mkdir "$vol" "$vol/sub" "$sub"
	chown 65534:65534 "$vol" "$sub"
	echo "the host's" >"$vol/file"
	echo "the host's" >"$sub/file"
	for n in $(rootless_stages_from 4); do
		submount_ctr "$sub" "$vol/sub" "$n" --volume "$vol:/vol:ro" sh -c "$REMOUNT_RW"
		expect_status 0
		expect_eq "$output" "" "stage $n: what root inside managed"
		expect_eq "$(grep -c ': permission denied' <<<"$stderr")" 5 "stage $n: the remounts refused (EPERM)"
		expect_eq "$(entries "$vol") $(entries "$sub")" "file sub file" "stage $n: the host directories"
		expect_eq "$(cat "$vol/file" "$sub/file")" "$(printf "the host's\nthe host's")" "stage $n: the host's files"
	done
	expect_no_leftovers "remount"
}

# doctor as root for nobody, whoever runs make check: it checks the user
# sudo ran it for, if any.
DOCTOR=(env -u SUDO_USER -u SUDO_UID "$REPO/scripts/doctor.sh")

# subids_ctr N ARGS...: nobody_ctr, with those subordinate ids.
subids_ctr() {
	# shellcheck disable=SC2034 # read by ctr, which this calls
	local AS_USER=(with_subids "${NOBODY[@]}")
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
		if ((n < 4)); then
			expect_match "$output" $'^ +0 +65534 +1\n +1 +100000 +65536\n +0 +65534 +1\n +1 +200000 +65536$' "stage $n: the maps"
		else # read inside lock_mounts()'s namespace: the one above, one to one
			expect_match "$output" $'^ +0 +0 +1\n +1 +1 +65536\n +0 +0 +1\n +1 +1 +65536$' "stage $n: the maps"
		fi
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

# grouped_ctr [-127] N ARGS...: subids_ctr, by nobody with one supplementary
# group, $GROUP, as a user who is in a group on the host runs it.
grouped_ctr() {
	# shellcheck disable=SC2034 # read by ctr, which this calls
	local AS_USER=(with_subids setpriv --reuid=65534 --regid=65534 "--groups=$GROUP")
	ctr "$@"
}

# A group can deny: a file of mode 604 whose group is GROUP is for everyone
# but GROUP's members.  With a range of subordinate gids, newgidmap leaves
# setgroups at allow, and root inside could leave GROUP: the tool writes
# deny first, unless --setgroups allow.
# bats test_tags=toolchain
@test "rootless: with subordinate ids root inside cannot drop a group that denies the caller a file, unless --setgroups allow" {
	local GROUP=4242 dir=$SCRATCH/grp file volume
	command -v newuidmap >/dev/null || fail "newuidmap is not installed (apt-get install uidmap)"
	mkdir "$dir"
	echo "not for group $GROUP" >"$dir/secret"
	chown "0:$GROUP" "$dir/secret"
	chmod 604 "$dir/secret"
	# On the host, nobody may read it only while not in the group.
	run setpriv --reuid=65534 --regid=65534 "--groups=$GROUP" cat "$dir/secret"
	expect_status 1
	run setpriv --reuid=65534 --regid=65534 --clear-groups cat "$dir/secret"
	expect_status 0
	for n in $(rootless_stages); do
		file=$dir/secret
		volume=()
		if ((n >= 4)); then
			file=/data/secret
			volume=(--volume "$dir:/data")
		fi
		# shellcheck disable=SC2016 # expanded by the container's sh
		grouped_ctr -127 "$n" "${volume[@]}" sh -c 'cat /proc/self/setgroups && exec setpriv --clear-groups cat "$0"' "$file"
		expect_status 127 # setpriv's status when a call fails
		expect_eq "$output" deny "stage $n: /proc/self/setgroups"
		expect_match "$stderr" "setgroups failed: Operation not permitted" "stage $n: setpriv --clear-groups"
		grouped_ctr "$n" --setgroups allow "${volume[@]}" setpriv --clear-groups cat "$file"
		expect_status 0
		expect_eq "$output" "not for group $GROUP" "stage $n: --setgroups allow lets root inside drop the group"
	done
	expect_no_leftovers "setgroups"
}

# With one id mapped, the kernel takes the gid map only after deny.
@test "rootless: --setgroups allow without subordinate ids exits 125 and says why, and a bad value is refused" {
	for n in $(rootless_stages); do
		nobody_ctr "$n" --setgroups allow true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "^container: --setgroups allow needs subordinate ids in /etc/subuid and /etc/subgid, and newgidmap" "stage $n"
		nobody_ctr "$n" --setgroups maybe true
		expect_status 125
		expect_eq "$stderr" "container: invalid --setgroups 'maybe': must be allow or deny" "stage $n"
	done
	expect_no_leftovers "setgroups allow"
}

# The VM's image has no newuidmap; the host's make check runs this.
# bats test_tags=toolchain
@test "rootless: the writable layer is on disk in the user's state directory, and removed, even files of other ids" {
	local xdg=$SCRATCH/xdg layers
	mkdir "$xdg"
	chown 65534:65534 "$xdg"
	layers=$xdg/containers-from-scratch/layers
	for n in $(rootless_stages_from 4); do
		XDG_STATE_HOME=$xdg subids_ctr "$n" sh -c 'mkdir -p /d/e && touch /d/e/f /d/g && chown -R 5:7 /d && chmod 500 /d/e /d &&
			echo written >/w && ls /d/e'
		expect_status 0
		expect_eq "$output" f "stage $n: the files inside"
		expect_eq "$(stat -c '%U %a' "$xdg/containers-from-scratch" "$layers" | paste -sd ' ')" \
			"nobody 700 nobody 700" "stage $n: the state directory and its layers"
		expect_eq "$(entries "$layers")" "" "stage $n: the layers left"
	done
}

@test "rootless: a state directory that is a symlink, or that others may write in, is refused" {
	local xdg=$SCRATCH/xdg elsewhere=$SCRATCH/elsewhere
	mkdir "$xdg" "$elsewhere"
	chown 65534:65534 "$xdg" "$elsewhere"
	ln -s "$elsewhere" "$xdg/containers-from-scratch"
	for n in $(rootless_stages_from 4); do
		XDG_STATE_HOME=$xdg nobody_ctr "$n" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "state directory" "stage $n: a symlink"
		expect_eq "$(entries "$elsewhere")" "" "stage $n: the symlink's target"
		XDG_STATE_HOME=$xdg nobody_ctr "$n" --tmpfs-layer true
		expect_status 0
	done
	rm "$xdg/containers-from-scratch"
	mkdir -m 777 "$xdg/containers-from-scratch"
	chown 65534:65534 "$xdg/containers-from-scratch"
	for n in $(rootless_stages_from 4); do
		XDG_STATE_HOME=$xdg nobody_ctr "$n" true
		expect_status 125
		expect_one_line_error
		expect_eq "$(entries "$xdg/containers-from-scratch")" "" "stage $n: a state directory others may write in"
	done
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
	local AS_USER=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$DELEGATED" "${NOBODY[@]}")
	ctr "$@"
}

# delegated_beside_shell N ARGS...: as delegated_ctr, but from a shell of
# nobody's that stays in the delegated cgroup while the tool runs, as a
# terminal's shell does in its own delegated scope.
delegated_beside_shell() {
	local n=$1
	shift
	# shellcheck disable=SC2016 # expanded by those two sh
	run --separate-stderr sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
		"$DELEGATED" "${NOBODY[@]}" sh -c '"$0" run "$@"; exit $?' "$(stage_bin "$n")" "$@"
	log_run "(nobody's shell in the delegated cgroup) stage$n/container run $*"
}

# bats test_tags=cgroup_v2_delegated
@test "rootless: stage 5 in a delegated cgroup v2 makes the container's cgroup there and caps a fork bomb at --pids-limit" {
	local before
	expect_delegated
	before=$(delegated_state)
	for n in $(stages_from 5); do
		# Its cgroup namespace: the container's cgroup is its /, and the
		# cgroup2 mounted inside shows that cgroup, read-only.
		delegated_ctr "$n" --name deleg-$$ --pids-limit 5 sh -c 'cat /proc/self/cgroup /sys/fs/cgroup/pids.max; findmnt -no FSTYPE,OPTIONS /sys/fs/cgroup; echo 9 >/sys/fs/cgroup/pids.max'
		expect_eq "$(sed -n 1,2p <<<"$output" | paste -sd ' ')" "0::/ 5" "stage $n: the container's cgroup, inside"
		expect_match "$(sed -n 3p <<<"$output")" "^cgroup2 +ro," "stage $n: /sys/fs/cgroup"
		expect_match "$stderr" "Read-only file system" "stage $n: a write to pids.max"
		delegated_ctr "$n" --name deleg-$$ --verbose true
		expect_status 0
		expect_match "$stderr" "created cgroup $DELEGATED/container/deleg-$$"$'\n' "stage $n: the container's cgroup, on the host"
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

# deny N WHAT ERROR COMMAND...: as nobody, COMMAND fails in stage N's
# container, and says ERROR (a regex) on stdout or stderr: a row that
# fails for another reason (a missing /mnt, a typo) is not a denial.
deny() {
	local n=$1 what=$2 error=$3
	shift 3
	nobody_ctr "$n" --volume "$SCRATCH:/vol" "$@"
	((status != 0)) || fail "stage $n: $what was allowed without root"
	expect_match "$output$stderr" "$error" "stage $n: $what"
}

# What the kernel's refusal looks like: EPERM, or EACCES for a file; and
# mount(8)'s word for either.
DENIED='Operation not permitted|Permission denied'
MOUNT_DENIED='mount: /mnt: permission denied'

@test "rootless: mknod, devtmpfs, sysfs, cgroupfs, sysrq, /proc/sys and open_by_handle_at are denied" {
	for n in $(rootless_stages_from 4); do
		deny "$n" mknod "$DENIED" mknod /tmp/sda b 8 0
		deny "$n" "mount devtmpfs" "$MOUNT_DENIED" mount -t devtmpfs none /mnt
		deny "$n" "mount sysfs" "$MOUNT_DENIED" mount -t sysfs none /mnt
		deny "$n" "mount cgroup2" "$MOUNT_DENIED" mount -t cgroup2 none /mnt
		deny "$n" "mount cgroup v1" "$MOUNT_DENIED" mount -t cgroup -o pids none /mnt
		if [[ -e /proc/sysrq-trigger ]]; then
			deny "$n" "write sysrq-trigger" "$DENIED" sh -c 'echo h >/proc/sysrq-trigger'
		else
			log "no /proc/sysrq-trigger on this kernel: that row is not tried"
		fi
		# shellcheck disable=SC2016 # expanded by the container's sh
		deny "$n" "write /proc/sys" "$DENIED" sh -c 'v=$(cat /proc/sys/vm/overcommit_memory) && echo "$v" >/proc/sys/vm/overcommit_memory'
		deny "$n" open_by_handle_at "denied: Operation not permitted" byhandle /vol
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
	ctr "$n" --volume "$SCRATCH:/vol:ro" mount -o remount,bind,rw /vol
	expect_status 0
}

# ---- a session and a terminal of the container's own, as nobody ----

@test "rootless: the container cannot type into the user's shell (TIOCSTI), with or without a pty" {
	local nobody='setpriv --reuid=65534 --regid=65534 --clear-groups'
	for n in $(rootless_stages); do
		tiocsti_at_terminal "$n" "$nobody"
		# stdin a pipe: no pty, and fds 1 and 2 are the user's terminal,
		# which is not the new session's: TIOCSTI is refused
		# shellcheck disable=SC2034 # read by type_command_then_exit
		typed_command="true | $(stage_bin "$n") run $(in_stage "$n" tiocsti)"
		at_terminal type_command_then_exit "$nobody env PS1='outer> ' bash --norc --noprofile -i"
		expect_match "$output" "fd 1: Operation not permitted" "stage $n: TIOCSTI on the caller's terminal"
		expect_no_match "$output" "pwned-42" "stage $n: the outer shell ran what the container typed"
	done
}

@test "rootless: Ctrl-Z on a bare command gives the shell its prompt back, and fg resumes it" {
	for n in $(rootless_stages); do
		ctrl_z_at_terminal "$n" setpriv --reuid=65534 --regid=65534 --clear-groups
	done
}

@test "rootless: a caller that ignores SIGCHLD does not hang the tool or --init" {
	for n in $(rootless_stages); do
		run --separate-stderr timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$REPO/tests/progs/bin/sigign" "$(stage_bin "$n")" run sh -c 'exit 7'
		log_run "nobody: sigign stage$n/container run sh -c 'exit 7'"
		expect_status 7
	done
}

# in_own_userns MAP CMD...: CMD as root of a new user namespace whose uid
# and gid maps are MAP, written by us (root) without denying setgroups, as
# make grade's sandbox and a rootless engine's container do.
in_own_userns() {
	local map=$1 pid child tries=200
	shift
	# shellcheck disable=SC2016 # expanded by that sh
	unshare --user --fork -- sh -c 'while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.02; done; exec "$@"' sh "$@" \
		>"$BATS_TEST_TMPDIR/userns.out" 2>&1 &
	pid=$!
	until child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null) && [[ -n $child ]]; do
		((tries-- > 0)) || fail "unshare never forked"
		sleep 0.02
	done
	child=${child%% *}
	echo "$map" >"/proc/$child/gid_map"
	echo "$map" >"/proc/$child/uid_map"
	wait "$pid"
}

@test "rootless: root of a user namespace that is not the host's runs rootless, maps its own ids and leaves setgroups allowed" {
	local n status
	for n in $(stages_from 1); do
		((n < 4)) || break # 4 and 5 need an image and cgroups this namespace cannot reach
		status=0
		in_own_userns "0 0 65536" "$(stage_bin "$n")" run --verbose sh -c 'cat /proc/self/setgroups /proc/self/uid_map' || status=$?
		log "stage $n: $(cat "$BATS_TEST_TMPDIR/userns.out")"
		expect_eq "$status" 0 "stage $n: the exit status"
		expect_match "$(cat "$BATS_TEST_TMPDIR/userns.out")" "every id of ours is the same id inside" "stage $n: the trace"
		expect_match "$(cat "$BATS_TEST_TMPDIR/userns.out")" "(^|[[:cntrl:]])allow[[:cntrl:]] +0 +0 +65536" "stage $n: setgroups and the map inside"
		status=0
		in_own_userns "0 0 65536" "$(stage_bin "$n")" run --setgroups deny cat /proc/self/setgroups || status=$?
		expect_eq "$(cat "$BATS_TEST_TMPDIR/userns.out")" deny "stage $n: --setgroups deny"
	done
}
