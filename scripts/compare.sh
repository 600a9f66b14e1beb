#!/usr/bin/env bash
# compare.sh - run one probe in every stage and print what each one isolates.
#
# The probe is a single `sh -c '...'` that prints, from where it runs:
#
#   hostname        the UTS hostname it sees
#   PID             its own PID ($$)
#   processes       how many numeric directories /proc has
#   host / visible  whether a marker file made on the host (in a fresh
#                   directory under the repo) is visible at the same path
#   mounts          lines in /proc/self/mounts
#   pids limit      measured, not read from any config: the static helper
#                   forkcount replaces the shell (exec) and forks until
#                   fork(2) fails with EAGAIN or FORK_MAX children; the
#                   limit is the children it got plus itself
#
# Each built stage runs it with its default options, then the host runs it
# too, for comparison.  A stage that is not built gets a "not built" row.
# Stages 1-3 see the host's files, so they use tests/progs/bin/forkcount;
# stages 4-5 run in the image, which has it at /usr/local/bin/forkcount.
#
# Leaves nothing behind: the marker directory is removed by the EXIT trap.
#
# Usage: scripts/compare.sh      (make compare; needs root)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FORK_MAX=200
TIMEOUT=60
HOST_FORKCOUNT=$repo/tests/progs/bin/forkcount
IMAGE_FORKCOUNT=/usr/local/bin/forkcount

# The probe.  Printed as it is above the table, so keep it readable.
# shellcheck disable=SC2016
PROBE='marker=$1 forkcount=$2
echo "hostname=$(hostname)"
echo "pid=$$"
set -- /proc/[0-9]*
echo "processes=$#"
if test -e "$marker"; then echo "host_root=yes"; else echo "host_root=no"; fi
echo "mounts=$(wc -l < /proc/self/mounts)"
printf "forks="
exec "$forkcount" '"$FORK_MAX"

markdir=""
cleanup() {
	if [[ -n $markdir && -d $markdir ]]; then
		rm -rf "$markdir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || die "the stages need root; try: sudo make compare"

# A marker that exists only on the host's file system: a container that
# still sees the host's / sees it at the same path.
markdir=$(mktemp -d "$repo/.compare.XXXXXX")
marker=$markdir/marker
: >"$marker"

# value KEY OUTPUT: the value of "KEY=value" in the probe's output.
value() {
	sed -n "s/^$1=//p" <<<"$2" | head -n 1
}

# limit_of FORKS: "none (>=200)" or "20 (19 forks)".
limit_of() {
	local forks=$1
	if [[ ! $forks =~ ^[0-9]+$ ]]; then
		echo "? (forkcount failed)"
	elif ((forks >= FORK_MAX)); then
		echo "none (>=$FORK_MAX)"
	else
		echo "$((forks + 1)) ($forks forks)"
	fi
}

WIDTHS='%-15s %-10s %-7s %-10s %-15s %-7s %s\n'

# row NAME COMMAND...: run the probe with COMMAND and print a table row.
row() {
	local name=$1 out err rc=0
	shift
	err=$(mktemp "$markdir/err.XXXXXX")
	out=$(cd "$repo" && timeout "$TIMEOUT" "$@" 2>"$err") || rc=$?
	if [[ -z $(value hostname "$out") ]]; then
		printf '%-15s failed (exit %d): %s\n' "$name" "$rc" "$(head -n 1 "$err")"
		return
	fi
	# shellcheck disable=SC2059
	printf "$WIDTHS" "$name" "$(value hostname "$out")" "$(value pid "$out")" \
		"$(value processes "$out")" "$(value host_root "$out")" \
		"$(value mounts "$out")" "$(limit_of "$(value forks "$out")")"
	if ((rc != 0)) && [[ -s $err ]]; then
		printf '%-15s (exit %d: %s)\n' "" "$rc" "$(head -n 1 "$err")"
	fi
}

echo "The probe, run in each stage as"
echo "  container run sh -c \"\$PROBE\" probe MARKER FORKCOUNT"
echo "with the stage's default options:"
echo
printf "sh -c '%s' probe %s %s\n" "$PROBE" "$marker" "FORKCOUNT"
echo
echo "MARKER is a file made on the host for this run; FORKCOUNT is"
echo "${HOST_FORKCOUNT#"$repo"/} on stages 1-3, $IMAGE_FORKCOUNT in the image on 4-5."
echo
# shellcheck disable=SC2059
printf "$WIDTHS" "" hostname PID processes "host / visible" mounts "pids limit"

if [[ -x $HOST_FORKCOUNT ]]; then
	row host sh -c "$PROBE" probe "$marker" "$HOST_FORKCOUNT"
else
	row host sh -c "$PROBE" probe "$marker" /nonexistent/forkcount
fi
for i in "${!STAGES[@]}"; do
	stage=${STAGES[i]}
	bin=$repo/$stage/container
	if [[ ! -x $bin ]]; then
		printf '%-15s not built\n' "$stage"
		continue
	fi
	forkcount=$HOST_FORKCOUNT
	if ((i >= 3)); then
		forkcount=$IMAGE_FORKCOUNT
	fi
	row "$stage" "$bin" run sh -c "$PROBE" probe "$marker" "$forkcount"
done
if [[ ! -x $HOST_FORKCOUNT ]]; then
	echo
	echo "note: no $HOST_FORKCOUNT, so no pids limit was measured on the host" \
		"or stages 1-3; build it with: make ${HOST_FORKCOUNT#"$repo"/}"
fi
