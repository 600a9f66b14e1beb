#!/usr/bin/env bash
# import.sh - unpack a root filesystem tarball into an image directory.
#
# Usage: scripts/import.sh [-h] TARBALL DEST      (make import TAR=FILE DEST=DIR)
#
#   TARBALL  a tar archive of a whole root filesystem (docker or podman
#            export, mmdebstrap, Alpine's minirootfs, one OCI layer), plain
#            or compressed with gzip, xz, zstd or bzip2 (told by its first
#            bytes, not its name)
#   DEST     the image directory to make: new, or empty.  Nothing is written
#            anywhere else.
#
# Then: ./stage4-rootfs/container run --rootfs DEST /bin/sh
#
# The owners suit whoever runs it: root keeps the tarball's; a user with
# subordinate ids and newuidmap gets them shifted as the stages map that
# user rootless (as rootless podman does); any other user owns every file.
# A member that would land outside DEST makes it refuse the whole tarball;
# device nodes and OCI whiteouts are left out; and the unpack is safe even
# if the tarball changed since (docs/04-rootfs.md, "Other images").
#
# See: tar(1), user_namespaces(7), newuidmap(1), subuid(5), docs/04-rootfs.md
set -euo pipefail
export LC_ALL=C

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

help_if_asked "$@"
[[ $# -eq 2 && -n $1 && -n $2 ]] ||
	DIE_STATUS=2 die "give a tarball and a new directory: make import TAR=FILE DEST=DIR"
tarball=$1
dest=$2

[[ -f $tarball && -r $tarball ]] || die "$tarball: not a readable file"
if [[ -e $dest || -L $dest ]]; then
	[[ -d $dest ]] || die "$dest: exists and is not a directory"
	[[ -z $(find "$dest" -mindepth 1 -maxdepth 1 -print -quit) ]] ||
		die "$dest: not empty: import into a new directory"
fi

# The compression, from the magic number at the start of the file; a plain
# tar archive says "ustar" at byte 257.
magic=$(head -c 6 "$tarball" | od -An -tx1 | tr -d ' \n')
case $magic in
1f8b*) zflag=(--gzip) zname=gzip ;;
fd377a585a00) zflag=(--xz) zname=xz ;;
28b52ffd*) zflag=(--zstd) zname=zstd ;;
425a68*) zflag=(--bzip2) zname=bzip2 ;;
*)
	[[ $(dd if="$tarball" bs=1 skip=257 count=5 2>/dev/null) == ustar ]] ||
		die "$tarball: not a tar archive (nor one compressed with gzip, xz, zstd or bzip2)"
	zflag=() zname=plain
	;;
esac
[[ $zname == plain ]] || have "$zname" ||
	die "$tarball is compressed with $zname, which is not installed (apt-get install $zname)"

# check_listing: from `tar -tv --quoting-style=c --numeric-owner`, a line
# "refuse NAME: WHY", "device NAME" or "whiteout NAME" per member refused or
# left out, then "ids MAXUID MAXGID" and "entries N".  Names stay C-quoted,
# so that any byte shows.  An absolute symbolic link is kept: the stages
# resolve it inside the container's root.
check_listing() {
	awk '
	# The C string at position i of $0: sets str (still escaped) and after
	# (the position just past its closing quote).
	function cstring(i) {
		match(substr($0, i), /^"([^"\\]|\\.)*"/)
		str = substr($0, i + 1, RLENGTH - 2)
		after = i + RLENGTH
	}
	# A name as a clean relative path: no leading ./, no trailing /.
	function clean(p,    n, part, i, out) {
		n = split(p, part, "/")
		for (i = 1; i <= n; i++)
			if (part[i] != "" && part[i] != ".")
				out = out (out == "" ? "" : "/") part[i]
		return out
	}
	function has_dotdot(p) { return ("/" p "/") ~ /\/\.\.\// }
	{
		type = substr($0, 1, 1)
		split($2, owner, "/")
		if (owner[1] + 0 > maxuid) maxuid = owner[1] + 0
		if (owner[2] + 0 > maxgid) maxgid = owner[2] + 0
		cstring(index($0, "\""))
		name[NR] = clean(str); kind[NR] = type; shown[NR] = str; target[NR] = ""
		rest = substr($0, after)
		if (type == "l" && rest ~ /^ -> "/ || type == "h" && rest ~ /^ link to "/) {
			cstring(after + index(rest, "\"") - 1)
			target[NR] = str
		}
		if (type == "l") link[name[NR]] = 1
		if (type == "c" || type == "b") device[name[NR]] = 1
	}
	# Does any proper prefix of p name a symbolic link of the archive?
	function through_link(p,    n, part, i, pre) {
		n = split(p, part, "/")
		pre = ""
		for (i = 1; i < n; i++) {
			pre = pre (pre == "" ? "" : "/") part[i]
			if (pre in link) return pre
		}
		return ""
	}
	# How far above the link s own directory a relative target climbs.
	function climbs_out(p, t,    depth, n, part, i) {
		depth = split(p, part, "/") - 1
		n = split(t, part, "/")
		for (i = 1; i <= n; i++) {
			if (part[i] == "..") depth--
			else if (part[i] != "" && part[i] != ".") depth++
			if (depth < 0) return 1
		}
		return 0
	}
	END {
		for (i = 1; i <= NR; i++) {
			p = name[i]; t = target[i]; r = shown[i]
			if (r ~ /^\//) { print "refuse \"" r "\": an absolute name"; continue }
			if (has_dotdot(r)) { print "refuse \"" r "\": a name with .. in it"; continue }
			if (p == "" && kind[i] != "d") { print "refuse \"" r "\": the root is not a directory"; continue }
			if ((via = through_link(p)) != "") {
				print "refuse \"" r "\": goes through the symbolic link \"" via "\" of the tarball"; continue
			}
			if (kind[i] == "h") {
				if (t ~ /^\// || has_dotdot(t)) {
					print "refuse \"" r "\": a hard link to \"" t "\", outside the image"; continue
				}
				if ((via = through_link(clean(t))) != "") {
					print "refuse \"" r "\": a hard link through the symbolic link \"" via "\""; continue
				}
				if (clean(t) in device) { print "device " r; continue }
			}
			if (kind[i] == "l" && t !~ /^\// && climbs_out(p, t)) {
				print "refuse \"" r "\": a symbolic link to \"" t "\", above the image\047s root"; continue
			}
			if (kind[i] == "c" || kind[i] == "b") { print "device " r; continue }
			if (p ~ /(^|\/)\.wh\./) print "whiteout " r
		}
		print "ids " maxuid + 0, maxgid + 0
		print "entries " NR
	}'
}

listing=$(tar -tv -P "${zflag[@]}" --quoting-style=c --numeric-owner --warning=no-unknown-keyword -f "$tarball") ||
	die "tar -tv $tarball failed: not a tar archive, or a damaged one"
report=$(check_listing <<<"$listing")

if grep -q '^refuse ' <<<"$report"; then
	sed -n "s/^refuse /$PROG: refused: /p" <<<"$report" >&2
	die "$tarball: nothing unpacked: a member would land outside $dest"
fi
mapfile -t devices < <(sed -n 's/^device //p' <<<"$report")
mapfile -t whiteouts < <(sed -n 's/^whiteout //p' <<<"$report")
read -r _ maxuid maxgid < <(grep '^ids ' <<<"$report")
entries=$(sed -n 's/^entries //p' <<<"$report")

# tar's --exclude takes the name as stored: one with an escape in it (a
# newline, a quote) cannot be given back exactly.
excludes=()
for name in "${devices[@]}" "${whiteouts[@]}"; do
	[[ $name != *\\* ]] || die "$tarball: a device node or whiteout with an unusual name, $name: nothing unpacked"
	excludes+=("--exclude=$name")
done

uid=$(id -u)
gid=$(id -g)
user=$(id -un 2>/dev/null || echo "$uid")

# subordinate FILE: "START COUNT" of the caller's first range in FILE, as
# common/userns.c reads it (a line USER:START:COUNT naming the user or uid).
subordinate() {
	awk -F: -v name="$user" -v uid="$uid" '
		($1 == name || $1 == uid) && $2 ~ /^[0-9]+$/ && $3 ~ /^[1-9][0-9]*$/ { print $2, $3; exit }' "$1" 2>/dev/null || true
}

mode=owner
read -r ustart ucount < <(subordinate /etc/subuid) || true
read -r gstart gcount < <(subordinate /etc/subgid) || true
if ((uid == 0)); then
	mode=root
elif [[ -n ${ustart:-} && -n ${gstart:-} ]] && have newuidmap && have newgidmap; then
	mode=subids
	((maxuid <= ucount && maxgid <= gcount)) ||
		die "$tarball has owners up to uid $maxuid and gid $maxgid, beyond your subordinate range (1-$ucount and 1-$gcount): nothing unpacked"
elif [[ -n ${ustart:-} && -n ${gstart:-} ]]; then
	echo "$PROG: you have subordinate ids, but no newuidmap or newgidmap (apt-get install uidmap): every file will be yours" >&2
fi

# in_userns CMD...: CMD as root of a new user namespace with the stages'
# map, written from out here once unshare(1) has made it; only then does
# CMD run, as uid 0 with every capability inside (and none outside).
in_userns() {
	coproc ns {
		# shellcheck disable=SC2016 # expanded by that bash
		exec unshare --user -- bash -c 'echo ready && read -r _ && exec "$@" <&- >&2' bash "$@"
	}
	# After "ready" the process is in its namespace: its maps can be written.
	read -r _ <&"${ns[0]}" || return 1
	# shellcheck disable=SC2154 # ns_PID: set by coproc
	if newuidmap "$ns_PID" 0 "$uid" 1 1 "$ustart" "$ucount" &&
		newgidmap "$ns_PID" 0 "$gid" 1 1 "$gstart" "$gcount"; then
		echo go >&"${ns[1]}"
	fi
	# Without the go-ahead its read fails, and it exits without running CMD.
	local go=${ns[1]}
	exec {go}>&-
	wait "$ns_PID"
}

# as_owner CMD...: CMD as the one who will own the image.
as_owner() {
	case $mode in
	root) setpriv --bounding-set=-mknod -- "$@" ;; # no device, even if the tarball changed
	subids) in_userns "$@" ;;
	owner) "$@" ;;
	esac
}

owners=--same-owner
[[ $mode != owner ]] || owners=--no-same-owner
untar=(tar -x "${zflag[@]}" -f "$tarball" -C "$dest" --numeric-owner --same-permissions
	--warning=no-unknown-keyword --no-wildcards --anchored "${excludes[@]}" "$owners")

made=0
[[ -d $dest ]] || made=1
mkdir -p -- "$dest"
if ! as_owner "${untar[@]}"; then
	# Files of subordinate owners can only be removed from inside.
	if ((made)); then
		as_owner rm -rf -- "$dest" || rmdir -- "$dest" 2>/dev/null ||
			echo "$PROG: could not remove $dest" >&2
	else
		as_owner find "$dest" -mindepth 1 -delete || echo "$PROG: could not empty $dest" >&2
	fi
	die "tar -x $tarball into $dest failed (above): nothing kept"
fi

# count N WORD: "1 WORD", "2 WORDs" ("entry", "entries").
count() {
	case $1:$2 in
	1:*) echo "1 $2" ;;
	*y) echo "$1 ${2%y}ies" ;;
	*) echo "$1 $2s" ;;
	esac
}

case $mode in
root) who="as root: owners as in the tarball" ;;
subids) who="as $user, with subordinate ids: owner 0 is you (uid $uid), owners from 1 up are uids $ustart and up, and groups gids $gstart and up, as the stages map them rootless" ;;
owner)
	who="as $user, without subordinate ids: every file is yours (uid $uid), root in a rootless container"
	((maxuid == 0 && maxgid == 0)) || who+="; owners up to uid $maxuid and gid $maxgid are lost (make doctor says how to get a range)"
	;;
esac
echo "$PROG: $tarball ($zname, $(count "$entries" entry)) unpacked into $dest $who"
((${#devices[@]} == 0)) ||
	echo "$PROG: left out $(count ${#devices[@]} "device node") (${devices[*]}): every stage makes its own /dev"
((${#whiteouts[@]} == 0)) ||
	echo "$PROG: left out $(count ${#whiteouts[@]} whiteout) (${whiteouts[*]}): they delete files of a lower layer, and there is none"
echo "$PROG: run it: ./stage4-rootfs/container run --rootfs $dest /bin/sh"
