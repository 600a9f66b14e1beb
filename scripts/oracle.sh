#!/usr/bin/env bash
# oracle.sh - stage 5 next to runc, on the same real image and limits: the
# table of what a program inside sees and gets, runc being the oracle.
#
# Usage: scripts/oracle.sh      (make oracle; needs root, runc and the
#                                 network the first time)
#
# The image is scripts/debian-image.sh's Debian 12 minbase with python3,
# unpacked once by scripts/import.sh into a scratch directory.  Each row
# runs one probe twice: `stage5-cgroups/container run` with the options
# shown, and `runc run` on a bundle whose config.json is runc's own default
# (`runc spec`: its mounts of /dev, /dev/shm, /dev/mqueue, a read-only
# /sys and /sys/fs/cgroup, its namespaces) plus a cgroup namespace, as
# docker adds on cgroup v2, and the same limits.  runc's root is an
# overlay of the image with its upper layer on disk, as docker's overlay2
# gives it.  The static test programs (tests/progs/bin) are bound
# read-only at /probe in both.
#
# Rows:
#   /dev            ls /dev
#   /sys            the type and first option of the /sys mount, "none"
#   cgroup          the container's cgroup as /proc/self/cgroup shows it
#                   (the memory controller's line on v1 and hybrid)
#   fork cap        forkcount under --pids-limit 20: children it got
#   OOM             memhog 256 (MiB) under --memory 64m: exit status
#   100 MB file     dd of 100 MiB to /var/tmp under --memory 64m: status
#   cpu quota       a 2 s busy loop under --cpus 0.5: CPUs' worth used
#
# Prints a Markdown table, then the date, kernel and cgroup mode.
# ORACLE_DEBUG=1 also prints runc's stderr and config.json where runc
# exits non-zero.  Leaves
# nothing behind: the scratch directory, runc's containers and the
# overlays are removed by the EXIT trap.
#
# See: runc(8), runc-spec(8), docs/performance.md
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "stage 5 and runc need root here; try: sudo make oracle"
have runc || die "no runc (apt-get install runc)"
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

# runc_config ARGS_JSON PIDS MEMORY_BYTES QUOTA: config.json for one run.
runc_config() {
	local swap=""
	[[ -z $SWAP ]] || swap=", \"swap\": $3"
	cat <<EOF
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": $1,
		"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": false},
	"hostname": "runc",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
		{"destination": "/probe", "type": "bind", "source": "$PROBES", "options": ["rbind", "ro"]}
	],
	"linux": {
		"resources": {
			"pids": {"limit": $2},
			"memory": {"limit": $3$swap},
			"cpu": {"quota": $4, "period": 100000},
			"devices": [{"allow": false, "access": "rwm"}]
		},
		"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
		"maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	}
}
EOF
}

# No swap beyond the limit, as stage 5 sets it, where the kernel counts
# swap (runc refuses the setting where it does not).
SWAP=""
if [[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes || $(cgroup_mode) == v2 ]]; then
	SWAP=1
fi

# The defaults of stage 5, given to runc too where a row sets nothing.
PIDS=20 MEMORY=500m CPUS=2

# bytes SIZE: 64m -> 67108864.
bytes() {
	local n=${1%[kmg]}
	case $1 in
	*k) echo $((n << 10)) ;; *m) echo $((n << 20)) ;; *g) echo $((n << 30)) ;; *) echo "$n" ;;
	esac
}

# json_string TEXT: TEXT escaped for a JSON string (without its quotes).
json_string() {
	sed 's/\\/\\\\/g; s/"/\\"/g; s/\t/\\t/g' <<<"$1" | awk '{ printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }'
}

# on_runc SCRIPT: sh -c SCRIPT in runc, with PIDS, MEMORY and CPUS; prints
# its output, and "exit N" if N is not 0.
on_runc() {
	local args status=0
	args=$(printf '["sh", "-c", "%s"]' "$(json_string "$1")")
	mkdir -p "$scratch/upper" "$scratch/work"
	mount -t overlay overlay -o "lowerdir=$image,upperdir=$scratch/upper,workdir=$scratch/work" "$bundle/rootfs"
	runc_config "$args" "$PIDS" "$(bytes "$MEMORY")" \
		"$(awk -v c="$CPUS" 'BEGIN { printf "%d", c * 100000 }')" >"$bundle/config.json"
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

# row NAME OPTIONS SCRIPT: one line of the table; OPTIONS are stage 5's
# (and set PIDS, MEMORY, CPUS for both).
row() {
	local name=$1 options=$2 script=$3 ours theirs
	PIDS=20 MEMORY=500m CPUS=2
	case $options in
	*--pids-limit*) PIDS=${options##*--pids-limit } PIDS=${PIDS%% *} ;;
	esac
	case $options in
	*--memory*) MEMORY=${options##*--memory } MEMORY=${MEMORY%% *} ;;
	esac
	case $options in
	*--cpus*) CPUS=${options##*--cpus } CPUS=${CPUS%% *} ;;
	esac
	ours=$(on_stage5 "$script" | paste -sd ' ')
	theirs=$(on_runc "$script" | paste -sd ' ')
	printf '| %s | %s | %s | %s |\n' "$name" "${options:--}" "${ours:-(nothing)}" "${theirs:-(nothing)}"
}

# shellcheck disable=SC2016 # every script is for the container's sh
{
	echo "| probe | stage 5 options | stage 5 | runc |"
	echo "|---|---|---|---|"
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
