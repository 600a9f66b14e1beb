#!/bin/bash
# test-vm.sh - run the bats suite inside a qemu VM with a pure cgroup v2
# hierarchy, so that the v2 code paths run in a test even on a cgroup v1 or
# hybrid machine.
#
# Usage: scripts/test-vm.sh [BATS_ARG...]
#        make test-vm [FULL=1] [KERNEL=vmlinuz [KERNEL_MODULES=dir]] [TEST_VM_ACCEL=tcg]
#        make test-vm ARCH=arm64 [FULL=1]
#
# It boots Debian's kernel (fetched once, never installed) with an initramfs
# of scripts/mkrootfs.sh's image, the test tools, scripts/vm-init.sh as /init
# and the work tree at /repo; /init mounts cgroup2 alone and runs tests/run
# BATS_ARG... (.bats files, bats options such as -f REGEX).  It exits 0 only
# on "TEST-VM-RESULT: PASS" from the VM, and ends with the count line
# "test-vm: N passed, N failed, N skipped".  With no BATS_ARG, amd64 leaves out
# the suites the cgroup version cannot change and the tests tagged toolchain,
# and checks stage 5 only; arm64 (emulated) runs the tests tagged smoke.
# FULL=1 runs everything; named suites run as named (docs/test-vm.md: why).
#
# Settings (environment variables; make passes VAR=value on to us):
#   KERNEL=PATH            boot this vmlinuz instead of Debian's
#   KERNEL_MODULES=DIR     overlay.ko, loop.ko, veth.ko for KERNEL (default
#                          /lib/modules/VERSION for /boot/vmlinuz-VERSION)
#   KERNEL_DEB=FILE        take vmlinuz and the modules from this .deb
#   KERNEL_PACKAGE=NAME    apt-get download this kernel package instead
#   TEST_VM_ACCEL=auto     kvm, tcg or auto (KVM if usable, else TCG)
#   TEST_VM_TIMEOUT=2700   seconds before the VM is killed (arm64: 5400)
#   TEST_VM_BOOT_TIMEOUT=120  seconds for the kernel to reach /init
#   TEST_VM_MEMORY=4G      guest memory: its / and /tmp are tmpfs
#   TEST_VM_CPUS=2         guest CPUs
#   TEST_VM_APPEND=        extra kernel command line
#   TEST_VM_ARCH=amd64     amd64 or arm64 (make's ARCH=)
#   FULL=0                 1: every suite on every stage; arm64: every test
#   TEST_VM_WAIT_SCALE=1   stretch the suite's waits (arm64: 6)
#   TEST_VM_MODE=          instead of the suite: bench (make bench-vm; BENCH_RUNS
#                          a row (20), CONTAINER_FORCE_FALLBACK passed on), docs
#                          (make docs-check-vm: docs.sh check on DOCS_VM_FILES,
#                          docs/05-cgroups.md), docs-update (make docs-update-vm:
#                          the same updated, written back here), grade (make grade
#                          STAGE=5 VM=1: GRADE_VM_DIR from grade.sh --vm); all but
#                          bench are amd64 only
#
# Files: in .cache/test-vm/ (arm64's in .cache/test-vm/arm64/, with its
# packages and apt state), the kernel cache, the initramfs and its tree root/,
# and serial.log, the console of the last run, shown as it comes.
#
# See: docs/test-vm.md, qemu-system-x86_64(1), apt-get(8), dpkg-deb(1)

set -euo pipefail
export LC_ALL=C

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CACHE=$repo/.cache/test-vm
KERNEL_META=linux-image-amd64 # its dependency is the current kernel package
# What /init loads: overlayfs for stage 4, loop for the block devices a
# real host has (a test checks none leaks into /dev), veth for ext-net.
MODULES=(fs/overlayfs/overlay drivers/block/loop drivers/net/veth)
HOST_SUITES=(tools.bats harness.bats import.bats exercise.bats debian.bats # left out by default
	stage1-uts.bats stage2-pid.bats stage3-mount.bats)

VM_ARCH=${TEST_VM_ARCH:-amd64}
MODE=${TEST_VM_MODE:-test}
FULL=${FULL:-0}
ACCEL=${TEST_VM_ACCEL:-auto}
TIMEOUT=${TEST_VM_TIMEOUT:-2700}
WAIT_SCALE=${TEST_VM_WAIT_SCALE:-1} # CFS_TEST_WAIT_SCALE (tests/helpers.bash)
MEMORY=${TEST_VM_MEMORY:-4G}
CPUS=${TEST_VM_CPUS:-2}
# A kernel that has not run /init by then never will: under KVM, nested
# virtualisation does not work here, and TCG is tried instead.
BOOT_TIMEOUT=${TEST_VM_BOOT_TIMEOUT:-120}
# quiet loglevel=3: only critical kernel messages amid the TAP output.  panic=-1
# with qemu -no-reboot: a panic ends qemu.  mitigations=off: no page-table switch
# per system call, which TCG emulates slowly (a quarter of the suite's time).
CMDLINE="panic=-1 quiet loglevel=3 cgroup_no_v1=all mitigations=off rdinit=/init"
QEMU=qemu-system-x86_64
QEMU_MACHINE=()
QEMU_TCG_CPU=max
CONSOLE=ttyS0

# The VM is the suite's host: every program of these packages, not only
# the image's set, so that a test that starts using paste finds it.  patch:
# the docs check makes the extensions' trees.  busybox: insmod, switch_root.
VM_PACKAGES=(coreutils util-linux mount procps psmisc findutils grep sed tar bsdutils hostname
	diffutils bats iproute2 patch)
VM_PROGS=(busybox awk make)
VM_TREES=(/usr/lib/bats-core /usr/libexec/bats-core)
# TEST_VM_MODE=docs*: the transcripts' sudo, with its policy plugin and the
# PAM module of the VM's own stack, both loaded with dlopen(3).
SUDO_PLUGIN_DIRS=(/usr/libexec/sudo /usr/lib/sudo)
PAM_DIRS=(/usr/lib/*/security /lib/*/security /usr/lib/security)
# command -> Debian package, for what this script itself needs.
declare -A HOST_NEEDS=([busybox]=busybox-static [bats]=bats [apt-get]=apt [dpkg-deb]=dpkg)

# arm64's root: these packages and their dependencies, unpacked without
# maintainer scripts; libc-bin (ldd, ldconfig) and usr-is-merged (for
# usrmerge and its perl) let mkrootfs.sh build the image in the guest.
ARM64_PACKAGES=("${VM_PACKAGES[@]}" busybox-static mawk make bash dash
	libc-bin debianutils base-files ncurses-base usr-is-merged)
ARM64_SKIP=(./usr/share/doc ./usr/share/man ./usr/share/info
	./usr/share/locale ./usr/share/lintian ./usr/share/perl5)
# The links update-alternatives would make: NAME=TARGET in /usr/bin.
ARM64_ALTERNATIVES=(awk=mawk which=which.debianutils)
ARM64_DIR=$CACHE/arm64
APT_CONF="" # arm64's private apt configuration (arm64_apt_config)

kernel_image="" modules_dir="" min_stage="" qemu_pid="" tail_pid=""
suite_args=() sudo_files=()

say() { echo "$PROG: $*"; }

# Stop the VM if we are interrupted or fail while it runs.
# shellcheck disable=SC2086 # no word for a process not running
cleanup() { kill $qemu_pid $tail_pid 2>/dev/null || true; }

parse_args() {
	help_if_asked "$@"
	[[ ${1:-} != -- ]] || shift
	suite_args=("$@")
	[[ $ACCEL == @(auto|kvm|tcg) ]] ||
		die "TEST_VM_ACCEL=$ACCEL: expected auto, kvm or tcg"
	[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
		die "TEST_VM_TIMEOUT=$TIMEOUT: expected a number of seconds"
	[[ $WAIT_SCALE =~ ^[1-9][0-9]*$ ]] ||
		die "TEST_VM_WAIT_SCALE=$WAIT_SCALE: expected a whole number"
}

# The settings of the guest architecture and the mode; the default suites.
choose_arch() {
	local suite default=0 dir=$CACHE

	((${#suite_args[@]})) || [[ $FULL == 1 ]] || default=1
	case $VM_ARCH in
	amd64 | x86_64)
		VM_ARCH=amd64
		HOST_NEEDS[qemu-system-x86_64]=qemu-system-x86
		if ((default)); then
			min_stage=5
			suite_args=(--filter-tags '!toolchain')
			for suite in "$repo"/tests/*.bats; do
				[[ " ${HOST_SUITES[*]} " == *" ${suite##*/} "* ]] ||
					suite_args+=("tests/${suite##*/}")
			done
		fi
		;;
	arm64 | aarch64)
		VM_ARCH=arm64
		QEMU=qemu-system-aarch64
		HOST_NEEDS[qemu-system-aarch64]=qemu-system-arm
		# -M virt boots -kernel with no firmware.  pauth-impdef: QEMU's
		# cheap pointer authentication, not QARMA5, slow under TCG.
		QEMU_MACHINE=(-M virt)
		QEMU_TCG_CPU=max,pauth-impdef=on
		CONSOLE=ttyAMA0
		KERNEL_META=linux-image-arm64
		dir=$ARM64_DIR
		APT_CONF=$ARM64_DIR/apt/apt.conf
		((!default)) || suite_args=(--filter-tags smoke tests)
		[[ -n ${TEST_VM_TIMEOUT:-} ]] || TIMEOUT=5400
		[[ -n ${TEST_VM_WAIT_SCALE:-} ]] || WAIT_SCALE=6
		;;
	*) die "TEST_VM_ARCH=$VM_ARCH: expected amd64 or arm64" ;;
	esac
	if [[ $MODE == grade ]]; then
		[[ $VM_ARCH == amd64 ]] ||
			die "TEST_VM_MODE=grade (make grade VM=1) runs on amd64 only"
		[[ -f ${GRADE_VM_DIR:-}/settings ]] ||
			die "TEST_VM_MODE=grade: GRADE_VM_DIR=${GRADE_VM_DIR:-} has no settings (scripts/grade.sh --vm makes it)"
	fi
	if [[ $MODE == docs* ]]; then
		[[ $VM_ARCH == amd64 ]] ||
			die "TEST_VM_MODE=docs (make docs-check-vm) runs on amd64 only"
		HOST_NEEDS[sudo]=sudo
	fi
	CMDLINE="console=$CONSOLE $CMDLINE"
	LOG=$dir/serial.log ROOT=$dir/root INITRAMFS=$dir/initramfs.cpio
}

# apt-get or apt-cache for the guest's architecture.
vm_apt() { APT_CONFIG=${APT_CONF:-${APT_CONFIG:-}} "$@"; }

# arm64's apt: the host's sources, but its own architecture, lists, cache
# and empty dpkg status, so that nothing under /etc/apt or /var/lib changes.
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
	[[ $(id -u) -ne 0 ]] || echo 'APT::Sandbox::User "root";' >>"$APT_CONF.new"
	mv -- "$APT_CONF.new" "$APT_CONF"
	if ! compgen -G "$dir/lists/*_Packages*" >/dev/null; then
		say "apt-get update for arm64 (private lists in ${dir#"$repo"/})"
		vm_apt apt-get update -qq || die "apt-get update for arm64 failed"
	fi
}

# Install what is missing when we can (root with apt), else say what to do.
ensure_host_tools() {
	local cmd missing=() install

	for cmd in "${!HOST_NEEDS[@]}"; do
		have "$cmd" || missing+=("${HOST_NEEDS[$cmd]}")
	done
	((${#missing[@]})) || return 0
	{ [[ $(id -u) -eq 0 ]] && have apt-get; } ||
		die "missing packages: ${missing[*]} (try: sudo apt-get install ${missing[*]})"
	say "installing ${missing[*]}"
	install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}")
	"${install[@]}" >/dev/null || { apt-get update -qq && "${install[@]}" >/dev/null; } ||
		die "apt-get install ${missing[*]} failed"
}

# ---- the kernel ----

# Copy the MODULES found under directory $1 into directory $2, uncompressed
# for busybox insmod.  A missing one may be built in: /init checks.
collect_modules() {
	local module ko to

	mkdir -p -- "$2"
	for module in "${MODULES[@]}"; do
		ko=$(find "$1" -path "*/kernel/$module.ko*" -print -quit)
		to=$2/${module##*/}.ko
		case $ko in
		'') ;;
		*.ko) cp -- "$ko" "$to" ;;
		*.ko.xz) xz -dc -- "$ko" >"$to" ;;
		*.ko.zst) zstd -qdc -- "$ko" >"$to" ;;
		*.ko.gz) gzip -dc -- "$ko" >"$to" ;;
		*) die "$ko: unknown module compression" ;;
		esac
	done
}

# Unpack vmlinuz and the MODULES from kernel package $1 into directory $2;
# only those: the package holds 400 MB of modules.
unpack_kernel_deb() {
	local deb=$1 dir=$2 tmp members=("${MODULES[@]/#/*/kernel/}")

	members=('./boot/vmlinuz-*' "${members[@]/%/.ko*}")
	tmp=$(mktemp -d -- "$CACHE/unpack.XXXXXX")
	# tar fails when a pattern matches nothing (a module built in).
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

# The package KERNEL_META depends on, e.g. linux-image-6.1.0-57-amd64.
kernel_depends() {
	vm_apt apt-cache depends "$KERNEL_META" 2>/dev/null |
		awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }'
}

# The current kernel package, in REPLY; without package lists, the newest
# one in the cache.
current_kernel_package() {
	REPLY=$(kernel_depends)
	if [[ -z $REPLY && $(id -u) -eq 0 ]]; then
		vm_apt apt-get update -qq || true # a fresh machine has no lists
		REPLY=$(kernel_depends)
	fi
	[[ -z $REPLY ]] || return 0
	REPLY=$(find "$CACHE/kernels" -mindepth 2 -maxdepth 2 -name vmlinuz \
		-path '*/linux-image-*' -printf '%T@ %h\n' 2>/dev/null |
		sort -rn | awk 'NR == 1 { n = split($2, p, "/"); print p[n] }')
	[[ -n $REPLY ]] || die "apt-cache knows no $KERNEL_META (try: apt-get update)"
	say "note: apt-cache knows no $KERNEL_META; using the cached $REPLY"
}

# apt-get download kernel package $1 and unpack it into directory $2.
download_kernel() {
	local tmp sandbox=()

	say "downloading $1 (once; cached in ${2#"$repo"/})"
	tmp=$(mktemp -d -- "$CACHE/download.XXXXXX")
	# As root, apt drops to the _apt user, who cannot write here.
	[[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && vm_apt apt-get download -q "${sandbox[@]}" "$1"); then
		rm -rf -- "$tmp"
		die "apt-get download $1 failed (try: apt-get update)"
	fi
	unpack_kernel_deb "$(find "$tmp" -name '*.deb' -print -quit)" "$2"
	rm -rf -- "$tmp"
}

# KERNEL=PATH: the modules from KERNEL_MODULES, or from /lib/modules/VERSION
# when the image is named like /boot/vmlinuz-VERSION.
given_kernel() {
	local dir=${KERNEL_MODULES:-} version

	[[ -f $KERNEL ]] || die "KERNEL=$KERNEL: no such file"
	kernel_image=$(realpath -- "$KERNEL")
	version=${kernel_image##*/vmlinuz-}
	[[ -n $dir || $version == "$kernel_image" || ! -d /lib/modules/$version ]] ||
		dir=/lib/modules/$version
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

find_kernel() {
	local dir="" modules

	if [[ -n ${KERNEL:-} ]]; then
		given_kernel
	elif [[ -n ${KERNEL_DEB:-} ]]; then
		[[ -f $KERNEL_DEB ]] || die "KERNEL_DEB=$KERNEL_DEB: no such file"
		dir=$CACHE/kernels/deb-$(basename -- "$KERNEL_DEB" .deb)
		kernel_dir_ok "$dir" || unpack_kernel_deb "$KERNEL_DEB" "$dir"
	else
		REPLY=${KERNEL_PACKAGE:-}
		[[ -n $REPLY ]] || current_kernel_package
		dir=$CACHE/kernels/$REPLY
		kernel_dir_ok "$dir" || download_kernel "$REPLY" "$dir"
	fi
	[[ -z $dir ]] || kernel_image=$dir/vmlinuz modules_dir=$dir/modules
	modules=$(cd "$modules_dir" && echo *.ko)
	[[ $modules != '*.ko' ]] || modules="no modules"
	say "kernel: ${kernel_image#"$repo"/} ($modules)"
}

# ---- the initramfs ----

# The initramfs tree: mkrootfs.sh's image with the VM's extra programs (in
# a bin directory of VM_PACKAGES), then what every guest gets.
build_root_amd64() {
	local prog adds=()

	[[ $MODE != docs* ]] || find_sudo_files
	adds=("${VM_PROGS[@]/#/--add=}" "${sudo_files[@]/#/--add=}" "${VM_TREES[@]/#/--add-tree=}")
	for prog in $(dpkg -L "${VM_PACKAGES[@]}" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$'); do
		[[ ! -f $prog || ! -x $prog ]] || adds+=(--add "$prog")
	done
	"$repo/scripts/mkrootfs.sh" "${adds[@]}" "$ROOT" ||
		die "scripts/mkrootfs.sh failed"
	[[ $MODE != docs* ]] || add_sudo_config
	add_vm_files
}

# What sudo needs in the VM, in sudo_files: the program, its policy plugin
# and pam_permit.so, at their paths on this host.
find_sudo_files() {
	local sudo plugin pam

	sudo=$(command -v sudo) || die "no sudo on this host (apt-get install sudo)"
	plugin=$(find "${SUDO_PLUGIN_DIRS[@]}" -maxdepth 1 -name sudoers.so -print -quit 2>/dev/null) || true
	[[ -n $plugin ]] ||
		die "no sudoers.so in ${SUDO_PLUGIN_DIRS[*]}: where is sudo's policy plugin?"
	pam=$(find "${PAM_DIRS[@]}" -maxdepth 1 -name pam_permit.so -print -quit 2>/dev/null) || true
	[[ -n $pam ]] ||
		die "no pam_permit.so in ${PAM_DIRS[*]} (apt-get install libpam-modules)"
	sudo_files=("$sudo" "$plugin" "$pam")
}

# sudo's configuration in the VM, its own: the host's has includes,
# plugins and PAM modules the VM lacks.  Debian's policy for root, and a PAM
# stack that asks root nothing; neither changes what a command prints.
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

# What every guest gets: /init, /test-vm (the modules, what vm-init.sh is to
# run), and the work tree at /repo minus .git, the cache and the patterns $@.
add_vm_files() {
	local excludes=(--exclude=./.git --exclude=./.cache "${@/#/--exclude=}") data=$ROOT/test-vm

	install -m 0755 -- "$repo/scripts/vm-init.sh" "$ROOT/init"
	mkdir -p -- "$data/modules" "$ROOT/repo"
	find "$modules_dir" -maxdepth 1 -name "*.ko" -exec cp -t "$data/modules" -- {} +
	((!${#suite_args[@]})) || printf '%s\n' "${suite_args[@]}" >"$data/args"
	echo "export CFS_TEST_WAIT_SCALE=$WAIT_SCALE CFS_TEST_MIN_STAGE=${min_stage:-1}" >"$data/env"
	case $MODE in
	bench) echo "bench ${BENCH_RUNS:-20} ${CONTAINER_FORCE_FALLBACK:-}" >"$data/mode" ;;
	docs*) echo "$MODE ${DOCS_VM_FILES:-docs/05-cgroups.md}" >"$data/mode" ;;
	grade)
		echo grade >"$data/mode"
		cp -r -- "$GRADE_VM_DIR" "$data/grade"
		;;
	esac
	tar -C "$repo" "${excludes[@]}" -cf - . | tar -C "$ROOT/repo" -xf -
}

# ---- the arm64 guest's root, from Debian's arm64 packages ----

# The cached .deb of NAME=VERSION $1, if there is one, in REPLY.
cached_deb() {
	local name=${1%%=*} version=${1#*=} arch

	for arch in arm64 all; do
		REPLY=$ARM64_DIR/debs/${name}_${version//:/%3a}_$arch.deb
		[[ ! -f $REPLY ]] || return 0
	done
	return 1
}

# ARM64_PACKAGES and their dependencies, resolved by apt against the empty
# dpkg status, in debs; apt-get download what the cache lacks.
arm64_fetch_packages() {
	local want=() fetch=() spec

	mkdir -p -- "$ARM64_DIR/debs"
	mapfile -t want < <(vm_apt apt-get -s -q install --no-install-recommends "${ARM64_PACKAGES[@]}" 2>/dev/null |
		awk '$1 == "Inst" { v = $3; sub(/^\(/, "", v); print $2 "=" v }')
	((${#want[@]})) ||
		die "apt-get cannot resolve the arm64 packages ${ARM64_PACKAGES[*]}"
	for spec in "${want[@]}"; do
		cached_deb "$spec" || fetch+=("$spec")
	done
	if ((${#fetch[@]})); then
		say "downloading ${#fetch[@]} arm64 packages (once; cached in ${ARM64_DIR#"$repo"/}/debs)"
		(cd "$ARM64_DIR/debs" && vm_apt apt-get download -qq "${fetch[@]}") ||
			die "apt-get download of the arm64 packages failed (try: rm -rf ${ARM64_DIR#"$repo"/}/apt/lists)"
	fi
	debs=()
	for spec in "${want[@]}"; do
		cached_deb "$spec" || die "$spec: downloaded, but no .deb for it"
		debs+=("$REPLY")
	done
}

# Unpack the debs into ROOT onto Debian 12's merged-/usr links, as dpkg would
# before any maintainer script; then what those scripts make that the suite needs.
arm64_unpack() {
	local deb link alt skip=("${ARM64_SKIP[@]/#/--exclude=}")

	rm -rf --one-file-system -- "$ROOT"
	for link in bin sbin lib; do
		mkdir -p -- "$ROOT/usr/$link"
		ln -s "usr/$link" "$ROOT/$link"
	done
	# debootstrap's; a stage 3 test mounts on /mnt, shared with the VM.
	mkdir -p -- "$ROOT/mnt" "$ROOT/root" "$ROOT/var/tmp"
	for deb in "${debs[@]}"; do
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$ROOT" --keep-directory-symlink "${skip[@]}" ||
			die "unpacking ${deb##*/} failed"
	done
	for alt in "${ARM64_ALTERNATIVES[@]}"; do
		[[ -e $ROOT/usr/bin/${alt%%=*} || ! -e $ROOT/usr/bin/${alt#*=} ]] ||
			ln -s "${alt#*=}" "$ROOT/usr/bin/${alt%%=*}"
	done
	[[ -e $ROOT/usr/bin/sh ]] || ln -s dash "$ROOT/usr/bin/sh"
	# base-passwd's: the suite needs root and nobody (setpriv --reuid=65534).
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
		'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$ROOT/etc/passwd"
	printf '%s\n' 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:' >"$ROOT/etc/group"
}

# The arm64 guest: Debian's arm64 programs, the work tree with make cross's
# build, and no image: the guest builds its own (vm-init.sh's finish_guest).
build_root_arm64() {
	local debs=()

	arm64_fetch_packages
	arm64_unpack
	add_vm_files ./build ./rootfs
	tar -C "$repo/build/arm64" -cf - . | tar -C "$ROOT/repo" -xf -
}

build_initramfs() {
	local start=$SECONDS src bin make_arch=""

	[[ $VM_ARCH == amd64 ]] || make_arch=" ARCH=$VM_ARCH"
	[[ -d $repo/tests ]] || die "no tests/ in $repo"
	# The stages and extensions (scripts/ext.sh) built here: a missing or
	# stale one would fail every test, or test old code, after minutes.
	for src in "$repo"/stage*/main.c "$repo"/docs/extensions/*.patch; do
		[[ -f $src ]] || continue
		bin=${src%/main.c}/container
		[[ $src != *.patch ]] || bin=$repo/build/ext-$(basename "$src" .patch)/container
		[[ $VM_ARCH == amd64 ]] || bin=$repo/build/$VM_ARCH/${bin#"$repo"/}
		[[ $bin -nt $src ]] ||
			die "${bin#"$repo"/}: missing or older than ${src#"$repo"/}; run make test-vm$make_arch (it builds first)"
	done
	"build_root_$VM_ARCH"
	# cpio "newc", every file root's, uncompressed: the kernel unpacks
	# that faster than it would gunzip it.
	(cd "$ROOT" && find . -mindepth 1 -print0 |
		busybox cpio -o -0 -H newc -R 0:0 2>/dev/null) >"$INITRAMFS.new" ||
		die "busybox cpio failed"
	mv -- "$INITRAMFS.new" "$INITRAMFS"
	say "initramfs: ${INITRAMFS#"$repo"/} ($(du -m -- "$INITRAMFS" | cut -f1) MiB, built in $((SECONDS - start))s)"
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
	local accel=$1 start=$SECONDS booted=0 elapsed cpu=(-accel kvm -cpu host)
	local args=(-name cfs-test-vm -nodefaults -no-user-config -display none
		"${QEMU_MACHINE[@]}" -monitor none -serial stdio -no-reboot -m "$MEMORY" -smp "$CPUS"
		-kernel "$kernel_image" -initrd "$INITRAMFS"
		-append "$CMDLINE${TEST_VM_APPEND:+ $TEST_VM_APPEND}")

	[[ $accel == kvm ]] || cpu=(-accel "tcg,thread=multi" -cpu "$QEMU_TCG_CPU")
	args+=("${cpu[@]}")
	say "booting: $QEMU ${args[*]}"
	: >"$LOG"
	"$QEMU" "${args[@]}" </dev/null >"$LOG" 2>&1 &
	qemu_pid=$!
	# Show the console as it comes, without the serial line's \r.
	tail -n +1 -f --pid="$qemu_pid" -- "$LOG" | sed -u 's/\r$//' &
	tail_pid=$!
	vm_outcome=""
	while [[ -z $vm_outcome ]] && kill -0 "$qemu_pid" 2>/dev/null; do
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
	done
	kill "$qemu_pid" 2>/dev/null || true
	wait "$qemu_pid" "$tail_pid" 2>/dev/null || true
	qemu_pid="" tail_pid=""
	[[ -z $vm_outcome ]] || return 0
	case $(tr -d '\r' <"$LOG" | grep -a '^TEST-VM-RESULT: ' | tail -n 1) in
	"TEST-VM-RESULT: PASS") vm_outcome=pass ;;
	"TEST-VM-RESULT: FAIL"*) vm_outcome=fail ;;
	"TEST-VM-RESULT: ERROR"*) vm_outcome=error ;;
	*) vm_outcome=nomarker ;;
	esac
}

boot() {
	vm_accel=$ACCEL
	[[ $ACCEL != auto ]] || vm_accel=$(kvm_usable && echo kvm || echo tcg)
	run_vm "$vm_accel"
	if [[ $vm_outcome == noboot && $vm_accel == kvm && $ACCEL == auto ]]; then
		say "KVM did not boot the kernel in ${BOOT_TIMEOUT}s (nested virtualisation?); trying TCG"
		vm_accel=tcg
		run_vm tcg
	fi
}

# Say how it went; the suite's own count is the last line.
report() {
	local total=$1 log counts suite

	log=$(tr -d '\r' <"$LOG")
	counts=$(grep -aE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' <<<"$log" | tail -n 1) || true
	suite=$(sed -n 's/^test-vm: suite took \([0-9]*s\)$/\1/p' <<<"$log" | tail -n 1)
	[[ $vm_outcome != nomarker ]] || ! grep -qa 'Kernel panic' <<<"$log" || vm_outcome=panic
	say "accelerator $vm_accel; boot to /init ${vm_boot_seconds:-?}s; suite ${suite:-?}; total $((total / 60))m$((total % 60))s; log ${LOG#"$repo"/}"
	case $vm_outcome in
	pass) say "PASS" ;;
	fail) say "FAIL: some tests failed (see above, or the log)" ;;
	error) say "ERROR: the VM could not run the suite: $(grep -a '^TEST-VM-RESULT: ERROR' <<<"$log" | tail -n 1)" ;;
	noboot) say "ERROR: the kernel did not reach /init within ${BOOT_TIMEOUT}s (TEST_VM_BOOT_TIMEOUT)" ;;
	timeout) say "ERROR: timed out after ${TIMEOUT}s (TEST_VM_TIMEOUT)" ;;
	panic) say "ERROR: the kernel panicked (see above, or the log)" ;;
	*) say "ERROR: the VM stopped without a result line (see above, or the log)" ;;
	esac
	[[ -z $counts ]] || say "$counts"
	[[ $vm_outcome == pass ]] || return 1
	[[ $MODE != docs-update ]] || write_back_docs "$log"
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
			END { exit !found }' <<<"$log" >"$repo/$file.vm" ||
			die "the VM printed no complete $file"
		mv -- "$repo/$file.vm" "$repo/$file"
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
