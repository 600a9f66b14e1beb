#!/usr/bin/env bash
# runc-config.sh - the config.json of an OCI bundle that runs what stage 5 runs.
#
# Usage: scripts/runc-config.sh ROOTFS HOSTNAME PIDS_LIMIT CGROUP COMMAND [ARG...]
#
# Prints for runc(8) what `stage5-cgroups/container run --rootfs ROOTFS
# --hostname HOSTNAME --pids-limit PIDS_LIMIT COMMAND...` does, in the cgroup
# CGROUP, and nothing more (docs/real-runtimes.md, field by field).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"

if (($# < 5)); then
	echo "usage: $0 ROOTFS HOSTNAME PIDS_LIMIT CGROUP COMMAND [ARG...]" >&2
	exit 2
fi
rootfs=$1 hostname=$2 pids=$3 cgroup=$4
shift 4

# Every capability this kernel has, as runc spells them.
caps=$(capsh --print 2>/dev/null | jq -Rn '[inputs | select(startswith("Bounding set =")) |
	ltrimstr("Bounding set =") | split(",")[] | ascii_upcase]')
[[ -n $caps && $caps != "[]" ]] || caps='["CAP_SYS_ADMIN"]'

# The command, as a JSON array (not jq's --args, which would take a "-c"
# of the command for one of its own options).
args=$(for a in "$@"; do jq -n --arg a "$a" '$a'; done | jq -s .)

jq -n --arg rootfs "$rootfs" --arg hostname "$hostname" --argjson pids "$pids" \
	--arg cgroup "$cgroup" --argjson caps "$caps" --argjson args "$args" '{
	ociVersion: "1.0.2",
	process: {
		terminal: false, user: {uid: 0, gid: 0}, args: $args,
		env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], cwd: "/",
		capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
		noNewPrivileges: false
	},
	root: {path: $rootfs, readonly: true},
	hostname: $hostname,
	mounts: [
		{destination: "/proc", type: "proc", source: "proc"},
		{destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755", "size=64k"]}
	],
	linux: {
		namespaces: [{type: "uts"}, {type: "pid"}, {type: "mount"}],
		cgroupsPath: $cgroup,
		resources: {pids: {limit: $pids}},
		maskedPaths: [], readonlyPaths: []
	}
}'
