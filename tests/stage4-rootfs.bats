#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $bg_pid, $ctr_pid: set by run and helpers.bash
# Stage 4: a root filesystem of its own.  The image is the read-only lower
# layer of an overlay, pivot_root detaches the host's tree, and the container
# gets a fresh /proc, a minimal /dev, a writable /tmp and --volume binds.
# Every container that writes runs on $IMG, a private copy of the default
# image, so that a broken stage cannot damage rootfs/; teardown checks that
# every file of $IMG is as it was.  Each check runs against stage 4 and every
# later stage.

load helpers

setup() {
	common_setup
	copy_image "$BATS_TEST_TMPDIR/img"
	tree_state "$BATS_TEST_TMPDIR/img" >"$BATS_TEST_TMPDIR/img.before"
	IMG=$BATS_TEST_TMPDIR/img
}

teardown() {
	local ok=0
	common_teardown || ok=1
	if [[ -n ${IMG:-} ]]; then
		expect_unchanged "$IMG" "$BATS_TEST_TMPDIR/img.before" "the image" || ok=1
		# bats keeps every test's directory until the run ends: a copy
		# of the image per test fills the v2 VM's /tmp, which is memory.
		rm -rf "$IMG"
	fi
	return "$ok"
}

# The container's mount points, one per line, sorted: what it can reach.
# Those below /sys are left out: stage 5 adds its cgroups there.
MOUNTS_INSIDE="awk '\$5 !~ \"^/sys/\" { print \$5 }' /proc/self/mountinfo | sort"
# The entries of the minimal /dev, as `ls -A` lists them.
DEV_LISTING="fd full null ptmx pts random shm stderr stdin stdout tty urandom zero"

# mounts_inside MOUNT...: what MOUNTS_INSIDE prints for a container with
# those mounts.  Rootless (make grade's sandbox), each device of /dev is
# the host's, bound in: a mount of its own.
mounts_inside() {
	local devs=()
	! userns_root || devs=(/dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero)
	printf '%s\n' "$@" "${devs[@]}" | LC_ALL=C sort
}

# The lines of stdin as one line of words: "a b c".
one_line() { paste -sd ' '; }

# expect_unchanged DIR BEFORE_FILE WHAT: DIR is as tree_state saw it before.
expect_unchanged() {
	tree_state "$1" >"$BATS_TEST_TMPDIR/tree.after"
	diff -u "$2" "$BATS_TEST_TMPDIR/tree.after" >&2 ||
		fail "$3: $1 was modified (diff above)"
}

# Every option value the bad-input tests try must fail before anything is
# created: this --layer directory must not appear.
expect_nothing_created() {
	[[ ! -e $BATS_TEST_TMPDIR/new-layer ]] || fail "$1: --layer directory created"
	[[ -z $(leftover_pids) ]] || fail "$1: processes left: $(leftover_pids)"
}

# ---- the image ----

@test "stage4: --help names the default image, which is rootfs/ beside the stages" {
	local shown
	for n in $(stages_from 4); do
		raw "$n" --help
		expect_status 0
		shown=$(echo "$output" | sed -n 's/.*--rootfs DIR .*(default: \(.*\))$/\1/p')
		[[ -n $shown ]] || fail "stage $n: --help shows no default image"
		expect_eq "$(realpath "$shown")" "$(realpath "$REPO/rootfs")" "stage $n: the default image"
	done
}

@test "stage4: without --rootfs the default image is the root, from any working directory" {
	local dir
	for n in $(stages_from 4); do
		for dir in / "$BATS_TEST_TMPDIR" "$REPO/tests"; do
			cd "$dir"
			ctr "$n" cat /etc/os-release
			expect_status 0
			expect_match "$output" "ID=containers-from-scratch" "stage $n from $dir"
		done
		# `make install` links the binary from elsewhere: it still finds
		# the image beside its real location.
		ln -sf "$(stage_bin "$n")" "$BATS_TEST_TMPDIR/container-link"
		run --separate-stderr "$BATS_TEST_TMPDIR/container-link" run cat /etc/os-release
		log_run "container-link (-> stage$n/container) run cat /etc/os-release"
		expect_status 0
		expect_match "$output" "ID=containers-from-scratch" "stage $n through a symlink"
	done
}

@test "stage4: a missing default image exits 125 and says how to build it" {
	local copy=$BATS_TEST_TMPDIR/stage/container
	mkdir -p "${copy%/*}"
	for n in $(stages_from 4); do
		# A copy of the binary looks for ../rootfs beside itself: none here.
		cp "$(stage_bin "$n")" "$copy"
		run --separate-stderr "$copy" run true
		log_run "copy of stage$n/container run true"
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "default image $BATS_TEST_TMPDIR/stage/../rootfs is missing" "stage $n"
		expect_match "$stderr" "make rootfs" "stage $n"
	done
}

@test "stage4: --rootfs DIR is the container's root, given absolute or relative" {
	copy_image "$BATS_TEST_TMPDIR/marked"
	echo "the test image" >"$BATS_TEST_TMPDIR/marked/IMAGE-MARK"
	cd "$BATS_TEST_TMPDIR"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$BATS_TEST_TMPDIR/marked" cat /IMAGE-MARK
		expect_status 0
		expect_eq "$output" "the test image" "stage $n, absolute --rootfs"
		ctr "$n" --rootfs marked/ cat /IMAGE-MARK
		expect_status 0
		expect_eq "$output" "the test image" "stage $n, relative --rootfs"
		ctr "$n" cat /IMAGE-MARK
		expect_status 1
	done
}

# bats test_tags=smoke
@test "stage4: ls /, ps, hostname and touch /hello behave as in docker run --rm" {
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" ls /
		expect_status 0
		expect_eq "$output" "$(ls "$IMG")" "stage $n: ls / lists the image"
		ctr "$n" --rootfs "$IMG" ps
		expect_status 0
		# The CPU time ps took is not the point: a slow VM shows 00:00:01.
		expect_eq "$(echo "$output" | tr -s ' ' | sed 's/^ //; s/ [0-9:]*[0-9] / TIME /')" \
			"$(printf 'PID TTY TIME CMD\n1 ? TIME ps')" "stage $n: ps"
		ctr "$n" --rootfs "$IMG" hostname
		expect_status 0
		expect_eq "$output" container "stage $n: hostname"
		ctr "$n" --rootfs "$IMG" sh -c 'touch /hello && ls /hello'
		expect_status 0
		expect_eq "$output" /hello "stage $n: touch /hello"
		# --rm: the next container starts from the image again.
		ctr "$n" --rootfs "$IMG" ls /hello
		expect_status 2
		[[ ! -e $IMG/hello ]] || fail "stage $n: /hello reached the image"
	done
}

@test "stage4: writes go to a fresh layer for each run, and the image is never modified" {
	local img=$IMG
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$img" sh -c 'touch /x && echo more >>/etc/profile &&
			rm /etc/os-release && mkdir /newdir && chmod 700 /tmp &&
			ls -d /x /newdir && ! test -e /etc/os-release && stat -c %a /tmp'
		expect_status 0
		expect_eq "$output" "$(printf '/newdir\n/x\n700')" "stage $n: the writes inside"
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/img.before" "stage $n"
		ctr "$n" --rootfs "$img" sh -c 'test -e /x || echo no-x; test -e /newdir || echo no-newdir
			grep -c more /etc/profile; stat -c %a /tmp; cat /etc/os-release'
		expect_status 0
		expect_eq "$output" "$(printf 'no-x\nno-newdir\n0\n1777\n%s' "$(cat "$img/etc/os-release")")" \
			"stage $n: the next run"
		# Two containers at once each get their own layer.
		ctr_bg "$n" --rootfs "$img" sh -c 'touch /mine; echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		ctr "$n" --rootfs "$img" sh -c 'ls /mine'
		expect_status 2
		kill_container
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/img.before" "stage $n"
	done
}

# Root's state directory, where each run's writable layer is made on disk;
# rootless (make grade's sandbox), the user's, in HOME.
LAYERS=/var/lib/containers-from-scratch/layers
! userns_root || LAYERS=${XDG_STATE_HOME:-$HOME/.local/state}/containers-from-scratch/layers

# The layer of the tool $1, as the host sees it: LAYERS/ctr-PID.
layer_of() { find "$LAYERS" -mindepth 1 -maxdepth 1 -name "ctr-$1" 2>/dev/null; }
no_layer_of() { [[ -z $(layer_of "$1") ]]; }

@test "stage4: the default writable layer is a directory on disk, root's alone, removed at exit" {
	local dir
	for n in $(stages_from 4); do
		ctr_bg "$n" --rootfs "$IMG" sh -c 'echo data >/written; mkdir -p /d/e; chmod 000 /d/e /d; ln -s /etc /d2; echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		dir=$(layer_of "$bg_pid")
		[[ -n $dir ]] || fail "stage $n: no layer of tool $bg_pid in $LAYERS"
		expect_eq "$(cat "$dir/upper/written")" data "stage $n: the file, on the host's disk"
		expect_eq "$(stat -c '%U %a' "${LAYERS%/*}" "$LAYERS" "$dir" | paste -sd ' ')" \
			"root 700 root 700 root 700" "stage $n: the state directory, the layers, the layer"
		expect_eq "$(stat -f -c %T "$dir/upper")" "$(stat -f -c %T "${LAYERS%/*/*}")" "stage $n: the layer's filesystem"
		kill_container
		no_layer_of "$bg_pid" || fail "stage $n: the layer is left: $(layer_of "$bg_pid")"
		[[ -d /etc ]] || fail "stage $n: the symlink to /etc was followed"
		# On a tmpfs, and in no directory of the host's.
		ctr_bg "$n" --rootfs "$IMG" --tmpfs-layer sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		expect_eq "$(layer_of "$bg_pid")" "" "stage $n --tmpfs-layer: a layer on disk"
		kill_container
		ctr "$n" --tmpfs-layer --layer "$BATS_TEST_TMPDIR/new-layer" true
		expect_status 125
		expect_one_line_error
	done
}

@test "stage4: the layer of a tool killed with SIGKILL is removed by the next run" {
	local dir
	for n in $(stages_from 4); do
		ctr_bg "$n" --rootfs "$IMG" sh -c 'echo data >/written; echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		dir=$(layer_of "$bg_pid")
		[[ -n $dir ]] || fail "stage $n: no layer of tool $bg_pid"
		kill_tool
		expect_no_leftovers "stage $n"
		[[ -d $dir ]] || fail "stage $n: the killed tool removed its layer"
		next_run_cleans_up "$n"
		[[ ! -e $dir ]] || fail "stage $n: the next run left $dir"
	done
}

@test "stage4: --layer DIR keeps exactly the changes in DIR/upper and reuses them" {
	local img=$IMG layer
	for n in $(stages_from 4); do
		layer=$BATS_TEST_TMPDIR/layer$n
		ctr "$n" --rootfs "$img" --layer "$layer" sh -c \
			'touch /x && mkdir /newdir && echo data >/newdir/f && rm /etc/os-release'
		expect_status 0
		expect_eq "$(ls "$layer")" "$(printf 'upper\nwork')" "stage $n: the layer directory"
		expect_eq "$(cd "$layer/upper" && find . -mindepth 1 | sort)" \
			"$(printf './etc\n./etc/os-release\n./newdir\n./newdir/f\n./x')" "stage $n: DIR/upper"
		# A deleted file is a whiteout: a 0:0 character device.
		expect_eq "$(stat -c '%F %t:%T' "$layer/upper/etc/os-release")" \
			"character special file 0:0" "stage $n: the whiteout of /etc/os-release"
		expect_eq "$(cat "$layer/upper/newdir/f")" data "stage $n: DIR/upper/newdir/f"
		[[ -d $layer/work ]] || fail "stage $n: no DIR/work"
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/img.before" "stage $n"

		ctr "$n" --rootfs "$img" --layer "$layer" sh -c \
			'ls /x && cat /newdir/f && ! test -e /etc/os-release && echo >>/newdir/f more'
		expect_status 0
		expect_eq "$output" "$(printf '/x\ndata')" "stage $n: the second run with the layer"
		expect_eq "$(cat "$layer/upper/newdir/f")" "$(printf 'data\nmore')" "stage $n: DIR/upper/newdir/f"
		# A relative --layer is the same directory.
		cd "$BATS_TEST_TMPDIR"
		ctr "$n" --rootfs "$img" --layer "layer$n" cat /newdir/f
		expect_status 0
		expect_eq "$output" "$(printf 'data\nmore')" "stage $n: relative --layer"
		ctr "$n" --rootfs "$img" ls /x
		expect_status 2
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/img.before" "stage $n"
	done
}

# ---- the root: pivot_root, /proc, /dev, /tmp ----

@test "stage4: the escape helper breaks out of a plain chroot on the host" {
	# Proves the helper works, so that "contained" below means something.
	local jail=$BATS_TEST_TMPDIR/jail marker=$BATS_TEST_TMPDIR/host-only-file
	touch "$marker"
	mkdir "$jail"
	cp "$REPO/rootfs/usr/local/bin/escape" "$jail/"
	run --separate-stderr chroot "$jail" /escape "$marker"
	log_run "chroot $jail /escape $marker"
	expect_status 1
	expect_eq "$output" "escaped: $marker is reachable" "chroot"
}

# bats test_tags=smoke
@test "stage4: pivot_root detaches the old root: no escape reaches a host file" {
	local marker=$BATS_TEST_TMPDIR/host-only-file
	touch "$marker"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" escape "$marker"
		expect_status 0
		expect_eq "$output" "contained: $marker is not reachable" "stage $n: escape"
		ctr "$n" sh -c "$MOUNTS_INSIDE"
		expect_status 0
		expect_eq "$output" "$(mounts_inside / /dev /dev/pts /dev/shm /proc /sys)" "stage $n: the mounts inside"
		ctr "$n" findmnt -no FSTYPE /
		expect_eq "$output" overlay "stage $n: the root"
	done
}

@test "stage4: /proc is a fresh proc mount of the container's PID namespace" {
	for n in $(stages_from 4); do
		ctr "$n" sh -c 'findmnt -no FSTYPE /proc; cat /proc/1/comm; ls /proc | grep -c "^[0-9]"'
		expect_status 0
		expect_eq "$(echo "$output" | head -n 2)" "$(printf 'proc\nsh')" "stage $n: /proc"
		[[ $(echo "$output" | tail -n 1) -le 3 ]] || fail "stage $n sees too many processes"
	done
}

@test "stage4: /dev is a minimal tmpfs: harmless devices, fd links, its own devpts, no host disk" {
	local disks
	mapfile -t disks < <(ls /sys/class/block)
	((${#disks[@]} > 0)) || fail "the host has no block device to look for"
	for n in $(stages_from 4); do
		ctr "$n" ls -A /dev
		expect_status 0
		expect_eq "$(echo "$output" | one_line)" "$DEV_LISTING" "stage $n: ls -A /dev"
		ctr "$n" stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
		expect_status 0
		expect_eq "$output" "$(printf '%s\n' \
			'/dev/null character special file 1:3 666' \
			'/dev/zero character special file 1:5 666' \
			'/dev/full character special file 1:7 666' \
			'/dev/random character special file 1:8 666' \
			'/dev/urandom character special file 1:9 666' \
			'/dev/tty character special file 5:0 666')" "stage $n: the devices"
		ctr "$n" readlink /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx
		expect_status 0
		expect_eq "$(echo "$output" | one_line)" \
			"/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 pts/ptmx" "stage $n: the links"
		ctr "$n" sh -c 'findmnt -no FSTYPE /dev; findmnt -no FSTYPE /dev/pts; ls -A /dev/pts'
		expect_status 0
		expect_eq "$(echo "$output" | one_line)" "tmpfs devpts ptmx" "stage $n: /dev and a new devpts instance"
		# shellcheck disable=SC2016 # expanded by the container's sh
		ctr "$n" sh -c 'for d in "$@"; do test -e "/dev/$d" && echo "visible: $d"; done; true' sh "${disks[@]}"
		expect_status 0
		expect_eq "$output" "" "stage $n: the host's disks"
		ctr "$n" --rootfs "$IMG" sh -c 'echo x >/dev/null && head -c 2 /dev/zero | od -An -tx1 | xargs &&
			head -c 8 /dev/urandom | wc -c && ! echo x 2>/dev/null >/dev/full'
		expect_status 0
		expect_eq "$(echo "$output" | one_line)" "00 00 8" "stage $n: the devices work"
	done
}

@test "stage4: /dev/shm is a capped tmpfs of the container's own, for everyone, and may be a volume" {
	local src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" sh -c 'findmnt -no FSTYPE,OPTIONS /dev/shm; stat -c %a /dev/shm &&
			chroot --userspec=65534:65534 / sh -c "echo by-nobody >/dev/shm/f && cat /dev/shm/f"'
		expect_status 0
		expect_match "$(sed -n 1p <<<"$output")" "^tmpfs .*nosuid,nodev,.*size=65536k" "stage $n: the mount"
		expect_eq "$(sed -n '2,$p' <<<"$output")" "$(printf '1777\nby-nobody')" "stage $n: mode, and a file of nobody's"
		[[ ! -e /dev/shm/f ]] || fail "stage $n: the file reached the host's /dev/shm"
		ctr "$n" --rootfs "$IMG" -v "$src:/dev/shm" sh -c 'echo shared >/dev/shm/seg'
		expect_status 0
		expect_eq "$(cat "$src/seg")" shared "stage $n: a volume on /dev/shm"
		rm "$src/seg"
		ctr "$n" --rootfs "$IMG" -v "$src:/dev/other" true
		expect_status 125
		expect_one_line_error
	done
}

@test "stage4: /sys is there, read-only: the CPUs can be counted and nothing written" {
	local file
	# A file that root may write on the host.
	file=$(find /sys/kernel -maxdepth 1 -type f -perm -200 | head -n 1)
	[[ -n $file ]] || fail "no writable file in the host's /sys/kernel"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" sh -c 'findmnt -no FSTYPE,OPTIONS /sys; ls /sys/devices/system/cpu | grep -c "^cpu[0-9]"; ls /sys/class | grep -c .'
		expect_status 0
		expect_match "$(sed -n 1p <<<"$output")" "^sysfs +ro," "stage $n: the mount"
		expect_eq "$(sed -n 2p <<<"$output")" "$(find /sys/devices/system/cpu -maxdepth 1 -name 'cpu[0-9]*' | wc -l)" "stage $n: the CPUs"
		(($(sed -n 3p <<<"$output") > 0)) || fail "stage $n: /sys/class is empty"
		# shellcheck disable=SC2016 # expanded by the container's sh
		ctr "$n" --rootfs "$IMG" sh -c 'cat "$1" >"$1"' sh "$file"
		((status != 0)) || fail "stage $n: a write to /sys went through"
		expect_match "$stderr" "Read-only file system" "stage $n: the write"
		ctr "$n" --rootfs "$IMG" touch /sys/new
		expect_match "$stderr" "Read-only file system" "stage $n: a new file in /sys"
	done
}

@test "stage4: /tmp is writable by everyone, mode 1777, even where the image's is not" {
	local img=$BATS_TEST_TMPDIR/tmp-755
	copy_image "$img"
	chmod 755 "$img/tmp"
	tree_state "$img" >"$BATS_TEST_TMPDIR/tree.before"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" sh -c 'stat -c %a /tmp &&
			chroot --userspec=65534:65534 / sh -c "echo by-nobody >/tmp/f && cat /tmp/f"'
		expect_status 0
		expect_eq "$output" "$(printf '1777\nby-nobody')" "stage $n: /tmp in the default image"
		ctr "$n" --rootfs "$img" stat -c %a /tmp
		expect_status 0
		expect_eq "$output" 1777 "stage $n: /tmp of an image where it is 755"
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/tree.before" "stage $n"
	done
	rmdir "$img/tmp"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$img" stat -c %a /tmp
		expect_status 0
		expect_eq "$output" 1777 "stage $n: /tmp of an image without one"
		[[ ! -e $img/tmp ]] || fail "stage $n: /tmp made in the image"
	done
}

# bats test_tags=smoke
@test "stage4: the host reaches the container's root through /proc/PID/root" {
	for n in $(stages_from 4); do
		ctr_bg "$n" --rootfs "$IMG" sh -c 'touch /hello && echo ready && exec sleep 1000'
		wait_for 50 bg_output_has ready
		wait_container
		expect_eq "$(ls "/proc/$ctr_pid/root/etc")" "$(ls "$IMG/etc")" "stage $n: ls /proc/PID/root/etc"
		expect_match "$(cat "/proc/$ctr_pid/root/etc/os-release")" "ID=containers-from-scratch" \
			"stage $n: /proc/PID/root/etc/os-release"
		expect_eq "$(find "/proc/$ctr_pid/root/dev" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | one_line)" \
			"$DEV_LISTING" "stage $n: /proc/PID/root/dev"
		[[ -f /proc/$ctr_pid/root/hello ]] || fail "stage $n: /hello not seen through /proc/PID/root"
		[[ ! -e /hello && ! -e $IMG/hello ]] || fail "stage $n: /hello on the host"
		kill_container
	done
}

# ---- volumes ----

@test "stage4: --volume bind-mounts host directories: files get in and out" {
	local src=$BATS_TEST_TMPDIR/src src2=$BATS_TEST_TMPDIR/src2
	mkdir "$src" "$src2"
	for n in $(stages_from 4); do
		echo "from the host" >"$src/in"
		rm -f "$src/out" "$src2/out2"
		ctr "$n" --rootfs "$IMG" --volume "$src:/data" --volume "$src2:/mnt/two:rw" sh -c \
			"cat /data/in && echo from-the-container >/data/out && echo two >/mnt/two/out2 && $MOUNTS_INSIDE"
		expect_status 0
		expect_eq "$output" "$(echo "from the host" && mounts_inside / /data /dev /dev/pts /dev/shm /mnt/two /proc /sys)" "stage $n: inside"
		expect_eq "$(cat "$src/out")" from-the-container "stage $n: the file that came out"
		expect_eq "$(cat "$src2/out2")" two "stage $n: the second volume"
	done
}

@test "stage4: --volume ...:ro is read-only inside" {
	local src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	echo original >"$src/in"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" --volume "$src:/data:ro" sh -c 'cat /data/in; echo x >/data/new'
		expect_status 2
		expect_eq "$output" original "stage $n: reading"
		expect_match "$stderr" "Read-only file system" "stage $n: writing"
		ctr "$n" --rootfs "$IMG" --volume "$src:/data:ro" sh -c 'echo changed >/data/in'
		expect_status 2
		ctr "$n" --rootfs "$IMG" --volume "$src:/data:ro" sh -c 'rm /data/in'
		expect_status 1
		expect_eq "$(ls "$src")" in "stage $n: the host directory"
		expect_eq "$(cat "$src/in")" original "stage $n: the host file"
	done
}

@test "stage4: -v HOST:CTR[:ro] is a volume, as in docker run" {
	local src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	echo original >"$src/in"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" -v "$src:/data" sh -c 'cat /data/in && echo out >/data/out'
		expect_status 0
		expect_eq "$output" original "stage $n: -v HOST:CTR"
		expect_eq "$(cat "$src/out")" out "stage $n: the file that came out"
		ctr "$n" --rootfs "$IMG" -v "$src:/data:ro" sh -c 'echo x >/data/new'
		expect_status 2
		expect_match "$stderr" "Read-only file system" "stage $n: -v HOST:CTR:ro"
		[[ ! -e $src/new ]] || fail "stage $n: a write went through -v ...:ro"
		rm "$src/out"
	done
	for n in 1 2 3; do
		[[ -f $(stage_bin "$n") ]] || continue
		ctr "$n" -v "$src:/data" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "--volume is introduced in stage 4" "stage $n -v"
	done
}

@test "stage4: a --volume path missing from the image is made in the upper layer, not the image" {
	local img=$IMG src=$BATS_TEST_TMPDIR/src layer
	mkdir "$src"
	echo hi >"$src/in"
	for n in $(stages_from 4); do
		layer=$BATS_TEST_TMPDIR/layer$n
		ctr "$n" --rootfs "$img" --volume "$src:/a/b/c" cat /a/b/c/in
		expect_status 0
		expect_eq "$output" hi "stage $n"
		ctr "$n" --rootfs "$img" --layer "$layer" --volume "$src:/a/b/c" cat /a/b/c/in
		expect_status 0
		expect_eq "$output" hi "stage $n with --layer"
		expect_eq "$(cd "$layer/upper" && find . -mindepth 1 | sort)" \
			"$(printf './a\n./a/b\n./a/b/c')" "stage $n: DIR/upper"
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/img.before" "stage $n"
		expect_eq "$(ls "$src")" in "stage $n: the host directory"
	done
}

@test "stage4: a --volume path through a symlink in the image stays inside the container, and a symlink mount point is refused" {
	# An image is untrusted input: its absolute symlinks must resolve in
	# the container's root, never on the host.
	local img=$BATS_TEST_TMPDIR/linked src=$BATS_TEST_TMPDIR/src hostdir=$BATS_TEST_TMPDIR/hostdir
	copy_image "$img"
	mkdir "$src" "$hostdir"
	echo hi >"$src/in"
	ln -s /etc "$img/etc-link"
	ln -s "$hostdir" "$img/host-link"
	tree_state "$img" >"$BATS_TEST_TMPDIR/tree.before"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$img" --volume "$src:/etc-link/vol" cat /etc/vol/in
		expect_status 0
		expect_eq "$output" hi "stage $n: /etc-link/vol is the image's /etc/vol"
		# The mount point itself may not be a symlink: the image would
		# choose where the volume goes (runc, CVE-2019-19921).
		ctr "$n" --rootfs "$img" --volume "$src:/etc-link" cat /etc/in
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "/etc-link in the image is a symlink" "stage $n: a volume on /etc-link"
		# host-link leads nowhere inside: an error, or a new directory in
		# the container; never one on the host.
		ctr "$n" --rootfs "$img" --volume "$src:/host-link/vol" cat "$hostdir/vol/in"
		if [[ $status -eq 125 ]]; then
			expect_one_line_error
		else
			expect_status 0
			expect_eq "$output" hi "stage $n: /host-link/vol"
		fi
		expect_eq "$(ls -A "$hostdir")" "" "stage $n: the host directory the link names"
		expect_unchanged "$img" "$BATS_TEST_TMPDIR/tree.before" "stage $n"
	done
}

# ---- the host's side ----

# bats test_tags=smoke
@test "stage4: nothing is left on the host after SIGKILL, a double SIGTERM, a killed command or a failed run" {
	local src=$BATS_TEST_TMPDIR/src layer mounts tmp
	mkdir "$src"
	mounts=$(cat /proc/self/mounts)
	tmp=$(ls -A /tmp)
	for n in $(stages_from 4); do
		layer=$BATS_TEST_TMPDIR/layer$n
		ctr_bg "$n" --rootfs "$IMG" --layer "$layer" --volume "$src:/data" sh -c \
			'touch /x /data/y && echo ready && exec sleep 1000'
		wait_for 50 bg_output_has ready
		kill -KILL "$bg_pid"
		wait_bg
		expect_no_leftovers "stage $n"
		expect_eq "$(cat /proc/self/mounts)" "$mounts" "stage $n: mounts after SIGKILL"
		[[ -e $layer/upper/x && -e $src/y ]] || fail "stage $n: the writes before SIGKILL were lost"
		next_run_cleans_up "$n"

		ctr_bg "$n" --rootfs "$IMG" --volume "$src:/data" sleep 1000
		wait_container
		stop_bg # two SIGTERMs, the second once the tool took the first
		expect_status 137
		expect_eq "$(cat /proc/self/mounts)" "$mounts" "stage $n: mounts after two SIGTERMs"

		ctr_bg "$n" --rootfs "$IMG" --volume "$src:/data" sleep 1000
		wait_container
		kill -KILL "$ctr_pid"
		wait_bg
		expect_status 137
		expect_eq "$(cat /proc/self/mounts)" "$mounts" "stage $n: mounts after the command was killed"

		# Fails after the overlay is mounted: a volume onto a file.
		ctr "$n" --rootfs "$IMG" --volume "$src:/etc/os-release" true
		expect_status 125
		expect_one_line_error
		expect_eq "$(cat /proc/self/mounts)" "$mounts" "stage $n: mounts after a failed run"
		expect_eq "$(ls -A /tmp)" "$tmp" "stage $n: /tmp"
		[[ -z $(leftover_pids) ]] || fail "stage $n: left behind: $(leftover_pids)"
	done
}

# ---- bad input ----

@test "stage4: a missing, empty or non-directory --rootfs exits 125 and creates nothing" {
	local bad
	touch "$BATS_TEST_TMPDIR/file"
	for n in $(stages_from 4); do
		for bad in "$BATS_TEST_TMPDIR/no-such-image" "$BATS_TEST_TMPDIR/file" ""; do
			ctr "$n" --layer "$BATS_TEST_TMPDIR/new-layer" --rootfs "$bad" true
			expect_status 125
			expect_one_line_error
			expect_match "$stderr" "--rootfs" "stage $n --rootfs '$bad'"
			expect_nothing_created "stage $n --rootfs '$bad'"
		done
	done
}

@test "stage4: --rootfs FILE.tar exits 125 and names make import" {
	local tar=$BATS_TEST_TMPDIR/image.tar
	tar -C "$IMG" -cf "$tar" etc/os-release
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$tar" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "make import TAR=$tar DEST=DIR" "stage $n"
		expect_nothing_created "stage $n"
	done
}

@test "stage4: a malformed --volume exits 125 with one line and creates nothing" {
	local src=$BATS_TEST_TMPDIR/src bad
	mkdir "$src"
	for n in $(stages_from 4); do
		for bad in "$src" ":/data" "$src:" "$src:data" "$src:/a/../b" "$src:/.." "$src:/data/.." \
			"$src:/" "$src://" "$src:/." "$src:/./" "$src:/data:rx" "$src:/data:" "$src:/data:ro:ro"; do
			ctr "$n" --layer "$BATS_TEST_TMPDIR/new-layer" --volume "$bad" true
			expect_status 125
			expect_one_line_error
			expect_match "$stderr" "invalid --volume" "stage $n --volume '$bad'"
			expect_nothing_created "stage $n --volume '$bad'"
		done
		expect_eq "$(ls -A "$src")" "" "stage $n: the volume's host directory"
	done
}

@test "stage4: a --volume host directory that is missing or a file exits 125 and creates nothing" {
	local bad
	touch "$BATS_TEST_TMPDIR/file"
	for n in $(stages_from 4); do
		for bad in "$BATS_TEST_TMPDIR/no-such-dir" "$BATS_TEST_TMPDIR/file"; do
			ctr "$n" --layer "$BATS_TEST_TMPDIR/new-layer" --volume "$bad:/data" true
			expect_status 125
			expect_one_line_error
			expect_match "$stderr" "$bad" "stage $n --volume '$bad:/data'"
			expect_nothing_created "stage $n --volume '$bad:/data'"
		done
	done
}

@test "stage4: a --layer whose parent is missing, or that is a file, exits 125 and creates nothing" {
	touch "$BATS_TEST_TMPDIR/file"
	for n in $(stages_from 4); do
		ctr "$n" --layer "$BATS_TEST_TMPDIR/no-such-parent/layer" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "--layer parent directory" "stage $n"
		[[ ! -e $BATS_TEST_TMPDIR/no-such-parent ]] || fail "stage $n: the parent was created"
		ctr "$n" --layer "$BATS_TEST_TMPDIR/file" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "not a directory" "stage $n"
		ctr "$n" --layer "" true
		expect_status 125
		expect_one_line_error
		ctr "$n" --layer "$BATS_TEST_TMPDIR/new-layer" --volume nonsense true
		expect_status 125
		expect_nothing_created "stage $n --layer with a bad --volume after it"
	done
}

@test "stage4: a command the host has but the image lacks exits 127" {
	local prog
	prog=$(command -v bats)
	[[ ! -e $REPO/rootfs$prog ]] || fail "the image has $prog: pick another program"
	for n in $(stages_from 4); do
		ctr -127 "$n" bats --version
		expect_status 127
		expect_one_line_error
		expect_match "$stderr" "exec bats: No such file or directory" "stage $n"
		ctr -127 "$n" "$prog" --version
		expect_status 127
		expect_one_line_error
	done
}

# ---- using it ----

# The keyboard of the interactive test: a line at each prompt of dash.  The
# $((...)) make the outputs differ from the echoed input.
type_into_sh() {
	# shellcheck disable=SC2016 # expanded by the container's sh
	local lines=('ls /' 'echo "name-$(hostname)"' 'touch /hello && test -f /hello && echo "touched-$((40 + 2))"' 'exit 3') k
	for ((k = 0; k < ${#lines[@]}; k++)); do
		wait_for 100 screen_shows "$screen" '# ' $((k + 1)) || return 0
		printf '%s\n' "${lines[k]}"
	done
}

@test "stage4: an interactive /bin/sh works under a pseudo-terminal" {
	for n in $(stages_from 4); do
		at_terminal type_into_sh "$(stage_bin "$n") run --rootfs $IMG /bin/sh"
		# dash gives the terminal back to the process group it found
		# there; one outside the container's PID namespace reads as 0.
		expect_no_match "$output" "Cannot set tty process group" "stage $n: exit"
		expect_status 3
		expect_match "$output" "proc" "stage $n: ls /"
		expect_match "$output" "name-container" "stage $n: hostname"
		expect_match "$output" "touched-42" "stage $n: touch /hello"
		expect_match "$output" "# " "stage $n: the prompt of an interactive root shell"
		[[ ! -e $IMG/hello ]] || fail "stage $n: /hello reached the image"
	done
}

@test "stage4: --verbose traces the overlay, pivot_root, /dev and /proc" {
	for n in $(stages_from 4); do
		ctr "$n" --verbose true
		expect_status 0
		expect_match "$stderr" "stage$n: mount overlay" "stage $n trace"
		expect_match "$stderr" "stage$n: pivot_root" "stage $n trace"
		expect_match "$stderr" "stage$n: mount a minimal /dev" "stage $n trace"
		expect_match "$stderr" "stage$n: mount proc" "stage $n trace"
	done
}

@test "stage4: the command gets the usual PATH, not the host's, and the image has a loader cache" {
	for n in $(stages_from 4); do
		# shellcheck disable=SC2016 # expanded by the container's sh
		PATH=/host/only/bin:$PATH ctr "$n" sh -c 'echo "$PATH"; test -s /etc/ld.so.cache && echo cache'
		expect_status 0
		expect_eq "$output" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cache" "stage $n"
	done
}

# ---- promises an attacker tests: no host fd, path or device gets in ----

@test "stage4: --init's PID 1 holds no fd on a host directory: /proc/1/fd/3/../../.. is not the host's /" {
	local src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	for n in $(stages_from 4); do
		# With --init, PID 1 is the tool's own code and never execs: every
		# fd it opened on the image, the layer or a volume would be a way
		# back to the host's tree.
		ctr "$n" --init --rootfs "$IMG" --volume "$src:/v" --layer "$BATS_TEST_TMPDIR/layer" \
			sh -c 'ls /proc/1/fd; touch /proc/1/fd/3/../../../ESCAPED'
		[[ $status -ne 0 ]] || fail "stage $n: writing through /proc/1/fd/3 worked"
		expect_eq "$(echo "$output" | paste -sd ' ')" "0 1 2" "stage $n: the fds of PID 1"
		[[ ! -e /ESCAPED && ! -e $BATS_TEST_TMPDIR/ESCAPED ]] || fail "stage $n: a file was created on the host"
		rm -rf "$BATS_TEST_TMPDIR/layer"
	done
}

@test "stage4: :ro holds for every mount below the volume, not only its top" {
	local src=$BATS_TEST_TMPDIR/src fallback
	mkdir -p "$src/sub"
	mount -t tmpfs cfs-sub "$src/sub"
	echo original >"$src/sub/file"
	for n in $(stages_from 4); do
		# The second pass is the fallback for kernels before 5.12: each
		# mount remounted on its own, as without mount_setattr(2).
		for fallback in "" mount_setattr; do
			CONTAINER_FORCE_FALLBACK=$fallback ctr "$n" --rootfs "$IMG" --volume "$src:/v:ro" \
				sh -c 'cat /v/sub/file; echo x >/v/sub/new; echo y >/v/sub/file; echo z >/v/new'
			expect_eq "$output" original "stage $n ($fallback): reading below the volume"
			expect_eq "$(grep -c 'Read-only file system' <<<"$stderr")" 3 "stage $n ($fallback): the three writes"
			expect_eq "$(entries "$src") / $(entries "$src/sub")" "sub / file" "stage $n ($fallback): the host directories"
			expect_eq "$(cat "$src/sub/file")" original "stage $n ($fallback): the host file"
		done
	done
	umount "$src/sub"
}

@test "stage4: a volume on /tmp keeps its host directory's mode" {
	local src=$BATS_TEST_TMPDIR/src
	mkdir "$src"
	chmod 0750 "$src"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" --volume "$src:/tmp" stat -c %a /tmp
		expect_status 0
		expect_eq "$output" 750 "stage $n: /tmp inside"
		expect_eq "$(stat -c %a "$src")" 750 "stage $n: the host directory's mode"
	done
}

@test "stage4: an image whose /proc, /dev, /tmp or /sys is a symlink or a file exits 125 and mounts nothing" {
	local img=$BATS_TEST_TMPDIR/hostile target kind
	for n in $(stages_from 4); do
		for target in proc dev tmp sys; do
			for kind in symlink file; do
				rm -rf "$img"
				copy_image "$img"
				rm -rf "${img:?}/$target"
				if [[ $kind == symlink ]]; then
					ln -s ../../../../etc "$img/$target"
				else
					touch "$img/$target"
				fi
				ctr "$n" --rootfs "$img" true
				expect_status 125
				expect_one_line_error
				expect_match "$stderr" "/$target in the image is (a symlink|not a directory)" "stage $n: /$target as a $kind"
			done
		done
	done
	rm -rf "$img"
}

@test "stage4: a failed run removes the --layer directory it made, and a layer in use is refused" {
	local layer=$BATS_TEST_TMPDIR/new-layer
	for n in $(stages_from 4); do
		# /etc/passwd is a file in the image: the volume fails late, in
		# the container, after the tool made the layer.
		ctr "$n" --rootfs "$IMG" --layer "$layer" --volume "$BATS_TEST_TMPDIR:/etc/passwd" true
		expect_status 125
		expect_one_line_error
		expect_nothing_created "stage $n: a run that failed in the container"
		# A layer that existed keeps its directories and its contents.
		mkdir -p "$layer/upper"
		echo kept >"$layer/upper/mine"
		ctr "$n" --rootfs "$IMG" --layer "$layer" --volume "$BATS_TEST_TMPDIR:/etc/passwd" true
		expect_status 125
		expect_eq "$(entries "$layer")" upper "stage $n: the layer's own directories"
		expect_eq "$(cat "$layer/upper/mine")" kept "stage $n: the layer's file"
		# Two overlays on one upper layer would corrupt each other.
		ctr_bg "$n" --rootfs "$IMG" --layer "$layer" sh -c 'echo ready; exec sleep 1000'
		wait_for 50 bg_output_has ready
		ctr "$n" --rootfs "$IMG" --layer "$layer" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "in use by another container" "stage $n: the second run"
		kill_container
		rm -rf "$layer"
	done
}

@test "stage4: a --layer the tool made and the container never used is removed: a copy-up before a failed setup, a command not found" {
	# An image whose /tmp is not 1777: the setup's chmod copies /tmp up
	# into the new layer before the volume onto a file fails.
	local img=$BATS_TEST_TMPDIR/img-tmp layer=$BATS_TEST_TMPDIR/new-layer
	copy_image "$img"
	chmod 755 "$img/tmp"
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$img" --layer "$layer" --volume "$BATS_TEST_TMPDIR:/etc/passwd" true
		expect_status 125
		expect_one_line_error
		[[ ! -e $layer ]] || fail "stage $n: a failed setup left $layer: $(find "$layer")"
		ctr -127 "$n" --rootfs "$IMG" --layer "$layer" no-such-command
		expect_status 127
		[[ ! -e $layer ]] || fail "stage $n: a command not found left $layer: $(find "$layer")"
		# Used, it stays: the user's data.
		ctr "$n" --rootfs "$IMG" --layer "$layer" touch /mine
		expect_status 0
		[[ -e $layer/upper/mine ]] || fail "stage $n: the used layer is gone"
		rm -rf "$layer"
	done
	rm -rf "$img"
}

@test "stage4: a SIGTERM while the tool makes the --layer directory does not end it midway" {
	# slow_mkdir.so holds the tool 1 s in the mkdir of DIR/work, after
	# stage 5 made its cgroup, and says so; the tool gets SIGTERM inside
	# that window.  A tool that blocks its signals only later dies there,
	# and leaves the layer and the cgroup every time.  Blocked, the signal
	# waits, and goes to the container, whose PID 1 ignores it.
	local layer=$BATS_TEST_TMPDIR/new-layer before
	before=$(cgroup_tree)
	for n in $(stages_from 4); do
		LD_PRELOAD=$REPO/tests/shims/bin/slow_mkdir.so CFS_MKDIR_DELAY_MS=1000 CFS_MKDIR_SLOW_SUFFIX=/new-layer/work \
			ctr_bg "$n" --rootfs "$IMG" --layer "$layer" true
		wait_for 50 bg_output_has "slow_mkdir: holding the tool" ||
			fail "stage $n: the tool never reached the mkdir"
		kill -TERM "$bg_pid"
		wait_bg
		expect_status 0
		expect_no_new_cgroups "$before" "stage $n"
		expect_no_leftovers "stage $n"
		# true wrote nothing: the layer the tool made goes too.
		[[ ! -e $layer ]] || fail "stage $n: the unused $layer is left: $(entries "$layer")"
	done
}

@test "stage4: another user's flock on a --layer directory does not refuse the run" {
	# The layer's lock is a file only its owner can open, not the
	# directory, which anyone who can read it can lock.
	local pub layer
	pub=$(mktemp -d /tmp/layer-lock.XXXXXX)
	chmod 755 "$pub"
	layer=$pub/layer
	mkdir -m 755 "$layer"
	for n in $(stages_from 4); do
		attacker_locks "$layer"
		ctr "$n" --rootfs "$IMG" --layer "$layer" sh -c "echo $n >>/f"
		expect_status 0
		end_attacker
	done
	expect_eq "$(paste -sd ' ' "$layer/upper/f")" "$(stages_from 4 | paste -sd ' ')" "what the runs wrote"
	rm -rf "$pub"
}

@test "stage4: a volume on /, under /proc or /dev (but for /dev/shm), twice on one path, or inside another volume exits 125" {
	local src=$BATS_TEST_TMPDIR/src spec
	mkdir "$src"
	for n in $(stages_from 4); do
		for spec in "$src:/" "$src:/proc" "$src:/proc/sys" "$src:/dev" "$src://dev/pts/" "$src:/dev/shm/x" "$src:/dev/shmx"; do
			ctr "$n" --rootfs "$IMG" --volume "$spec" true
			expect_status 125
			expect_one_line_error
		done
		ctr "$n" --rootfs "$IMG" --volume "$src:/data" --volume "$BATS_TEST_TMPDIR:/data/" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "already mounted on /data" "stage $n: a second volume on /data"
		# A missing mount point inside a volume would be made in the
		# host's directory: refused, and the host directory unchanged.
		ctr "$n" --rootfs "$IMG" --volume "$src:/data" --volume "$BATS_TEST_TMPDIR:/data/sub" true
		expect_status 125
		expect_one_line_error
		expect_eq "$(ls -A "$src")" "" "stage $n: the first volume's host directory"
	done
}

@test "stage4: a --layer path too long to hold its upper directory exits 125 and creates nothing" {
	# 4092 characters: a path the kernel takes, but not with "/upper".
	local long=$BATS_TEST_TMPDIR last
	while ((${#long} < 3800)); do
		long=$long/$(printf 'd%.0s' {1..200})
	done
	mkdir -p "$long"
	last=$((4092 - ${#long} - 1))
	long=$long/$(printf 'l%.0s' $(seq "$last"))
	for n in $(stages_from 4); do
		ctr "$n" --rootfs "$IMG" --layer "$long" true
		expect_status 125
		expect_one_line_error
		expect_match "$stderr" "too long" "stage $n"
		[[ ! -e $long ]] || fail "stage $n: the layer was created"
	done
	rm -rf "${BATS_TEST_TMPDIR:?}/dddd"*
}
