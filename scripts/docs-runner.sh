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

# The transcripts are written as a reader types them, with sudo, and run
# that way: a real sudo, with the reader's sudoers.  Two things are the
# sandbox's own, in its mount namespace only: /etc/hosts names the
# sandbox's hostname, as a reader's machine names its own (or sudo prints
# "unable to resolve host" before every command), and sudo keeps
# DOCS_RUN_MARK, by which docs.sh finds what a block left running.
if ! command -v sudo >/dev/null; then
	echo "docs-runner: sudo is not installed; the transcripts use it as a reader does (apt-get install sudo)" >&2
	exit 1
fi
mkdir "$dir/sudoers.d" &&
	cp -a /etc/sudoers.d/. "$dir/sudoers.d/" &&
	echo 'Defaults env_keep += "DOCS_RUN_MARK"' >"$dir/sudoers.d/zz-docs-sandbox" &&
	chmod 0440 "$dir/sudoers.d/zz-docs-sandbox" &&
	mount --bind "$dir/sudoers.d" /etc/sudoers.d &&
	{ cat /etc/hosts && printf '127.0.1.1\t%s\n' "$SANDBOX_HOSTNAME"; } >"$dir/hosts" &&
	mount --bind "$dir/hosts" /etc/hosts || exit 1

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
