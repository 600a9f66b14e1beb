#!/usr/bin/env bash
# docs-runner.sh - the sandbox's side of one run block of scripts/docs.sh,
# which runs it as root, with a clean environment, in new mount and UTS
# namespaces (`unshare --mount --propagation private --uts`), as
# `docs-runner.sh DIR`.  DIR holds the commands, cmd.1 ... cmd.N, and
# "count" (N); command K's stdout and stderr go to out.K there.  From the
# environment: REPO (the real checkout), SANDBOX_REPO (where the transcripts
# see it), SANDBOX_HOSTNAME and BG_DELAY.  No `set -euo pipefail`: the
# commands are a reader's, and run as in the reader's shell, which a
# failure does not end.

# DIR and the repository may be under /tmp or /home, covered next.
exec 3<"$1" 4<"$REPO" || exit 1
dir=/proc/$$/fd/3
n=$(cat "$dir/count")

# The commands use the real sudo, with the reader's sudoers; in this mount
# namespace only, sudo keeps DOCS_RUN_MARK (by which docs.sh finds what a
# block left running), and /etc/hosts names the sandbox's hostname (or sudo
# prints "unable to resolve host" before every command).
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

# Propagation as on a systemd host, but in new peer groups: no mount
# reaches the real host.  The repository at the same path in every checkout.
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

# Every job in a process group of its own, so that all of it can be
# reached: TERM twice, then KILL what is left after 5 s.
set -m
# shellcheck disable=SC2086 # one word per process group
stop_jobs() {
	local pgids sig t
	pgids=$(jobs -p | sed "s/^/-/")
	[[ -n $pgids ]] || return 0
	for sig in TERM TERM; do
		kill -s $sig -- $pgids 2>/dev/null
		sleep 0.2
	done
	for ((t = 0; t < 50; t++)); do
		[[ -z $(jobs -rp) ]] && break
		sleep 0.1
	done
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
