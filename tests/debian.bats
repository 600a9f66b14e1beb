#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $status: set by run and helpers.bash
# A real image that no one here wrote: Debian 12 minbase with python3 and
# procps, made by mmdebstrap (scripts/debian-image.sh, once, kept in
# .cache/images/) and unpacked by make import, as root and as nobody with
# subordinate ids.  On it, stages 4 and 5 run what real software expects:
# apt, python's multiprocessing (a semaphore in /dev/shm), a /sys to read
# and not write, a file bigger than the memory limit, its own cgroup at /.
# Rootless stage 5 runs where tests/run delegates a cgroup v2 to nobody.
# Where Debian's archive cannot be reached, one line says so and every
# test is skipped; in CI (CI=true) that is a failure.

load helpers

setup_file() {
	local tarball
	export DEBIAN_SKIP=""
	if ! tarball=$("$REPO/scripts/debian-image.sh" 2>"$BATS_FILE_TMPDIR/why"); then
		if [[ ${CI:-} == true ]]; then
			echo "# debian: $(cat "$BATS_FILE_TMPDIR/why"); in CI this is a failure" >&3
			return 1
		fi
		DEBIAN_SKIP=$(sed 's/^debian-image: //' "$BATS_FILE_TMPDIR/why")
		echo "# debian: every test skipped: $DEBIAN_SKIP" >&3
		return 0
	fi
	# The first run of the day says how long mmdebstrap took.
	sed 's/^/# /' "$BATS_FILE_TMPDIR/why" >&3
	# Where nobody can reach both images; removed by teardown_file.
	export DEBIAN_DIR
	DEBIAN_DIR=$(mktemp -d /tmp/debian.XXXXXX)
	chmod 755 "$DEBIAN_DIR"
	mkdir "$DEBIAN_DIR/nobody"
	chown 65534:65534 "$DEBIAN_DIR/nobody"
	"$REPO/scripts/import.sh" "$tarball" "$DEBIAN_DIR/root" >&2
	# with_etc makes its overlay under BATS_TEST_TMPDIR, which a file's
	# setup does not have.
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR with_subids setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$REPO/scripts/import.sh" "$tarball" "$DEBIAN_DIR/nobody/img" >&2
}

teardown_file() {
	[[ -z ${DEBIAN_DIR:-} ]] || rm -rf "$DEBIAN_DIR"
}

setup() {
	[[ -z $DEBIAN_SKIP ]] || skip "$DEBIAN_SKIP"
	common_setup
}

teardown() {
	[[ -n $DEBIAN_SKIP ]] || common_teardown
}

# The cgroup tests/run delegates to nobody on v2 (see tests/rootless.bats).
DELEGATED=/sys/fs/cgroup/user.slice/user-65534.slice/user@65534.service
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# deb WHO N ARGS...: stage N run on the Debian image by WHO: root (the
# image root unpacked), nobody (nobody's, with subordinate ids), or
# delegated (nobody's, started in the delegated cgroup, as
# `systemd-run --user --scope -p Delegate=yes` would start it).
deb() {
	local who=$1 n=$2
	shift 2
	local AS_USER=()
	# shellcheck disable=SC2034,SC2016 # AS_USER: read by ctr; $$, $0, $@: that sh's
	case $who in
	root) ctr "$n" --rootfs "$DEBIAN_DIR/root" "$@" ;;
	nobody)
		AS_USER=(with_subids "${NOBODY[@]}")
		ctr "$n" --rootfs "$DEBIAN_DIR/nobody/img" "$@"
		;;
	delegated)
		AS_USER=(with_subids sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$DELEGATED" "${NOBODY[@]}")
		ctr "$n" --rootfs "$DEBIAN_DIR/nobody/img" "$@"
		;;
	esac
}

# What real software checks first, from stage 4 on.
# shellcheck disable=SC2016 # for the container's sh
PROBE='apt-get --version | head -n 1
python3 -c "import multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))"
[ -n "$(ls /sys/class)" ] && echo "/sys/class listed"
awk "\$2 == \"/sys\" { split(\$4, o, \",\"); print \"/sys is \" o[1] }" /proc/self/mounts | tail -n 1'
PROBE_OUT='^apt 2\.6\.[0-9.]+ \([a-z0-9]+\)
\[1, 2\]
/sys/class listed
/sys is ro$'

# expect_probe WHO N: PROBE on stage N as WHO.
expect_probe() {
	deb "$1" "$2" sh -c "$PROBE"
	expect_status 0
	expect_match "$output" "$PROBE_OUT" "$1, stage $2"
}

@test "debian: apt runs, python's multiprocessing works (/dev/shm), /sys is listed and read-only: stages 4 and 5 as root" {
	expect_probe root 4
	expect_probe root 5
}

# bats test_tags=toolchain
@test "debian: rootless with subordinate ids, the same, and root inside owns /etc and writes it: stage 4" {
	command -v newuidmap >/dev/null || fail "newuidmap is not installed (apt-get install uidmap)"
	expect_probe nobody 4
	# shellcheck disable=SC2016 # expanded by the container's sh
	deb nobody 4 sh -c 'echo $(stat -c %U /etc /var/cache/apt/archives/partial) && echo "nameserver 192.0.2.1" >/etc/resolv.conf && echo written'
	expect_status 0
	expect_eq "$output" "$(printf 'root _apt\nwritten')" "the owners inside, a write to /etc"
}

# bats test_tags=toolchain,cgroup_v2_delegated
@test "debian: rootless stage 5 in a delegated cgroup v2 runs the same, writes /etc, and is in a cgroup namespace" {
	command -v newuidmap >/dev/null || fail "newuidmap is not installed (apt-get install uidmap)"
	expect_probe delegated 5
	deb delegated 5 sh -c 'echo x >/etc/motd && cat /proc/self/cgroup'
	expect_status 0
	expect_eq "$output" "0::/" "delegated stage 5"
}

@test "debian: a 100 MB file is written under stage 5's --memory 64m: the writable layer is not memory" {
	deb root 5 --memory 64m sh -c 'dd if=/dev/zero of=/var/tmp/big bs=1M count=100 status=none && stat -c %s /var/tmp/big'
	expect_status 0
	expect_eq "$output" 104857600 "the file's size"
	expect_no_match "$stderr" "out of memory" "stderr"
}

# bats test_tags=cgroup_v2_delegated,toolchain
@test "debian: a 100 MB file is written under --memory 64m rootless, in a delegated cgroup v2" {
	deb delegated 5 --memory 64m sh -c 'dd if=/dev/zero of=/var/tmp/big bs=1M count=100 status=none && stat -c %s /var/tmp/big'
	expect_status 0
	expect_eq "$output" 104857600 "the file's size"
}

@test "debian: stage 5's /proc/self/cgroup shows / in every hierarchy: a cgroup namespace" {
	deb root 5 cat /proc/self/cgroup
	expect_status 0
	if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then
		expect_eq "$output" "0::/" "v2"
	else
		expect_eq "$(grep -cv ':/$' <<<"$output")" 0 "lines not at / (v1 or hybrid)"
	fi
}
