#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output, $stderr: set by run
# The harness itself: every test has a time limit (BATS_TEST_TIMEOUT, set by
# tests/run), and a test that hangs fails by name within it while the run
# goes on.  tests/timeout.fixture holds tests that hang on purpose.

load helpers

@test "harness: every test has a time limit" {
	[[ $BATS_TEST_TIMEOUT =~ ^[1-9][0-9]*$ ]] || fail "BATS_TEST_TIMEOUT='${BATS_TEST_TIMEOUT:-}'"
}

@test "harness: a test that hangs fails by name within its limit, and the next test runs" {
	# A tenth of this suite's own limit: 3 s on the host, 30 s in the
	# emulated VM (make test-vm FULL=1), where even the test after the hangs,
	# one `run true` and its teardown, takes more than 3 s.
	local limit=$((BATS_TEST_TIMEOUT / 10 > 3 ? BATS_TEST_TIMEOUT / 10 : 3)) start elapsed
	start=$SECONDS
	run --separate-stderr env BATS_TEST_TIMEOUT=$limit CFS_TEST_WAIT_SCALE=1 \
		timeout $((40 * limit * WAIT_SCALE)) bats --tap "$BATS_TEST_DIRNAME/timeout.fixture"
	elapsed=$((SECONDS - start))
	log_run "BATS_TEST_TIMEOUT=$limit bats --tap tests/timeout.fixture"
	expect_status 1
	expect_match "$output" "not ok 1 hangs in the foreground[^[:cntrl:]]* # timeout after ${limit}s" "the foreground hang"
	expect_match "$output" "not ok 2 hangs waiting for a background container[^[:cntrl:]]* # timeout after ${limit}s" "the background hang"
	expect_match "$output" "(^|[[:cntrl:]])ok 3 runs after the hangs" "the test after them"
	# Each hang ends at its limit, plus the watchdog's 2 s and a teardown:
	# the fixture took 15 s here (loaded), more on an emulated CPU, where
	# a hang that nothing ends would last until the outer `timeout`.
	((elapsed < 20 * limit * WAIT_SCALE)) || fail "the fixture took ${elapsed}s"
	expect_no_leftovers "the fixture"
}
