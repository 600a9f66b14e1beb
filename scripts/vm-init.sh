#!/bin/bash
#
# vm-init.sh - the /init of the test VM that scripts/test-vm.sh boots.
#
# The kernel unpacks the initramfs into its "rootfs" filesystem and runs this
# script as PID 1.  It has two jobs, in two passes:
#
#   1. In the initramfs: copy everything into a tmpfs and switch_root into
#      it.  The stages use pivot_root(2), which fails with EINVAL while the
#      current root is the initramfs rootfs: that filesystem has no parent
#      mount to pivot away from.  A tmpfs root, like a disk root, works.
#   2. In the tmpfs: mount what a systemd host has (proc, sysfs, devtmpfs,
#      devpts, and cgroup2 alone at /sys/fs/cgroup: a pure v2 hierarchy),
#      load overlayfs and loop, run the bats suite, print one result
#      line, power off.
#
# The host reads these lines from the serial console:
#   test-vm: init started          the kernel booted and ran us
#   TEST-VM-RESULT: PASS           the suite passed
#   TEST-VM-RESULT: FAIL rc=N      tests/run exited with N
#   TEST-VM-RESULT: ERROR ...      the VM could not even run the suite
#
# Files that test-vm.sh puts into the initramfs besides the programs:
#   /repo             a copy of the work tree (stages, tests, rootfs/)
#   /test-vm/modules  overlay.ko, loop.ko and veth.ko, where the kernel has them as modules
#   /test-vm/args     the arguments for tests/run, one per line
#   /test-vm/wait-scale  CFS_TEST_WAIT_SCALE for the suite, if set
#   /test-vm/min-stage   CFS_TEST_MIN_STAGE for the suite, if set
#   /test-vm/mode     "bench RUNS [FALLBACK]" (make bench-vm), "docs FILE..."
#                     (make docs-check-vm) or "grade" (make grade VM=1)
#                     instead of the suite
#   /test-vm/grade    for "grade": the submission's container and main.c,
#                     "settings" (N TEST_TIMEOUT GRADE_TIMEOUT) and "args"
# For arm64, /repo has no rootfs/: finish_guest builds it in here.
#
# See: switch_root(8), pivot_root(2), cgroups(7), ramfs-rootfs-initramfs
# (the kernel's Documentation/filesystems), bats(1)

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

# Pass 1: copy the initramfs into a tmpfs and make that the root.
# busybox switch_root deletes the initramfs files as it goes (freeing their
# memory), moves the tmpfs onto / and chroots into it, which is what a
# distribution's initramfs does before it starts the real init.
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
	# What systemd passes: nsdelegate makes a cgroup namespace a
	# delegation boundary, memory_recursiveprot as on current hosts.
	mount_fs cgroup2 "$CGROUP" nsdelegate,memory_recursiveprot
	# Serial lines end in \n only, so that the host sees clean lines.
	stty -onlcr 2>/dev/null
}

# Debian builds overlayfs (stage 4's root), loop and veth (the net
# extension's pairs) as modules, and the initramfs has no modules.dep for
# modprobe, so load the files themselves; none depends on another module.
# loop gives the VM the block devices (loop0...) that every real host has
# and that a test looks for.
load_modules() {
	local ko name

	for ko in "$DATA"/modules/*.ko; do
		[[ -f $ko ]] || continue
		name=${ko##*/}
		name=${name%.ko}
		# Built in, or loaded already.
		[[ ! -d /sys/module/$name ]] || continue
		busybox insmod "$ko" || die "insmod $ko (does it match kernel $(uname -r)?)"
	done
	if ! grep -qw overlay /proc/filesystems; then
		say "warning: no overlayfs in this kernel and no overlay.ko given; stage 4 and 5 tests will fail"
	fi
}

# The arm64 guest is Debian's packages unpacked without their maintainer
# scripts (see test-vm.sh): libc-bin's would have written the loader's
# cache, and the host sent no container image, whose programs must be this
# guest's own.  Make both here, as "make rootfs" does on a host.
finish_guest() {
	local start=$SECONDS

	if [[ ! -e /etc/ld.so.cache ]]; then
		ldconfig || die "ldconfig"
	fi
	[[ ! -e $REPO/rootfs/.built ]] || return 0
	say "building the container image: scripts/mkrootfs.sh rootfs tests/progs/bin/*"
	(cd "$REPO" && scripts/mkrootfs.sh rootfs tests/progs/bin/*) ||
		die "scripts/mkrootfs.sh in the guest"
	say "container image built in $((SECONDS - start))s"
}

describe_vm() {
	local controllers devices=()

	controllers=$(cat "$CGROUP/cgroup.controllers")
	say "kernel $(uname -r) ($(uname -m)), $(nproc) CPUs, $(free -m | awk '/^Mem:/ { print $2 }') MiB"
	say "cgroup mode: $(stat -f -c %T "$CGROUP") at $CGROUP (controllers: ${controllers:-none})"
	if grep -qw overlay /proc/filesystems; then
		say "overlayfs: available"
	fi
	shopt -s nullglob
	devices=(/sys/class/block/*)
	shopt -u nullglob
	devices=("${devices[@]##*/}")
	say "block devices: ${devices[*]:-none}"
}

# make bench-vm: table 1 of the benchmark on this v2 kernel, and the ratio
# the cgroup v2 start-up is judged by.  Absolute times under TCG mean
# little; the ratio of two stages measured in the same run does.  The
# rootless column is left out: it would double the time under emulation,
# and root's session in the VM has no delegated cgroup for stage 5 either.
run_bench() {
	local mode runs fallback out rc
	read -r mode runs fallback <"$DATA/mode"
	cd "$REPO" || die "cd $REPO"
	say "running scripts/bench.sh ($mode, $runs runs a row${fallback:+, CONTAINER_FORCE_FALLBACK=$fallback})"
	rc=0
	out=$(CONTAINER_FORCE_FALLBACK=$fallback BENCH_RUNS=$runs BENCH_WARMUP=2 BENCH_IMAGE=0 BENCH_CROWD=0 BENCH_ROOTLESS=0 BENCH_TMPDIR=/tmp scripts/bench.sh 2>&1) || rc=$?
	printf '%s\n' "$out"
	awk '$1 == "stage4-rootfs" && !s4 { s4 = $2 + 0 }
		$1 == "stage5-cgroups" && !s5 { s5 = $2 + 0 }
		END { if (s4 > 0 && s5 > 0) printf "v2: stage5/stage4=%.2f\n", s5 / s4 }' <<<"$out"
	return "$rc"
}

# make docs-check-vm: the docs' transcripts on this v2 kernel.  docs.sh
# re-runs every run block of the files named in the mode file whose if=
# holds here (if=cgroup-v2, and the unmarked ones) and fails if one's
# output differs from the docs.  A command sent to the background gets 2 s
# to start instead of 0.5: the CPU is emulated.
# make docs-update-vm ("docs-update FILE..."): update instead of check, and
# print each file for test-vm.sh to write back on the host.
run_docs() {
	local files=() verb file rc
	read -ra files <"$DATA/mode"
	verb=check
	[[ ${files[0]} != docs-update ]] || verb=update
	files=("${files[@]:1}") # after the mode's word
	cd "$REPO" || die "cd $REPO"
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
	if [[ -f $DATA/grade/args ]]; then
		mapfile -t args <"$DATA/grade/args"
	fi
	cd "$REPO" || die "cd $REPO"
	say "grading stage $n: scripts/grade.sh --trusted ${args[*]}"
	GRADE_PREBUILT=$DATA/grade/container BATS_TEST_TIMEOUT=$test_timeout GRADE_TIMEOUT=$grade_timeout \
		scripts/grade.sh --trusted --junit /tmp/grade.xml "${args[@]}" "$n" "$DATA/grade/main.c" \
		</dev/null 2>&1 | sed -u 's/^/TEST-VM-GRADE: /'
	rc=${PIPESTATUS[0]}
	if [[ -f /tmp/grade.xml ]]; then
		sed 's/^/TEST-VM-JUNIT: /' /tmp/grade.xml
	fi
	((rc <= 1))
}

# The suite as "make test" runs it: tests/run makes its own sandbox.
run_suite() {
	local args=() rc start=$SECONDS

	if [[ -f $DATA/args ]]; then
		mapfile -t args <"$DATA/args"
	fi
	# An emulated CPU is slow: the host says by how much to stretch the
	# suite's waits (tests/helpers.bash).
	if [[ -f $DATA/wait-scale ]]; then
		CFS_TEST_WAIT_SCALE=$(cat "$DATA/wait-scale")
		export CFS_TEST_WAIT_SCALE
	fi
	# An emulated CPU runs a test several times slower than the host: a
	# longer time limit than make test's (tests/run).
	export BATS_TEST_TIMEOUT=$((300 * ${CFS_TEST_WAIT_SCALE:-1}))
	# Only the stages whose checks depend on cgroup v2 (test-vm.sh).
	if [[ -f $DATA/min-stage ]]; then
		CFS_TEST_MIN_STAGE=$(cat "$DATA/min-stage")
		export CFS_TEST_MIN_STAGE
		say "checking stage $CFS_TEST_MIN_STAGE and later only: make test checked the others on the host"
	fi
	cd "$REPO" || die "cd $REPO"
	if ((!${#args[@]})); then
		# Every test but those tagged toolchain: they compile C, read ldd,
		# run node or newuidmap, and the VM has none of these (the host
		# runs them).
		args=(--filter-tags '!toolchain' tests)
	fi
	say "running tests/run ${args[*]}"
	if [[ -x tests/run ]]; then
		tests/run "${args[@]}" </dev/null
	else
		bats --tap "${args[@]:-tests}" </dev/null
	fi
	rc=$?
	say "suite took $((SECONDS - start))s"
	return "$rc"
}

main() {
	local rc

	if [[ ${1:-} != switched ]]; then
		leave_initramfs
	fi
	mount_system
	load_modules
	finish_guest
	describe_vm
	if [[ -f $DATA/mode ]] && grep -q '^bench' "$DATA/mode"; then
		run_bench
	elif [[ -f $DATA/mode ]] && grep -q '^docs' "$DATA/mode"; then
		run_docs
	elif [[ -f $DATA/mode ]] && grep -q '^grade' "$DATA/mode"; then
		run_grade
	else
		run_suite
	fi
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
