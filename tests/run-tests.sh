#!/bin/sh
# run-tests.sh BUILD TEST...: run cmocka test programs and sum up.
#
# Each program's own output (cmocka's per-test lines and its closing
# [  PASSED  ] / [  FAILED  ] / [  SKIPPED ] summary) is shown as it
# runs, then "-- PROGRAM: N s", the time it took.  A test whose setup or teardown failed counts as failed.  The last line is the plain total of test cases:
# "N passed, N failed, N skipped".  A program that dies without a cmocka
# summary, exits non-zero after its tests passed (valgrind's or ASan's
# exit status), or outlives its time counts as one failed case.
#
# SOFTPR_VALGRIND, when set, is a command prefix (valgrind ...) for the
# test programs; they pass it on to the daemons they start.
# CHECK_FILTER, when set, is a cmocka test-name glob.
# CHECK_TIMEOUT is each program's time in seconds (default 600; ten
# times that under SOFTPR_VALGRIND).  A program still running then is
# stopped (with the daemons it started) and counts as failed.
# CHECK_ALLOWED_SKIPS, when set, is the skips that may happen: "none",
# or PROGRAM:TEST globs separated by spaces (test_daemon:test_privileges).
# Any other skip then counts as a failure.  Unset, every skip is
# allowed and only counted.

build=$1
shift
passed=0
failed=0
skipped=0
failed_programs=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

export SOFTPR_BUILD="$build"

limit=${CHECK_TIMEOUT:-600}
if [ -n "$SOFTPR_VALGRIND" ] && [ -z "$CHECK_TIMEOUT" ]; then
    limit=$((limit * 10))
fi

# allowed_skip PROGRAM TEST: whether CHECK_ALLOWED_SKIPS lets TEST skip.
allowed_skip() {
    [ -z "${CHECK_ALLOWED_SKIPS+set}" ] && return 0
    for pattern in $CHECK_ALLOWED_SKIPS; do
        # shellcheck disable=SC2254
        case "$1:$2" in
        $pattern) return 0 ;;
        esac
    done
    return 1
}

for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    # timeout runs the program in a process group of its own and signals
    # all of it: the daemons a test started go with it.
    began=$(date +%s)
    # shellcheck disable=SC2086
    timeout --kill-after=30 "$limit" $SOFTPR_VALGRIND "$t" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - began))
    cat "$log"
    # A program may run several cmocka groups (one per backend), each
    # with its own summary: they add up.
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" |
        awk '{ n += $1 } END { print n + 0 }')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" |
        awk '{ n += $1 } END { print n + 0 }')
    # " N FAILED TEST(S)" also counts the tests whose setup or teardown
    # failed ([  ERROR   ]), which the line above leaves out.
    e=$(sed -n 's/^ \([0-9]*\) FAILED TEST(S)$/\1/p' "$log" |
        awk '{ n += $1 } END { if (NR) print n }')
    p=${p:-0}
    f=${f:-0}
    if [ -n "$e" ] && [ "$e" -gt "$f" ]; then
        f=$e
    fi
    # cmocka names each skipped test on its own line, once as it runs
    # and once more in its summary.  Test names are single words.
    s=0
    # shellcheck disable=SC2013
    for test in $(sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p' "$log" | sort -u); do
        if allowed_skip "$name" "$test"; then
            s=$((s + 1))
        else
            echo "!! $name: $test skipped, which CHECK_ALLOWED_SKIPS" \
                "($CHECK_ALLOWED_SKIPS) does not allow"
            f=$((f + 1))
        fi
    done
    if [ "$rc" -ne 0 ] && [ "$took" -ge "$limit" ]; then
        echo "!! $name did not finish within $limit s (CHECK_TIMEOUT):" \
            "stopped"
        f=$((f + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed, or valgrind found errors after the tests passed.
        echo "!! $name exited with status $rc"
        f=1
    fi
    echo "-- $name: ${took} s"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    if [ "$f" -ne 0 ]; then
        failed_programs="$failed_programs $name"
    fi
done

if [ -n "$failed_programs" ]; then
    echo "failing programs:$failed_programs"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
