#!/usr/bin/env bash
# oracle.sh - stage 5 next to runc, on the same real image and limits: the
# table of what a program inside sees and gets, runc being the oracle.
#
# Usage: scripts/oracle.sh   (make oracle; needs root, runc, jq and the network the first time)
#
# Each row runs one probe in stage 5 with the options shown and in runc on
# `runc spec`'s bundle plus a cgroup namespace and the same limits, both on
# scripts/debian-image.sh's Debian 12 with tests/progs/bin at /probe; then it
# prints the date, kernel and cgroup mode.  ORACLE_DEBUG=1 also prints runc's
# stderr and config.json where runc exits non-zero.  The EXIT trap removes
# the scratch directory, runc's container and the overlay.
#
# See: runc(8), runc-spec(8), docs/performance.md
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"

[[ $(id -u) -eq 0 ]] || die "stage 5 and runc need root here; try: sudo make oracle"
have runc || die "no runc (apt-get install runc)"
have jq || die "no jq (apt-get install jq)"
STAGE5=$repo/stage5-cgroups/container
[[ -x $STAGE5 ]] || die "stage 5 is not built; try: make"
PROBES=$repo/tests/progs/bin
[[ -x $PROBES/forkcount && -x $PROBES/memhog ]] || die "the test programs are not built; try: make"

tarball=$("$repo/scripts/debian-image.sh")

scratch=""
bundle=""
cleanup() {
	if [[ -n $bundle ]]; then
		runc delete --force "oracle-$$" >/dev/null 2>&1 || true
		umount "$bundle/rootfs" 2>/dev/null || true
	fi
	[[ -z $scratch ]] || rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# On disk, not in /tmp: runc's upper layer must not be memory either.
scratch=$(mktemp -d "$repo/.cache/oracle.XXXXXX")
image=$scratch/image
"$repo/scripts/import.sh" "$tarball" "$image" >/dev/null
bundle=$scratch/bundle
mkdir -p "$bundle/rootfs"
runc spec --bundle "$scratch"
# No swap beyond the limit, as stage 5 sets it, where the kernel counts
# swap (runc refuses the setting where it does not).
swap=false
[[ ! -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes && $(cgroup_mode) != v2 ]] || swap=true

# on_runc SCRIPT: sh -c SCRIPT in runc, with PIDS, MEMORY and CPUS; prints
# its output, and "exit N" if N is not 0.
on_runc() {
	local status=0
	mkdir -p "$scratch/upper" "$scratch/work"
	mount -t overlay overlay -o "lowerdir=$image,upperdir=$scratch/upper,workdir=$scratch/work" "$bundle/rootfs"
	jq --arg script "$1" --arg probes "$PROBES" --argjson swap "$swap" \
		--argjson pids "$PIDS" --argjson memory "$(numfmt --from=iec "${MEMORY^^}")" \
		--argjson quota "$(awk -v c="$CPUS" 'BEGIN { printf "%d", c * 100000 }')" '
		.process.terminal = false | .process.args = ["sh", "-c", $script] |
		.root.readonly = false |
		.linux.namespaces |= (if any(.type == "cgroup") then . else . + [{type: "cgroup"}] end) |
		.mounts += [{destination: "/probe", type: "bind", source: $probes, options: ["rbind", "ro"]}] |
		.linux.resources = {pids: {limit: $pids}, memory: ({limit: $memory} + if $swap then {swap: $memory} else {} end),
			cpu: {quota: $quota, period: 100000}} + .linux.resources' "$scratch/config.json" >"$bundle/config.json"
	runc run --bundle "$bundle" "oracle-$$" </dev/null 2>"$scratch/runc.err" || status=$?
	runc delete --force "oracle-$$" >/dev/null 2>&1 || true
	umount "$bundle/rootfs"
	rm -rf "$scratch/upper" "$scratch/work"
	if ((status != 0)); then
		echo "exit $status"
		[[ -z ${ORACLE_DEBUG:-} ]] || cat "$scratch/runc.err" "$bundle/config.json" >&2
	fi
}

# on_stage5 SCRIPT: the same in stage 5.
on_stage5() {
	local status=0
	"$STAGE5" run --rootfs "$image" --volume "$PROBES:/probe:ro" --pids-limit "$PIDS" \
		--memory "$MEMORY" --cpus "$CPUS" sh -c "$1" </dev/null 2>/dev/null || status=$?
	((status == 0)) || echo "exit $status"
}

# row NAME OPTIONS SCRIPT: one line of the table.  OPTIONS are stage 5's,
# given to runc too; where they set nothing, stage 5's defaults.
row() {
	local name=$1 options=$2 script=$3 ours theirs
	PIDS=20 MEMORY=500m CPUS=2
	[[ ! $options =~ --pids-limit\ ([^ ]+) ]] || PIDS=${BASH_REMATCH[1]}
	[[ ! $options =~ --memory\ ([^ ]+) ]] || MEMORY=${BASH_REMATCH[1]}
	[[ ! $options =~ --cpus\ ([^ ]+) ]] || CPUS=${BASH_REMATCH[1]}
	ours=$(on_stage5 "$script" | paste -sd ' ')
	theirs=$(on_runc "$script" | paste -sd ' ')
	printf '| %s | %s | %s | %s |\n' "$name" "${options:--}" "${ours:-(nothing)}" "${theirs:-(nothing)}"
}

# shellcheck disable=SC2016 # every script is for the container's sh
{
	printf '%s\n' "| probe | stage 5 options | stage 5 | runc |" "|---|---|---|---|"
	row '`ls /dev`' "" 'ls /dev'
	row '/sys' "" 'awk '\''$2 == "/sys" { split($4, o, ","); t = $3 " " o[1] } END { print (t == "" ? "none" : t) }'\'' /proc/self/mounts'
	row '/proc/self/cgroup' "" 'awk -F: '\''$2 == "memory" { m = $3 } $1 == 0 { u = $3 } END { print (m != "" ? "memory:" m : "0::" u) }'\'' /proc/self/cgroup'
	row 'python3 multiprocessing' "" 'python3 -c "import multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))" 2>&1 | tail -n 1'
	row 'fork cap: forkcount' "--pids-limit 20" 'exec /probe/forkcount 200'
	row 'OOM: memhog 256' "--memory 64m" '/probe/memhog 256 >/dev/null'
	row '100 MB file in /var/tmp' "--memory 64m" 'dd if=/dev/zero of=/var/tmp/big bs=1M count=100 status=none && echo written'
	row 'cpu quota: a 2 s busy loop' "--cpus 0.5" 'python3 -c "
import os, time
t = time.time()
while time.time() - t < 2: pass
c = os.times()
print(\"%.2f CPUs\" % ((c.user + c.system) / 2))"'
}
echo
echo "$(date -u +%Y-%m-%d), Linux $(uname -r), cgroup $(cgroup_mode), $(runc --version | head -n 1), stage 5 at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
