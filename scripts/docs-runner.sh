#!/usr/bin/env bash
# docs-runner.sh - the sandbox's side of one run block of scripts/docs.sh.
#
# docs.sh starts it as root in `unshare --mount --propagation private --uts`,
# with a clean environment:
#
#   docs-runner.sh DIR
#
# DIR holds the block's commands, cmd.1 ... cmd.N, and "count" (N); each
# command's stdout and stderr go to out.K there.  From the environment:
# REPO (the real checkout), SANDBOX_REPO (where the transcripts see it),
# SANDBOX_HOSTNAME and BG_DELAY.  docs.sh's header says what the sandbox is
# and why.
#
# No `set -euo pipefail` here, unlike every other script: the commands are a
# reader's, and run as in the reader's shell, where a failing command, an
# unset variable or a failing pipe stage does not end the session.

# The scratch directory and the repository may be under /tmp or /home,
# which are covered next: keep a way to them.
exec 3<"$1" 4<"$REPO" || exit 1
dir=/proc/$$/fd/3
n=$(cat "$dir/count")
mount --make-rshared / &&
	mount -t tmpfs -o mode=1777,size=256m docs-sandbox-tmp /tmp &&
	mount -t tmpfs -o mode=0755,size=1m docs-sandbox-home /home &&
	mkdir -p "$SANDBOX_REPO" &&
	mount --bind /proc/self/fd/4 "$SANDBOX_REPO" &&
	hostname "$SANDBOX_HOSTNAME" &&
	cd "$SANDBOX_REPO" || exit 1
exec 4<&-
unset REPO SANDBOX_REPO SANDBOX_HOSTNAME
exec </dev/null

# The transcripts are written as a student types them, with sudo; here we
# are root already.
# shellcheck disable=SC2317 # called by the transcripts' commands
sudo() { "$@"; }

# Every job in a process group of its own, so that all of it can be reached.
set -m
stop_jobs() {
	local pgids sig t
	pgids=$(jobs -p | sed "s/^/-/")
	[[ -n $pgids ]] || return 0
	for sig in TERM TERM; do
		# shellcheck disable=SC2086 # one word per process group
		kill -s $sig -- $pgids 2>/dev/null
		sleep 0.2
	done
	for ((t = 0; t < 50; t++)); do
		[[ -z $(jobs -rp) ]] && break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	[[ -n $(jobs -rp) ]] && kill -s KILL -- $pgids 2>/dev/null
	wait
}
trap "stop_jobs; exit 124" TERM INT

for ((i = 1; i <= n; i++)); do
	cmd=$(cat "$dir/cmd.$i")
	{ eval "$cmd"; } >"$dir/out.$i" 2>&1
	# shellcheck disable=SC2153 # from docs.sh, through the environment
	[[ $cmd == *"&" ]] && sleep "$BG_DELAY"
done
stop_jobs
exit 0
