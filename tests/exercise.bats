#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr: set by run and helpers.bash
# Exercise mode for courses: make exercise writes skeletons a student's work
# survives, and make grade scores a stage with that stage's own tests.  The
# full proof that every exercise is gradable is make exercise-check (CI):
# these checks stay fast, grading only a few tests through --filter.
# bats file_tags=toolchain

load helpers

# The copies some tests make under build/, where the grade's sandbox user
# may read them, go even when the test fails.
teardown() {
	rm -rf "$REPO/build/"*"-$BATS_TEST_NUMBER-$$"
	common_teardown
}

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

@test "exercise: a malformed line in the list of holes stops the skeleton, not a skeleton without that hole" {
	local copy=$BATS_TEST_TMPDIR/repo
	copy_tree "$copy"
	echo "a line without the five fields" >>"$copy/scripts/exercise-holes.txt"
	run --separate-stderr "$copy/scripts/exercise.sh" skeleton 2
	log_run "exercise.sh skeleton 2 (a malformed line)"
	[[ $status -ne 0 ]] || fail "a skeleton was made from a malformed list"
	expect_match "$stderr" "exercise-holes.txt:[0-9]+: expected 5 fields" "the error"
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
	GRADE_GRACE=5 run --separate-stderr "$REPO/scripts/grade.sh" --trusted --filter "never appear on the shared host" 3 "$wrong"
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

# A submission with a constructor: it runs before main() in every process
# of the stage the tests start.
hostile_source() {
	cat <<-EOC
		#include <ftw.h>
		#include <stdio.h>
		static int spoil(const char *path, const struct stat *st, int type, struct FTW *ftw)
		{
			FILE *f;
			(void)st;
			(void)ftw;
			if (type == FTW_F && (f = fopen(path, "a")) != NULL) {
				fputs("\n@test \"pwned\" { true; }\n", f);
				fclose(f);
			}
			return 0;
		}
		__attribute__((constructor)) static void hostile(void)
		{
			char line[128];
			FILE *f = fopen("$1", "r");
			if (f != NULL && fgets(line, sizeof(line), f) != NULL)
				printf("LEAKED: %s\n", line);
			nftw("$REPO/tests", spoil, 16, FTW_PHYS);
			nftw("$REPO/scripts", spoil, 16, FTW_PHYS);
			nftw("$REPO/rootfs/etc", spoil, 16, FTW_PHYS);
		}
	EOC
	cat "$REPO/stage1-uts/main.c"
}

checkout_state() {
	(cd "$REPO" && find tests scripts common stage1-uts rootfs/etc Makefile -type f -print0 | sort -z | xargs -0 sha1sum)
}

@test "exercise: a hostile submission cannot write the checkout, the tests or the image, nor read a root-only file" {
	local evil=$BATS_TEST_TMPDIR/stage1.c secret inc=$BATS_TEST_TMPDIR/include.c
	secret=$REPO/build/secret-$BATS_TEST_NUMBER-$$
	mkdir -p "$REPO/build"
	(umask 077 && echo "the-root-only-secret-$$" >"$secret")
	hostile_source "$secret" >"$evil"
	checkout_state >"$BATS_TEST_TMPDIR/before"
	run --separate-stderr "$REPO/scripts/grade.sh" --filter "the default hostname is" 1 "$evil"
	log_run "grade.sh 1 (a hostile constructor)"
	checkout_state >"$BATS_TEST_TMPDIR/after"
	printf '#include "%s"\n' "$secret" >"$inc"
	cat "$REPO/stage1-uts/main.c" >>"$inc"
	local out1=$output$stderr
	run --separate-stderr "$REPO/scripts/grade.sh" --junit "$BATS_TEST_TMPDIR/report.xml" 1 "$inc"
	log_run "grade.sh 1 (#include of a root-only file)"
	rm -f "$secret"
	diff -u "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" || fail "the submission changed the checkout"
	! grep -q "the-root-only-secret" <<<"$out1$output$stderr" || fail "the secret leaked into the output"
	! grep -q "the-root-only-secret" "$BATS_TEST_TMPDIR/report.xml" || fail "the secret leaked into the JUnit report"
	expect_status 2
	# Out of every test of stage 1, as bats counts them.
	expect_match "$output" "stage 1: 0/$(bats --count "$REPO/tests/stage1-uts.bats") tests passed$" "the score of a submission that does not compile"
}

@test "exercise: a submission that hangs under --init is graded in time, its hung test counted as failed in the score and JUnit" {
	local hang=$BATS_TEST_TMPDIR/stage2.c xml=$BATS_TEST_TMPDIR/report.xml start=$SECONDS
	# Blocks every signal and waits forever when run with --init.
	cat >"$hang" <<-'EOC'
		#include <signal.h>
		#include <string.h>
		#include <unistd.h>
		__attribute__((constructor)) static void hang(int argc, char **argv)
		{
			sigset_t all;
			for (int i = 1; i < argc; i++)
				if (strcmp(argv[i], "--init") == 0) {
					sigfillset(&all);
					sigprocmask(SIG_SETMASK, &all, NULL);
					for (;;)
						pause();
				}
		}
	EOC
	cat "$REPO/stage2-pid/main.c" >>"$hang"
	BATS_TEST_TIMEOUT=10 GRADE_TIMEOUT=90 run --separate-stderr "$REPO/scripts/grade.sh" \
		--junit "$xml" --filter 'the command is PID 1|--init exits' 2 "$hang"
	log_run "grade.sh 2 (hangs under --init)"
	((SECONDS - start < 240)) || fail "the grade took $((SECONDS - start))s"
	expect_status 1
	expect_match "$output" "stage 2: 1/2 tests passed$" "the score, out of every test"
	expect_match "$output" "failed: [0-9]+ \(timed out\)" "the hung test, named"
	grep -q '<testsuite [^>]*tests="2" failures="1"' "$xml" || fail "the JUnit report does not count the hung test: $(cat "$xml")"
}

@test "exercise: Ctrl-C ends the whole grade and leaves nothing running" {
	local hang=$BATS_TEST_TMPDIR/stage1.c pid work
	sed 's/^int main(int argc, char \*\*argv)$/static int real_main(int argc, char **argv);\nint main(int argc, char **argv) { if (argc > 2) pause(); return real_main(argc, argv); }\nstatic int real_main(int argc, char **argv)/' \
		"$REPO/stage1-uts/main.c" >"$hang"
	grep -q real_main "$hang" || fail "the test's sed found no main()"
	find "$REPO/build" -maxdepth 1 -name "grade.*" 2>/dev/null | sort >"$BATS_TEST_TMPDIR/before" || true
	# A background job ignores SIGINT, as the shell sets it: not a grade
	# started at a terminal, which this stands for.
	setsid env --default-signal=INT "$REPO/scripts/grade.sh" 1 "$hang" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	wait_for 120 grep -q "running tests" "$BATS_TEST_TMPDIR/out"
	work=$(find "$REPO/build" -maxdepth 1 -name "grade.*" | sort | comm -13 "$BATS_TEST_TMPDIR/before" - | head -n 1)
	[[ -n $work ]] || fail "no scratch directory of the grade found"
	wait_for 60 pgrep -f "$work/box/stage1-uts/container"
	kill -INT "$pid"
	wait_for 60 eval "! kill -0 $pid 2>/dev/null"
	wait "$pid" || true
	! pgrep -f "$work" || fail "processes of the grade left behind: $(pgrep -af "$work")"
	[[ ! -e $work ]] || fail "the grade left $work"
}

# grade_as_user N FILTER: as an ordinary user, grade the reference stage N
# (the tests matching FILTER) in a copy of the checkout that user owns; it
# must get full marks.  The user is what a student's account is on Debian
# and Ubuntu, where adduser gives every user a range of subordinate ids:
# nobody, with such a range.
grade_as_user() {
	local n=$1 filter=$2 copy=$REPO/build/user-$BATS_TEST_NUMBER-$$ out code=0
	rm -rf "$copy"
	copy_tree "$copy"
	cp -a "$REPO/rootfs/." "$copy/rootfs/"
	chown -R 65534:65534 "$copy"
	out=$(with_subids setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$copy/scripts/grade.sh" --filter "$filter" "$n" "$copy/${STAGE_DIRS[n - 1]}/main.c" 2>&1) || code=$?
	log "\$ grade.sh $n as nobody"
	log "  status: $code"
	log "  output: $out"
	rm -rf "$copy"
	((code == 0)) || fail "stage $n: exit status $code"
	[[ $out =~ stage\ $n:\ ([0-9]+)/([0-9]+)\ tests\ passed$ ]] || fail "stage $n: no score"
	((BASH_REMATCH[1] == BASH_REMATCH[2] && BASH_REMATCH[1] > 0)) ||
		fail "stage $n: ${BASH_REMATCH[0]}, not full marks"
}

@test "exercise: an ordinary user grades stage 1 without root, to full marks" {
	grade_as_user 1 'default hostname|never changes'
}

@test "exercise: an ordinary user grades stage 2 without root, to full marks" {
	grade_as_user 2 'the command is PID 1|--init exits'
}

@test "exercise: an ordinary user grades stage 3 without root, to full marks" {
	grade_as_user 3 '/proc shows only|never appear on the shared host'
}

# The tests whose checks differ for a rootless stage: the layer, the mount
# list, /tmp for another user, volumes.
@test "exercise: an ordinary user grades stage 4 without root, to full marks" {
	grade_as_user 4 'default writable layer is a directory|/tmp is writable by everyone|--volume bind-mounts host|pivot_root detaches'
}

@test "exercise: an ordinary user whose newuidmap fails gets the reason at once, not a grade that waits out its limit" {
	local copy=$REPO/build/user-$BATS_TEST_NUMBER-$$ out code=0 start=$SECONDS
	rm -rf "$copy"
	copy_tree "$copy"
	cp -a "$REPO/rootfs/." "$copy/rootfs/"
	mkdir "$copy/fake"
	printf '#!/bin/sh\necho "newuidmap: write to uid_map failed: Operation not permitted" >&2\nexit 1\n' >"$copy/fake/newuidmap"
	chmod 755 "$copy/fake/newuidmap"
	chown -R 65534:65534 "$copy"
	out=$(with_subids setpriv --reuid=65534 --regid=65534 --clear-groups \
		env PATH="$copy/fake:$PATH" GRADE_TIMEOUT=120 \
		"$copy/scripts/grade.sh" --filter 'default hostname' 1 "$copy/stage1-uts/main.c" 2>&1) || code=$?
	log "\$ grade.sh 1 as nobody, with a newuidmap that fails"
	log "  status: $code, after $((SECONDS - start)) s"
	log "  output: $out"
	rm -rf "$copy"
	((code != 0)) || fail "the grade succeeded without its id map"
	expect_match "$out" "newuidmap could not map the sandbox's ids" "the reason"
	((SECONDS - start < 60)) || fail "it took $((SECONDS - start)) s, the grade's limit being 120 s"
}

@test "exercise: the image has its loader cache even when PATH lacks /usr/sbin, as a Debian user's does" {
	local img=$BATS_TEST_TMPDIR/img
	run --separate-stderr env PATH=/usr/local/bin:/usr/bin:/bin "$REPO/scripts/mkrootfs.sh" "$img"
	log_run "mkrootfs.sh with PATH=/usr/local/bin:/usr/bin:/bin"
	expect_status 0
	[[ -s $img/etc/ld.so.cache ]] || fail "the image has no /etc/ld.so.cache"
}

@test "exercise: make exercise never writes through a symbolic link in exercises/" {
	local copy=$BATS_TEST_TMPDIR/repo outside=$BATS_TEST_TMPDIR/outside
	copy_tree "$copy"
	mkdir -p "$outside" "$copy/exercises"
	ln -s "$outside" "$copy/exercises/stage1-uts"
	run --separate-stderr "$copy/scripts/exercise.sh" write 1
	log_run "exercise.sh write 1 (exercises/stage1-uts is a link)"
	[[ $status -ne 0 ]] || fail "the link was followed"
	expect_match "$stderr" "symbolic link" "the refusal"
	[[ -z $(ls -A "$outside") ]] || fail "a file was written outside exercises/: $(ls -A "$outside")"
}

@test "exercise: make grade-all survives a hanging and a hostile submission, and gives each its row" {
	local dir=$BATS_TEST_TMPDIR/subs
	mkdir -p "$dir/wrong"
	cp "$REPO/stage1-uts/main.c" "$dir/good.c"
	sed 's/set_hostname(args->opts->hostname);/(void)0;/' "$REPO/stage1-uts/main.c" >"$dir/wrong/main.c"
	sed 's/^int main(int argc, char \*\*argv)$/static int real_main(int argc, char **argv);\nint main(int argc, char **argv) { if (argc > 2) pause(); return real_main(argc, argv); }\nstatic int real_main(int argc, char **argv)/' \
		"$REPO/stage1-uts/main.c" >"$dir/hangs.c"
	hostile_source /root/.no-such-secret >"$dir/hostile.c"
	checkout_state >"$BATS_TEST_TMPDIR/before"
	GRADE_FILTER='default hostname|never changes' BATS_TEST_TIMEOUT=5 GRADE_TIMEOUT=60 \
		run --separate-stderr "$REPO/scripts/grade-all.sh" 1 "$dir"
	log_run "grade-all.sh 1 (good, wrong, hangs, hostile)"
	checkout_state >"$BATS_TEST_TMPDIR/after"
	expect_status 0
	diff -u "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" || fail "a submission changed the checkout"
	local csv
	csv=$(sort "$dir/grades/grades.csv")
	expect_match "$csv" 'good,2,2,""' "the good row"
	expect_match "$csv" 'hostile,2,2,""' "the hostile row (it passes, and changed nothing)"
	expect_match "$csv" 'wrong,[01],2,"[0-9]' "the wrong row"
	expect_match "$csv" 'hangs,[01],2,".*timed out' "the hanging row"
	for name in good wrong hangs hostile; do
		grep -q '<testsuite [^>]*tests="2"' "$dir/grades/$name.xml" || fail "no JUnit report of 2 tests for $name"
	done
}

# ---- the extensions past stage 5 (scripts/ext.sh) ----

# demo_extension COPY: a small extension "demo" in the copy COPY of the
# checkout: a patch that adds stage5-cgroups/demo.c with demo_hello(),
# called just before the command runs; its hole; its suite.
demo_extension() {
	local copy=$1 base=${STAGE_DIRS[-1]} scratch=$BATS_TEST_TMPDIR/demo
	mkdir -p "$scratch/a/$base" "$scratch/b/$base" "$copy/docs/extensions"
	cp "$REPO/$base/main.c" "$scratch/a/$base/"
	sed -e 's/^\tclose_other_fds();$/&\n\tdemo_hello();/' \
		-e 's/^static int child(void \*arg)$/void demo_hello(void);\n\n&/' \
		"$REPO/$base/main.c" >"$scratch/b/$base/main.c"
	printf '%s\n' '/* demo.c - one line of trace, to try the machinery */' \
		'#include "common.h"' '' 'void demo_hello(void);' '' \
		'void demo_hello(void)' '{' '	trace("demo: hello");' '}' >"$scratch/b/$base/demo.c"
	(cd "$scratch" && diff -ruN a b) >"$copy/docs/extensions/demo.patch" || true
	echo 'ext-demo :: demo_hello :: say hello with --verbose :: trace() :: nowhere' \
		>>"$copy/scripts/exercise-holes.txt"
	# shellcheck disable=SC2016 # the suite's own text, expanded when it runs
	printf '%s\n' 'load helpers' '' '@test "ext-demo: says hello" {' \
		'	run --separate-stderr "$(ext_bin demo)" run --verbose true' \
		'	log_run "ext-demo run --verbose true"' '	expect_status 0' \
		'	expect_match "$stderr" "demo: hello" "the trace"' '}' >"$copy/tests/ext-demo.bats"
	ln -s "$REPO/rootfs" "$copy/rootfs"
}

@test "exercise: make builds an extension from its patch, and a patch that no longer applies stops the build" {
	local copy=$BATS_TEST_TMPDIR/repo
	copy_tree "$copy"
	demo_extension "$copy"
	run make -C "$copy" -s build/ext-demo/container
	log_run "make build/ext-demo/container"
	expect_status 0
	grep -q demo_hello "$copy/build/ext-demo/tree/${STAGE_DIRS[-1]}/main.c" || fail "the patch was not applied"
	[[ -x $copy/build/ext-demo/container ]] || fail "no build/ext-demo/container"
	sed -i 's/^ \tclose_other_fds();$/ \tclose_every_fd();/' "$copy/docs/extensions/demo.patch"
	run make -C "$copy" -s build/ext-demo/container
	log_run "make build/ext-demo/container (a stale patch)"
	[[ $status -ne 0 ]] || fail "a patch that does not apply was built"
	expect_match "$output$stderr" "FAILED.*does not apply" "the error"
}

@test "exercise: make exercise EXT= writes the patched stage with its holes, keeps a student's work, follows no link" {
	local copy=$BATS_TEST_TMPDIR/repo outside=$BATS_TEST_TMPDIR/outside work
	copy_tree "$copy"
	demo_extension "$copy"
	work=$copy/exercises/ext-demo
	run make -C "$copy" -s exercise EXT=demo
	log_run "make exercise EXT=demo"
	expect_status 0
	grep -q 'diex("ext-demo: demo_hello() is not written yet")' "$work/demo.c" ||
		fail "the skeleton has no stub for demo_hello()"
	grep -q 'demo_hello();' "$work/main.c" || fail "the skeleton's main.c is not the patched one"
	echo "/* my work */" >>"$work/demo.c"
	run make -C "$copy" -s exercise EXT=demo
	expect_match "$output$stderr" "exists" "the refusal"
	grep -q 'my work' "$work/demo.c" || fail "make exercise replaced the student's work"
	run make -C "$copy" -s exercise EXT=demo FORCE=1
	expect_status 0
	! grep -q 'my work' "$work/demo.c" || fail "FORCE=1 did not write a fresh skeleton"
	grep -q 'my work' "$copy"/exercises/ext-demo.~*~/demo.c || fail "FORCE=1 kept no backup"
	rm -rf "$copy/exercises"
	mkdir -p "$outside" "$copy/exercises"
	ln -s "$outside" "$work"
	run make -C "$copy" -s exercise EXT=demo FORCE=1
	log_run "make exercise EXT=demo FORCE=1 (exercises/ext-demo is a link)"
	[[ $status -ne 0 ]] || fail "the link was followed"
	expect_match "$output" "symbolic link" "the refusal"
	[[ -z $(ls -A "$outside") ]] || fail "a file was written outside exercises/: $(ls -A "$outside")"
	# An extension that does not exist: refused, with nothing left behind.
	rm -rf "$copy/exercises"
	run make -C "$copy" -s exercise EXT=nosuch
	log_run "make exercise EXT=nosuch"
	[[ $status -ne 0 ]] || fail "an unknown extension was accepted"
	expect_match "$output" "no extension 'nosuch'" "the refusal"
	[[ -z $(ls -A "$copy/exercises") ]] || fail "left in exercises/: $(ls -A "$copy/exercises")"
}

@test "exercise: make grade EXT= fails the skeleton and gives the patch full marks, out of the suite's count" {
	local copy=$BATS_TEST_TMPDIR/repo
	copy_tree "$copy"
	demo_extension "$copy"
	"$copy/scripts/exercise.sh" ext-skeleton demo "$BATS_TEST_TMPDIR/skeleton"
	run --separate-stderr "$copy/scripts/grade.sh" --ext demo "$BATS_TEST_TMPDIR/skeleton"
	log_run "grade.sh --ext demo (not trusted)"
	expect_status 2
	expect_match "$stderr" "run the stage as root.*TRUSTED=1" "the refusal"
	run --separate-stderr "$copy/scripts/grade.sh" --trusted --ext demo "$BATS_TEST_TMPDIR/skeleton"
	log_run "grade.sh --trusted --ext demo (the skeleton)"
	expect_status 1
	expect_match "$output" "ext-demo: 0/1 tests passed$" "the score"
	"$copy/scripts/ext.sh" tree demo "$BATS_TEST_TMPDIR/ref"
	run --separate-stderr "$copy/scripts/grade.sh" --trusted --ext demo "$BATS_TEST_TMPDIR/ref/${STAGE_DIRS[-1]}/demo.c"
	log_run "grade.sh --trusted --ext demo (the patch's demo.c)"
	expect_status 0
	expect_match "$output" "ext-demo: 1/1 tests passed$" "the score"
}

# answer_lines N: the lines of stage N's answer, one a line: each line of a
# hole function's body in the reference, trimmed, that is long enough to
# say something and that neither the skeleton (with the stage's other
# files) nor an earlier stage nor common/ nor the chapter's own text (its sketch of *The core*, outside its
# generated blocks) has.  A handout must hold none of them.  (A #define
# hole's value, one flag, is what the chapter's prose teaches: not looked
# for.)
answer_lines() {
	local n=$1 dir hole given
	dir=${STAGE_DIRS[n - 1]}
	given=$BATS_TEST_TMPDIR/given-$n
	{
		"$REPO/scripts/exercise.sh" skeleton "$n"
		find "$REPO/$dir" -maxdepth 1 -name '*.[ch]' ! -name main.c -exec cat {} +
		for ((k = 1; k < n; k++)); do cat "$REPO/${STAGE_DIRS[k - 1]}"/*.c; done
		cat "$REPO"/common/*.[ch]
		awk '/^<!-- generated: / { skip = 1 } !skip { print } /^<!-- end -->/ { skip = 0 }' \
			"$REPO"/docs/0"$n"-*.md
	} >"$given"
	for hole in $("$REPO/scripts/exercise.sh" holes "$n"); do
		awk -v h="${hole%%=*}" '
			/^static .*\(/ && !/;[ \t]*$/ && index($0, " " h "(") { want = 1; next }
			want && $0 == "}" { want = 0 }
			want && $0 != "{" { print }' "$REPO/$dir/main.c"
	done | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | awk 'length($0) >= 12' | sort -u |
		while IFS= read -r line; do
			grep -qF -- "$line" "$given" || printf '%s\n' "$line"
		done
}

@test "exercise: make handout STAGE=N holds no line of stage N's answer, for every stage" {
	local n h lines found
	for ((n = 1; n <= LAST_STAGE; n++)); do
		h=$BATS_TEST_TMPDIR/h$n
		mkdir "$h"
		run --separate-stderr make -C "$REPO" -s handout STAGE="$n" OUT="$BATS_TEST_TMPDIR/h$n.tar.gz"
		log_run "make handout STAGE=$n"
		expect_status 0
		tar -C "$h" -xzf "$BATS_TEST_TMPDIR/h$n.tar.gz"
		answer_lines "$n" >"$BATS_TEST_TMPDIR/answer-$n"
		lines=$(wc -l <"$BATS_TEST_TMPDIR/answer-$n")
		((lines >= 3)) || fail "stage $n: only $lines lines of the answer to look for"
		found=$(grep -rlF -f "$BATS_TEST_TMPDIR/answer-$n" "$h") || true
		[[ -z $found ]] || fail "stage $n: the answer is in $found: $(grep -rhoF -f "$BATS_TEST_TMPDIR/answer-$n" "$h" | head -n 3)"
		# The check can fail: the reference has every line of it.
		grep -qF -f "$BATS_TEST_TMPDIR/answer-$n" "$REPO/${STAGE_DIRS[n - 1]}/main.c" ||
			fail "stage $n: the answer's lines are not in the reference"
	done
}

@test "exercise: a handout builds with make, and make grade scores its skeleton below full" {
	# Where the grade's sandbox user may read it: not the test's own
	# directory, which is root's alone.
	local top=$REPO/build/handout-test-$BATS_TEST_NUMBER-$$ h
	rm -rf "$top"
	mkdir -p "$top"
	"$REPO/scripts/handout.sh" 2 "$top/h.tar.gz"
	tar -C "$top" -xzf "$top/h.tar.gz"
	h=$(echo "$top"/containers-from-scratch-*)
	[[ ! -e $h/stage3-mount && -f $h/exercises/stage2-pid/main.c ]] || fail "the handout's stages: $(ls "$h")"
	run --separate-stderr make -C "$h" -s
	log_run "make (in the handout)"
	if [[ $status -eq 0 ]]; then
		run --separate-stderr make -C "$h" -s grade STAGE=2 FILTER='the command is PID 1|--init exits'
		log_run "make grade STAGE=2 (in the handout)"
	fi
	rm -rf "$top"
	expect_match "$output" "stage 2: [01]/2 tests passed$" "the skeleton's score"
}

@test "exercise: VM=1 takes its verdict from the grade in the VM: full marks with a test the VM skipped, as on the host, and not with one failed" {
	# The VM itself is make test-vm's (minutes under emulation): a stand-in
	# prints what vm-init.sh's run_grade sends back, the grade's lines and
	# its exit status, so that this checks how grade.sh reads them.
	local top=$REPO/build/vm-grade-test-$BATS_TEST_NUMBER-$$ total lines
	total=$(grep -c '^@test' "$REPO/tests/stage5-cgroups.bats")
	rm -rf "$top"
	copy_tree "$top"
	run --separate-stderr make -C "$top" -s
	log_run "make (in the copy)"
	for result in "$((total - 1))/$total tests passed (1 skipped on this machine)" \
		"$((total - 1))/$total tests passed"; do
		if [[ $result == *skipped* ]]; then
			lines=("TEST-VM-GRADE: stage 5: $result" "TEST-VM-GRADE-STATUS: 0")
		else
			lines=("TEST-VM-GRADE: stage 5: failed: 3" "TEST-VM-GRADE: stage 5: $result" "TEST-VM-GRADE-STATUS: 1")
		fi
		printf '#!/bin/sh\n' >"$top/scripts/test-vm.sh"
		printf "echo '%s'\n" "${lines[@]}" >>"$top/scripts/test-vm.sh"
		run --separate-stderr "$top/scripts/grade.sh" --vm 5 "$top/stage5-cgroups/main.c"
		log_run "grade.sh --vm with a stand-in VM that says: $result"
		expect_eq "${output##*$'\n'}" "stage 5: $result" "the score, the last line"
		if [[ $result == *skipped* ]]; then
			expect_status 0
		else
			expect_status 1
		fi
	done
	rm -rf "$top"
}

@test "exercise: the rootless exercise is stage 1 with the maps to write, and its grade is out of its 6 tests of rootless.bats" {
	local copy=$BATS_TEST_TMPDIR/repo
	copy_tree "$copy"
	run make -C "$copy" -s exercise STAGE=rootless
	log_run "make exercise STAGE=rootless"
	expect_status 0
	grep -q 'diex("rootless: map_user_to_root() is not written yet")' "$copy/exercises/rootless/main.c" ||
		fail "exercises/rootless/main.c has no hole in map_user_to_root()"
	run --separate-stderr "$REPO/scripts/grade.sh" rootless "$copy/exercises/rootless/main.c"
	log_run "grade.sh rootless (the skeleton)"
	expect_status 1
	expect_match "$output" "rootless: 0/6 tests passed$" "the skeleton's score"
	run --separate-stderr "$REPO/scripts/grade.sh" rootless "$REPO/${STAGE_DIRS[0]}/main.c"
	log_run "grade.sh rootless (stage 1 itself)"
	expect_status 0
	expect_match "$output" "rootless: 6/6 tests passed$" "the reference's score"
}
