#!/usr/bin/env bash
# runc-config.sh - the config.json of an OCI bundle that runs what stage 5 runs.
#
# Usage: scripts/runc-config.sh ROOTFS HOSTNAME PIDS_LIMIT CGROUP COMMAND [ARG...]
#
# Prints to stdout a config.json for runc(8) that asks for what
# `stage5-cgroups/container run --rootfs ROOTFS --hostname HOSTNAME
# --pids-limit PIDS_LIMIT COMMAND...` does: UTS, PID and mount namespaces,
# the image as the root, a fresh /proc and a small /dev, and a pids limit,
# in the cgroup CGROUP (runc's "cgroupsPath").  Nothing else: no network,
# IPC or cgroup namespace, all capabilities of root kept, no seccomp filter,
# no masked paths, as in the stages.  docs/real-runtimes.md goes through it
# field by field.  The image is mounted read-only: runc writes nothing to it.
set -euo pipefail

if (($# < 5)); then
	echo "usage: $0 ROOTFS HOSTNAME PIDS_LIMIT CGROUP COMMAND [ARG...]" >&2
	exit 2
fi
rootfs=$1 hostname=$2 pids=$3 cgroup=$4
shift 4

# Every capability this kernel has, as runc spells them: root keeps them
# all, as in the stages.
caps=$(capsh --print 2>/dev/null | sed -n 's/^Bounding set =//p' |
	tr ',' '\n' | sed 's/^cap_/CAP_/; s/[a-z]/\U&/g' | jq -R . | jq -s .)
[[ -n $caps && $caps != "[]" ]] || caps='["CAP_SYS_ADMIN"]'

# The command, as a JSON array (not jq's --args, which would take a "-c"
# of the command for one of its own options).
args=$(for a in "$@"; do jq -n --arg a "$a" '$a'; done | jq -s .)

jq -n --arg rootfs "$rootfs" --arg hostname "$hostname" \
	--argjson pids "$pids" --arg cgroup "$cgroup" \
	--argjson caps "$caps" --argjson args "$args" '{
	ociVersion: "1.0.2",
	process: {
		terminal: false,
		user: {uid: 0, gid: 0},
		args: $args,
		env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		cwd: "/",
		capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
		noNewPrivileges: false
	},
	root: {path: $rootfs, readonly: true},
	hostname: $hostname,
	mounts: [
		{destination: "/proc", type: "proc", source: "proc"},
		{destination: "/dev", type: "tmpfs", source: "tmpfs",
		 options: ["nosuid", "mode=755", "size=64k"]}
	],
	linux: {
		namespaces: [{type: "uts"}, {type: "pid"}, {type: "mount"}],
		cgroupsPath: $cgroup,
		resources: {pids: {limit: $pids}},
		maskedPaths: [],
		readonlyPaths: []
	}
}'
