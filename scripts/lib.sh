# shellcheck shell=bash
# lib.sh - what every script in scripts/ needs to know, said once; sourced
# with `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.  It sets repo (the
# top of the repository) and STAGES (the stage directories in teaching
# order, from scripts/stages.txt, which the Makefile and the suites read
# too) and defines the functions below.  PROG, set before sourcing, names
# the script in messages; DIE_STATUS=2: die is bad usage.

# shellcheck disable=SC2034 # both are for the scripts that source this
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mapfile -t STAGES <"$repo/scripts/stages.txt"
PROG=${PROG:-$(basename "$0" .sh)}

# die MESSAGE: print "PROG: MESSAGE" to stderr and exit.
die() {
	echo "$PROG: $*" >&2
	exit "${DIE_STATUS:-1}"
}

# usage: the script's --help, which is its header comment: from its second
# line to its `set -...` line, without the "# ".
usage() {
	sed -n '2,/^set -/{/^set -/d;s/^# \{0,1\}//;p}' "$0"
}

# help_if_asked "$@": print the --help and exit 0 if $1 is -h or --help.
help_if_asked() {
	[[ ${1:-} != -h && ${1:-} != --help ]] || { usage; exit 0; }
}

# have NAME: NAME is a command here.
have() {
	command -v "$1" >/dev/null 2>&1
}

# cgroup_mode: v2, hybrid, v1 or none, from the file system types of
# /sys/fs/cgroup and its unified/ as the stages tell them with statfs(2),
# never from paths.
cgroup_mode() {
	case $(stat -f -c %T /sys/fs/cgroup /sys/fs/cgroup/unified 2>/dev/null | paste -sd ' ') in
	cgroup2fs*) echo v2 ;;
	"tmpfs cgroup2fs") echo hybrid ;;
	tmpfs*) echo v1 ;;
	*) echo none ;;
	esac
}
