#!/usr/bin/env bash
# doctor.sh - can this machine run every stage?
#
# One line per check: "ok", "warn" (works, but read this) or "FAIL" (a stage
# cannot run), each problem with a fix and the stages it affects; then the
# tools that build, test and lint (warn only), and a summary of the stages
# that can run.  Exit status: 0 if every stage written so far can run here,
# 1 if one cannot.  Read-only, but for tries that undo themselves: unshare(1)
# runs, a cgroup made and removed, mounts in throw-away mount namespaces on
# a scratch directory that the EXIT trap removes.  As non-root it reports
# what it can see and skips the tries that need root.
#
# Usage: scripts/doctor.sh     (make doctor)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
ALL=$(seq -s ' ' "${#STAGES[@]}")

blocked=() # blocked[N]: why stage N cannot run; unset or empty if it can
scratch=""
userns_dir=""
cgroup_tries=()

# Each step says what it could not undo and goes on: under set -e a failure
# would end the trap and become the exit status.
cleanup() {
	local d
	for d in "${cgroup_tries[@]}"; do
		[[ ! -d $d ]] || rmdir "$d" || echo "$PROG: cannot remove the cgroup $d" >&2
	done
	for d in "$scratch" "$userns_dir"; do
		[[ ! -d $d ]] || rm -rf --one-file-system "$d" || echo "$PROG: cannot remove $d" >&2
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# "1 2 3 4 5" -> "all stages"; "4 5" -> "stages 4-5"; "5" -> "stage 5".
stage_list() {
	local -a s
	read -ra s <<<"$1"
	if [[ $1 == "$ALL" ]]; then
		echo "all stages"
	elif ((${#s[@]} == 1)); then
		echo "stage ${s[0]}"
	elif ((s[-1] - s[0] + 1 == ${#s[@]})); then
		echo "stages ${s[0]}-${s[-1]}"
	else
		echo "stages ${s[*]}"
	fi
}

ok() { printf 'ok    %s\n' "$*"; }

# warn STAGES MESSAGE FIX: works, with a caveat.
warn() {
	local msg=$2
	[[ -n $1 ]] && msg+=" ($(stage_list "$1"))"
	[[ -n ${3:-} ]] && msg+=" — fix: $3"
	printf 'warn  %s\n' "$msg"
}

# fail STAGES MESSAGE FIX: these stages cannot run until it is fixed.
fail() {
	local n who
	who="$(stage_list "$1") cannot run"
	[[ $1 == "$ALL" ]] && who="no stage can run"
	printf 'FAIL  %s (%s) — fix: %s\n' "$2" "$who" "$3"
	for n in $1; do
		blocked[n]+="${blocked[n]:+; }${2%%:*}"
	done
}

# The file system type under a path, by name (ext4, not stat's ext2/ext3).
fstype() {
	findmnt -no FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"
}

is_root=0
[[ $(id -u) == 0 ]] && is_root=1

# try COMMAND...: run a try that needs root; on failure, its first error
# line (or its exit status) is in err.
err=""
try() {
	local out rc
	out=$(timeout 10 "$@" 2>&1 >/dev/null) && return 0
	rc=$?
	err=${out%%$'\n'*}
	[[ -n $err ]] || err="exit status $rc"
	return 1
}

# can_try: root, with unshare(1), can make the tries that unshare a namespace.
can_try() { ((is_root)) && have unshare; }

check_root() {
	local cap
	cap=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if ((!is_root)); then
		ok "root: running as $(id -un): the stages run rootless, in a user namespace (docs/rootless.md); see the rootless lines below"
	# Root inside a container may still lack CAP_SYS_ADMIN (bit 21),
	# which clone(2) with new namespaces and mount(2) both need.
	elif [[ -n $cap ]] && ((!((16#$cap >> 21) & 1))); then
		fail "$ALL" "root: uid 0 but without CAP_SYS_ADMIN (a container?)" \
			"run on the host or in a --privileged container"
	else
		ok "root: uid 0 with CAP_SYS_ADMIN"
	fi
}

check_platform() {
	local virt=""
	# systemd-detect-virt prints "none", and fails, outside a container.
	have systemd-detect-virt && virt=$(systemd-detect-virt --container 2>/dev/null || true)
	[[ $virt != none ]] || virt=""
	[[ -z $virt && -e /.dockerenv ]] && virt=docker
	[[ -z $virt && -e /run/.containerenv ]] && virt=podman
	# WSL1 (4.4.0-...-Microsoft) translates system calls: no real namespaces.
	if [[ $(cat /proc/version 2>/dev/null || true) == *Microsoft* ]]; then
		fail "$ALL" "platform: WSL1 ($(uname -r)): no namespaces or cgroups to speak of" \
			"wsl --set-version <distro> 2 (in Windows), then rerun"
	elif [[ $(uname -r) == *microsoft-standard-WSL2* ]]; then
		ok "platform: WSL2 ($(uname -r)), a real Linux kernel in a VM"
	# Only a note: the tries below fail, with a fix, where it matters.
	elif [[ -n $virt ]]; then
		ok "platform: Linux, inside a container ($virt): fine if the checks below pass"
	else
		ok "platform: Linux, not WSL and not inside a container"
	fi
}

check_kernel() {
	local release major minor
	release=$(uname -r)
	IFS=. read -r major minor _ <<<"$release"
	minor=${minor%%[!0-9]*}
	if ((major < 3 || (major == 3 && minor < 8))); then
		fail "$ALL" "kernel: $release is older than 3.8" "upgrade the kernel"
	elif ((major < 3 || (major == 3 && minor < 18))); then
		fail "4 5" "kernel: $release has no overlayfs (3.18)" "upgrade the kernel"
	elif ((major < 5 || (major == 5 && minor < 6))); then
		fail "4 5" "kernel: $release has no openat2 (5.6), which stage 4 opens every mount point with" "upgrade the kernel to 5.6 or later"
	elif ((major == 5 && minor < 11)); then
		warn "4 5" "kernel: $release: rootless, overlayfs needs 5.11 (as root, fine)" "upgrade the kernel, or run stages 4-5 as root"
	else
		ok "kernel: $release (openat2 needs 5.6, rootless overlayfs 5.11, clone3 into a cgroup 5.7)"
	fi
}

# check_ns NAME STAGES UNSHARE-ARGS...: the namespace exists and unshare(1) can make one.
check_ns() {
	local name=$1 stages=$2 max=/proc/sys/user/max_${1}_namespaces
	shift 2
	if [[ ! -e /proc/self/ns/$name ]]; then
		fail "$stages" "namespaces: no /proc/self/ns/$name: the kernel lacks them" \
			"a kernel built with CONFIG_${name^^}_NS"
	elif [[ -r $max && $(cat "$max") == 0 ]]; then
		fail "$stages" "namespaces: $name disabled ($max is 0)" "sysctl -w user.${max##*/}=10000"
	elif ((!is_root)); then
		warn "$stages" "namespaces: /proc/self/ns/$name exists; not tried without root" "run with sudo"
	elif ! have unshare; then
		warn "$stages" "namespaces: /proc/self/ns/$name exists; no unshare(1) to try it" \
			"apt-get install util-linux"
	elif try unshare "$@" true; then
		ok "namespaces: $name works (unshare $* true)"
	else
		fail "$stages" "namespaces: unshare $* failed: $err" \
			"run as root on the host; a container needs --privileged"
	fi
}

check_namespaces() {
	check_ns uts "$ALL" --uts
	check_ns pid "2 3 4 5" --pid --fork
	check_ns mnt "3 4 5" --mount
	# Stage 3's own recipe: a private mount namespace, a fresh /proc for a new PID namespace.
	can_try || return 0
	if try unshare --mount --propagation private --pid --fork --mount-proc true; then
		ok "mount /proc: a fresh /proc in a new PID and mount namespace works"
	else
		fail "3 4 5" "mount /proc: unshare --mount-proc failed: $err" \
			"run on the host; a container must not mask /proc"
	fi
}

check_propagation() {
	local prop
	if ! have findmnt; then
		warn "3 4 5" "mount propagation of /: unknown (no findmnt)" "apt-get install util-linux"
		return
	fi
	prop=$(findmnt -no PROPAGATION / 2>/dev/null || true)
	case $prop in
	shared*) ok "mount propagation of /: $prop, normal on systemd hosts and fine: stages 3-5 make / private in their own namespace" ;;
	"") warn "3 4 5" "mount propagation of /: unknown (findmnt printed nothing)" "" ;;
	*) ok "mount propagation of /: $prop (stages 3-5 make / private in their own namespace anyway)" ;;
	esac
}

# The root file system: overlayfs, and pivot_root(2) in the same scratch directory.
check_overlay() {
	if grep -qw overlay /proc/filesystems; then
		ok "overlayfs: in /proc/filesystems"
	elif have modprobe && modprobe -n -q overlay 2>/dev/null; then
		warn "4 5" "overlayfs: not loaded yet, but the module exists (mount loads it on demand)" \
			"sudo modprobe overlay"
	else
		fail "4 5" "overlayfs: not available" "sudo modprobe overlay (or a kernel with CONFIG_OVERLAY_FS)"
		return
	fi
	can_try || return 0
	# Mount one as stage 4 does, in a mount namespace of its own: the lower
	# layer on the default image's file system, the upper one on a tmpfs.
	if ! scratch=$(mktemp -d "$repo/.doctor.XXXXXX" 2>/dev/null); then
		warn "4 5" "overlayfs: cannot make a scratch dir in $repo to try it" ""
		return
	fi
	mkdir "$scratch"/{lower,layer,merged,old}
	# shellcheck disable=SC2016 # expanded by the inner sh
	if try unshare --mount --propagation private sh -c \
		'mount -t tmpfs tmpfs "$1/layer" && mkdir "$1/layer/upper" "$1/layer/work" &&
		mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/layer/upper,workdir=$1/layer/work" "$1/merged"' \
		sh "$scratch"; then
		ok "overlayfs: mounts with a lower layer on $(fstype "$scratch") (where ./rootfs is) and an upper one on tmpfs"
	else
		fail "4 5" "overlayfs: mount with a lower layer on $(fstype "$scratch") failed: $err" \
			"keep the repo on a local disk (ext4, xfs, btrfs), not on NFS or another overlay"
	fi
	# pivot_root(2) fails with EINVAL when / is the initramfs (rootfs).
	# Tried with util-linux's pivot_root(8), whose absence says nothing of /.
	if ! have pivot_root; then
		warn "4 5" "pivot_root: not tried: no pivot_root(8) on PATH" "add /usr/sbin to PATH, or apt-get install util-linux"
		return
	fi
	# shellcheck disable=SC2016
	if try unshare --mount --propagation private sh -c \
		'mount --bind "$1" "$1" && cd "$1" && pivot_root . old' sh "$scratch"; then
		ok "pivot_root: works (/ is $(findmnt -no FSTYPE / 2>/dev/null || echo '?'))"
	else
		fail "4 5" "pivot_root: failed: $err" \
			"/ must be a real mount, not the initramfs; boot with a root file system"
	fi
}

check_image() {
	if [[ -e $repo/rootfs/.built && ! -s $repo/rootfs/etc/ld.so.cache ]]; then
		fail "4 5" "default image: no /etc/ld.so.cache in $repo/rootfs (built without ldconfig)" "make clean rootfs"
	elif [[ -e $repo/rootfs/.built ]]; then
		ok "default image: $repo/rootfs ($(du -sh "$repo/rootfs" 2>/dev/null | cut -f1))"
	else
		fail "4 5" "default image: no rootfs/.built" "make rootfs (or pass --rootfs DIR)"
	fi
}

# check_v1_controller CONTROLLER: its v1 hierarchy is mounted and enabled.
check_v1_controller() {
	local ctl=$1 dir=/sys/fs/cgroup/$1
	if [[ $(stat -f -c %T "$dir" 2>/dev/null) != cgroupfs ]]; then
		fail 5 "cgroup $ctl: no v1 hierarchy at $dir" \
			"mount -t cgroup -o $ctl cgroup $dir (systemd does this at boot)"
		return 1
	fi
	if ! awk -v c="$ctl" '$1 == c && $4 == 1 { f = 1 } END { exit !f }' /proc/cgroups; then
		fail 5 "cgroup $ctl: disabled in /proc/cgroups" "remove cgroup_disable=$ctl from the kernel command line"
		return 1
	fi
}

# try_cgroup DIR: make the cgroup DIR/doctor-PID, which a read-only cgroupfs
# (a container) refuses; the EXIT trap removes it.
try_cgroup() {
	cgroup_tries+=("$1/doctor-$$")
	mkdir "$1/doctor-$$" 2>/dev/null && return 0
	fail 5 "cgroups: cannot create a cgroup in $1" "run on the host, or give the container a writable cgroupfs"
	return 1
}

# missing_from FILE: the controllers stage 5 needs that FILE (a cgroup.controllers) lacks, in missing.
missing_from() {
	local ctl avail
	avail=$(cat "$1" 2>/dev/null || true)
	missing=()
	for ctl in pids memory cpu; do
		[[ " $avail " == *" $ctl "* ]] || missing+=("$ctl")
	done
}

check_cgroups() {
	local mode ctl missing=() noswap=""
	mode=$(cgroup_mode)
	[[ $(wc -l </proc/swaps) -gt 1 ]] || noswap="no swap on this machine, so the memory limit is the whole story"
	case $mode in
	v2)
		missing_from /sys/fs/cgroup/cgroup.controllers
		if ((${#missing[@]})); then
			fail 5 "cgroup mode: v2, but ${missing[*]} not in /sys/fs/cgroup/cgroup.controllers" \
				"enable them on the kernel command line (e.g. remove cgroup_disable=)"
			return
		fi
		ok "cgroup mode: v2 (unified; pids, memory, cpu in cgroup.controllers)"
		((is_root)) || return 0
		try_cgroup /sys/fs/cgroup || return 0
		missing_from "/sys/fs/cgroup/doctor-$$/cgroup.controllers"
		if ((${#missing[@]})); then
			warn 5 "cgroups: ${missing[*]} not yet in /sys/fs/cgroup/cgroup.subtree_control; stage 5 must enable them" \
				"echo '+pids +memory +cpu' > /sys/fs/cgroup/cgroup.subtree_control"
		else
			ok "cgroups: can create /sys/fs/cgroup/doctor-$$ with pids, memory, cpu"
		fi
		if [[ -e /sys/fs/cgroup/doctor-$$/memory.swap.max ]]; then
			ok "swap accounting: memory.swap.max exists${noswap:+; $noswap}"
		elif [[ -n $noswap ]]; then
			ok "swap accounting: off, and $noswap"
		else
			warn 5 "swap accounting: no memory.swap.max, so --memory does not stop swapping" \
				"boot with swapaccount=1 (and CONFIG_MEMCG_SWAP)"
		fi
		;;
	v1 | hybrid)
		for ctl in pids memory cpu; do
			check_v1_controller "$ctl" || missing+=("$ctl")
		done
		((${#missing[@]} == 0)) || return 0
		if [[ $mode == hybrid ]]; then
			ok "cgroup mode: hybrid (v1 pids, memory, cpu; cgroup2 at /sys/fs/cgroup/unified)"
		else
			ok "cgroup mode: v1 (legacy; pids, memory, cpu hierarchies under /sys/fs/cgroup)"
		fi
		if ((is_root)); then
			for ctl in pids memory cpu; do
				try_cgroup "/sys/fs/cgroup/$ctl" || missing+=("$ctl")
			done
			((${#missing[@]})) ||
				ok "cgroups: can create a cgroup in the pids, memory and cpu hierarchies"
		fi
		if [[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]]; then
			ok "swap accounting: memory.memsw.* exists${noswap:+; $noswap}"
		elif [[ -n $noswap ]]; then
			ok "swap accounting: off (no memory.memsw.*), and $noswap"
		else
			warn 5 "swap accounting: no memory.memsw.*, so --memory does not stop swapping" \
				"boot with swapaccount=1"
		fi
		;;
	*)
		fail 5 "cgroup mode: nothing cgroup-like at /sys/fs/cgroup ($(stat -f -c %T /sys/fs/cgroup 2>/dev/null || echo missing))" \
			"mount -t cgroup2 none /sys/fs/cgroup"
		;;
	esac
}

# The user who would run the stages: ourselves, or nobody when we are root
# (the sysctls below do not bind root).
as_user=()
who=$(id -un)
if ((is_root)); then
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	who=nobody
fi

# sysctl_warn NAME VALUE MESSAGE FIX: a rootless warning if /proc/sys/NAME is VALUE.
sysctl_warn() {
	[[ $(cat "/proc/sys/$1" 2>/dev/null || true) != "$2" ]] || warn "" "rootless: $3" "$4"
}

# May a user make a user namespace, mount an overlay in it, and has it a
# cgroup v2 subtree of its own (stage 5)?  Warnings only as root, who can
# run every stage without them.  docs/rootless.md explains each.
check_rootless() {
	local dir uid stage5_verdict=warn
	((is_root)) || stage5_verdict=fail
	# The last two exist only on some distributions (Debian's older
	# kernels, Ubuntu's): a missing file is a switch that is not there.
	sysctl_warn user/max_user_namespaces 0 "user.max_user_namespaces is 0: no user may make a user namespace" \
		"sudo sysctl -w user.max_user_namespaces=15000"
	sysctl_warn kernel/unprivileged_userns_clone 0 "kernel.unprivileged_userns_clone is 0 (Debian's switch)" \
		"sudo sysctl -w kernel.unprivileged_userns_clone=1"
	sysctl_warn kernel/apparmor_restrict_unprivileged_userns 1 "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+): a user namespace gets no capabilities" \
		"sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile with 'userns,' for the stages"
	have unshare || return 0
	((!is_root)) || have setpriv || return 0
	if try "${as_user[@]}" unshare --user --map-root-user --uts --pid --fork --mount true; then
		ok "rootless: an unprivileged user may make user, UTS, PID and mount namespaces"
	else
		warn "" "rootless: a user namespace is refused to $who: $err" \
			"allow unprivileged user namespaces (the sysctls above), or run the stages as root"
		return 0
	fi
	# In a scratch directory of its own, which the EXIT trap removes.
	if ! userns_dir=$(mktemp -d /tmp/doctor-userns.XXXXXX); then
		warn "4 5" "rootless: cannot make a scratch dir in /tmp to try overlayfs in a user namespace" ""
		return 0
	fi
	chmod 755 "$userns_dir"
	((!is_root)) || chown 65534:65534 "$userns_dir"
	# shellcheck disable=SC2016 # expanded by the inner sh
	if try "${as_user[@]}" unshare --user --map-root-user --mount sh -c \
		'mkdir "$1/l" "$1/u" "$1/w" "$1/m" && mount -t overlay overlay -o "lowerdir=$1/l,upperdir=$1/u,workdir=$1/w,userxattr" "$1/m"' \
		sh "$userns_dir"; then
		ok "rootless: overlayfs mounts in a user namespace (stages 4-5)"
	else
		warn "4 5" "rootless: overlayfs in a user namespace failed: $err" \
			"Linux 5.11 or later, or run stages 4-5 as root"
	fi
	check_subids
	uid=${SUDO_UID:-$(id -u)}
	dir=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service
	((is_root)) || dir=/sys/fs/cgroup$(awk -F: '$1 == 0 { print $3 }' /proc/self/cgroup)
	if [[ $(stat -f -c %T /sys/fs/cgroup) != cgroup2fs ]]; then
		"$stage5_verdict" 5 "rootless: cgroups here are v1 or hybrid; a user gets cgroups only on v2" \
			"boot with systemd.unified_cgroup_hierarchy=1, or run stage 5 as root"
	elif [[ -d $dir && $(stat -c %u "$dir") == "$uid" ]]; then
		ok "rootless: cgroup v2, with $dir delegated to uid $uid (stage 5: run it under systemd-run --user --scope -p Delegate=yes)"
	else
		"$stage5_verdict" 5 "rootless: no cgroup v2 subtree delegated to uid $uid ($dir)" \
			"log in through systemd (user@.service delegates one), or run stage 5 as root"
	fi
}

# subid_range FILE USER UID: "START COUNT" of FILE's first line for USER or
# UID with two numbers, as the stages and newuidmap read it; or nothing.
subid_range() {
	awk -F: -v u="$2" -v id="$3" '($1 == u || $1 == id) &&
		$2 ~ /^[0-9]+$/ && $3 ~ /^[1-9][0-9]*$/ { print $2, $3; exit }' "$1" 2>/dev/null || true
}

# The first id above every range in /etc/subuid and /etc/subgid, and at
# least 100000: a new range that starts there overlaps no one's.  With
# neither file (no user has a range yet), awk reads the empty stdin.
free_subid_start() {
	local file files=()
	for file in /etc/subuid /etc/subgid; do
		[[ -r $file ]] && files+=("$file")
	done
	awk -F: 'BEGIN { top = 100000 }
		$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $2 + $3 > top { top = $2 + $3 }
		END { print top }' "${files[@]}" </dev/null
}

# With subordinate ids and newuidmap, a rootless stage maps the whole range
# (a chown inside works), else only the user's own id.  The user is the one
# sudo ran us for, else as for the tries above.  Warnings only.
check_subids() {
	local user=$who uid urange grange ustart ucount gstart gcount free
	((!is_root)) || user=${SUDO_USER:-$who}
	uid=$(id -u "$user" 2>/dev/null) || {
		warn "" "rootless: no user $user in /etc/passwd: subordinate ids not checked" ""
		return 0
	}
	urange=$(subid_range /etc/subuid "$user" "$uid")
	grange=$(subid_range /etc/subgid "$user" "$uid")
	if [[ -z $urange || -z $grange ]]; then
		free=$(free_subid_start)
		warn "" "rootless: no subordinate ids for $user in /etc/subuid and /etc/subgid: only uid $uid is mapped, so a chown to another id fails inside" \
			"sudo usermod --add-subuids $free-$((free + 65535)) --add-subgids $free-$((free + 65535)) $user (a range no one else has)"
	elif ! have newuidmap || ! have newgidmap; then
		warn "" "rootless: $user has subordinate ids, but there is no newuidmap or newgidmap to map them: only uid $uid is mapped" \
			"apt-get install uidmap"
	else
		read -r ustart ucount <<<"$urange"
		read -r gstart gcount <<<"$grange"
		ok "rootless: subordinate ids for $user: uids $ustart-$((ustart + ucount - 1)) and gids $gstart-$((gstart + gcount - 1)), mapped with newuidmap and newgidmap"
	fi
}

check_lsm() {
	local found=0 label
	if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]]; then
		found=1
		label=$(cat /proc/self/attr/apparmor/current 2>/dev/null ||
			cat /proc/self/attr/current 2>/dev/null || true)
		label=${label//$'\0'/}
		if [[ -z $label || $label == unconfined* ]]; then
			ok "AppArmor: enabled; this shell is unconfined, so it does not get in the way"
		else
			warn "$ALL" "AppArmor: this shell is confined ($label): mounts may be denied" \
				"run from an unconfined shell; see dmesg for 'apparmor=\"DENIED\"'"
		fi
	fi
	if [[ -r /sys/fs/selinux/enforce ]]; then
		found=1
		if [[ $(cat /sys/fs/selinux/enforce) == 1 ]]; then
			warn "3 4 5" "SELinux: enforcing; a policy may deny the stages' mounts" \
				"look for AVC denials (ausearch -m avc); setenforce 0 to test"
		else
			ok "SELinux: permissive"
		fi
	fi
	((found)) || ok "AppArmor/SELinux: neither is active"
	if [[ $(awk '/^Seccomp:/ { print $2 }' /proc/self/status) == 2 ]]; then
		warn "$ALL" "seccomp: this shell runs under a seccomp filter: clone or mount may be blocked" \
			"run on the host or with --security-opt seccomp=unconfined"
	fi
}

# The tools that build, test and lint: "command Debian-package what-for", one a line.
TOOLS='gcc gcc build the stages (make)
make make build the stages (make)
patch patch build the extensions from docs/extensions/*.patch (make)
bats bats run the suites (make test)
shellcheck shellcheck lint the shell files (make lint)
clang-format clang-format lint the C files (make lint)
sudo sudo run the docs and exercises as written (sudo make ...)'

check_tools() {
	local tool pkg why found=()
	while read -r tool pkg why; do
		if have "$tool"; then
			found+=("$tool")
		else
			warn "" "tools: no $tool, needed to $why" "apt-get install $pkg"
		fi
	done <<<"$TOOLS"
	((${#found[@]} == 0)) || ok "tools: ${found[*]}"
}

UNWRITTEN="not written yet" # blocked[N] of a stage with no main.c, listed apart

check_stages() {
	local i n dir bin src newer
	for i in "${!STAGES[@]}"; do
		n=$((i + 1)) dir=${STAGES[i]}
		bin=$repo/$dir/container src=$repo/$dir/main.c
		if [[ ! -e $src ]]; then
			warn "" "$dir: $UNWRITTEN (no $dir/main.c)" ""
			blocked[n]=$UNWRITTEN
		elif [[ ! -x $bin ]]; then
			fail "$n" "$dir: not built" "make"
		elif ! "$bin" --version >/dev/null 2>&1; then
			fail "$n" "$dir: built, but '$dir/container --version' fails" "make clean && make"
		else
			# -quit, not `| head -n 1`, which would SIGPIPE find under
			# pipefail; a file find cannot read is simply not newer.
			newer=$(find "$src" "$repo/common" -newer "$bin" -name '*.[ch]' -print -quit 2>/dev/null || true)
			if [[ -n $newer ]]; then
				warn "$n" "$dir: built, but older than ${newer#"$repo"/}" "make"
			else
				ok "$dir: built ($dir/container)"
			fi
		fi
	done
}

echo "containers from scratch: can this machine run the stages?"
check_root
check_platform
check_kernel
check_namespaces
check_propagation
check_overlay
check_cgroups
check_rootless
check_lsm
check_image
check_tools
check_stages

runnable=() broken=() unwritten=()
for n in $ALL; do
	if [[ ${blocked[n]:-} == "$UNWRITTEN" ]]; then
		unwritten+=("$n")
	elif [[ -z ${blocked[n]:-} ]]; then
		runnable+=("$n")
	else
		broken+=("$n (${blocked[n]})")
	fi
done
summary="summary: can run: ${runnable[*]:-none}"
((${#broken[@]})) && summary+="; cannot run: $(printf '%s, ' "${broken[@]}")" && summary=${summary%, }
((${#unwritten[@]})) && summary+="; not written yet: ${unwritten[*]}"
echo "$summary"
((${#broken[@]} == 0))
