#!/usr/bin/env bash
# bench.sh - how long does each stage take to start a container?
#
# Table 1 times `container run true` in every built stage, interleaved with
# what does the same job: /bin/true (the floor), unshare(1) beside stages
# 1-3, bubblewrap beside 4, runc beside 5, and stages 4-5 with --tmpfs-layer
# (the disk layer's cost); its rootless column times them again as uid
# 65534.  Table 3 times stage 5 with BENCH_CROWD containers running, table 2
# stage 4 on a BENCH_IMAGE_MB image beside `cp -a` of it.  It prints medians,
# spreads, ratios and peak RSS, and never passes or fails on them:
# docs/performance.md explains each row and column and how runs are timed.
#
# Settings: the BENCH_* variables at the top of the code.  Needs root and
# bash 5.  The EXIT trap undoes the scratch directory, mounts and runc state.
#
# Usage: scripts/bench.sh      (make bench)
set -euo pipefail
export LC_ALL=C

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
IMAGE=$repo/rootfs

RUNS=${BENCH_RUNS:-50}              # timed runs per row in table 1
WARMUP=${BENCH_WARMUP:-5}           # untimed warm-up rounds first
IMAGE_RUNS=${BENCH_IMAGE_RUNS:-20}  # timed runs per row in table 2
IMAGE_MB=${BENCH_IMAGE_MB:-1024}    # size of table 2's large image
DO_IMAGE=${BENCH_IMAGE:-1}          # 0 skips table 2
DO_STATIC=${BENCH_STATIC:-0}        # 1 also times `make STATIC=1` builds, in build/static/
USE_HYPERFINE=${BENCH_HYPERFINE:-0} # 1 times table 1 with hyperfine, where installed
TMPBASE=${BENCH_TMPDIR:-/var/tmp}   # scratch space; table 2 needs twice IMAGE_MB there
SETTLE_MS=${BENCH_SETTLE_MS:-100}   # pause before each timed run
CROWD=${BENCH_CROWD:-200}           # containers already running in table 3; 0 skips it
CROWD_RUNS=${BENCH_CROWD_RUNS:-30}  # timed runs per row in table 3
DO_ROOTLESS=${BENCH_ROOTLESS:-1}    # 0 skips table 1's rootless column
MEM_RUNS=3
TIMEOUT=60
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
RUNC_CONFIG=$repo/scripts/bench-runc.json
STATIC_BUILD=build/static

for v in RUNS WARMUP IMAGE_RUNS IMAGE_MB SETTLE_MS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, not '${!v}'"
done
((RUNS >= 1 && IMAGE_RUNS >= 1)) || die "BENCH_RUNS and BENCH_IMAGE_RUNS must be at least 1"
((BASH_VERSINFO[0] >= 5)) || die "needs bash 5 or later for \$EPOCHREALTIME"
[[ $(id -u) == 0 ]] || die "the stages need root; try: sudo make bench"

scratch=""
mounted=()
runc_id=cfs-bench-$$
runc_state=""
crowd=() # the tools of table 3's running containers

# Each step runs even if one before it failed (set -e would stop the trap
# at the first failure), and says so when it cannot undo something.
cleanup() {
	local i
	stop_crowd
	# runc's container is normally gone already, and delete fails.
	[[ ! -d $runc_state ]] || runc --root "$runc_state" delete --force "$runc_id" >/dev/null 2>&1 || true
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" ||
			echo "$PROG: cannot unmount ${mounted[i]}" >&2
	done
	# --one-file-system: never reach into a mount that did not go.
	[[ ! -d $scratch ]] || rm -rf --one-file-system "$scratch" || echo "$PROG: cannot remove $scratch" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scratch=$(mktemp -d "$TMPBASE/cfs-bench.XXXXXX") || die "cannot make a scratch dir in $TMPBASE"
# Searchable by all, so that bubblewrap as nobody (the rootless column) can
# reach the overlay it binds, whatever umask sudo gave us.
chmod 711 "$scratch"
umask 022
errfile=$scratch/stderr

# A writable overlay of the default image at $scratch/NAME/merged, for a
# tool that would otherwise write its mount points into the image.  Not in
# a $(...): the mount must be recorded in this shell.
overlay_of_image() {
	local dir=$scratch/$1
	mkdir -p "$dir"/{upper,work,merged} || return 1
	mount -t overlay overlay -o "lowerdir=$IMAGE,upperdir=$dir/upper,workdir=$dir/work" \
		"$dir/merged" || return 1
	mounted+=("$dir/merged")
}

# start_crowd N: N stage 5 containers that sleep, each under --init so that
# one SIGTERM ends it; returns when all N cgroups exist.
start_crowd() {
	local i tries=600
	for ((i = 0; i < $1; i++)); do
		"${bins[s5]}" run --init --pids-limit 4 sleep 100000 >/dev/null 2>&1 &
		crowd+=($!)
	done
	until (($(running_containers) >= $1)); do
		((tries-- > 0)) || return 1
		sleep 0.1
	done
}

running_containers() {
	# find complains, and fails, when a cgroup goes while it walks.
	{ find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/container/ctr-*' 2>/dev/null || true; } |
		awk -F/ '{ print $NF }' | sort -u | wc -l
}

# A container that already ended cannot be signalled, and wait returns 143
# after SIGTERM: both are what stopping them means, not a failure.
stop_crowd() {
	((${#crowd[@]})) || return 0
	kill -TERM "${crowd[@]}" 2>/dev/null || true
	wait "${crowd[@]}" 2>/dev/null || true
	crowd=()
}

rows=()              # ids in table order
declare -A row_label # id -> short name
declare -A row_state # id -> "" when runnable, else why not
declare -A row_vs    # id -> the id of its comparison row
declare -A row_times # id -> microseconds, space-separated
declare -A row_peak  # id -> peak RSS in KiB
declare -A bins      # stage id -> binary
declare -A row_median row_p10 row_p90 # id -> microseconds, from summarize
cmd=()

# add_row ID LABEL STATE [VS]: a row of table 1 (or 2 or 3).  Row r-ID is
# row ID run by nobody, in a user namespace: timed in table 1's rounds, it
# is printed in a table of its own, the rootless column.
rootless_rows=()
add_row() {
	row_label[$1]=$2
	row_state[$1]=$3
	row_vs[$1]=${4:-}
	row_times[$1]=""
	case $1 in
	r-*) rootless_rows+=("$1") ;;
	*) rows+=("$1") ;;
	esac
}

# add_rootless_row ID STATE [VS]: row r-ID, the rootless twin of row ID.
add_rootless_row() {
	add_row "r-$1" "${row_label[$1]}" "$2" "${3:+r-$3}"
}

# set_cmd ID: put the row's command in cmd.
set_cmd() {
	case $1 in
	floor) cmd=(/bin/true) ;;
	s[1-5] | s[1-5]static) cmd=("${bins[$1]}" run true) ;;
	s[45]tmpfs) cmd=("${bins[${1%tmpfs}]}" run --tmpfs-layer true) ;;
	u1) cmd=(unshare --uts --fork true) ;;
	u2) cmd=(unshare --uts --pid --fork true) ;;
	u3) cmd=(unshare --uts --pid --mount --mount-proc --fork true) ;;
	bwrap) cmd=(bwrap "${bwrap_args[@]}" true) ;;
	runc) cmd=(runc --root "$runc_state" run --bundle "$scratch/runc" "$runc_id") ;;
	crowd-0 | crowd-n) cmd=("${bins[s5]}" run true) ;;
	img-small) cmd=("${bins[s4]}" run true) ;;
	img-big) cmd=("${bins[s4]}" run --rootfs "$big_image" true) ;;
	cp-small) cmd=(cp -a "$IMAGE" "$scratch/copy") ;;
	cp-big) cmd=(cp -a "$big_image" "$scratch/copy") ;;
	r-*)
		# As nobody; unshare(1) and bubblewrap must be told to make the
		# user namespace, which the stages make by themselves.
		set_cmd "${1#r-}"
		case ${cmd[0]} in
		unshare) cmd=(unshare --user --map-root-user "${cmd[@]:1}") ;;
		bwrap) cmd=(bwrap --unshare-user --uid 0 --gid 0 "${cmd[@]:1}") ;;
		esac
		cmd=("${AS_NOBODY[@]}" "${cmd[@]}")
		;;
	esac
}

settle=$(awk -v ms="$SETTLE_MS" 'BEGIN { printf "%.3f", ms / 1000 }')

# after_run ID: after each run, untimed.
after_run() { [[ $1 != cp-* ]] || rm -rf "$scratch/copy"; }

# show_cmd ID: the row's command as a person would type it, from the repo.
show_cmd() {
	set_cmd "$1"
	local line=" ${cmd[*]}"
	line=${line//" $repo/"/ }
	line=${line//$scratch/\$SCRATCH}
	echo "${line# }"
}

image_ok=0
[[ -e $IMAGE/.built ]] && image_ok=1

# stage_state N: "" if stage N can run.
stage_state() {
	if [[ ! -x $repo/${STAGES[$1 - 1]}/container ]]; then
		echo "not built"
	elif (($1 >= 4 && !image_ok)); then
		echo "no image (make rootfs)"
	fi
}

# Build stage N statically into build/static/, beside a link to the
# default image, so the normal build stays as it is.
build_static() {
	local out=$STATIC_BUILD/${STAGES[$1 - 1]}/container
	make -C "$repo" -s STATIC=1 BUILD="$STATIC_BUILD" "$out" "$STATIC_BUILD/rootfs" >"$errfile" 2>&1
}

# The comparison tools: docs/performance.md says how each matches its stage.
# bubblewrap 0.10+ makes an overlay over the image per run, as stage 4
# does; an older one binds an overlay that is mounted once, up front.
bwrap_args=()
bwrap_note=""
setup_bwrap() {
	# Not `bwrap --help | grep -q`: grep -q stops reading at the first
	# match, and under pipefail bwrap's SIGPIPE would fail the test.
	if [[ $(bwrap --help 2>&1) == *--overlay-src* ]]; then
		bwrap_args=(--overlay-src "$IMAGE" --tmp-overlay /)
		bwrap_note="its own overlay per run"
	else
		overlay_of_image bwrap || return 1
		bwrap_args=(--bind "$scratch/bwrap/merged" /)
		bwrap_note="bwrap $(bwrap --version | awk '{ print $2 }') has no --overlay-src: binds one overlay mounted once by bench, not per run"
	fi
	bwrap_args=(--unshare-uts --unshare-pid "${bwrap_args[@]}" --proc /proc --dev /dev)
}

# runc: a bundle with RUNC_CONFIG, whose root is a writable overlay of the
# image, as in stage 5, so that runc's mount points never land in the image.
setup_runc() {
	local bundle=$scratch/runc
	mkdir -p "$bundle" || return 1
	runc_state=$scratch/runc-state
	cp "$RUNC_CONFIG" "$bundle/config.json" || return 1
	overlay_of_image runc-root || return 1
	mkdir "$bundle/rootfs" &&
		mount --bind "$scratch/runc-root/merged" "$bundle/rootfs" || return 1
	mounted+=("$bundle/rootfs")
}

# stats MICROSECONDS...: "median p10 p90" in whole microseconds (nearest-rank percentiles).
stats() {
	printf '%s\n' "$@" | sort -n | awk '
		{ a[NR] = $1 }
		function rank(q,  r) { r = int(q * NR); if (r < q * NR) r++; return r < 1 ? 1 : r }
		END {
			med = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "%.0f %d %d\n", med, a[rank(0.1)], a[rank(0.9)]
		}'
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# run_rounds RUNS WARMUP ID...: time every runnable ID, interleaved, in a
# new order every round (Fisher-Yates), each run after the settle pause.
run_rounds() {
	local runs=$1 warmup=$2 r k j n id rc t0 t1
	shift 2
	local -a ids=("$@")
	n=${#ids[@]}
	for ((r = -warmup; r < runs; r++)); do
		for ((k = n - 1; k > 0; k--)); do
			j=$((RANDOM % (k + 1)))
			id=${ids[k]} ids[k]=${ids[j]} ids[j]=$id
		done
		for ((k = 0; k < n; k++)); do
			id=${ids[k]}
			[[ -z ${row_state[$id]} ]] || continue
			set_cmd "$id"
			((SETTLE_MS == 0)) || sleep "$settle"
			rc=0
			t0=$EPOCHREALTIME
			"${cmd[@]}" >/dev/null 2>"$errfile" || rc=$?
			t1=$EPOCHREALTIME
			after_run "$id"
			if ((rc != 0)); then
				row_state[$id]="failed (exit $rc): $(head -n 1 "$errfile")"
			elif ((r >= 0)); then
				row_times[$id]+=" $((${t1//[!0-9]/} - ${t0//[!0-9]/}))"
			fi
		done
	done
}

# check_rows ID...: run each row once under timeout(1), so that a row that
# hangs or fails is found before the timing, which runs without timeout(1)
# (it would add a fork and exec of its own to every run).
check_rows() {
	local id rc
	for id in "$@"; do
		[[ -z ${row_state[$id]} ]] || continue
		set_cmd "$id"
		rc=0
		timeout "$TIMEOUT" "${cmd[@]}" >/dev/null 2>"$errfile" || rc=$?
		after_run "$id"
		if ((rc == 124)); then
			row_state[$id]="hung: killed after ${TIMEOUT}s"
		elif ((rc != 0)); then
			row_state[$id]="failed (exit $rc): $(head -n 1 "$errfile")"
		fi
	done
}

# summarize ID...: the median, p10 and p90 of each row that has times.
summarize() {
	local id
	for id in "$@"; do
		[[ -z ${row_state[$id]} && -n ${row_times[$id]} ]] || continue
		# shellcheck disable=SC2086
		read -r "row_median[$id]" "row_p10[$id]" "row_p90[$id]" <<<"$(stats ${row_times[$id]})"
	done
}

# hyperfine_rows RUNS WARMUP ID...: the same, with hyperfine, one row after another.
hyperfine_rows() {
	local runs=$1 warmup=$2 id json=$scratch/hyperfine.json
	shift 2
	for id in "$@"; do
		[[ -z ${row_state[$id]} ]] || continue
		set_cmd "$id"
		if ! hyperfine -N --style none --warmup "$warmup" --runs "$runs" --prepare "sleep $settle" \
			--export-json "$json" -- "$(printf '%q ' "${cmd[@]}")" >/dev/null 2>"$errfile"; then
			row_state[$id]="failed: $(head -n 1 "$errfile")"
			continue
		fi
		row_times[$id]=$(awk '/"times": \[/ { f = 1; next }
			f && /\]/ { f = 0 }
			f { gsub(/[ ,]/, ""); printf " %d", $0 * 1000000 }' "$json")
	done
}

# peak_rss ID: the largest max-RSS (KiB) over a few runs under GNU time.
peak_rss() {
	local i kb max=0 out=$scratch/time.out
	set_cmd "$1"
	for ((i = 0; i < MEM_RUNS; i++)); do
		/usr/bin/time -f %M -o "$out" "${cmd[@]}" >/dev/null 2>&1 || return 1
		kb=$(tail -n 1 "$out")
		[[ $kb =~ ^[0-9]+$ ]] && ((kb > max)) && max=$kb
		after_run "$1"
	done
	row_peak[$1]=$max
}

describe_machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "machine: $(nproc) CPUs (${cpu:-unknown}), kernel $(uname -r), cgroups $(cgroup_mode)," \
		"load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "tools:   $(unshare --version 2>/dev/null | head -n 1);" \
		"$(if have bwrap; then bwrap --version; else echo "no bwrap"; fi);" \
		"$(if have runc; then runc --version | head -n 1; else echo "no runc"; fi);" \
		"$(if have hyperfine; then hyperfine --version; else echo "no hyperfine"; fi)"
}

# spread ID: "p10-p90" in ms.
spread() { echo "$(ms "${row_p10[$1]}")-$(ms "${row_p90[$1]}")"; }

table1_line() { printf '%-22s %9s  %-13s %10s  %-28s %s\n' "$@"; }

print_table1() {
	local id med floor_med=${row_median[floor]:-} over peak
	table1_line "" "median ms" "p10-p90 ms" "over floor" "ratio (median)" "peak RSS"
	for id in "${rows[@]}"; do
		if [[ -z ${row_median[$id]:-} ]]; then
			printf '%-22s %s\n' "${row_label[$id]}" "${row_state[$id]:-no runs}"
			continue
		fi
		med=${row_median[$id]} over="-" peak="n/a"
		[[ -n $floor_med && $id != floor ]] && over=$(ms $((med - floor_med)))
		[[ -n ${row_peak[$id]:-} ]] && peak=$(awk -v k="${row_peak[$id]}" 'BEGIN { printf "%.1f MiB", k / 1024 }')
		table1_line "${row_label[$id]}" "$(ms "$med")" "$(spread "$id")" "$over" "$(ratio_to_baseline "$id")" "$peak"
	done
}

# "0.98x unshare": row $1's median against its baseline's; "-" without one.
ratio_to_baseline() {
	local vs=${row_vs[$1]}
	if [[ -n $vs && -n ${row_median[$vs]:-} ]]; then
		echo "$(awk -v a="${row_median[$1]}" -v b="${row_median[$vs]}" 'BEGIN { printf "%.2f", a / b }')x ${row_label[$vs]}"
	elif [[ -n $vs ]]; then
		echo "(${row_label[$vs]}: none)"
	else
		echo "-"
	fi
}

rootless_line() { printf '%-22s %9s  %-13s %11s  %-14s %s\n' "$@"; }

# The rootless column: each r-ID row against its row ID as root, less
# what setpriv's own exec adds (the floor as nobody against the floor).
setpriv_cost="an unknown time"
print_rootless() {
	local id med root_med cost="" step rel
	if [[ -n ${row_median[r-floor]:-} && -n ${row_median[floor]:-} ]]; then
		cost=$((row_median[r-floor] - row_median[floor]))
		setpriv_cost="$(ms "$cost") ms"
	fi
	rootless_line "" "median ms" "p10-p90 ms" "userns step" "rootless/root" "ratio (median)"
	for id in "${rootless_rows[@]}"; do
		if [[ -z ${row_median[$id]:-} ]]; then
			printf '%-22s %9s  %s\n' "${row_label[$id]}" "-" "${row_state[$id]:-no runs}"
			continue
		fi
		med=${row_median[$id]} root_med=${row_median[${id#r-}]:-} step="-" rel="-"
		if [[ $id != r-floor && -n $root_med && -n $cost ]]; then
			step="$(ms $((med - cost - root_med))) ms"
			rel=$(awk -v a=$((med - cost)) -v b="$root_med" 'BEGIN { printf "%.2fx", a / b }')
		fi
		rootless_line "${row_label[$id]}" "$(ms "$med")" "$(spread "$id")" "$step" "$rel" "$(ratio_to_baseline "$id")"
	done
}

# cell ID: "median (p10-p90)" for tables 2 and 3, or why there is none.
cell() {
	local why=${row_state[$1]:-no runs}
	if [[ -n ${row_median[$1]:-} ]]; then
		echo "$(ms "${row_median[$1]}") ($(spread "$1"))"
	else
		((${#why} <= 36)) || why="${why:0:35}~"
		echo "$why"
	fi
}

# growth ID1 ID2: the median of ID2 over that of ID1.
growth() {
	if [[ -n ${row_median[$1]:-} && -n ${row_median[$2]:-} ]]; then
		awk -v a="${row_median[$2]}" -v b="${row_median[$1]}" 'BEGIN { printf "%.2fx", a / b }'
	else
		echo "-"
	fi
}

# ---- table 1 ----

add_row floor "floor (/bin/true)" ""
comparisons=(u1 u2 u3 bwrap runc)
comparison_labels=("unshare uts" "unshare uts+pid" "unshare uts+pid+mnt" "bubblewrap" "runc")
for n in 1 2 3 4 5; do
	bins[s$n]=$repo/${STAGES[n - 1]}/container
	add_row "s$n" "${STAGES[n - 1]}" "$(stage_state "$n")" "${comparisons[n - 1]}"
	if [[ $DO_STATIC == 1 ]]; then
		bins[s${n}static]=$repo/$STATIC_BUILD/${STAGES[n - 1]}/container
		state=$(stage_state "$n")
		[[ -n $state ]] || build_static "$n" ||
			state="static build failed: $(grep -m 1 -i error "$errfile" || head -n 1 "$errfile")"
		add_row "s${n}static" "${STAGES[n - 1]} static" "$state" "${comparisons[n - 1]}"
	fi
	# The writable layer in memory: the difference is the disk layer's cost.
	((n < 4)) || add_row "s${n}tmpfs" "${STAGES[n - 1]} tmpfs" "$(stage_state "$n")" "s$n"
	add_row "${comparisons[n - 1]}" "${comparison_labels[n - 1]}" ""
done

have unshare || for id in u1 u2 u3; do row_state[$id]="not installed"; done
for tool in bwrap runc; do
	if ! have "$tool"; then
		row_state[$tool]="not installed"
	elif ((!image_ok)); then
		row_state[$tool]="no image (make rootfs)"
	elif ! "setup_$tool" >"$errfile" 2>&1; then
		row_state[$tool]="setup failed: $(head -n 1 "$errfile")"
	fi
done

# The rootless column: stage 5 needs a cgroup v2 subtree delegated to the
# user, which v1 and hybrid cannot give; on v2 it is tried, and its failure
# printed, since root's session here is not a delegated one either.
if [[ $DO_ROOTLESS == 1 ]]; then
	nobody=""
	have setpriv || nobody="not installed: setpriv (util-linux)"
	add_rootless_row floor "$nobody"
	for n in 1 2 3 4; do
		add_rootless_row "s$n" "${row_state[s$n]:-$nobody}" "${comparisons[n - 1]}"
		add_rootless_row "${comparisons[n - 1]}" "${row_state[${comparisons[n - 1]}]:-$nobody}"
	done
	state=${row_state[s5]:-$nobody}
	[[ -n $state || $(cgroup_mode) == v2 ]] ||
		state="needs a cgroup v2 subtree delegated to the user; cgroups here are $(cgroup_mode)"
	add_rootless_row s5 "$state"
fi

describe_machine
echo
check_rows "${rows[@]}" "${rootless_rows[@]}"
if [[ $USE_HYPERFINE == 1 ]] && have hyperfine; then
	method="hyperfine -N, $RUNS runs per row after $WARMUP warm-up runs, rows one after another"
	hyperfine_rows "$RUNS" "$WARMUP" "${rows[@]}" "${rootless_rows[@]}"
else
	method="bash \$EPOCHREALTIME, $RUNS runs per row, interleaved in random order, after $WARMUP warm-up rounds"
	run_rounds "$RUNS" "$WARMUP" "${rows[@]}" "${rootless_rows[@]}"
fi
if [[ -x /usr/bin/time ]]; then
	# A row whose peak cannot be read says n/a; that is all.
	for id in "${rows[@]}"; do
		[[ -n ${row_state[$id]} ]] || peak_rss "$id" || true
	done
	peak_note="peak RSS: the largest resident set of any one process in the tool's tree (GNU time %M), max of $MEM_RUNS runs"
else
	peak_note="peak RSS: n/a, no /usr/bin/time (apt-get install time)"
fi

summarize "${rows[@]}" "${rootless_rows[@]}"
printf 'Table 1: container run true (%s)\n\n' "$method"
print_table1
echo
echo "$peak_note"
echo "ratio: median of the row / median of its comparison row, both from this run"
echo "every run starts after a ${SETTLE_MS} ms pause (BENCH_SETTLE_MS), as a lone 'container run' would"
line=""
for n in 4 5; do
	[[ -n ${row_median[s$n]:-} && -n ${row_median[s${n}tmpfs]:-} ]] || continue
	line+=" stage $n $(awk -v d="${row_median[s$n]}" -v t="${row_median[s${n}tmpfs]}" 'BEGIN { printf "%+.2f ms", (d - t) / 1000 }'),"
done
[[ -n $line ]] && echo "the disk layer's cost, default minus --tmpfs-layer, medians:${line%,}"
if [[ $DO_STATIC == 1 ]]; then
	line=""
	for n in 1 2 3 4 5; do
		[[ -n ${row_median[s$n]:-} && -n ${row_median[s${n}static]:-} ]] || continue
		line+=" s$n $(awk -v d="${row_median[s$n]}" -v s="${row_median[s${n}static]}" \
			'BEGIN { printf "%+.2f ms (%+.0f%%)", (s - d) / 1000, (s - d) * 100 / d }'),"
	done
	[[ -n $line ]] && echo "static minus dynamic, medians:${line%,}"
fi
if [[ $DO_ROOTLESS == 1 ]]; then
	printf '\nTable 1, rootless column: each row again as uid 65534 (%s), in the same rounds\n\n' "${AS_NOBODY[*]}"
	print_rootless
	echo
	echo "setpriv: its exec adds $setpriv_cost to every row of this table (floor as nobody minus floor)"
	echo "userns step: (median - setpriv) - the same row's median as root; rootless/root: (median - setpriv) / as root"
	echo "ratio: median of the row / median of its comparison row, both run as nobody"
fi
printf '\ncommands (from %s):\n' "$repo"
for id in "${rows[@]}" "${rootless_rows[@]}"; do
	[[ ${row_state[$id]} == "not built" || ${row_state[$id]} == not\ installed* ]] && continue
	label=${row_label[$id]}
	[[ $id == r-* ]] && label+=" as nobody"
	printf '  %-31s %s\n' "$label" "$(show_cmd "$id")"
done
[[ -n $bwrap_note && -z ${row_state[bwrap]} ]] && echo "  bubblewrap: $bwrap_note"
[[ -z ${row_state[runc]} ]] && echo "  runc: config.json is ${RUNC_CONFIG#"$repo"/}: runc spec's, with stage 5's limits and namespaces, /proc and /dev only"

# ---- table 3: start-up against the containers already running ----

if ((CROWD > 0)); then
	add_row crowd-0 "stage5, none running" "$(stage_state 5)"
	add_row crowd-n "stage5, $CROWD running" "$(stage_state 5)"
	check_rows crowd-0 crowd-n
	# Half the quiet runs before the crowd and half after, so that a
	# drift of the machine does not pass for the crowd's cost.
	run_rounds $((CROWD_RUNS / 2)) 2 crowd-0
	[[ -n ${row_state[crowd-n]} ]] || start_crowd "$CROWD" ||
		row_state[crowd-n]="the $CROWD containers did not all start"
	run_rounds "$CROWD_RUNS" 2 crowd-n
	stop_crowd
	run_rounds $((CROWD_RUNS - CROWD_RUNS / 2)) 0 crowd-0
	summarize crowd-0 crowd-n
	printf '\nTable 3: stage 5 start-up with other containers running (%s runs per row)\n\n' "$CROWD_RUNS"
	printf '%-28s %s\n' "containers already running" "stage5 run true: median ms (p10-p90)" \
		0 "$(cell crowd-0)" "$CROWD" "$(cell crowd-n)" "$CROWD / 0" "$(growth crowd-0 crowd-n)"
	echo
fi

# ---- table 2: start-up against image size ----

[[ $DO_IMAGE == 1 ]] || exit 0
echo
skip_table2() {
	echo "Table 2: skipped, $1"
	exit 0
}
((image_ok)) || skip_table2 "no default image (make rootfs)"
small_mb=$(du -sm "$IMAGE" | cut -f1)
need_mb=$((IMAGE_MB * 2 + 64))
free_mb=$(df -Pm "$scratch" | awk 'NR == 2 { print $4 }')
((free_mb >= need_mb)) || skip_table2 "needs ${need_mb} MB free in $TMPBASE, has $free_mb (set BENCH_TMPDIR)"
big_image=$scratch/big-image
pad_mb=$((IMAGE_MB > small_mb ? IMAGE_MB - small_mb : 0))
cp -a "$IMAGE" "$big_image" || die "cannot copy the image to $big_image"
# A real file of zeros: every block is allocated, so cp has to copy it.
dd if=/dev/zero of="$big_image/padding" bs=1M count="$pad_mb" status=none ||
	die "cannot write $big_image/padding"
big_mb=$(du -sm "$big_image" | cut -f1)

add_row img-small "stage4 on ${small_mb} MB" "$(stage_state 4)"
add_row img-big "stage4 on ${big_mb} MB" "$(stage_state 4)"
add_row cp-small "cp -a of ${small_mb} MB" ""
add_row cp-big "cp -a of ${big_mb} MB" ""
check_rows img-small img-big cp-small cp-big
run_rounds "$IMAGE_RUNS" 1 img-small img-big cp-small cp-big
summarize img-small img-big cp-small cp-big

echo "Table 2: start-up against image size ($IMAGE_RUNS runs per row, interleaved;" \
	"padding is a real file of zeros on $(findmnt -no FSTYPE -T "$scratch")," \
	"page cache warm)"
echo
printf '%-16s %-38s %s\n' image "stage4 run true: median ms (p10-p90)" "cp -a of the image: median ms (p10-p90)" \
	"default, ${small_mb} MB" "$(cell img-small)" "$(cell cp-small)" \
	"large, ${big_mb} MB" "$(cell img-big)" "$(cell cp-big)" \
	"large / default" "$(growth img-small img-big)" "$(growth cp-small cp-big)"
