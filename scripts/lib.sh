# shellcheck shell=bash
# lib.sh - what every script in scripts/ needs to know, said once.
#
# Sourced, never run:
#
#   # shellcheck source=scripts/lib.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It sets:
#   repo           the top of the repository, absolute
#   STAGES         the stage directories, in teaching order (the Makefile's
#                  STAGES says the same; tests/tools.bats checks that)
# and defines die, have and cgroup_mode.  A script that wants a name other
# than its file's in its messages sets PROG before sourcing, and one whose
# die means "bad usage" sets DIE_STATUS=2.

# shellcheck disable=SC2034 # both are for the scripts that source this
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034
STAGES=(stage1-uts stage2-pid stage3-mount stage4-rootfs stage5-cgroups)
PROG=${PROG:-$(basename "$0" .sh)}

# die MESSAGE: print "PROG: MESSAGE" to stderr and exit.
die() {
	echo "$PROG: $*" >&2
	exit "${DIE_STATUS:-1}"
}

# have NAME: NAME is a command here.
have() {
	command -v "$1" >/dev/null 2>&1
}

# cgroup_mode: v2, hybrid, v1 or none.  Told apart by the file system type
# under /sys/fs/cgroup, as the stages do with statfs(2), never by guessing
# from paths: cgroup2 there is v2; a tmpfs there holds v1 hierarchies, and
# also cgroup2 at unified/ on a hybrid host.
cgroup_mode() {
	case $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) in
	cgroup2fs) echo v2 ;;
	tmpfs)
		if [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
			echo hybrid
		else
			echo v1
		fi
		;;
	*) echo none ;;
	esac
}
