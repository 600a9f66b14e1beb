#!/usr/bin/env bash
# compare.sh - run one probe in every stage and print what each one isolates.
#
# The probe prints the hostname it sees, its PID, how many processes /proc
# shows, whether a marker file made on the host is visible at the same path,
# the lines of /proc/self/mounts, and the pids limit, measured: forkcount
# forks until fork(2) fails or FORK_MAX children; the limit is the children
# it got plus itself.  The host runs it, then every built stage with its
# default options.  The EXIT trap removes the marker.
#
# Usage: scripts/compare.sh      (make compare; needs root)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
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
trap '[[ -z $markdir ]] || rm -rf "$markdir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || die "the stages need root; try: sudo make compare"

markdir=$(mktemp -d "$repo/.compare.XXXXXX")
marker=$markdir/marker
: >"$marker"

# value KEY OUTPUT: the value of "KEY=value" in the probe's output.
value() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

# limit_of FORKS: "none (>=200)" or "20 (19 forks)".
limit_of() {
	if [[ ! $1 =~ ^[0-9]+$ ]]; then
		echo "? (forkcount failed)"
	elif (($1 >= FORK_MAX)); then
		echo "none (>=$FORK_MAX)"
	else
		echo "$(($1 + 1)) ($1 forks)"
	fi
}

table_line() { printf '%-15s %-10s %-7s %-10s %-15s %-7s %s\n' "$@"; }

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
	table_line "$name" "$(value hostname "$out")" "$(value pid "$out")" \
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
table_line "" hostname PID processes "host / visible" mounts "pids limit"

host_forkcount=$HOST_FORKCOUNT
[[ -x $host_forkcount ]] || host_forkcount=/nonexistent/forkcount
row host sh -c "$PROBE" probe "$marker" "$host_forkcount"
for i in "${!STAGES[@]}"; do
	stage=${STAGES[i]}
	if [[ ! -x $repo/$stage/container ]]; then
		printf '%-15s not built\n' "$stage"
		continue
	fi
	forkcount=$HOST_FORKCOUNT
	((i < 3)) || forkcount=$IMAGE_FORKCOUNT
	row "$stage" "$repo/$stage/container" run sh -c "$PROBE" probe "$marker" "$forkcount"
done
[[ -x $HOST_FORKCOUNT ]] || printf '\nnote: no %s, so no pids limit was measured on the host or stages 1-3; build it with: make %s\n' \
	"$HOST_FORKCOUNT" "${HOST_FORKCOUNT#"$repo"/}"
