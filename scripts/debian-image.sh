#!/usr/bin/env bash
# debian-image.sh - a real image that no one here wrote: Debian 12 minbase
# with python3 and procps, a tarball made once by mmdebstrap, for
# tests/debian.bats and scripts/oracle.sh.
#
# Usage: scripts/debian-image.sh      prints the tarball's path
#
# The first call builds it, as root (to keep the owners), in about 80 s and
# 60 MB from Debian's archive, into .cache/images/ (make clean removes it).
# Exit status: 0 with the path on stdout; 3 with one line on stderr when it
# cannot be made here (no mmdebstrap, no archive), for the caller to take
# as a skip or a failure; 1 on any other error.
#
# See: mmdebstrap(1), docs/04-rootfs.md ("Other images")
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"

SUITE=bookworm
INCLUDE=python3,procps
MIRROR_HOST=deb.debian.org
CACHE=$repo/.cache/images
TARBALL=$CACHE/debian-$SUITE-minbase.tar

if [[ ! -s $TARBALL ]]; then
	[[ $(id -u) -eq 0 ]] || die "mmdebstrap needs root here, to keep the image's owners"
	have mmdebstrap || DIE_STATUS=3 die "no mmdebstrap, so no Debian image (apt-get install mmdebstrap)"
	# One TCP connection tells an offline laptop from a broken build.
	timeout 10 bash -c "exec 3<>/dev/tcp/$MIRROR_HOST/80" 2>/dev/null ||
		DIE_STATUS=3 die "Debian's archive ($MIRROR_HOST) cannot be reached from here, so no Debian image"

	mkdir -p -- "$CACHE"
	# Renamed when whole: an interrupted build leaves no tarball that looks done.
	partial=$CACHE/.partial-$$.tar
	trap 'rm -f -- "$partial"' EXIT
	start=$SECONDS
	mmdebstrap --quiet --variant=minbase --include="$INCLUDE" "$SUITE" "$partial" ||
		die "mmdebstrap --variant=minbase --include=$INCLUDE $SUITE failed (above)"
	mv -- "$partial" "$TARBALL"
	echo "$PROG: made ${TARBALL#"$repo"/} with mmdebstrap in $((SECONDS - start)) s" >&2
fi
echo "$TARBALL"
