#!/usr/bin/env bash
# mkrootfs.sh - build the default container image from the host's own programs.
#
# Usage: scripts/mkrootfs.sh [OPTIONS] DEST [EXTRA_PROG...]
#
#   DEST           the image directory to create, or to replace if it is
#                  empty or an image this script made (e.g. rootfs)
#   EXTRA_PROG...  files copied into DEST/usr/local/bin, dynamic ones with
#                  their libraries (default: the built test programs of
#                  tests/progs/bin, so that an image made with only --add
#                  still has them)
#   --add PROG     also copy the host program PROG (a name looked up in
#                  /usr/sbin, /usr/bin, /sbin, /bin, or an absolute path) at
#                  its host path, with its libraries and a script's #!
#                  interpreter.  An absolute path may also name a shared
#                  object loaded with dlopen(3), which ldd cannot see (a PAM
#                  module, a plugin).  Repeatable.
#   --add-tree DIR also copy the host directory DIR at its path.  Repeatable.
#   -v, --verbose  say what is copied and which optional programs the host lacks
#   -h, --help     print this help
#
# Nothing is downloaded: a fixed set of programs (bash, coreutils, ps,
# mount, ...) is copied at its host paths with every library ldd lists,
# under the host's merged-/usr links (/bin -> usr/bin), then a few /etc
# files and the stages' mount points.  It is built beside DEST and renamed
# into place, never half built; DEST/.built, the Makefile's target, is last.
#
# Example: scripts/mkrootfs.sh --add vim rootfs   (make rootfs ADD=vim)
#
# See: chroot(8), ld.so(8), ldd(1), file-hierarchy(7), docs/04-rootfs.md

set -euo pipefail
# Byte semantics for the ELF check, and a stable order for everything else.
export LC_ALL=C
umask 022

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The marker of an image this script made, which it may replace.
IMAGE_ID=containers-from-scratch
SEARCH_DIRS=(/usr/sbin /usr/bin /sbin /bin)

# The image is useless without these: fail if the host lacks one.
REQUIRED_PROGS=(bash sh ls ps hostname mount id sleep cat)
# What a student may type; copied when the host has them.
OPTIONAL_PROGS=(
	# coreutils
	echo printf test '[' true false pwd env id whoami groups logname
	ls touch mkdir rmdir rm cp mv ln chmod chown chgrp mknod mkfifo
	readlink realpath stat df du sync truncate mktemp basename dirname
	cat head tail wc tr cut sort uniq tee tac nl od yes dd seq expr
	date uname nproc nice nohup timeout tty stty sleep md5sum sha256sum
	# other basics
	grep sed awk mawk find xargs which less more clear tput getent
	# processes: procps, psmisc, util-linux, sysvinit-utils
	ps kill top free pgrep pkill pidof pmap uptime watch pstree killall
	prlimit setsid setpriv taskset flock
	# namespaces, mounts and capabilities
	hostname mount umount findmnt mountpoint lsns unshare nsenter chroot
	pivot_root capsh nologin
)
# Terminal descriptions, so that bash line editing, less and top work.
TERMINFO_DIRS=(/etc/terminfo /lib/terminfo /usr/share/terminfo)
TERMINALS=(dumb linux vt100 vt220 ansi xterm xterm-color xterm-256color
	screen screen-256color tmux tmux-256color rxvt rxvt-unicode)
# The C.UTF-8 locale (400 KiB), so that LANG=C.UTF-8 from the host works.
LOCALE_DIR=/usr/lib/locale/C.utf8
# Top-level directories that a merged-/usr host makes symlinks into /usr.
TOP_LINKS=(/bin /sbin /lib /lib64)
# Mount points and scratch directories the stages expect.
IMAGE_DIRS=(proc dev sys tmp root home mnt run var/tmp etc usr/local/bin)

verbose=0
dest="" work="" old=""
extras=() adds=() trees=()

declare -A copied=()  # host path -> 1: everything queued for the image
declare -A checked=() # program file -> 1: its runtime needs are queued
declare -A realdir=() # cache of realpath for directories
files=()              # host paths to copy, with canonical directories
elves=()              # ELF programs whose libraries ldd should list

note() { ((!verbose)) || echo "$PROG: $*" >&2; }

# Remove the half-built image, or the replaced old one, on any exit.
# --one-file-system: never follow a mount that someone made inside it.
cleanup() { rm -rf --one-file-system -- "$work" "$old"; }

parse_args() {
	local positional=() prog

	while (($#)); do
		case $1 in
		-h | --help) help_if_asked "$1" ;;
		-v | --verbose) verbose=1 ;;
		--add=*) adds+=("${1#*=}") ;;
		--add-tree=*) trees+=("${1#*=}") ;;
		--add | --add-tree)
			(($# >= 2)) || die "$1 needs an argument; try --help"
			set -- "$1=$2" "${@:3}"
			continue
			;;
		--)
			shift
			positional+=("$@")
			break
			;;
		-*) die "unknown option $1; try --help" ;;
		*) positional+=("$1") ;;
		esac
		shift
	done
	((${#positional[@]} >= 1)) || die "no DEST directory given; try --help"
	# Absolute and without "..", so that its parent and name are real.
	dest=$(realpath -m -- "${positional[0]}")
	[[ $dest != / ]] || die "refusing to replace /"
	extras=("${positional[@]:1}")
	if ((${#extras[@]} == 0)); then
		for prog in "$repo"/tests/progs/bin/*; do
			[[ ! -f $prog ]] || extras+=("$prog")
		done
	fi
}

# The directory that $1 really is, with every symlink resolved, in REPLY.
canonical_dir() {
	[[ -n ${realdir[$1]+set} ]] || realdir[$1]=$(realpath -e -- "$1")
	REPLY=${realdir[$1]}
}

# Queue host path $1 for the same path in the image, its directory resolved
# (the image has the same top-level symlinks); a symlink is kept and its target
# queued too, so that sh -> dash and libfoo.so.1 -> libfoo.so.1.2.3 work.
queue_path() {
	local path=$1 dir target

	[[ -e $path ]] || die "$path: no such file"
	[[ $path == /* ]] || path=$PWD/$path
	canonical_dir "${path%/*}/"
	dir=${REPLY%/}
	path=$dir/${path##*/}
	[[ -z ${copied[$path]+set} ]] || return 0
	copied[$path]=1
	files+=("$path")
	[[ -L $path ]] || return 0
	target=$(readlink -- "$path")
	[[ $target == /* ]] || target=$dir/$target
	queue_path "$target"
}

# Is $1 an ELF file?  Read the 4-byte magic without starting a process.
is_elf() {
	local magic=""

	IFS= read -r -n 4 magic <"$1" || true
	[[ $magic == $'\x7fELF' ]]
}

# Program $1 on the host, in REPLY: a path as given, or a name in SEARCH_DIRS.
find_prog() {
	local dir

	if [[ $1 == */* ]]; then
		# A shared object loaded with dlopen(3) need not be executable.
		[[ -f $1 ]] && { [[ -x $1 ]] || is_elf "$1"; } || return 1
		REPLY=$1
		return 0
	fi
	for dir in "${SEARCH_DIRS[@]}"; do
		REPLY=$dir/$1
		[[ ! -f $REPLY || ! -x $REPLY ]] || return 0
	done
	return 1
}

# Queue what program file $1 needs to run: a dynamic ELF file its libraries,
# a script its interpreter ("#!/usr/bin/env bash" needs env and bash).
need_runtime() {
	local file line interp arg

	file=$(realpath -e -- "$1")
	[[ -z ${checked[$file]+set} ]] || return 0
	checked[$file]=1
	if is_elf "$file"; then
		elves+=("$file")
		return 0
	fi
	IFS= read -r line <"$file" || true
	[[ $line == '#!'* ]] || return 0
	read -r interp arg _ <<<"${line#'#!'}"
	[[ -n $interp ]] || return 0
	find_prog "$interp" || die "$1: interpreter $interp not found"
	add_program "$REPLY"
	if [[ ${interp##*/} == env && -n $arg && $arg != -* ]]; then
		find_prog "$arg" || die "$1: interpreter $arg not found"
		add_program "$REPLY"
	fi
}

# Copy host program $1 (a path) at its own path, with what it needs to run.
add_program() {
	note "program $1"
	queue_path "$1"
	need_runtime "$1"
}

queue_programs() {
	local name

	for name in "${REQUIRED_PROGS[@]}"; do
		find_prog "$name" ||
			die "required program $name not found in ${SEARCH_DIRS[*]}"
		add_program "$REPLY"
	done
	for name in "${OPTIONAL_PROGS[@]}"; do
		if find_prog "$name"; then
			add_program "$REPLY"
		else
			note "skipping $name: not on this host"
		fi
	done
	for name in "${adds[@]}"; do
		find_prog "$name" || die "--add $name: program not found"
		add_program "$REPLY"
	done
	# The extra programs are copied by name into /usr/local/bin: what
	# they need is found at their path here (a static one needs nothing).
	for name in "${extras[@]}"; do
		[[ -f $name ]] || die "$name: no such file"
		need_runtime "$name"
	done
}

# Queue the libraries that one ldd run lists for all the programs, and the
# loader itself ("/lib64/ld-linux-x86-64.so.2 (0x...)"); the vDSO is the kernel's.
queue_libraries() {
	local line file="" first arrow lib

	((${#elves[@]})) || return 0
	while IFS= read -r line; do
		read -r first arrow lib _ <<<"$line"
		if [[ $line != $'\t'* ]]; then
			file=${line%:}
		elif [[ $arrow == "=>" && $lib == not ]]; then
			die "${file:-${elves[0]}}: library $first not found"
		elif [[ $arrow == "=>" && $lib == /* ]]; then
			queue_path "$lib"
		elif [[ $arrow != "=>" && $first == /* ]]; then
			queue_path "$first"
		fi
	done < <(ldd "${elves[@]}" 2>&1 || true)
}

queue_support_files() {
	local term dir

	for term in "${TERMINALS[@]}"; do
		for dir in "${TERMINFO_DIRS[@]}"; do
			[[ -f $dir/${term:0:1}/$term ]] || continue
			queue_path "$dir/${term:0:1}/$term"
			break
		done
	done
	[[ ! -d $LOCALE_DIR ]] || trees+=("$LOCALE_DIR")
}

# The skeleton: merged-/usr symlinks like the host's, and the mount points.
make_skeleton() {
	local link target

	for link in "${TOP_LINKS[@]}"; do
		[[ -L $link ]] || continue
		target=$(readlink -- "$link")
		ln -s -- "$target" "$work$link"
		[[ $target == /* ]] || mkdir -p -- "$work/$target"
	done
	mkdir -p -- "${IMAGE_DIRS[@]/#/"$work"/}"
	chmod 1777 "$work/tmp" "$work/var/tmp"
	chmod 0700 "$work/root"
}

copy_files() {
	local tree extra

	# --parents recreates each host path, whose directories are canonical:
	# no top-level symlink is replaced by a directory.  Without
	# --preserve=mode, set-user-ID bits (mount) are dropped: none is needed.
	note "copying ${#files[@]} files"
	cp -P --parents --preserve=timestamps -- "${files[@]}" "$work/"
	for tree in "${trees[@]}"; do
		[[ -d $tree ]] || die "--add-tree $tree: not a directory"
		canonical_dir "$tree"
		note "tree $REPLY"
		cp -R -P --parents --preserve=timestamps -- "$REPLY" "$work/"
	done
	for extra in "${extras[@]}"; do
		note "extra ${extra##*/} -> /usr/local/bin"
		install -p -m 0755 -- "$extra" "$work/usr/local/bin/"
	done
}

write_etc() {
	local etc=$work/etc host_os=unknown

	[[ ! -r /etc/os-release ]] || host_os=$(. /etc/os-release && echo "${PRETTY_NAME:-unknown}")
	cat >"$etc/os-release" <<EOF
NAME="containers from scratch"
ID=$IMAGE_ID
PRETTY_NAME="containers-from-scratch image (programs copied from $host_os)"
EOF
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
		'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$etc/group"
	printf '%s\n' $'127.0.0.1\tlocalhost' $'127.0.1.1\tcontainer' \
		$'::1\t\tlocalhost ip6-localhost ip6-loopback' >"$etc/hosts"
	{
		echo '# Only local files: the image has no other name service.'
		printf '%-10s files\n' passwd: group: shadow: hosts: networks: protocols: services:
	} >"$etc/nsswitch.conf"
	echo '# The container tool mounts /proc, /sys and /dev itself.' >"$etc/fstab"
	# mount(8) and df(1) read the kernel's table, as on any modern system.
	ln -s ../proc/self/mounts "$etc/mtab"
	cat >"$etc/profile" <<'EOF'
# Login shells: the search path, and a prompt that shows where you are.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
if [ -n "${BASH_VERSION-}" ]; then
	. /etc/bash.bashrc
elif [ "$(id -u)" -eq 0 ]; then
	PS1='# '
else
	PS1='$ '
fi
EOF
	# Debian's bash reads this for every interactive shell, so "container
	# run /bin/bash" prompts with root@container:/# too.
	cat >"$etc/bash.bashrc" <<'EOF'
# Interactive bash only.
[ -z "${PS1-}" ] && return
PS1='\u@\h:\w\$ '
EOF
}

# Refuse to replace a directory that is not ours, or that has something
# mounted inside it (a volume's contents would be deleted with it).
check_dest() {
	local abs mountpoint _

	[[ ! -e $dest || -d $dest ]] || die "$dest exists and is not a directory"
	[[ -d $dest ]] || return 0
	if [[ -n $(ls -A -- "$dest") && ! -e $dest/.built ]] &&
		! grep -qx "ID=$IMAGE_ID" "$dest/etc/os-release" 2>/dev/null; then
		die "$dest is not empty and is not an image made by this script; refusing to replace it"
	fi
	abs=$(realpath -e -- "$dest")
	while read -r _ _ _ _ mountpoint _; do
		mountpoint=$(printf '%b' "$mountpoint")
		[[ $mountpoint != "$abs" && $mountpoint != "$abs"/* ]] ||
			die "$mountpoint is mounted inside $dest; unmount it first (umount -R $mountpoint)"
	done </proc/self/mountinfo
}

# The dynamic loader's cache: without /etc/ld.so.cache every program
# started in the image probes some forty directories before it finds libc.
write_ld_cache() {
	local ldconfig

	if [[ -d /etc/ld.so.conf.d ]]; then
		mkdir -p -- "$work/etc/ld.so.conf.d"
		find /etc/ld.so.conf.d -maxdepth 1 -name '[!.]*.conf' -xtype f \
			-exec cp -t "$work/etc/ld.so.conf.d/" -- {} +
		echo 'include /etc/ld.so.conf.d/*.conf' >"$work/etc/ld.so.conf"
	fi
	# A normal user's PATH on Debian lacks /usr/sbin and /sbin, where
	# ldconfig lives: look there too, and never build an image without it.
	ldconfig=$(PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin command -v ldconfig) ||
		die "no ldconfig (in PATH, /usr/sbin or /sbin): the image would have no loader cache"
	"$ldconfig" -r "$work" || die "$ldconfig -r $work failed"
}

main() {
	local parent name start=$SECONDS

	parse_args "$@"
	check_dest
	have ldd || die "ldd not found (Debian package libc-bin)"
	queue_programs
	queue_libraries
	queue_support_files

	parent=$(dirname -- "$dest")
	name=$(basename -- "$dest")
	mkdir -p -- "$parent"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	work=$(mktemp -d -- "$parent/.$name.new.XXXXXX")
	chmod 0755 "$work"
	make_skeleton
	copy_files
	write_etc
	write_ld_cache
	# The stamp goes last: its presence means the image is complete.
	touch "$work/.built"
	# Renamed into place, DEST is the old image, briefly none, or the new.
	if [[ -d $dest ]]; then
		old=$(mktemp -d -- "$parent/.$name.old.XXXXXX")
		mv -T -- "$dest" "$old/image"
	fi
	mv -T -- "$work" "$dest"
	work=""
	cleanup
	old=""
	note "built $dest ($(du -sh -- "$dest" | cut -f1)) in $((SECONDS - start))s"
}

main "$@"
