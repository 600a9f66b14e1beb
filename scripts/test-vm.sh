#!/bin/bash
#
# test-vm.sh - run the bats suite inside a qemu VM with a pure cgroup v2
# hierarchy, so that the v2 code paths run in a test even on a cgroup v1 or
# hybrid machine.
#
# Usage: scripts/test-vm.sh [BATS_ARG...]      (make test-vm)
#
# The pieces, all from Debian packages:
#   kernel      Debian's linux-image-*-amd64 (the one linux-image-amd64
#               depends on), fetched with apt-get download and unpacked into
#               .cache/test-vm/kernels/ once; only vmlinuz, overlay.ko and
#               loop.ko are kept.  It is never installed on this machine.
#   initramfs   scripts/mkrootfs.sh's image of this machine's programs plus
#               bats, busybox (insmod, switch_root), scripts/vm-init.sh as
#               /init and a copy of the work tree at /repo, packed as a cpio
#               "newc" archive by busybox cpio.
#   qemu        qemu-system-x86_64: KVM when it works, else TCG emulation.
#
# Inside, /init mounts cgroup2 alone at /sys/fs/cgroup, loads overlay.ko
# and loop.ko, and runs tests/run; see scripts/vm-init.sh.  The serial console is shown here
# and saved to .cache/test-vm/serial.log.  The exit status is 0 only if the
# VM printed "TEST-VM-RESULT: PASS".  The last line is the suite's count,
# "test-vm: N passed, N failed, N skipped".
#
# Settings (environment variables; make passes VAR=value on to us):
#   KERNEL=PATH            boot this vmlinuz instead of Debian's
#   KERNEL_MODULES=DIR     where to find overlay.ko and loop.ko (searched
#                          recursively; default /lib/modules/VERSION when
#                          KERNEL is /boot/vmlinuz-VERSION)
#   KERNEL_DEB=FILE        take vmlinuz and the modules from this .deb
#   KERNEL_PACKAGE=NAME    apt-get download this kernel package instead
#   TEST_VM_ACCEL=auto     kvm, tcg or auto (KVM if usable, else TCG)
#   TEST_VM_TIMEOUT=2700   seconds before the VM is killed
#   TEST_VM_BOOT_TIMEOUT=120  seconds for the kernel to reach /init
#   TEST_VM_MEMORY=2G      guest memory
#   TEST_VM_CPUS=2         guest CPUs
#   TEST_VM_APPEND=        extra kernel command line
#
# See: qemu-system-x86_64(1), apt-get(8), dpkg-deb(1), busybox(1),
# docs/test-vm.md

set -euo pipefail
export LC_ALL=C

PROG_NAME=test-vm
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$REPO/.cache/test-vm
LOG=$CACHE/serial.log
ROOT=$CACHE/root
INITRAMFS=$CACHE/initramfs.cpio
# The Debian package whose dependency names the current kernel package.
KERNEL_META=linux-image-amd64
# The modules /init loads, by path under kernel/ in a package or a
# /lib/modules tree: overlayfs for stage 4, and loop for the block devices
# every real host has (a test checks that none of them leaks into /dev).
MODULES=(fs/overlayfs/overlay drivers/block/loop)

ACCEL=${TEST_VM_ACCEL:-auto}
TIMEOUT=${TEST_VM_TIMEOUT:-2700}
MEMORY=${TEST_VM_MEMORY:-2G}
CPUS=${TEST_VM_CPUS:-2}
# A kernel that has not run /init by then is not going to: under KVM that
# means nested virtualisation does not work here, and TCG is tried instead.
BOOT_TIMEOUT=${TEST_VM_BOOT_TIMEOUT:-120}
# quiet+loglevel=3: only critical kernel messages interleave with the TAP
# output (a failed run prints the kernel log's tail anyway).
# cgroup_no_v1=all: no controller can be bound to a v1 hierarchy.
# panic=-1: a panic reboots, which -no-reboot turns into qemu exiting.
# mitigations=off: no page-table switch on every system call, which TCG
# emulates slowly; the suite runs about a quarter faster without it.
CMDLINE="console=ttyS0 panic=-1 quiet loglevel=3 cgroup_no_v1=all mitigations=off rdinit=/init"

# The VM is the host the suite runs on, so it gets every program of these
# Debian packages (those installed here), not only the container image's
# set: a test that starts using paste or comm still finds it.
VM_PACKAGES=(coreutils util-linux mount procps psmisc findutils grep sed tar bsdutils hostname
	diffutils bats)
# And these single programs: insmod and switch_root come from busybox.
VM_PROGS=(busybox awk make)
VM_TREES=(/usr/lib/bats-core /usr/libexec/bats-core)

# command -> Debian package, for what this script itself needs.
declare -A HOST_NEEDS=(
	[qemu-system-x86_64]=qemu-system-x86
	[busybox]=busybox-static
	[bats]=bats
	[apt-get]=apt
	[dpkg-deb]=dpkg
)

kernel_image=""
modules_dir=""
suite_args=()
qemu_pid=""
tail_pid=""

usage() {
	cat <<EOF
Usage: scripts/test-vm.sh [BATS_ARG...]
       make test-vm [KERNEL=vmlinuz [KERNEL_MODULES=dir]] [TEST_VM_ACCEL=tcg]

Boot Debian's kernel under qemu with a pure cgroup v2 hierarchy and run the
bats suite inside it: tests/run BATS_ARG... (.bats files and bats options
such as -f REGEX; default every tests/*.bats).
Exits 0 only if every test passed.

Settings (environment or make variables):
  KERNEL=PATH          boot this vmlinuz instead of Debian's current one
  KERNEL_MODULES=DIR   directory searched for overlay.ko, loop.ko for KERNEL
  KERNEL_DEB=FILE      take vmlinuz and modules from this kernel .deb
  KERNEL_PACKAGE=NAME  apt-get download this linux-image package instead
  TEST_VM_ACCEL=MODE   kvm, tcg or auto (default: KVM if it works)
  TEST_VM_TIMEOUT=S    kill the VM after S seconds (default 2700)
  TEST_VM_BOOT_TIMEOUT=S  give up if /init has not started by then (120)
  TEST_VM_MEMORY=SIZE  guest memory (default 2G)
  TEST_VM_CPUS=N       guest CPUs (default 2)
  TEST_VM_APPEND=ARGS  extra kernel command line

Files: .cache/test-vm/ holds the kernel cache, the initramfs and
serial.log, the VM's console output of the last run.

See: docs/test-vm.md, qemu-system-x86_64(1)
EOF
}

say() { echo "$PROG_NAME: $*"; }

die() {
	echo "$PROG_NAME: $*" >&2
	exit 1
}

# Stop the VM if we are interrupted or fail while it runs.
cleanup() {
	if [[ -n $qemu_pid ]]; then
		kill "$qemu_pid" 2>/dev/null || true
	fi
	if [[ -n $tail_pid ]]; then
		kill "$tail_pid" 2>/dev/null || true
	fi
}

# Every argument goes to tests/run, and so to bats, in the VM: a list of
# .bats files, and bats options such as -f REGEX.
parse_args() {
	case ${1:-} in
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		;;
	esac
	suite_args=("$@")
	[[ $ACCEL == @(auto|kvm|tcg) ]] ||
		die "TEST_VM_ACCEL=$ACCEL: expected auto, kvm or tcg"
	[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
		die "TEST_VM_TIMEOUT=$TIMEOUT: expected a number of seconds"
}

# Install what is missing when we can (root with apt), else say what to do.
ensure_host_tools() {
	local cmd missing=()

	for cmd in "${!HOST_NEEDS[@]}"; do
		command -v "$cmd" >/dev/null || missing+=("${HOST_NEEDS[$cmd]}")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
		die "missing packages: ${missing[*]} (try: sudo apt-get install ${missing[*]})"
	fi
	say "installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
}

# ---- the kernel ----

# Uncompress a module into $2: insmod in the VM takes plain .ko files.
copy_module() {
	local src=$1 dst=$2

	case $src in
	*.ko) cp -- "$src" "$dst" ;;
	*.ko.xz) xz -dc -- "$src" >"$dst" ;;
	*.ko.zst) zstd -qdc -- "$src" >"$dst" ;;
	*.ko.gz) gzip -dc -- "$src" >"$dst" ;;
	*) die "$src: unknown module compression" ;;
	esac
}

# Copy the MODULES found under directory $1 into directory $2, uncompressed.
# A module that is missing may be built in: /init checks.
collect_modules() {
	local from=$1 to=$2 module ko

	mkdir -p -- "$to"
	for module in "${MODULES[@]}"; do
		ko=$(find "$from" -path "*/kernel/$module.ko*" -print -quit)
		if [[ -n $ko ]]; then
			copy_module "$ko" "$to/${module##*/}.ko"
		fi
	done
}

# Unpack vmlinuz and the MODULES from kernel package $1 into directory $2.
# Only those members are extracted: the package holds 400 MB of modules.
unpack_kernel_deb() {
	local deb=$1 dir=$2 tmp module
	local members=('./boot/vmlinuz-*')

	for module in "${MODULES[@]}"; do
		members+=("*/kernel/$module.ko*")
	done
	tmp=$(mktemp -d -- "$CACHE/unpack.XXXXXX")
	# tar fails when a pattern matches nothing (a module built in): what
	# matters is checked below.
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$tmp" --wildcards "${members[@]}" 2>/dev/null || true
	set -- "$tmp"/boot/vmlinuz-*
	if [[ ! -f $1 ]]; then
		rm -rf -- "$tmp"
		die "$deb: no /boot/vmlinuz-* in it; is it a linux-image package?"
	fi
	rm -rf -- "$dir.new"
	mkdir -p -- "$dir.new"
	mv -- "$1" "$dir.new/vmlinuz"
	collect_modules "$tmp" "$dir.new/modules"
	basename -- "$deb" >"$dir.new/package"
	rm -rf -- "$tmp" "$dir"
	mv -T -- "$dir.new" "$dir"
}

# Use the kernel unpacked in directory $1.
use_kernel_dir() {
	kernel_image=$1/vmlinuz
	modules_dir=$1/modules
}

# The package linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64.
current_kernel_package() {
	apt-cache depends "$KERNEL_META" 2>/dev/null |
		awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Fetch kernel package $1 into the cache, once.
cached_kernel_package() {
	local pkg=$1 dir=$CACHE/kernels/$1 tmp deb
	local sandbox=()

	if [[ ! -f $dir/vmlinuz || ! -d $dir/modules ]]; then
		say "downloading $pkg (once; cached in ${dir#"$REPO"/})"
		tmp=$(mktemp -d -- "$CACHE/download.XXXXXX")
		# As root, apt drops to the _apt user, who cannot write here.
		[[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
		(cd "$tmp" && apt-get download -q "${sandbox[@]}" "$pkg") ||
			{
				rm -rf -- "$tmp"
				die "apt-get download $pkg failed (try: apt-get update)"
			}
		deb=$(find "$tmp" -name '*.deb' -print -quit)
		unpack_kernel_deb "$deb" "$dir"
		rm -rf -- "$tmp"
	fi
	use_kernel_dir "$dir"
}

# KERNEL=PATH: the modules from KERNEL_MODULES, or from /lib/modules/VERSION
# when the image is named like /boot/vmlinuz-VERSION.
given_kernel() {
	local dir=${KERNEL_MODULES:-} version

	[[ -f $KERNEL ]] || die "KERNEL=$KERNEL: no such file"
	kernel_image=$(realpath -- "$KERNEL")
	version=${kernel_image##*/vmlinuz-}
	if [[ -z $dir && $version != "$kernel_image" && -d /lib/modules/$version ]]; then
		dir=/lib/modules/$version
	fi
	modules_dir=$CACHE/given-modules
	rm -rf -- "$modules_dir"
	mkdir -p -- "$modules_dir"
	if [[ -n $dir ]]; then
		[[ -d $dir ]] || die "KERNEL_MODULES=$dir: not a directory"
		collect_modules "$dir" "$modules_dir"
	else
		say "note: no KERNEL_MODULES for $KERNEL: fine if overlayfs and loop are built in"
	fi
}

# The newest kernel package in the cache, for when apt-cache cannot help.
newest_cached_package() {
	find "$CACHE/kernels" -mindepth 2 -maxdepth 2 -name vmlinuz \
		-path '*/linux-image-*' -printf '%T@ %h\n' 2>/dev/null |
		sort -rn | awk 'NR == 1 { n = split($2, p, "/"); print p[n] }'
}

find_kernel() {
	local pkg dir modules

	if [[ -n ${KERNEL:-} ]]; then
		given_kernel
	elif [[ -n ${KERNEL_DEB:-} ]]; then
		[[ -f $KERNEL_DEB ]] || die "KERNEL_DEB=$KERNEL_DEB: no such file"
		dir=$CACHE/kernels/deb-$(basename -- "$KERNEL_DEB" .deb)
		[[ -f $dir/vmlinuz && -d $dir/modules ]] ||
			unpack_kernel_deb "$KERNEL_DEB" "$dir"
		use_kernel_dir "$dir"
	elif [[ -n ${KERNEL_PACKAGE:-} ]]; then
		cached_kernel_package "$KERNEL_PACKAGE"
	else
		pkg=$(current_kernel_package)
		if [[ -z $pkg && $(id -u) -eq 0 ]]; then
			# A fresh machine may have no package lists yet.
			apt-get update -qq || true
			pkg=$(current_kernel_package)
		fi
		if [[ -z $pkg ]]; then
			pkg=$(newest_cached_package)
			[[ -n $pkg ]] ||
				die "apt-cache knows no $KERNEL_META (try: apt-get update)"
			say "note: apt-cache knows no $KERNEL_META; using the cached $pkg"
		fi
		cached_kernel_package "$pkg"
	fi
	modules=$(cd "$modules_dir" && echo *.ko)
	[[ $modules != '*.ko' ]] || modules="no modules"
	say "kernel: ${kernel_image#"$REPO"/} ($modules)"
}

# ---- the initramfs ----

# The programs (in a bin or sbin directory) of the installed packages $@.
package_programs() {
	local file

	dpkg -L "$@" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$' |
		while IFS= read -r file; do
			if [[ -f $file && -x $file ]]; then
				echo "$file"
			fi
		done
}

# The initramfs tree: mkrootfs.sh's image with the VM's extra programs,
# /init, the modules and the work tree, minus .git and the cache.
build_root() {
	local prog adds=()

	for prog in "${VM_PROGS[@]}" $(package_programs "${VM_PACKAGES[@]}"); do
		adds+=(--add "$prog")
	done
	for prog in "${VM_TREES[@]}"; do
		adds+=(--add-tree "$prog")
	done
	"$REPO/scripts/mkrootfs.sh" "${adds[@]}" "$ROOT" ||
		die "scripts/mkrootfs.sh failed"
	install -m 0755 -- "$REPO/scripts/vm-init.sh" "$ROOT/init"
	mkdir -p -- "$ROOT/test-vm/modules" "$ROOT/repo"
	find "$modules_dir" -maxdepth 1 -name "*.ko" -exec cp -t "$ROOT/test-vm/modules" -- {} +
	if ((${#suite_args[@]})); then
		printf '%s\n' "${suite_args[@]}" >"$ROOT/test-vm/args"
	fi
	tar -C "$REPO" --exclude=./.git --exclude=./.cache -cf - . |
		tar -C "$ROOT/repo" -xf -
}

# Pack the tree as the kernel wants it: cpio "newc", every file root's.
# Uncompressed: the kernel unpacks it faster than it would gunzip it.
pack_initramfs() {
	(cd "$ROOT" && find . -mindepth 1 -print0 |
		busybox cpio -o -0 -H newc -R 0:0 2>/dev/null) >"$INITRAMFS.new" ||
		die "busybox cpio failed"
	mv -- "$INITRAMFS.new" "$INITRAMFS"
}

build_initramfs() {
	local start=$SECONDS main

	[[ -d $REPO/tests ]] || die "no tests/ in $REPO"
	# The VM runs what is built here: a missing or stale binary would
	# fail every test, or test old code, in a run that takes minutes.
	for main in "$REPO"/stage*/main.c; do
		[[ ${main%/main.c}/container -nt $main ]] ||
			die "${main#"$REPO"/}: its container is missing or older; run make test-vm (it runs make all)"
	done
	build_root
	pack_initramfs
	say "initramfs: ${INITRAMFS#"$REPO"/} ($(du -m -- "$INITRAMFS" | cut -f1) MiB, built in $((SECONDS - start))s)"
}

# ---- the VM ----

# /dev/kvm can exist where KVM cannot run a guest (nested virtualisation
# without VMX/SVM passed through): then qemu spins without output.  The CPU
# flag is the cheap check; the boot timeout in run_vm is the sure one.
kvm_usable() {
	[[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo
}

# Boot once with accelerator $1; sets vm_outcome to pass, fail, error,
# noboot, timeout or nomarker, and vm_boot_seconds.
run_vm() {
	local accel=$1 start=$SECONDS booted=0 elapsed
	local args=(-name cfs-test-vm -nodefaults -no-user-config -display none
		-monitor none -serial stdio -no-reboot -m "$MEMORY" -smp "$CPUS"
		-kernel "$kernel_image" -initrd "$INITRAMFS"
		-append "$CMDLINE${TEST_VM_APPEND:+ $TEST_VM_APPEND}")

	if [[ $accel == kvm ]]; then
		args+=(-accel kvm -cpu host)
	else
		args+=(-accel "tcg,thread=multi" -cpu max)
	fi
	say "booting: qemu-system-x86_64 ${args[*]}"
	: >"$LOG"
	qemu-system-x86_64 "${args[@]}" </dev/null >"$LOG" 2>&1 &
	qemu_pid=$!
	# Show the console as it comes, without the serial line's \r.
	tail -n +1 -f --pid="$qemu_pid" -- "$LOG" | sed -u 's/\r$//' &
	tail_pid=$!
	vm_outcome=""
	while kill -0 "$qemu_pid" 2>/dev/null; do
		sleep 1
		elapsed=$((SECONDS - start))
		if ((!booted)) && grep -qa '^test-vm: init started' "$LOG"; then
			booted=1
			vm_boot_seconds=$elapsed
		fi
		if ((!booted && elapsed >= BOOT_TIMEOUT)); then
			vm_outcome=noboot
		elif ((elapsed >= TIMEOUT)); then
			vm_outcome=timeout
		fi
		if [[ -n $vm_outcome ]]; then
			kill "$qemu_pid" 2>/dev/null || true
			break
		fi
	done
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=""
	wait "$tail_pid" 2>/dev/null || true
	tail_pid=""
	[[ -z $vm_outcome ]] || return 0
	case $(tr -d '\r' <"$LOG" | grep -a '^TEST-VM-RESULT: ' | tail -n 1) in
	"TEST-VM-RESULT: PASS") vm_outcome=pass ;;
	"TEST-VM-RESULT: FAIL"*) vm_outcome=fail ;;
	"TEST-VM-RESULT: ERROR"*) vm_outcome=error ;;
	*) vm_outcome=nomarker ;;
	esac
}

boot() {
	local accel=$ACCEL

	if [[ $accel == auto ]]; then
		accel=tcg
		! kvm_usable || accel=kvm
	fi
	run_vm "$accel"
	if [[ $vm_outcome == noboot && $accel == kvm && $ACCEL == auto ]]; then
		say "KVM did not boot the kernel in ${BOOT_TIMEOUT}s (nested virtualisation?); trying TCG"
		accel=tcg
		run_vm "$accel"
	fi
	vm_accel=$accel
}

# Say how it went; the suite's own count is the last line.
report() {
	local total=$1 log counts suite

	log=$(tr -d '\r' <"$LOG")
	counts=$(grep -aE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' <<<"$log" | tail -n 1) || true
	suite=$(sed -n 's/^test-vm: suite took \([0-9]*s\)$/\1/p' <<<"$log" | tail -n 1)
	say "accelerator $vm_accel; boot to /init ${vm_boot_seconds:-?}s; suite ${suite:-?}; total $((total / 60))m$((total % 60))s; log ${LOG#"$REPO"/}"
	case $vm_outcome in
	pass) say "PASS" ;;
	fail) say "FAIL: some tests failed (see above, or the log)" ;;
	error) say "ERROR: the VM could not run the suite: $(grep -a '^TEST-VM-RESULT: ERROR' <<<"$log" | tail -n 1)" ;;
	noboot) say "ERROR: the kernel did not reach /init within ${BOOT_TIMEOUT}s (TEST_VM_BOOT_TIMEOUT)" ;;
	timeout) say "ERROR: timed out after ${TIMEOUT}s (TEST_VM_TIMEOUT)" ;;
	*)
		if grep -qa 'Kernel panic' <<<"$log"; then
			say "ERROR: the kernel panicked (see above, or the log)"
		else
			say "ERROR: the VM stopped without a result line (see above, or the log)"
		fi
		;;
	esac
	if [[ -n $counts ]]; then
		say "$counts"
	fi
	[[ $vm_outcome == pass ]]
}

main() {
	local start=$SECONDS

	parse_args "$@"
	ensure_host_tools
	mkdir -p -- "$CACHE"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	find_kernel
	build_initramfs
	boot
	report $((SECONDS - start))
}

main "$@"
