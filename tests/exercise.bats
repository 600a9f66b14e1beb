#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr: set by run and helpers.bash
# Exercise mode for courses: make exercise writes skeletons a student's work
# survives, and make grade scores a stage with that stage's own tests.  The
# full proof that every exercise is gradable is make exercise-check (CI):
# these checks stay fast, grading only a few tests through --filter.
# bats file_tags=toolchain

load helpers

# A copy of the checkout's sources, where make clean can do no harm.
copy_tree() {
	mkdir "$1"
	tar -C "$REPO" --exclude=./rootfs --exclude=./.cache --exclude=./.git \
		--exclude=./build --exclude=./exercises -cf - . | tar -C "$1" -xf -
}

@test "exercise: a student's skeleton survives make exercise and make clean; FORCE=1 keeps a backup" {
	local copy=$BATS_TEST_TMPDIR/repo work
	copy_tree "$copy"
	work=$copy/exercises/stage2-pid/main.c
	run make -C "$copy" -s exercise
	log_run "make exercise"
	expect_status 0
	for dir in "${STAGE_DIRS[@]}"; do
		[[ -f $copy/exercises/$dir/main.c ]] || fail "make exercise did not write exercises/$dir/main.c"
	done
	grep -q 'diex("stage 2: run_init() is not written yet")' "$work" ||
		fail "the stage 2 skeleton has no stub for run_init()"
	echo "/* my work */" >>"$work"
	run make -C "$copy" -s exercise STAGE=2
	log_run "make exercise STAGE=2 (the skeleton exists)"
	expect_match "$output$stderr" "exists" "the refusal"
	grep -q 'my work' "$work" || fail "make exercise replaced the student's work"
	run make -C "$copy" -s clean
	grep -q 'my work' "$work" || fail "make clean removed the student's work"
	run make -C "$copy" -s exercise STAGE=2 FORCE=1
	log_run "make exercise STAGE=2 FORCE=1"
	expect_status 0
	! grep -q 'my work' "$work" || fail "FORCE=1 did not write a fresh skeleton"
	grep -q 'my work' "$copy"/exercises/stage2-pid/main.c.~*~ || fail "FORCE=1 kept no backup"
}

@test "exercise: a hole the list names but the stage lacks is a clear error" {
	local copy=$BATS_TEST_TMPDIR/repo
	copy_tree "$copy"
	sed -i 's/run_init(/start_init(/' "$copy/stage2-pid/main.c"
	run --separate-stderr "$copy/scripts/exercise.sh" skeleton 2
	log_run "exercise.sh skeleton 2 (run_init renamed)"
	[[ $status -ne 0 ]] || fail "the skeleton was made without run_init()"
	expect_match "$stderr" "run_init\(\).*update the list" "the error"
}

@test "exercise: the untouched stage-2 skeleton fails grading with a score below full marks" {
	local sk=$BATS_TEST_TMPDIR/stage2.c
	"$REPO/scripts/exercise.sh" skeleton 2 >"$sk"
	run --separate-stderr "$REPO/scripts/grade.sh" --filter 'the command is PID 1|--init exits' 2 "$sk"
	log_run "grade.sh 2 (the skeleton)"
	expect_status 1
	expect_match "$output" "stage 2: [0-1]/2 tests passed$" "the score"
	expect_match "$output" "not ok .* --init exits with the command's status" "the failing test"
}

@test "exercise: a wrong answer is caught, the report names what is missing, and JUNIT has it" {
	local wrong=$BATS_TEST_TMPDIR/stage2.c xml=$BATS_TEST_TMPDIR/report.xml
	sed 's/ | CLONE_NEWPID)/)/' "$REPO/stage2-pid/main.c" >"$wrong"
	run --separate-stderr "$REPO/scripts/grade.sh" --junit "$xml" --filter 'the command is PID 1|--init exits' 2 "$wrong"
	log_run "grade.sh 2 (no CLONE_NEWPID)"
	expect_status 1
	expect_match "$output" "not ok [0-9]+ stage2: the command is PID 1" "the failing test"
	expect_match "$output" "stage 2: 1/2 tests passed$" "the score"
	grep -q '<testcase [^>]*name="stage2: the command is PID 1"' "$xml" || fail "the JUnit report lacks the test"
	grep -q '<failure' "$xml" || fail "the JUnit report has no failure"
}

@test "exercise: stage 3 without the private remount fails, and the report says mounts leak to the host" {
	local wrong=$BATS_TEST_TMPDIR/stage3.c
	# make_mounts_private() that does nothing but trace.
	sed '/^static void make_mounts_private(void)$/,/^}$/{/mount(NULL/,/die(/d}' \
		"$REPO/stage3-mount/main.c" >"$wrong"
	! grep -q 'MS_REC | MS_PRIVATE, NULL' "$wrong" || fail "the test's sed did not remove the remount"
	# It also leaks its /proc, which keeps bats waiting: GRADE_GRACE ends that.
	GRADE_GRACE=5 run --separate-stderr "$REPO/scripts/grade.sh" --filter "never appear on the shared host" 3 "$wrong"
	log_run "grade.sh 3 (no private remount)"
	expect_status 1
	expect_match "$output" "not ok [0-9]+ stage3: mounts made inside never appear on the shared host" "the failing test"
	expect_match "$output" "stage 3: 0/1 tests passed$" "the score"
}

@test "exercise: a stage that does not compile scores 0 and shows the compiler's messages" {
	local bad=$BATS_TEST_TMPDIR/stage1.c
	sed 's/set_hostname(args->opts->hostname);/set_hostname(args->opts->hostname)/' \
		"$REPO/stage1-uts/main.c" >"$bad"
	run --separate-stderr "$REPO/scripts/grade.sh" 1 "$bad"
	log_run "grade.sh 1 (a missing semicolon)"
	expect_status 2
	expect_match "$output" "error: expected .;." "the compiler's message"
	expect_match "$output" "stage 1: 0/[0-9]+ tests passed$" "the score"
	run --separate-stderr "$REPO/scripts/grade.sh" 1 "$BATS_TEST_TMPDIR/missing.c"
	expect_status 2
	expect_match "$output" "stage 1: 0/[0-9]+ tests passed$" "the score of a missing file"
}
