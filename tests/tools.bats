#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr: set by run and helpers.bash
# The tools for the room: make doctor, make compare, make diff and the docs
# check, driven as a workshop leader would run them.

load helpers

@test "tools: make doctor passes on this machine and names the stages that can run" {
	run --separate-stderr "$REPO/scripts/doctor.sh"
	log_run "scripts/doctor.sh"
	expect_status 0
	expect_match "$output" "cgroup mode" "doctor"
	expect_match "$output" "can run: 1 2 3 4 5" "doctor summary"
}

@test "tools: make doctor, for a user who is not root, checks rootless mode: stages 1-4 run, stage 5 needs a delegated cgroup v2" {
	run --separate-stderr "${NOBODY[@]}" "$REPO/scripts/doctor.sh"
	log_run "${NOBODY[*]} scripts/doctor.sh"
	# The suite's cgroups are root's: nothing is delegated to nobody.
	[[ $status -ne 0 ]] || fail "doctor passed stage 5 as nobody"
	expect_match "$output" "ok +rootless: an unprivileged user may make" "doctor as nobody"
	expect_match "$output" "ok +rootless: overlayfs mounts in a user namespace" "doctor as nobody"
	expect_match "$output" "FAIL +rootless: (cgroups here are v1 or hybrid|no cgroup v2 subtree delegated).* fix: " "doctor's fix"
	expect_match "$output" "can run: 1 2 3 4; cannot run: 5" "doctor summary"
}

@test "tools: make compare measures each stage, the pids limit included" {
	run --separate-stderr "$REPO/scripts/compare.sh"
	log_run "scripts/compare.sh"
	expect_status 0
	expect_match "$output" "stage2-pid +container +1 " "stage 2 row: PID 1"
	expect_match "$output" "stage3-mount +container +1 +1 " "stage 3 row: one process visible"
	expect_match "$output" "stage4-rootfs +container +1 +1 +no " "stage 4 row: host / hidden"
	expect_match "$output" "stage5-cgroups .*20 \(19 forks\)" "stage 5 row: pids limit"
}

@test "tools: make diff shows each step as a diff of main.c" {
	run --separate-stderr "$REPO/scripts/stage-diff.sh" stage3-mount stage4-rootfs
	log_run "scripts/stage-diff.sh stage3-mount stage4-rootfs"
	expect_match "$output" "\+\+\+ stage4-rootfs/main.c" "diff header"
	expect_match "$output" "\+static void enter_new_root\(void\)" "diff body"
}

@test "tools: the docs check passes, and fails when a function the docs name is renamed" {
	local copy=$BATS_TEST_TMPDIR/repo
	mkdir "$copy"
	tar -C "$REPO" --exclude=./rootfs --exclude=./.cache --exclude=./.git --exclude=./build -cf - . |
		tar -C "$copy" -xf -
	run --separate-stderr "$copy/scripts/docs.sh" check --no-run
	log_run "docs.sh check --no-run (a copy of the tree)"
	expect_status 0
	sed -i 's/mount_proc(/mount_the_proc(/' "$copy/stage3-mount/main.c"
	run --separate-stderr "$copy/scripts/docs.sh" check --no-run
	log_run "docs.sh check --no-run (mount_proc renamed in stage 3)"
	[[ $status -ne 0 ]] || fail "the docs check did not notice the rename"
	expect_match "$output$stderr" "mount_proc" "the check names the function"
}

@test "tools: the docs check fails on pasted output that is not marked as a dated illustration" {
	local copy=$BATS_TEST_TMPDIR/repo
	mkdir "$copy"
	tar -C "$REPO" --exclude=./rootfs --exclude=./.cache --exclude=./.git --exclude=./build -cf - . |
		tar -C "$copy" -xf -
	# The marker of the first illustration in rootless.md, taken away.
	grep -q '^\*Illustration: recorded 20' "$copy/docs/rootless.md" || fail "rootless.md has no illustration to unmark"
	sed -i '0,/^\*Illustration: recorded 20/s//Recorded 20/' "$copy/docs/rootless.md"
	run --separate-stderr "$copy/scripts/docs.sh" check --no-run docs/rootless.md
	log_run "docs.sh check --no-run docs/rootless.md (one illustration unmarked)"
	[[ $status -ne 0 ]] || fail "the docs check took pasted output for checked output"
	expect_match "$stderr" "rootless.md:[0-9]+: output that make docs-check does not re-run" "the check names the block"
	# A command block with no output needs no marker.
	# shellcheck disable=SC2016 # a $ prompt, not an expansion
	printf '# T\n\n```console\n$ make\n$ sudo make doctor\n```\n' >"$copy/docs/commands.md"
	run --separate-stderr "$copy/scripts/docs.sh" check --no-run docs/commands.md
	log_run "docs.sh check --no-run docs/commands.md (commands only)"
	expect_status 0
}

# bats test_tags=toolchain
@test "tools: the diagram check parses every mermaid diagram, and names a broken one" {
	command -v node >/dev/null && command -v npm >/dev/null ||
		[[ ${MERMAID_CHECK:-} == require ]] || skip "no node/npm here: the diagram check is skipped"
	run --separate-stderr "$REPO/scripts/mermaid-check.sh"
	log_run "scripts/mermaid-check.sh"
	expect_status 0
	expect_match "$output" "[0-9]+ diagrams parse" "the count"
	local bad=$BATS_TEST_TMPDIR/bad.md
	# shellcheck disable=SC2016 # backticks of a Markdown fence, not a command
	printf '# x\n\n```mermaid\nflowchart LR\n    a["open --> b\n```\n' >"$bad"
	run --separate-stderr "$REPO/scripts/mermaid-check.sh" "$bad"
	log_run "scripts/mermaid-check.sh $bad (an unclosed label)"
	expect_status 1
	expect_match "$stderr" "bad.md:3: Parse error" "the broken diagram, by file and line"
}

@test "tools: make install puts working stages under DESTDIR and PREFIX, and uninstall removes them" {
	local dest=$BATS_TEST_TMPDIR/dest
	run make -C "$REPO" -s install DESTDIR="$dest" PREFIX=/opt/cfs
	log_run "make install DESTDIR=$dest PREFIX=/opt/cfs"
	expect_status 0
	run --separate-stderr "$dest/opt/cfs/bin/container-stage5" run hostname
	log_run "container-stage5 run hostname"
	expect_status 0
	expect_eq "$output" container "the installed stage 5, with its installed image"
	run make -C "$REPO" -s uninstall DESTDIR="$dest" PREFIX=/opt/cfs
	expect_status 0
	expect_eq "$(find "$dest" -type f -o -type l)" "" "files left after uninstall"
}

@test "tools: make install fails when a stage in the middle cannot be installed" {
	local dest=$BATS_TEST_TMPDIR/dest
	mkdir -p "$dest/opt/cfs/libexec/containers-from-scratch"
	# A file where stage 3's directory must go.
	touch "$dest/opt/cfs/libexec/containers-from-scratch/stage3-mount"
	run make -C "$REPO" -s install DESTDIR="$dest" PREFIX=/opt/cfs
	log_run "make install DESTDIR=$dest PREFIX=/opt/cfs (stage 3 blocked)"
	((status != 0)) || fail "make install exited 0"
}

@test "tools: the Makefile, scripts/lib.sh, the suites and the tool's own table list the same stages" {
	local list in_make in_lib in_cli
	list=$(paste -sd ' ' "$REPO/scripts/stages.txt")
	# shellcheck disable=SC2016 # $(STAGES) is make's
	in_make=$(make -C "$REPO" -s --no-print-directory -f Makefile -f - print-stages <<<'print-stages: ; @echo $(STAGES)')
	# shellcheck disable=SC2016 # expanded by the inner bash
	in_lib=$(bash -c 'source "$1/scripts/lib.sh" && echo "${STAGES[*]}"' bash "$REPO")
	# common/cli.c cannot read a file: its table is checked here.
	in_cli=$(sed -n '/stage_dirs\[\] = {/,/};/p' "$REPO/common/cli.c" | grep -o '"stage[^"]*"' | tr -d '"' | paste -sd ' ')
	expect_eq "$in_make" "$list" "STAGES in the Makefile"
	expect_eq "$in_lib" "$list" "STAGES in scripts/lib.sh"
	expect_eq "${STAGE_DIRS[*]}" "$list" "STAGE_DIRS in tests/helpers.bash"
	expect_eq "$in_cli" "$list" "stage_dirs in common/cli.c"
}

# bats test_tags=toolchain
@test "tools: make STATIC=1 BUILD=DIR builds under DIR, with the image, and leaves the normal build alone" {
	local dir=$BATS_TEST_TMPDIR/build before
	before=$(stat -c %Y "$REPO/stage4-rootfs/container")
	run make -C "$REPO" -s STATIC=1 BUILD="$dir" "$dir/stage4-rootfs/container" "$dir/rootfs"
	log_run "make STATIC=1 BUILD=$dir"
	expect_status 0
	run --separate-stderr "$dir/stage4-rootfs/container" run hostname
	log_run "$dir/stage4-rootfs/container run hostname"
	expect_status 0
	expect_eq "$output" container "the stage built under BUILD, on the default image"
	expect_eq "$(stat -c %Y "$REPO/stage4-rootfs/container")" "$before" "the normal stage 4's mtime"
}

# bats test_tags=toolchain
@test "tools: mkrootfs.sh --add (make rootfs ADD=...) adds a host program and keeps the test programs" {
	local image=$BATS_TEST_TMPDIR/image prog
	run --separate-stderr "$REPO/scripts/mkrootfs.sh" --add getconf "$image"
	log_run "scripts/mkrootfs.sh --add getconf $image"
	expect_status 0
	[[ -x $image/usr/bin/getconf ]] || fail "getconf is not in the image"
	for prog in "$REPO"/tests/progs/bin/*; do
		[[ -x $image/usr/local/bin/${prog##*/} ]] || fail "${prog##*/} was dropped from /usr/local/bin"
	done
	run make -C "$REPO" -s -n rootfs ADD="getconf env"
	log_run "make -n rootfs ADD=\"getconf env\""
	expect_match "$output" "mkrootfs.sh --add getconf --add env rootfs .*tests/progs/bin/forkcount" "make rootfs ADD=..."
}

# make docs-check-vm gives the VM sudo's plugin and a PAM module this way:
# shared objects that are loaded with dlopen(3), not executable, and not in
# any program's ldd.  A copy of pam_permit.so, mode 644 whatever the
# host's is, stands in for one.
# bats test_tags=toolchain
@test "tools: mkrootfs.sh --add takes a shared object by its path, with the libraries it needs" {
	local image=$BATS_TEST_TMPDIR/image module=$BATS_TEST_TMPDIR/plugin.so found
	found=$(compgen -G '/usr/lib/*/security/pam_permit.so') ||
		fail "no pam_permit.so on this host (apt-get install libpam-modules)"
	install -m 0644 "${found%%$'\n'*}" "$module"
	run --separate-stderr "$REPO/scripts/mkrootfs.sh" --add "$module" "$image"
	log_run "scripts/mkrootfs.sh --add $module $image"
	expect_status 0
	[[ -f $image$module ]] || fail "$module is not in the image"
	compgen -G "$image/usr/lib/*/libpam.so.0" >/dev/null || fail "libpam.so.0, which it links, is not in the image"
}

@test "tools: make help lists every target of the Makefile's .PHONY" {
	local target phony
	phony=$(sed -n '/^\.PHONY:/,/[^\\]$/{s/^\.PHONY://;s/\\$//;p}' "$REPO/Makefile")
	[[ -n $phony ]] || fail "no .PHONY line in the Makefile"
	run make -C "$REPO" -s --no-print-directory help
	log_run "make help"
	expect_status 0
	for target in $phony; do
		grep -q "^make $target " <<<"$output" || fail "make help does not list $target"
	done
}

@test "tools: make diff STAGE=N shows only the step into stage N" {
	run make -C "$REPO" -s --no-print-directory diff STAGE=3
	log_run "make diff STAGE=3"
	expect_status 0
	expect_match "$output" "^--- stage2-pid/main.c" "the diff's first header"
	expect_no_match "$output" "stage4-rootfs" "another step"
}

@test "tools: make diff STAGE=N shows every source file of the step, a new one as a new file" {
	local f dir=$REPO/stage5-cgroups
	[[ -f $dir/main.c ]] || skip "no stage 5 in this checkout"
	run make -C "$REPO" -s --no-print-directory diff STAGE=5
	log_run "make diff STAGE=5"
	expect_status 0
	for f in "$dir"/*.[ch]; do
		f=${f##*/}
		if [[ -f $REPO/stage4-rootfs/$f ]]; then
			cmp -s "$REPO/stage4-rootfs/$f" "$dir/$f" ||
				expect_match "$output" "--- stage4-rootfs/$f"$'\n'"\+\+\+ stage5-cgroups/$f" "$f, changed"
		else
			expect_match "$output" "--- /dev/null"$'\n'"\+\+\+ stage5-cgroups/$f"$'\n'"@@ -0,0 \+1," "$f, new"
		fi
	done
}

@test "tools: make doctor names a missing build or test tool, with the fix" {
	local bin=$BATS_TEST_TMPDIR/bin prog
	mkdir "$bin"
	# Every program of /usr/bin but shellcheck and bats.
	for prog in /usr/bin/*; do
		[[ ${prog##*/} == shellcheck || ${prog##*/} == bats ]] || ln -s "$prog" "$bin/"
	done
	run --separate-stderr env PATH="$bin:/usr/sbin" "$REPO/scripts/doctor.sh"
	log_run "PATH=(no shellcheck, no bats) scripts/doctor.sh"
	expect_status 0
	expect_match "$output" "warn +tools: no shellcheck.* fix: apt-get install shellcheck" "doctor, shellcheck"
	expect_match "$output" "warn +tools: no bats.* fix: apt-get install bats" "doctor, bats"
}

@test "tools: the copy check fails when one copy of a shared function, or of a whole file, is altered" {
	local tree=$BATS_TEST_TMPDIR/tree n
	mkdir -p "$tree/scripts"
	cp "$REPO/scripts/copies-allowed.txt" "$tree/scripts/"
	# Every stage, even where the suite checks only the later ones (make
	# test-vm FULL=1): the copy check compares them all.
	for ((n = 1; n <= LAST_STAGE; n++)); do
		mkdir -p "$tree/$(stage_dir "$n")"
		cp "$REPO/$(stage_dir "$n")"/*.[ch] "$tree/$(stage_dir "$n")/"
	done
	run --separate-stderr "$REPO/scripts/check-copies.sh" "$tree"
	log_run "scripts/check-copies.sh (a copy of the stages)"
	expect_status 0

	# One line of stage 3's set_hostname(), which every stage shares.
	sed -i 's/trace("set hostname to /trace("now set hostname to /' "$tree/stage3-mount/main.c"
	run --separate-stderr "$REPO/scripts/check-copies.sh" "$tree"
	log_run "scripts/check-copies.sh (set_hostname altered in stage 3)"
	expect_status 1
	expect_match "$stderr" "set_hostname\(\) differs between stage2-pid and stage3-mount" "the altered copy"
	expect_match "$stderr" "\+	trace\(\"now set hostname to " "the diff"

	# A listed change that does not exist is an error too.
	cp "$REPO/stage3-mount/main.c" "$tree/stage3-mount/"
	echo "set_hostname stage2-pid no such change" >>"$tree/scripts/copies-allowed.txt"
	run --separate-stderr "$REPO/scripts/check-copies.sh" "$tree"
	log_run "scripts/check-copies.sh (a stale line in the list)"
	expect_status 1
	expect_match "$stderr" "lists 'set_hostname stage2-pid', but stage2-pid does not change set_hostname\(\)" "the stale line"

	# A source file beside main.c that a later stage copies whole
	# (stage 4's extras.c in stage 5) must stay the same file.
	cp "$REPO/scripts/copies-allowed.txt" "$tree/scripts/"
	[[ -f $tree/stage4-rootfs/extras.c && -f $tree/stage5-cgroups/extras.c ]] || fail "no extras.c in stages 4 and 5"
	echo '/* changed */' >>"$tree/stage5-cgroups/extras.c"
	run --separate-stderr "$REPO/scripts/check-copies.sh" "$tree"
	log_run "scripts/check-copies.sh (stage 5's extras.c altered)"
	expect_status 1
	expect_match "$stderr" "extras.c differs between stage4-rootfs and stage5-cgroups" "the altered file"
}

@test "tools: every script a user may run answers --help with its header, and does nothing else" {
	local script name before
	before=$(cd "$REPO" && git status --porcelain --ignored)
	for script in "$REPO"/scripts/*.sh; do
		name=${script##*/}
		# Sourced, or run only by another script (vm-init.sh has a test of its own).
		[[ $name != @(lib|vm-init|docs-runner).sh ]] || continue
		# Without help_if_asked, oracle.sh or bench.sh would start their real work.
		run --separate-stderr timeout 30 "$script" --help
		log_run "scripts/$name --help"
		expect_status 0
		expect_eq "${output%%$'\n'*}" "$(sed -n '2s/^# //p' "$script")" "$name --help: its header's first line"
		expect_eq "$stderr" "" "$name --help: stderr"
	done
	expect_eq "$(cd "$REPO" && git status --porcelain --ignored)" "$before" "the checkout after every --help"
}

@test "tools: vm-init.sh, the test VM's /init, refuses to run anywhere but as its PID 1" {
	# As nobody: were the check missing, its mounts and its power-off (the
	# host's) would fail for want of privilege, and the test would still fail.
	run --separate-stderr "${NOBODY[@]}" bash "$REPO/scripts/vm-init.sh" --help
	log_run "${NOBODY[*]} scripts/vm-init.sh --help"
	expect_status 2
	expect_eq "$stderr" "vm-init.sh: the test VM's /init, never run by hand: see scripts/test-vm.sh --help" "vm-init.sh as a process"
}

@test "tools: exercise-check.sh names an exercise that does not exist, and checks nothing" {
	local name
	for name in 0 9 bogus ext-nope; do
		run --separate-stderr "$REPO/scripts/exercise-check.sh" "$name"
		log_run "scripts/exercise-check.sh $name"
		expect_status 2
		expect_match "$stderr" "^exercise-check: no exercise '$name': one of 1 2 3 4 5 rootless ext-" "exercise-check $name"
		expect_eq "$output" "" "exercise-check $name: nothing checked"
	done
}

@test "tools: make doctor without pivot_root(8) on PATH says it did not try pivot_root, and blames not /" {
	local bin=$BATS_TEST_TMPDIR/bin prog
	mkdir "$bin"
	# Every program of /usr/bin and /usr/sbin but pivot_root.
	for prog in /usr/bin/* /usr/sbin/*; do
		[[ ${prog##*/} == pivot_root ]] || ln -sf "$prog" "$bin/"
	done
	run --separate-stderr env PATH="$bin" "$REPO/scripts/doctor.sh"
	log_run "PATH=(no pivot_root) scripts/doctor.sh"
	expect_match "$output" "warn +pivot_root: not tried: no pivot_root\(8\) on PATH \(stages 4-5\) — fix: add /usr/sbin to PATH" "doctor, pivot_root"
	expect_no_match "$output" "must be a real mount" "doctor, pivot_root"
}

@test "tools: stage-diff.sh names an unknown stage, exits 2 and diffs nothing" {
	local args
	for args in "1 9" "x 2" "9"; do
		# shellcheck disable=SC2086 # one argument a word
		run --separate-stderr "$REPO/scripts/stage-diff.sh" $args
		log_run "scripts/stage-diff.sh $args"
		expect_status 2
		expect_match "$stderr" "^stage-diff: unknown stage '(9|x)': expected one of" "stage-diff $args"
		expect_eq "$output" "" "stage-diff $args: no diff"
	done
}
