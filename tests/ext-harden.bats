#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $status, $bg_pid: set by run and helpers.bash
# The harden extension (docs/extensions/harden.md): stage 5 with
# docs/extensions/harden.patch, build/ext-harden/container.  As root in the
# container, each of root's powers over the host that docs/README.md lists
# ("What the stages do not isolate") is refused, while ordinary programs
# still run.  Most checks also run on plain stage 5 first, where the same
# thing is allowed (or fails for another reason): a check that cannot fail
# proves nothing.  tests/progs/sysprobe.c makes the raw system calls.

load helpers

# hard ARGS...: `container run ARGS` of the harden extension, through
# bats' run, logged; sets $status, $output and $stderr.
hard() {
	run --separate-stderr "$(ext_bin harden)" run "$@"
	log_run "ext-harden/container run $*"
}

# What a refusal looks like: the kernel's EPERM, or mount(8)'s words for it.
DENIED='Operation not permitted|permission denied'

# The native architecture as the kernel's audit.h numbers it.
native_arch() {
	case $(uname -m) in
	x86_64) echo c000003e ;;
	aarch64) echo c00000b7 ;;
	*) echo unknown ;;
	esac
}

# bats test_tags=smoke
@test "harden: root keeps docker's 14 capabilities and no others, with no_new_privs and a seccomp filter" {
	local status_re='^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):'
	ctr 5 grep -E "$status_re" /proc/self/status
	expect_status 0
	expect_no_match "$output" "CapBnd:[[:space:]]+00000000a80425fb" "plain stage 5's bounding set"
	hard grep -E "$status_re" /proc/self/status
	expect_status 0
	expect_eq "$(tr -s '\t' ' ' <<<"$output")" "$(printf '%s\n' 'CapInh: 0000000000000000' \
		'CapPrm: 00000000a80425fb' 'CapEff: 00000000a80425fb' 'CapBnd: 00000000a80425fb' \
		'CapAmb: 0000000000000000' 'NoNewPrivs: 1' 'Seccomp: 2')" "the container's status"
	# What a program run by root inside gets: the same 14, no more.
	hard sh -c 'exec grep CapEff /proc/self/status'
	expect_match "$output" "CapEff:[[:space:]]+00000000a80425fb" "after an exec"
}

@test "harden: mknod of a disk or a device is refused; a fifo is still made" {
	ctr 5 mknod /tmp/sda b 8 0
	expect_status 0
	hard mknod /tmp/sda b 8 0
	((status != 0)) || fail "mknod of a block device was allowed"
	expect_match "$stderr" "$DENIED" "mknod b 8 0"
	hard mknod /tmp/mem c 1 1
	((status != 0)) || fail "mknod of /dev/mem's device was allowed"
	expect_match "$stderr" "$DENIED" "mknod c 1 1"
	hard sh -c 'mkfifo /tmp/fifo && mknod /tmp/p p && echo made'
	expect_status 0
	expect_eq "$output" made "a fifo"
}

@test "harden: devtmpfs, sysfs, proc, tmpfs, cgroup and cgroup2 cannot be mounted, not even from a user namespace of its own" {
	ctr 5 mount -t devtmpfs none /mnt
	expect_status 0
	for fs in devtmpfs sysfs proc tmpfs cgroup2; do
		hard mount -t "$fs" none /mnt
		((status != 0)) || fail "mount -t $fs was allowed"
		expect_match "$stderr" "$DENIED" "mount -t $fs"
	done
	hard mount -t cgroup -o pids none /mnt
	((status != 0)) || fail "mount -t cgroup was allowed"
	# In a user namespace of its own, root has CAP_SYS_ADMIN again, over a
	# mount namespace of its own: the filter, not the capability, refuses.
	hard unshare --user --map-root-user --mount --propagation unchanged mount -t tmpfs none /mnt
	((status != 0)) || fail "a mount in a new user namespace was allowed"
	expect_match "$stderr" "$DENIED" "mount in a new user namespace"
	hard unshare --user --map-root-user --mount sh -c 'echo unshared'
	((status != 0)) || fail "unshare(1)'s own remount of / was allowed"
}

@test "harden: /proc/sys is read-only and runc's masked paths show nothing, and the masks stay" {
	local before path
	before=$(cat /proc/sys/vm/overcommit_memory)
	# shellcheck disable=SC2016 # expanded by the container's sh
	hard sh -c 'v=$(cat /proc/sys/vm/overcommit_memory) && echo "$v" >/proc/sys/vm/overcommit_memory'
	((status != 0)) || fail "a write to /proc/sys was allowed"
	expect_match "$stderr" "Read-only file system" "the write to /proc/sys"
	expect_eq "$(cat /proc/sys/vm/overcommit_memory)" "$before" "the host's vm.overcommit_memory"
	hard cat /proc/sys/kernel/ostype
	expect_eq "$output" Linux "/proc/sys can still be read"
	if [[ -e /proc/sysrq-trigger ]]; then
		hard sh -c 'echo h >/proc/sysrq-trigger'
		((status != 0)) || fail "a write to /proc/sysrq-trigger was allowed"
	else
		log "no /proc/sysrq-trigger on this kernel: that row is not tried"
	fi
	for path in /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug; do
		[[ -e $path ]] || continue
		hard sh -c "wc -c <$path"
		expect_eq "$output" 0 "$path in the container"
	done
	for path in /proc/acpi /sys/firmware; do
		[[ -e $path ]] || continue
		hard ls -A "$path"
		expect_eq "$output" "" "$path in the container"
	done
	hard umount /proc/sys
	((status != 0)) || fail "umount of /proc/sys was allowed"
	hard umount /proc/keys
	((status != 0)) || fail "umount of the mask on /proc/keys was allowed"
}

@test "harden: open_by_handle_at through a volume is refused" {
	ctr 5 --volume "$BATS_TEST_TMPDIR:/vol" byhandle /vol
	expect_status 0
	hard --volume "$BATS_TEST_TMPDIR:/vol" byhandle /vol
	expect_status 1
	expect_eq "$output" "denied: Operation not permitted" "byhandle /vol"
}

@test "harden: the cgroupfs escape is refused: no cgroup mount in a new user and cgroup namespace, no write to release_agent" {
	local agents=() before=() i
	# The classic escape: a cgroup v1 hierarchy mounted afresh in a user
	# namespace of one's own, then a command for the host in its
	# release_agent.
	hard unshare --user --map-root-user --mount --cgroup --propagation unchanged \
		mount -t cgroup -o pids none /mnt
	((status != 0)) || fail "a cgroup mount in new user and cgroup namespaces was allowed"
	expect_match "$stderr" "$DENIED" "the cgroup mount"
	mapfile -t agents < <(ls /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent 2>/dev/null)
	for i in "${!agents[@]}"; do
		before[i]=$(cat "${agents[i]}")
	done
	((${#agents[@]})) || log "no release_agent on this host (cgroup v2): only the mount is tried"
	# shellcheck disable=SC2016 # expanded by the container's sh
	hard sh -c 'for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do [ -e "$f" ] && echo /x >"$f" && echo "wrote $f"; done; true'
	expect_no_match "$output" "wrote" "a release_agent"
	for i in "${!agents[@]}"; do
		expect_eq "$(cat "${agents[i]}")" "${before[i]}" "the host's ${agents[i]}"
	done
}

@test "harden: TIOCSTI and TIOCLINUX are refused, also with high bits in the request; the keyrings are out of reach" {
	local probes=(tiocsti tiocsti-high tioclinux keyctl add_key request_key)
	ctr 5 sysprobe "${probes[@]}"
	expect_status 0
	# Without the filter: no terminal here (ENOTTY), and keyrings work.
	expect_match "$output" "tiocsti: ENOTTY" "plain stage 5"
	expect_match "$output" "tiocsti-high: ENOTTY" "plain stage 5"
	expect_match "$output" "keyctl: ok" "plain stage 5"
	expect_match "$output" "add_key: ok" "plain stage 5"
	hard sysprobe "${probes[@]}"
	expect_status 0
	expect_eq "$output" "$(printf '%s: EPERM\n' "${probes[@]}")" "the probes"
}

@test "harden: kexec, kernel modules and every way to mount are refused" {
	local probes=(kexec_load kexec_file_load init_module finit_module delete_module mount fsopen mknod-block)
	ctr 5 sysprobe mount fsopen getpid
	expect_eq "$output" "$(printf '%s: ok\n' mount fsopen getpid)" "plain stage 5"
	hard sysprobe "${probes[@]}" getpid mknod-fifo
	expect_status 0
	expect_eq "$output" "$(printf '%s: EPERM\n' "${probes[@]}")"$'\n'"getpid: ok"$'\n'"mknod-fifo: ok" "the probes"
}

# bats test_tags=smoke
@test "harden: a system call of another ABI is killed, not let through (x32 and i386 on x86-64)" {
	[[ $(uname -m) == x86_64 ]] ||
		skip "$(uname -m) has no second system call ABI that a 64-bit program can use (see the next test)"
	local plain
	ctr 5 sysprobe x32 i386
	expect_no_match "$output" "x32: killed" "plain stage 5"
	plain=$output
	hard sysprobe x32 i386
	expect_status 0
	expect_match "$output" "x32: killed by SIGSYS" "x32"
	if [[ $plain == *"i386: ok"* ]]; then
		expect_match "$output" "i386: killed by SIGSYS" "i386 (int 0x80)"
	else
		log "no IA-32 emulation in this kernel: int 0x80 never reaches the filter here"
	fi
}

# bats test_tags=smoke
@test "harden: read from the host, the filter checks the architecture first and kills any other" {
	local dump=$BATS_TEST_TMPDIR/filter rc=0
	[[ $(native_arch) != unknown ]] || fail "harden supports x86-64 and arm64 only, not $(uname -m)"
	# ctr_bg's way, for the extension: $bg_pid is the tool itself, which
	# wait_container and kill_container read.
	(
		trap - ERR
		exec "$(ext_bin harden)" run sleep 60
	) >"$BATS_TEST_TMPDIR/bg.out" 2>&1 &
	# shellcheck disable=SC2034 # read by wait_container and kill_container
	bg_pid=$!
	wait_container
	filtered() { grep -q '^Seccomp:[[:space:]]*2' "/proc/$ctr_pid/status"; }
	wait_for 100 filtered || fail "the container's command never ran under a filter"
	"$REPO/tests/progs/bin/seccomp-dump" "$ctr_pid" >"$dump" 2>"$dump.err" || rc=$?
	kill_container
	if ((rc == 3)); then
		skip "this kernel cannot show a filter (no CONFIG_CHECKPOINT_RESTORE): $(cat "$dump.err")"
	fi
	((rc == 0)) || fail "seccomp-dump $ctr_pid: $(cat "$dump.err")"
	log "the filter: $(head -n 6 "$dump")"
	# Load the arch field; if it is the native one, skip one; else kill.
	expect_eq "$(head -n 3 "$dump")" "$(printf '%s\n' '0020 00 00 00000004' \
		"0015 01 00 $(native_arch)" '0006 00 00 80000000')" "the filter's first three instructions"
	if [[ $(uname -m) == x86_64 ]]; then
		# Load the number; x32's carry bit 30: kill those too.
		expect_eq "$(sed -n 4,6p "$dump")" "$(printf '%s\n' '0020 00 00 00000000' \
			'0035 00 01 40000000' '0006 00 00 80000000')" "the x32 check"
	fi
}

@test "harden: the ordinary workload still runs: a shell, pipes, coreutils, chown, a user switch, --init" {
	# shellcheck disable=SC2016 # expanded by the container's sh
	hard sh -c 'echo hello | tr a-z A-Z
mkdir /tmp/d && chown 65534:65534 /tmp/d && stat -c %u /tmp/d
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "id -u; grep CapEff /proc/self/status"
ps -o comm= -p 1
kill -0 1 && echo signals'
	expect_status 0
	expect_eq "$(tr -s '\t' ' ' <<<"$output")" "$(printf '%s\n' HELLO 65534 65534 \
		'CapEff: 0000000000000000' sh signals)" "the workload"
	hard --init sh -c 'sleep 0.1 & wait; echo finished'
	expect_status 0
	expect_eq "$output" finished "--init"
}

@test "harden: the Debian image's apt-get and python3 run" {
	local tarball=$REPO/.cache/images/debian-bookworm-minbase.tar img=$BATS_TEST_TMPDIR/debian
	[[ -s $tarball ]] ||
		skip "no Debian image in .cache/images/ (tests/debian.bats makes it, where Debian's archive can be reached)"
	"$REPO/scripts/import.sh" "$tarball" "$img" >&2
	hard --rootfs "$img" sh -c 'apt-get --version | head -n 1
python3 -c "import multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))"'
	expect_status 0
	expect_match "$output" $'^apt 2\\.6\\.[0-9.]+ \\([a-z0-9]+\\)\n\\[1, 2\\]$' "apt-get and python3"
}
