#!/bin/bash
# vm-init.sh - the /init of the test VM that scripts/test-vm.sh boots.
#
# As PID 1, in two passes (docs/test-vm.md): copy the initramfs into a tmpfs
# and switch_root there (pivot_root(2), which the stages use, fails with EINVAL
# on the initramfs); then mount what a systemd host has, cgroup2 alone at
# /sys/fs/cgroup, load the modules, run the suite or the job /test-vm/mode
# names (add_vm_files in test-vm.sh), and power off.  The serial console says:
#   test-vm: init started          the kernel booted and ran us
#   TEST-VM-RESULT: PASS           the suite passed
#   TEST-VM-RESULT: FAIL rc=N      tests/run exited with N
#   TEST-VM-RESULT: ERROR ...      the VM could not even run the suite
#
# See: switch_root(8), pivot_root(2), cgroups(7), bats(1)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

NEWROOT=/newroot
REPO=/repo
DATA=/test-vm
CGROUP=/sys/fs/cgroup
# The tail of the kernel log that a failed run prints.
KLOG_LINES=40

say() { printf 'test-vm: %s\n' "$*"; }

# Power off at once: there is no disk to sync.  With "qemu -no-reboot",
# the "b" fallback (reboot) ends qemu too, and so does a panic (panic=-1).
power_off() {
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	echo b >/proc/sysrq-trigger 2>/dev/null
	busybox reboot -f
}

# Nothing can be fixed from in here: tell the host why, and stop the VM.
die() {
	printf 'TEST-VM-RESULT: ERROR %s\n' "$*"
	power_off
}

mount_fs() {
	local type=$1 target=$2 opts=${3:-}

	mkdir -p "$target" || die "mkdir $target"
	mount -t "$type" ${opts:+-o "$opts"} "$type" "$target" ||
		die "mount $type on $target"
}

# Pass 1: copy the initramfs into a tmpfs and make that the root, as a
# distribution's initramfs does: busybox switch_root deletes the initramfs
# files as it goes, moves the tmpfs onto / and chroots into it.
leave_initramfs() {
	local entry

	say "init started"
	mount_fs tmpfs "$NEWROOT" mode=0755
	for entry in /* /.[!.]*; do
		[[ -e $entry && $entry != "$NEWROOT" ]] || continue
		cp -a "$entry" "$NEWROOT/" || die "cp -a $entry $NEWROOT"
	done
	# With execfail set, a failed exec returns here instead of ending PID 1.
	shopt -s execfail
	# shellcheck disable=SC2093
	exec busybox switch_root "$NEWROOT" /init switched
	die "switch_root to $NEWROOT"
}

# Pass 2: the file systems a systemd host mounts, with cgroup v2 only.
mount_system() {
	mount_fs proc /proc
	mount_fs sysfs /sys
	mount_fs devtmpfs /dev mode=0755
	# The links udev makes: bash process substitution uses /dev/fd.
	ln -sfn /proc/self/fd /dev/fd
	ln -sfn /proc/self/fd/0 /dev/stdin
	ln -sfn /proc/self/fd/1 /dev/stdout
	ln -sfn /proc/self/fd/2 /dev/stderr
	mount_fs devpts /dev/pts gid=5,mode=620,ptmxmode=666
	mount_fs tmpfs /dev/shm mode=1777
	mount_fs tmpfs /run mode=0755
	mount_fs tmpfs /tmp mode=1777
	# systemd's options: nsdelegate makes a cgroup namespace a delegation
	# boundary, and memory_recursiveprot is on on current hosts.
	mount_fs cgroup2 "$CGROUP" nsdelegate,memory_recursiveprot
	# Serial lines end in \n only, so that the host sees clean lines.
	stty -onlcr 2>/dev/null
}

# Debian builds overlayfs, loop and veth as modules, and there is no
# modules.dep for modprobe: load the files, none of which needs another.
load_modules() {
	local ko name

	for ko in "$DATA"/modules/*.ko; do
		name=${ko##*/}
		# No module, or one built in or loaded already.
		[[ -f $ko && ! -d /sys/module/${name%.ko} ]] || continue
		busybox insmod "$ko" || die "insmod $ko (does it match kernel $(uname -r)?)"
	done
	grep -qw overlay /proc/filesystems ||
		say "warning: no overlayfs in this kernel and no overlay.ko given; stage 4 and 5 tests will fail"
}

# The arm64 guest is Debian's packages unpacked without their maintainer
# scripts: libc-bin's would have written the loader's cache, and the image's
# programs must be this guest's own.  Make both, as "make rootfs" would.
finish_guest() {
	local start=$SECONDS

	[[ -e /etc/ld.so.cache ]] || ldconfig || die "ldconfig"
	[[ ! -e $REPO/rootfs/.built ]] || return 0
	say "building the container image: scripts/mkrootfs.sh rootfs tests/progs/bin/*"
	(cd "$REPO" && scripts/mkrootfs.sh rootfs tests/progs/bin/*) ||
		die "scripts/mkrootfs.sh in the guest"
	say "container image built in $((SECONDS - start))s"
}

describe_vm() {
	local controllers devices

	controllers=$(cat "$CGROUP/cgroup.controllers")
	say "kernel $(uname -r) ($(uname -m)), $(nproc) CPUs, $(free -m | awk '/^Mem:/ { print $2 }') MiB"
	say "cgroup mode: $(stat -f -c %T "$CGROUP") at $CGROUP (controllers: ${controllers:-none})"
	! grep -qw overlay /proc/filesystems || say "overlayfs: available"
	devices=$(find /sys/class/block -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd ' ')
	say "block devices: ${devices:-none}"
}

# make bench-vm: table 1 of the benchmark, and the ratio the cgroup v2
# start-up is judged by: under TCG absolute times mean little, the ratio of
# two stages timed in one run does.  No rootless column: it would double
# the time, and root's session here has no delegated cgroup for stage 5.
run_bench() {
	local runs fallback out rc=0

	read -r _ runs fallback <"$DATA/mode"
	say "running scripts/bench.sh (bench, $runs runs a row${fallback:+, CONTAINER_FORCE_FALLBACK=$fallback})"
	out=$(CONTAINER_FORCE_FALLBACK=$fallback BENCH_RUNS=$runs BENCH_WARMUP=2 BENCH_IMAGE=0 BENCH_CROWD=0 BENCH_ROOTLESS=0 BENCH_TMPDIR=/tmp scripts/bench.sh 2>&1) || rc=$?
	printf '%s\n' "$out"
	awk '$1 == "stage4-rootfs" && !s4 { s4 = $2 + 0 }
		$1 == "stage5-cgroups" && !s5 { s5 = $2 + 0 }
		END { if (s4 > 0 && s5 > 0) printf "v2: stage5/stage4=%.2f\n", s5 / s4 }' <<<"$out"
	return "$rc"
}

# make docs-check-vm ("docs FILE..."): docs.sh re-runs the files' run blocks
# whose if= holds here (if=cgroup-v2 too) and fails on a difference; a command
# sent to the background gets 2 s to start, the CPU being emulated.  make
# docs-update-vm ("docs-update FILE..."): update, and print each file to the host.
run_docs() {
	local files=() verb=check file rc

	read -ra files <"$DATA/mode"
	[[ ${files[0]} != docs-update ]] || verb=update
	files=("${files[@]:1}") # after the mode's word
	say "running scripts/docs.sh $verb ${files[*]}"
	BG_DELAY=2 BLOCK_TIMEOUT=600 scripts/docs.sh "$verb" "${files[@]}" </dev/null
	rc=$?
	if [[ $verb == update ]] && ((rc == 0)); then
		for file in "${files[@]}"; do
			echo "TEST-VM-DOC-BEGIN $file"
			sed 's/^/TEST-VM-DOC: /' "$file"
			echo "TEST-VM-DOC-END $file"
		done
	fi
	return "$rc"
}

# make grade STAGE=5 VM=1: scripts/grade.sh --trusted, as root, on the
# binary the host built in its sandbox; every line it prints goes to the
# host behind "TEST-VM-GRADE: ", then its JUnit report behind
# "TEST-VM-JUNIT: ".  Its status 1 (a test failed) is a grade, not an error.
run_grade() {
	local n test_timeout grade_timeout args=() rc

	read -r n test_timeout grade_timeout <"$DATA/grade/settings"
	[[ ! -f $DATA/grade/args ]] || mapfile -t args <"$DATA/grade/args"
	say "grading stage $n: scripts/grade.sh --trusted ${args[*]}"
	GRADE_PREBUILT=$DATA/grade/container BATS_TEST_TIMEOUT=$test_timeout GRADE_TIMEOUT=$grade_timeout \
		scripts/grade.sh --trusted --junit /tmp/grade.xml "${args[@]}" "$n" "$DATA/grade/main.c" \
		</dev/null 2>&1 | sed -u 's/^/TEST-VM-GRADE: /'
	rc=${PIPESTATUS[0]}
	echo "TEST-VM-GRADE-STATUS: $rc"
	[[ ! -f /tmp/grade.xml ]] || sed 's/^/TEST-VM-JUNIT: /' /tmp/grade.xml
	((rc <= 1))
}

# The suite as "make test" runs it: tests/run makes its own sandbox.
run_suite() {
	local args=() rc start=$SECONDS

	[[ ! -f $DATA/args ]] || mapfile -t args <"$DATA/args"
	# The host's CFS_TEST_WAIT_SCALE, how much slower this CPU is, and
	# CFS_TEST_MIN_STAGE (tests/helpers.bash); a time limit to match.
	# shellcheck source=/dev/null
	. "$DATA/env"
	export BATS_TEST_TIMEOUT=$((300 * ${CFS_TEST_WAIT_SCALE:-1}))
	((${CFS_TEST_MIN_STAGE:-1} == 1)) ||
		say "checking stage $CFS_TEST_MIN_STAGE and later only: make test checked the others on the host"
	# By default every test but those tagged toolchain: they compile C, read
	# ldd, run node or newuidmap, which the VM lacks (the host runs them).
	((${#args[@]})) || args=(--filter-tags '!toolchain' tests)
	say "running tests/run ${args[*]}"
	tests/run "${args[@]}" </dev/null
	rc=$?
	say "suite took $((SECONDS - start))s"
	return "$rc"
}

main() {
	local mode=suite rc

	# Anywhere but as the VM's PID 1, its mounts and power_off would be the
	# host's: a student who runs it to see what it does loses the machine.
	if (($$ != 1)); then
		echo "vm-init.sh: the test VM's /init, never run by hand: see scripts/test-vm.sh --help" >&2
		exit 2
	fi
	[[ ${1:-} == switched ]] || leave_initramfs
	mount_system
	load_modules
	finish_guest
	describe_vm
	cd "$REPO" || die "cd $REPO"
	[[ ! -f $DATA/mode ]] || read -r mode _ <"$DATA/mode"
	case $mode in
	bench*) run_bench ;;
	docs*) run_docs ;;
	grade*) run_grade ;;
	*) run_suite ;;
	esac
	rc=$?
	if ((rc == 0)); then
		echo "TEST-VM-RESULT: PASS"
	else
		say "last $KLOG_LINES kernel errors:"
		dmesg --level=emerg,alert,crit,err | tail -n "$KLOG_LINES"
		echo "TEST-VM-RESULT: FAIL rc=$rc"
	fi
	power_off
}

main "$@"
