#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr, $status: set by run and helpers.bash
# make import (scripts/import.sh): a root filesystem tarball becomes an
# image directory that works for whoever unpacked it.  Root keeps the
# tarball's owners; nobody with subordinate ids gets them shifted into the
# range, as the stages map it rootless; nobody without gets every file.
# A hostile tarball (a name with .., an absolute name, a write through a
# symbolic link of the archive, a hard link or a symbolic link out of the
# image) is refused whole, and nothing is written; device nodes are left
# out, and it says so.  The tarballs are made here, from the default image.

load helpers

setup() {
	common_setup
	# A directory nobody can reach and write: BATS_TEST_TMPDIR's parents
	# are root's alone.  Removed before teardown's look at /tmp.
	SCRATCH=$(mktemp -d /tmp/import.XXXXXX)
	chmod 755 "$SCRATCH"
	mkdir "$SCRATCH/nobody"
	chown 65534:65534 "$SCRATCH/nobody"
}

teardown() {
	rm -rf "$SCRATCH"
	common_teardown
}

IMPORT=$REPO/scripts/import.sh
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# nobody_ctr N ARGS..., subids_ctr N ARGS...: ctr as nobody, without and
# with subordinate ids.
nobody_ctr() {
	# shellcheck disable=SC2034 # read by ctr
	local AS_USER=("${NOBODY[@]}")
	ctr "$@"
}
subids_ctr() {
	# shellcheck disable=SC2034
	local AS_USER=(with_subids "${NOBODY[@]}")
	ctr "$@"
}

# import [AS...] -- TARBALL DEST: scripts/import.sh, run by AS (nothing: root).
import() {
	local as=()
	while [[ $1 != -- ]]; do
		as+=("$1")
		shift
	done
	shift
	run --separate-stderr "${as[@]}" "$IMPORT" "$@"
	log_run "${as[*]:+${as[*]} }scripts/import.sh $*"
}

# good_tarball FILE [COMPRESSOR]: the default image as one tarball, as
# `docker export` writes it, with what a real image has and the default
# one lacks: a directory and a file of other owners (apt's, say), a setuid
# file, a fifo, a hard link, an absolute symbolic link, and device nodes.
good_tarball() {
	local extra=$BATS_TEST_TMPDIR/extra
	rm -rf "$extra"
	mkdir -p "$extra/var/cache/apt" "$extra/dev" "$extra/etc"
	chown 100:101 "$extra/var/cache/apt"
	chmod 750 "$extra/var/cache/apt"
	echo owned >"$extra/var/cache/apt/file"
	chown 5:7 "$extra/var/cache/apt/file"
	cp "$REPO/rootfs/bin/true" "$extra/etc/suid" # not in usr: rootfs's bin is a link
	chmod 4755 "$extra/etc/suid"
	mkfifo "$extra/etc/fifo"
	echo same >"$extra/etc/one"
	ln "$extra/etc/one" "$extra/etc/two"
	ln -s /usr/share/zoneinfo/UTC "$extra/etc/localtime"
	mknod "$extra/dev/null" c 1 3
	mknod -m 600 "$extra/dev/sda" b 8 0
	tar -C "$REPO/rootfs" --exclude=./.built -cf "$1.plain" . &&
		tar -C "$extra" -rf "$1.plain" ./var/cache/apt ./etc ./dev/null ./dev/sda || return 1
	if [[ -n ${2:-} ]]; then
		"$2" -1 -c <"$1.plain" >"$1" && rm "$1.plain" # -1: fast, the test is not about size
	else
		mv "$1.plain" "$1"
	fi
}

# The owner, mode and type of the files good_tarball adds, in DIR.
extras_state() {
	(cd "$1" && stat -c '%n %u:%g %a %F' var/cache/apt var/cache/apt/file etc/suid etc/fifo etc/localtime &&
		stat -c '%n %h' etc/one etc/two && readlink etc/localtime)
}

@test "import: as root, a tarball (plain, gzip, xz, zstd) becomes an image with its owners and modes; device nodes are left out, and it says so" {
	local z dest
	for z in "" gzip xz zstd; do
		# The VM has no compressors; CI's host has them all.
		if [[ -n $z ]] && ! command -v "$z" >/dev/null; then
			log "$z is not installed: a $z tarball is not tried"
			continue
		fi
		good_tarball "$SCRATCH/image.tar${z:+.$z}" "$z"
		dest=$SCRATCH/img-${z:-plain}
		import -- "$SCRATCH/image.tar${z:+.$z}" "$dest"
		expect_status 0
		expect_match "$output" "\(${z:-plain}, [0-9]+ entries\) unpacked into $dest as root: owners as in the tarball" "${z:-plain}: what it did"
		expect_match "$output" "left out 2 device nodes \(./dev/null ./dev/sda\)" "${z:-plain}: the devices"
		expect_eq "$(extras_state "$dest")" "$(printf '%s\n' 'var/cache/apt 100:101 750 directory' \
			'var/cache/apt/file 5:7 644 regular file' 'etc/suid 0:0 4755 regular file' \
			'etc/fifo 0:0 644 fifo' 'etc/localtime 0:0 777 symbolic link' \
			'etc/one 2' 'etc/two 2' /usr/share/zoneinfo/UTC)" "${z:-plain}: owners, modes, links"
		[[ ! -e $dest/dev/null && ! -e $dest/dev/sda ]] || fail "${z:-plain}: a device node was made"
		diff <(cd "$REPO/rootfs" && find . ! -name .built -printf '%p %y %m %U:%G %l\n' | sort) \
			<(cd "$dest" && find . -printf '%p %y %m %U:%G %l\n' | sort | grep -v -e '^./var/cache' \
				-e '^./etc/\(suid\|fifo\|one\|two\|localtime\) ') >&2 ||
			fail "${z:-plain}: the image differs from the default one it came from"
	done
	ctr 4 --rootfs "$SCRATCH/img-plain" sh -c 'cat /var/cache/apt/file && ls /dev'
	expect_status 0
	expect_match "$output" "^owned" "stage 4 runs in the imported image"
}

@test "import: as nobody without subordinate ids, every file is nobody's, and a rootless container writes /etc" {
	good_tarball "$SCRATCH/image.tar"
	chmod 644 "$SCRATCH/image.tar"
	local dest=$SCRATCH/nobody/img
	import "${NOBODY[@]}" -- "$SCRATCH/image.tar" "$dest"
	expect_status 0
	expect_match "$output" "as nobody, without subordinate ids: every file is yours \(uid 65534\), root in a rootless container; owners up to uid 100 and gid 101 are lost" "what it did"
	expect_eq "$(find "$dest" ! -user 65534 -o ! -group 65534 | head -n 3)" "" "files not nobody's"
	[[ ! -e $dest/dev/null ]] || fail "a device node was made"
	for n in $(stages_from 4); do
		((n < 5)) || continue # stage 5 rootless needs a delegated cgroup
		nobody_ctr "$n" --rootfs "$dest" sh -c 'stat -c %u /etc/passwd && echo x >/etc/new && echo written'
		expect_status 0
		expect_eq "$output" "$(printf '0\nwritten')" "stage $n: /etc is root's inside, and writable"
	done
}

# The VM's image has no newuidmap; the host's make check runs this.
# bats test_tags=toolchain
@test "import: as nobody with subordinate ids, owners shift into the range as the stages map it, and root inside owns /etc again" {
	command -v newuidmap >/dev/null || fail "newuidmap is not installed (apt-get install uidmap)"
	good_tarball "$SCRATCH/image.tar.xz" xz
	chmod 644 "$SCRATCH/image.tar.xz"
	local dest=$SCRATCH/nobody/img
	import with_subids "${NOBODY[@]}" -- "$SCRATCH/image.tar.xz" "$dest"
	expect_status 0
	expect_match "$output" "as nobody, with subordinate ids: owner 0 is you \(uid 65534\), owners from 1 up are uids 100000 and up, and groups gids 200000 and up" "what it did"
	# uid N inside is 100000+N-1 outside.
	expect_eq "$(stat -c %u:%g "$dest/etc/passwd" "$dest/var/cache/apt" "$dest/var/cache/apt/file")" \
		"$(printf '%s\n' 65534:65534 100099:200100 100004:200006)" "the owners on the host"
	expect_eq "$(stat -c %a "$dest/etc/suid" "$dest/var/cache/apt")" "$(printf '4755\n750')" "the modes"
	[[ ! -e $dest/dev/null && ! -e $dest/dev/sda ]] || fail "a device node was made"
	for n in $(stages_from 4); do
		((n < 5)) || continue
		subids_ctr "$n" --rootfs "$dest" \
			sh -c 'stat -c %u:%g /etc/passwd /var/cache/apt /var/cache/apt/file && echo x >/etc/new && echo written'
		expect_status 0
		expect_eq "$output" "$(printf '%s\n' 0:0 100:101 5:7 written)" "stage $n: the owners inside, and /etc writable"
	done
	# Owners the range cannot hold: refused, nothing made.
	local big=$BATS_TEST_TMPDIR/big
	mkdir "$big"
	touch "$big/f"
	chown 70000:0 "$big/f"
	tar -C "$big" -cf "$SCRATCH/big.tar" .
	chmod 644 "$SCRATCH/big.tar"
	import with_subids "${NOBODY[@]}" -- "$SCRATCH/big.tar" "$SCRATCH/nobody/big"
	expect_status 1
	expect_match "$stderr" "owners up to uid 70000 and gid 0, beyond your subordinate range \(1-65536 and 1-65536\): nothing unpacked" "the refusal"
	[[ ! -e $SCRATCH/nobody/big ]] || fail "made the image anyway"
}

# hostile NAME: a tarball $SCRATCH/NAME.tar whose members try to leave the
# image, each in its own way; each writes $SCRATCH/victim (or reads
# /etc/shadow) if it gets out.
hostile() {
	local src=$BATS_TEST_TMPDIR/src-$1
	mkdir -p "$src/sub" "$src/two/link"
	echo pwned >"$src/victim"
	cd "$src" || return 1
	case $1 in
	dotdot) tar -cPf "$SCRATCH/$1.tar" --transform="s,^victim,../victim," victim ;;
	absolute) tar -cPf "$SCRATCH/$1.tar" --transform="s,^victim,$SCRATCH/victim," victim ;;
	symlink-then-file) # link -> SCRATCH, then link/victim: the classic escape
		ln -s "$SCRATCH" link
		cp victim two/link/
		tar -cf "$SCRATCH/$1.tar" link -C two link/victim
		;;
	inner-link) # even a link that stays inside is not written through
		ln -s sub up
		cp victim sub/
		tar -cf "$SCRATCH/$1.tar" up --transform='s,^sub/,up/,' sub/victim
		;;
	hardlink-out)
		ln victim hard
		tar -cPf "$SCRATCH/$1.tar" victim hard --transform='flags=h;s,^victim$,/etc/shadow,'
		;;
	hardlink-dotdot)
		ln victim hard
		tar -cPf "$SCRATCH/$1.tar" victim hard --transform='flags=h;s,^victim$,../../etc/shadow,'
		;;
	link-above-root) ln -s ../../../etc etc && tar -cf "$SCRATCH/$1.tar" etc ;;
	esac
	cd - >/dev/null || return 1
}

@test "import: a tarball with a member that would land outside the image is refused whole: .., absolute, through a link, hard links out, a link above the root" {
	local name why
	while read -r name why; do
		rm -rf "$SCRATCH/victim" "$SCRATCH/$name.tar"
		hostile "$name"
		import -- "$SCRATCH/$name.tar" "$SCRATCH/img-$name"
		expect_status 1
		expect_match "$stderr" "import: refused: .*$why" "$name: the reason"
		expect_match "$stderr" "nothing unpacked: a member would land outside" "$name: the last line"
		[[ ! -e $SCRATCH/img-$name ]] || fail "$name: made $SCRATCH/img-$name"
		[[ ! -e $SCRATCH/victim ]] || fail "$name: wrote $SCRATCH/victim"
		# The same tarball as nobody: refused before any user namespace.
		chmod 644 "$SCRATCH/$name.tar"
		import "${NOBODY[@]}" -- "$SCRATCH/$name.tar" "$SCRATCH/nobody/img-$name"
		expect_status 1
		[[ ! -e $SCRATCH/nobody/img-$name ]] || fail "$name as nobody: made the image"
	done <<-'EOF'
		dotdot a name with \.\. in it
		absolute "/tmp/import\.[^"]*/victim": an absolute name
		symlink-then-file "link/victim": goes through the symbolic link "link" of the tarball
		inner-link "up/victim": goes through the symbolic link "up"
		hardlink-out "hard": a hard link to "/etc/shadow", outside the image
		hardlink-dotdot "hard": a hard link to "\.\./\.\./etc/shadow", outside the image
		link-above-root "etc": a symbolic link to "\.\./\.\./\.\./etc", above the image's root
	EOF
}

@test "import: an OCI layer's whiteouts are left out, and it says so" {
	local src=$BATS_TEST_TMPDIR/layer
	mkdir -p "$src/etc"
	echo new >"$src/etc/motd"
	touch "$src/etc/.wh.issue" "$src/etc/.wh..wh..opq"
	tar -C "$src" -cf "$SCRATCH/layer.tar" etc
	import -- "$SCRATCH/layer.tar" "$SCRATCH/img"
	expect_status 0
	expect_match "$output" "left out 2 whiteouts \(etc/.wh..wh..opq etc/.wh.issue\)|left out 2 whiteouts \(etc/.wh.issue etc/.wh..wh..opq\)" "what it said"
	expect_eq "$(entries "$SCRATCH/img/etc")" motd "what it unpacked"
}

@test "import: misuse is refused with one line: no arguments, a missing file, not a tarball, a DEST that is not empty" {
	import --
	expect_status 2
	expect_match "$stderr" "give a tarball and a new directory: make import TAR=FILE DEST=DIR" "no arguments"
	import -- "$SCRATCH/none.tar" "$SCRATCH/img"
	expect_status 1
	expect_eq "$stderr" "import: $SCRATCH/none.tar: not a readable file" "a missing file"
	echo "not a tarball" >"$SCRATCH/text"
	import -- "$SCRATCH/text" "$SCRATCH/img"
	expect_status 1
	expect_match "$stderr" "not a tar archive" "not a tarball"
	good_tarball "$SCRATCH/image.tar"
	mkdir "$SCRATCH/full"
	touch "$SCRATCH/full/keep"
	import -- "$SCRATCH/image.tar" "$SCRATCH/full"
	expect_status 1
	expect_eq "$stderr" "import: $SCRATCH/full: not empty: import into a new directory" "a full DEST"
	expect_eq "$(entries "$SCRATCH/full")" keep "the full DEST after"
	[[ ! -e $SCRATCH/img ]] || fail "made $SCRATCH/img"
	# An empty one is fine.
	mkdir "$SCRATCH/empty"
	import -- "$SCRATCH/image.tar" "$SCRATCH/empty"
	expect_status 0
	# make import says what it needs.
	run --separate-stderr make -s -C "$REPO" import
	log_run "make import"
	expect_match "$stderr" "make import TAR=FILE DEST=DIR" "make import alone"
	run --separate-stderr make -s -C "$REPO" import TAR="$SCRATCH/image.tar" DEST="$SCRATCH/by-make"
	log_run "make import TAR=... DEST=..."
	expect_status 0
	[[ -x $SCRATCH/by-make/bin/sh ]] || fail "make import made no image"
}
