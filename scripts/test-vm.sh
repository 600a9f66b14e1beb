#!/bin/bash
#
# test-vm.sh - run the bats suite inside a qemu VM with a pure cgroup v2
# hierarchy, so that the v2 code paths run in a test even on a cgroup v1 or
# hybrid machine.
#
# Usage: scripts/test-vm.sh [BATS_ARG...]      (make test-vm [ARCH=arm64])
#
# The pieces, all from Debian packages:
#   kernel      Debian's linux-image-*-amd64 (the one linux-image-amd64
#               depends on), fetched with apt-get download and unpacked into
#               .cache/test-vm/kernels/ once; only vmlinuz, overlay.ko, loop.ko
#               and veth.ko are kept.  It is never installed on this machine.
#   initramfs   scripts/mkrootfs.sh's image of this machine's programs plus
#               bats, busybox (insmod, switch_root), scripts/vm-init.sh as
#               /init and a copy of the work tree at /repo, packed as a cpio
#               "newc" archive by busybox cpio.
#   qemu        qemu-system-x86_64: KVM when it works, else TCG emulation.
#
# TEST_VM_ARCH=arm64 (make test-vm ARCH=arm64) boots linux-image-arm64's
# kernel under qemu-system-aarch64 -M virt instead.  Its initramfs is not
# this machine's programs but Debian's arm64 packages, fetched through a
# private apt configuration in .cache/test-vm/arm64/apt (the host's apt and
# dpkg stay as they are) and unpacked, with the stages and test programs
# of make cross ARCH=arm64.  It runs the tests tagged smoke unless FULL=1.
#
# Inside, /init mounts cgroup2 alone at /sys/fs/cgroup, loads overlay.ko,
# loop.ko and veth.ko, and runs tests/run; see scripts/vm-init.sh.  The serial console is shown here
# and saved to .cache/test-vm/serial.log.  The exit status is 0 only if the
# VM printed "TEST-VM-RESULT: PASS".  The last line is the suite's count,
# "test-vm: N passed, N failed, N skipped".
#
# Settings (environment variables; make passes VAR=value on to us):
#   KERNEL=PATH            boot this vmlinuz instead of Debian's
#   KERNEL_MODULES=DIR     where to find overlay.ko, loop.ko, veth.ko (searched
#                          recursively; default /lib/modules/VERSION when
#                          KERNEL is /boot/vmlinuz-VERSION)
#   KERNEL_DEB=FILE        take vmlinuz and the modules from this .deb
#   KERNEL_PACKAGE=NAME    apt-get download this kernel package instead
#   TEST_VM_ACCEL=auto     kvm, tcg or auto (KVM if usable, else TCG)
#   TEST_VM_TIMEOUT=2700   seconds before the VM is killed
#   TEST_VM_BOOT_TIMEOUT=120  seconds for the kernel to reach /init
#   TEST_VM_MEMORY=4G      guest memory: its / and /tmp are tmpfs
#   TEST_VM_CPUS=2         guest CPUs
#   TEST_VM_APPEND=        extra kernel command line
#   TEST_VM_MODE=bench     run scripts/bench.sh, not the suite (make
#                          bench-vm), with BENCH_RUNS runs a row (20), and
#                          CONTAINER_FORCE_FALLBACK passed on
#   TEST_VM_MODE=docs      run scripts/docs.sh check on DOCS_VM_FILES
#                          (docs/05-cgroups.md), not the suite (make
#                          docs-check-vm): the transcripts marked
#                          if=cgroup-v2, which a v1 or hybrid host leaves
#                          alone, are re-run on v2; amd64 only
#   TEST_VM_MODE=docs-update  the same with scripts/docs.sh update (make
#                          docs-update-vm): the VM prints each file it
#                          regenerated, and this script writes it back
#                          into the work tree
#   TEST_VM_MODE=grade     grade one stage 5 (make grade STAGE=5 VM=1):
#                          scripts/grade.sh --vm puts the binary it built,
#                          the source and the settings in GRADE_VM_DIR,
#                          and reads the grade back from the console;
#                          amd64 only
#   TEST_VM_ARCH=amd64     amd64 or arm64
#   FULL=0                 1: every stage in every suite (amd64 checks only
#                          stage 5 by default), every test (arm64: smoke ones)
#   TEST_VM_WAIT_SCALE=1   stretch the suite's waits (6 for arm64)
#
# See: qemu-system-x86_64(1), qemu-system-aarch64(1), apt-get(8),
# apt.conf(5), dpkg-deb(1), busybox(1),
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
# /lib/modules tree: overlayfs for stage 4, loop for the block devices
# every real host has (a test checks that none of them leaks into /dev),
# and veth for the net extension's pairs.
MODULES=(fs/overlayfs/overlay drivers/block/loop drivers/net/veth)

# amd64 or arm64: the guest's architecture (make test-vm ARCH=arm64).
VM_ARCH=${TEST_VM_ARCH:-amd64}
# arm64 runs only the tests tagged "smoke" unless FULL=1 (see choose_arch).
FULL=${FULL:-0}
ACCEL=${TEST_VM_ACCEL:-auto}
TIMEOUT=${TEST_VM_TIMEOUT:-2700}
# The suite's waits for a container to start are stretched this many times
# (CFS_TEST_WAIT_SCALE in tests/helpers.bash); 6 for emulated arm64.
WAIT_SCALE=${TEST_VM_WAIT_SCALE:-1}
MEMORY=${TEST_VM_MEMORY:-4G}
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
CMDLINE="panic=-1 quiet loglevel=3 cgroup_no_v1=all mitigations=off rdinit=/init"
# Per architecture (choose_arch): the emulator, its machine, the console.
QEMU=qemu-system-x86_64
QEMU_MACHINE=()
QEMU_TCG_CPU=max
CONSOLE=ttyS0

# The VM is the host the suite runs on, so it gets every program of these
# Debian packages (those installed here), not only the container image's
# set: a test that starts using paste or comm still finds it.  patch: the
# docs check makes the extensions' patched trees (scripts/ext.sh tree).
VM_PACKAGES=(coreutils util-linux mount procps psmisc findutils grep sed tar bsdutils hostname
	diffutils bats iproute2 patch)
# And these single programs: insmod and switch_root come from busybox.
VM_PROGS=(busybox awk make)
VM_TREES=(/usr/lib/bats-core /usr/libexec/bats-core)
# The docs' transcripts use sudo as a reader does, and make docs-check-vm
# re-runs them with the real sudo: the program, its policy plugin and the
# one PAM module of the VM's own PAM stack, both loaded with dlopen(3)
# (find_sudo_files, add_sudo_config).  In that mode only.
SUDO_PLUGIN_DIRS=(/usr/libexec/sudo /usr/lib/sudo)
PAM_DIRS=(/usr/lib/*/security /lib/*/security /usr/lib/security)

# command -> Debian package, for what this script itself needs.
declare -A HOST_NEEDS=(
	[busybox]=busybox-static
	[bats]=bats
	[apt-get]=apt
	[dpkg-deb]=dpkg
)

# arm64: the guest's programs are Debian's arm64 packages, with their
# dependencies, unpacked into the initramfs (no maintainer script runs).
# The same tools as the amd64 VM gets, plus what scripts/mkrootfs.sh needs
# to build the container image inside the guest: ldd and ldconfig
# (libc-bin), and usr-is-merged, which stands in for usrmerge and its perl.
ARM64_PACKAGES=("${VM_PACKAGES[@]}" busybox-static mawk make bash dash
	libc-bin debianutils base-files ncurses-base usr-is-merged)
# What the guest's root does not need from those packages.
ARM64_SKIP=(./usr/share/doc ./usr/share/man ./usr/share/info
	./usr/share/locale ./usr/share/lintian ./usr/share/perl5)
# Links that update-alternatives would make: NAME=TARGET in /usr/bin.
ARM64_ALTERNATIVES=(awk=mawk which=which.debianutils)
# The arm64 package lists and .debs come through a private apt
# configuration whose state lives here: the host's apt is never changed.
ARM64_DIR=$CACHE/arm64
APT_CONF=""

kernel_image=""
modules_dir=""
suite_args=()
qemu_pid=""
tail_pid=""

usage() {
	cat <<EOF
Usage: scripts/test-vm.sh [BATS_ARG...]
       make test-vm [FULL=1] [KERNEL=vmlinuz [KERNEL_MODULES=dir]] [TEST_VM_ACCEL=tcg]
       make test-vm ARCH=arm64 [FULL=1]

Boot Debian's kernel under qemu with a pure cgroup v2 hierarchy and run the
bats suite inside it: tests/run BATS_ARG... (.bats files and bats options
such as -f REGEX; default every tests/*.bats).
Exits 0 only if every test passed.

Settings (environment or make variables):
  KERNEL=PATH          boot this vmlinuz instead of Debian's current one
  KERNEL_MODULES=DIR   directory searched for overlay.ko, loop.ko, veth.ko for KERNEL
  KERNEL_DEB=FILE      take vmlinuz and modules from this kernel .deb
  KERNEL_PACKAGE=NAME  apt-get download this linux-image package instead
  TEST_VM_ACCEL=MODE   kvm, tcg or auto (default: KVM if it works)
  TEST_VM_TIMEOUT=S    kill the VM after S seconds (default 2700)
  TEST_VM_BOOT_TIMEOUT=S  give up if /init has not started by then (120)
  TEST_VM_MEMORY=SIZE  guest memory (default 4G)
  TEST_VM_CPUS=N       guest CPUs (default 2)
  TEST_VM_APPEND=ARGS  extra kernel command line
  TEST_VM_ARCH=ARCH    amd64 (default) or arm64, emulated; make's ARCH=
  FULL=1               every check on every stage, not on stage 5 only;
                       arm64: every test, not only those tagged smoke
  TEST_VM_WAIT_SCALE=N stretch the suite's waits N times (arm64: 6)

Files: .cache/test-vm/ holds the kernel cache, the initramfs and
serial.log, the VM's console output of the last run; arm64's are in
.cache/test-vm/arm64/, with its packages and private apt state.

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
	[[ $WAIT_SCALE =~ ^[1-9][0-9]*$ ]] ||
		die "TEST_VM_WAIT_SCALE=$WAIT_SCALE: expected a whole number"
}

# The settings of the guest architecture VM_ARCH.
choose_arch() {
	case $VM_ARCH in
	amd64 | x86_64)
		VM_ARCH=amd64
		HOST_NEEDS[qemu-system-x86_64]=qemu-system-x86
		;;
	arm64 | aarch64)
		VM_ARCH=arm64
		QEMU=qemu-system-aarch64
		HOST_NEEDS[qemu-system-aarch64]=qemu-system-arm
		# -M virt: the board made for VMs; a kernel given with
		# -kernel needs no firmware.  pauth-impdef: pointer
		# authentication with QEMU's own cheap hash instead of the
		# architected QARMA5, which TCG emulates very slowly.
		QEMU_MACHINE=(-M virt)
		QEMU_TCG_CPU=max,pauth-impdef=on
		CONSOLE=ttyAMA0
		KERNEL_META=linux-image-arm64
		LOG=$ARM64_DIR/serial.log
		ROOT=$ARM64_DIR/root
		INITRAMFS=$ARM64_DIR/initramfs.cpio
		APT_CONF=$ARM64_DIR/apt/apt.conf
		# Under TCG the whole suite takes too long for every CI run:
		# by default only the tests tagged smoke.
		if ((!${#suite_args[@]})) && [[ $FULL != 1 ]]; then
			suite_args=(--filter-tags smoke tests)
		fi
		[[ -n ${TEST_VM_TIMEOUT:-} ]] || TIMEOUT=5400
		[[ -n ${TEST_VM_WAIT_SCALE:-} ]] || WAIT_SCALE=6
		;;
	*) die "TEST_VM_ARCH=$VM_ARCH: expected amd64 or arm64" ;;
	esac
	if [[ ${TEST_VM_MODE:-test} == grade ]]; then
		[[ $VM_ARCH == amd64 ]] ||
			die "TEST_VM_MODE=grade (make grade VM=1) runs on amd64 only"
		[[ -f ${GRADE_VM_DIR:-}/settings ]] ||
			die "TEST_VM_MODE=grade: GRADE_VM_DIR=${GRADE_VM_DIR:-} has no settings (scripts/grade.sh --vm makes it)"
	fi
	if [[ ${TEST_VM_MODE:-test} == docs* ]]; then
		[[ $VM_ARCH == amd64 ]] ||
			die "TEST_VM_MODE=docs (make docs-check-vm) runs on amd64 only"
		HOST_NEEDS[sudo]=sudo
	fi
	CMDLINE="console=$CONSOLE $CMDLINE"
}

# apt-get or apt-cache ($1) for the guest's architecture: the host's own
# configuration for amd64, the private one (arm64_apt_config) for arm64.
vm_apt() {
	local cmd=$1
	shift
	if [[ -n $APT_CONF ]]; then
		APT_CONFIG=$APT_CONF "$cmd" "$@"
	else
		"$cmd" "$@"
	fi
}

# A private apt configuration for arm64 packages: the host's sources, but
# its own architecture, package lists, cache and an empty dpkg status, so
# that neither dpkg --add-architecture nor any file under /etc/apt or
# /var/lib is touched.  Its first use runs apt-get update (10 MB).
arm64_apt_config() {
	local dir=$ARM64_DIR/apt

	mkdir -p -- "$dir/lists/partial" "$dir/archives/partial" "$dir/dpkg"
	[[ -f $dir/dpkg/status ]] || : >"$dir/dpkg/status"
	cat >"$APT_CONF.new" <<EOF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/dpkg/status";
Dir::Cache "$dir";
Dir::Cache::archives "$dir/archives";
Acquire::Languages "none";
EOF
	# As root, apt drops to the _apt user, who cannot write here.
	if [[ $(id -u) -eq 0 ]]; then
		echo 'APT::Sandbox::User "root";' >>"$APT_CONF.new"
	fi
	mv -- "$APT_CONF.new" "$APT_CONF"
	if ! compgen -G "$dir/lists/*_Packages*" >/dev/null; then
		say "apt-get update for arm64 (private lists in ${dir#"$REPO"/})"
		vm_apt apt-get update -qq || die "apt-get update for arm64 failed"
	fi
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
	printf '%s\n' "${MODULES[@]}" >"$dir.new/wanted"
	basename -- "$deb" >"$dir.new/package"
	rm -rf -- "$tmp" "$dir"
	mv -T -- "$dir.new" "$dir"
}

# Is directory $1 a kernel unpacked with today's MODULES?  One from before
# a module was added to the list is unpacked again.
kernel_dir_ok() {
	[[ -f $1/vmlinuz && -d $1/modules && $(cat "$1/wanted" 2>/dev/null) == "$(printf '%s\n' "${MODULES[@]}")" ]]
}

# Use the kernel unpacked in directory $1.
use_kernel_dir() {
	kernel_image=$1/vmlinuz
	modules_dir=$1/modules
}

# The package linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64.
current_kernel_package() {
	vm_apt apt-cache depends "$KERNEL_META" 2>/dev/null |
		awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Fetch kernel package $1 into the cache, once.
cached_kernel_package() {
	local pkg=$1 dir=$CACHE/kernels/$1 tmp deb
	local sandbox=()

	if ! kernel_dir_ok "$dir"; then
		say "downloading $pkg (once; cached in ${dir#"$REPO"/})"
		tmp=$(mktemp -d -- "$CACHE/download.XXXXXX")
		# As root, apt drops to the _apt user, who cannot write here.
		[[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
		(cd "$tmp" && vm_apt apt-get download -q "${sandbox[@]}" "$pkg") ||
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
		kernel_dir_ok "$dir" ||
			unpack_kernel_deb "$KERNEL_DEB" "$dir"
		use_kernel_dir "$dir"
	elif [[ -n ${KERNEL_PACKAGE:-} ]]; then
		cached_kernel_package "$KERNEL_PACKAGE"
	else
		pkg=$(current_kernel_package)
		if [[ -z $pkg && $(id -u) -eq 0 ]]; then
			# A fresh machine may have no package lists yet.
			vm_apt apt-get update -qq || true
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
	if [[ ${TEST_VM_MODE:-test} == docs* ]]; then
		find_sudo_files
		for prog in "${sudo_files[@]}"; do
			adds+=(--add "$prog")
		done
	fi
	"$REPO/scripts/mkrootfs.sh" "${adds[@]}" "$ROOT" ||
		die "scripts/mkrootfs.sh failed"
	if [[ ${TEST_VM_MODE:-test} == docs* ]]; then
		add_sudo_config
	fi
	add_vm_files
}

# first_file NAME DIR...: the first DIR/NAME that exists, in REPLY.
first_file() {
	local name=$1 dir
	shift
	for dir in "$@"; do
		REPLY=$dir/$name
		[[ ! -f $REPLY ]] || return 0
	done
	return 1
}

# What sudo needs in the VM, in sudo_files: the program, its policy plugin
# and pam_permit.so, at their paths on this host.
sudo_files=()
find_sudo_files() {
	local sudo
	sudo=$(command -v sudo) || die "no sudo on this host (apt-get install sudo)"
	first_file sudoers.so "${SUDO_PLUGIN_DIRS[@]}" ||
		die "no sudoers.so in ${SUDO_PLUGIN_DIRS[*]}: where is sudo's policy plugin?"
	sudo_files=("$sudo" "$REPLY")
	first_file pam_permit.so "${PAM_DIRS[@]}" ||
		die "no pam_permit.so in ${PAM_DIRS[*]} (apt-get install libpam-modules)"
	sudo_files+=("$REPLY")
}

# sudo's configuration in the VM, its own rather than the host's, whose
# includes, plugins and PAM modules the VM does not have: Debian's default
# policy for root (a reset environment, the usual secure_path, a pty when
# there is a terminal; sudoers.d is the docs runner's to fill), and a PAM
# stack that asks root nothing.  What a command run with sudo prints does
# not depend on either.
add_sudo_config() {
	mkdir -p -- "$ROOT/etc/sudoers.d" "$ROOT/etc/pam.d"
	printf '%s\n' '# The test VM: root may run anything (Debian defaults).' \
		'Defaults env_reset' \
		'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' \
		'Defaults use_pty' 'root ALL=(ALL:ALL) ALL' '@includedir /etc/sudoers.d' \
		>"$ROOT/etc/sudoers"
	chmod 0440 -- "$ROOT/etc/sudoers"
	printf '%s\n' '#%PAM-1.0' '# The test VM: only root runs sudo here, and is asked nothing.' \
		'auth required pam_permit.so' 'account required pam_permit.so' \
		'session required pam_permit.so' >"$ROOT/etc/pam.d/sudo"
}

# What every guest gets: /init, the modules, the suite's arguments, and the
# work tree at /repo, minus .git, the cache and the patterns $@.
add_vm_files() {
	local pattern excludes=(--exclude=./.git --exclude=./.cache)

	for pattern in "$@"; do
		excludes+=(--exclude="$pattern")
	done
	install -m 0755 -- "$REPO/scripts/vm-init.sh" "$ROOT/init"
	mkdir -p -- "$ROOT/test-vm/modules" "$ROOT/repo"
	find "$modules_dir" -maxdepth 1 -name "*.ko" -exec cp -t "$ROOT/test-vm/modules" -- {} +
	if ((${#suite_args[@]})); then
		printf '%s\n' "${suite_args[@]}" >"$ROOT/test-vm/args"
	fi
	if ((WAIT_SCALE > 1)); then
		echo "$WAIT_SCALE" >"$ROOT/test-vm/wait-scale"
	fi
	# Stages 1 to 4 never touch cgroups, and make test has checked them
	# on the host: by default every suite runs here, but on stage 5 only
	# (CFS_TEST_MIN_STAGE in tests/helpers.bash).  FULL=1, or naming the
	# tests, checks every stage.
	if [[ $VM_ARCH == amd64 && $FULL != 1 ]] && ((!${#suite_args[@]})); then
		echo 5 >"$ROOT/test-vm/min-stage"
	fi
	# make bench-vm: the benchmark instead of the suite, BENCH_RUNS a row;
	# CONTAINER_FORCE_FALLBACK=clone3 times stage 5 as it was before clone3.
	if [[ ${TEST_VM_MODE:-test} == bench ]]; then
		echo "bench ${BENCH_RUNS:-20} ${CONTAINER_FORCE_FALLBACK:-}" >"$ROOT/test-vm/mode"
	fi
	# make grade STAGE=5 VM=1: one submission graded instead of the
	# suite (scripts/vm-init.sh's run_grade).
	if [[ ${TEST_VM_MODE:-test} == grade ]]; then
		echo grade >"$ROOT/test-vm/mode"
		cp -r -- "$GRADE_VM_DIR" "$ROOT/test-vm/grade"
	fi
	# make docs-check-vm: the docs' transcripts instead of the suite;
	# make docs-update-vm: the same, regenerated.
	if [[ ${TEST_VM_MODE:-test} == docs* ]]; then
		echo "$TEST_VM_MODE ${DOCS_VM_FILES:-docs/05-cgroups.md}" >"$ROOT/test-vm/mode"
	fi
	tar -C "$REPO" "${excludes[@]}" -cf - . |
		tar -C "$ROOT/repo" -xf -
}

# ---- the arm64 guest's root, from Debian's arm64 packages ----

# ARM64_PACKAGES and every package they depend on, as NAME=VERSION: apt
# resolves them against the private, empty dpkg status.
arm64_package_closure() {
	vm_apt apt-get -s -q install --no-install-recommends "${ARM64_PACKAGES[@]}" 2>/dev/null |
		awk '$1 == "Inst" { v = $3; sub(/^\(/, "", v); print $2 "=" v }'
}

# The cached .deb of NAME=VERSION $1, if there is one, in REPLY.
cached_deb() {
	local name=${1%%=*} version=${1#*=} arch

	for arch in arm64 all; do
		REPLY=$ARM64_DIR/debs/${name}_${version//:/%3a}_$arch.deb
		[[ ! -f $REPLY ]] || return 0
	done
	return 1
}

# apt-get download what the closure lists and the cache lacks; sets debs.
arm64_fetch_packages() {
	local want=() fetch=() spec

	mkdir -p -- "$ARM64_DIR/debs"
	mapfile -t want < <(arm64_package_closure)
	((${#want[@]})) ||
		die "apt-get cannot resolve the arm64 packages ${ARM64_PACKAGES[*]}"
	for spec in "${want[@]}"; do
		cached_deb "$spec" || fetch+=("$spec")
	done
	if ((${#fetch[@]})); then
		say "downloading ${#fetch[@]} arm64 packages (once; cached in ${ARM64_DIR#"$REPO"/}/debs)"
		(cd "$ARM64_DIR/debs" && vm_apt apt-get download -qq "${fetch[@]}") ||
			die "apt-get download of the arm64 packages failed (try: rm -rf ${ARM64_DIR#"$REPO"/}/apt/lists)"
	fi
	debs=()
	for spec in "${want[@]}"; do
		cached_deb "$spec" || die "$spec: downloaded, but no .deb for it"
		debs+=("$REPLY")
	done
}

# Unpack the debs into ROOT as dpkg would before any maintainer script
# runs, onto the merged-/usr links of a Debian 12 system; then the few
# things the scripts would have made.
arm64_unpack() {
	local deb link pattern alt skip=()

	rm -rf --one-file-system -- "$ROOT"
	mkdir -p -- "$ROOT/usr/bin" "$ROOT/usr/sbin" "$ROOT/usr/lib"
	for link in bin sbin lib; do
		ln -s "usr/$link" "$ROOT/$link"
	done
	# What debootstrap and base-files' scripts make; a stage 3 test
	# mounts on /mnt, which the container shares with the VM.
	mkdir -p -- "$ROOT/mnt" "$ROOT/root" "$ROOT/var/tmp"
	for pattern in "${ARM64_SKIP[@]}"; do
		skip+=(--exclude="$pattern")
	done
	for deb in "${debs[@]}"; do
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$ROOT" --keep-directory-symlink "${skip[@]}" ||
			die "unpacking ${deb##*/} failed"
	done
	for alt in "${ARM64_ALTERNATIVES[@]}"; do
		if [[ ! -e $ROOT/usr/bin/${alt%%=*} && -e $ROOT/usr/bin/${alt#*=} ]]; then
			ln -s "${alt#*=}" "$ROOT/usr/bin/${alt%%=*}"
		fi
	done
	[[ -e $ROOT/usr/bin/sh ]] || ln -s dash "$ROOT/usr/bin/sh"
	# base-passwd's script would write these; the suite needs root and
	# nobody (setpriv --reuid=65534).
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
		'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$ROOT/etc/passwd"
	printf '%s\n' 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:' >"$ROOT/etc/group"
}

# The arm64 guest: Debian's arm64 programs, and the work tree with the
# stages and test programs of make cross ARCH=arm64 instead of the host's.
# It has no container image: the guest builds its own with mkrootfs.sh
# (see scripts/vm-init.sh), from its own arm64 programs.
build_root_arm64() {
	local debs=()

	arm64_fetch_packages
	arm64_unpack
	add_vm_files ./build ./rootfs
	tar -C "$REPO/build/arm64" -cf - . | tar -C "$ROOT/repo" -xf -
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
	local start=$SECONDS main bin make_arch=""

	[[ $VM_ARCH == amd64 ]] || make_arch=" ARCH=$VM_ARCH"
	[[ -d $REPO/tests ]] || die "no tests/ in $REPO"
	# The VM runs what is built here: a missing or stale binary would
	# fail every test, or test old code, in a run that takes minutes.
	for main in "$REPO"/stage*/main.c; do
		bin=${main%/main.c}/container
		[[ $VM_ARCH == amd64 ]] || bin=$REPO/build/$VM_ARCH/${bin#"$REPO"/}
		[[ $bin -nt $main ]] ||
			die "${bin#"$REPO"/}: missing or older than ${main#"$REPO"/}; run make test-vm$make_arch (it builds first)"
	done
	# The extensions (scripts/ext.sh), which tests/ext-*.bats run.
	for main in "$REPO"/docs/extensions/*.patch; do
		[[ -f $main ]] || continue
		bin=$REPO/build/ext-$(basename "$main" .patch)/container
		[[ $VM_ARCH == amd64 ]] || bin=$REPO/build/$VM_ARCH/${bin#"$REPO"/}
		[[ $bin -nt $main ]] ||
			die "${bin#"$REPO"/}: missing or older than ${main#"$REPO"/}; run make test-vm$make_arch (it builds first)"
	done
	if [[ $VM_ARCH == arm64 ]]; then
		build_root_arm64
	else
		build_root
	fi
	pack_initramfs
	say "initramfs: ${INITRAMFS#"$REPO"/} ($(du -m -- "$INITRAMFS" | cut -f1) MiB, built in $((SECONDS - start))s)"
}

# ---- the VM ----

# /dev/kvm can exist where KVM cannot run a guest (nested virtualisation
# without VMX/SVM passed through): then qemu spins without output.  The CPU
# flag is the cheap check; the boot timeout in run_vm is the sure one.
kvm_usable() {
	case $VM_ARCH/$(uname -m) in
	amd64/x86_64) grep -qwE 'vmx|svm' /proc/cpuinfo || return 1 ;;
	arm64/aarch64) ;;
	*) return 1 ;; # another architecture: emulated, always
	esac
	[[ -r /dev/kvm && -w /dev/kvm ]]
}

# Boot once with accelerator $1; sets vm_outcome to pass, fail, error,
# noboot, timeout or nomarker, and vm_boot_seconds.
run_vm() {
	local accel=$1 start=$SECONDS booted=0 elapsed
	local args=(-name cfs-test-vm -nodefaults -no-user-config -display none
		"${QEMU_MACHINE[@]}" -monitor none -serial stdio -no-reboot -m "$MEMORY" -smp "$CPUS"
		-kernel "$kernel_image" -initrd "$INITRAMFS"
		-append "$CMDLINE${TEST_VM_APPEND:+ $TEST_VM_APPEND}")

	if [[ $accel == kvm ]]; then
		args+=(-accel kvm -cpu host)
	else
		args+=(-accel "tcg,thread=multi" -cpu "$QEMU_TCG_CPU")
	fi
	say "booting: $QEMU ${args[*]}"
	: >"$LOG"
	"$QEMU" "${args[@]}" </dev/null >"$LOG" 2>&1 &
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
	if [[ $vm_outcome == pass && ${TEST_VM_MODE:-test} == docs-update ]]; then
		write_back_docs "$log"
	fi
	[[ $vm_outcome == pass ]]
}

# make docs-update-vm: the VM printed each regenerated file between
# "TEST-VM-DOC-BEGIN FILE" and "TEST-VM-DOC-END FILE", every line behind
# "TEST-VM-DOC: "; write each back where it came from, in the work tree.
write_back_docs() {
	local log=$1 file
	for file in ${DOCS_VM_FILES:-docs/05-cgroups.md}; do
		awk -v f="$file" '
			$0 == "TEST-VM-DOC-BEGIN " f { on = 1; next }
			$0 == "TEST-VM-DOC-END " f { on = 0; found = 1 }
			on && sub(/^TEST-VM-DOC: /, "") { print }
			END { exit !found }' <<<"$log" >"$REPO/$file.vm" ||
			die "the VM printed no complete $file"
		mv -- "$REPO/$file.vm" "$REPO/$file"
		say "wrote $file, as the VM regenerated it"
	done
}

main() {
	local start=$SECONDS

	parse_args "$@"
	choose_arch
	ensure_host_tools
	mkdir -p -- "$CACHE"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	[[ $VM_ARCH != arm64 ]] || arm64_apt_config
	find_kernel
	build_initramfs
	boot
	report $((SECONDS - start))
}

main "$@"
