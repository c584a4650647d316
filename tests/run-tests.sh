#!/bin/sh
# run-tests.sh BUILD TEST...: run cmocka test programs and sum up.
#
# Each program's own output (cmocka's per-test lines and its closing
# [  PASSED  ] / [  FAILED  ] summary) is shown as it runs.  The last line
# is the plain total of test cases: "N passed, N failed".  A program that
# dies without a cmocka summary counts as one failed case.
#
# SOFTPR_VALGRIND, when set, is a command prefix (valgrind ...) for the
# test programs; they pass it on to the daemons they start.
# CHECK_FILTER, when set, is a cmocka test-name glob.

build=$1
shift
passed=0
failed=0
failed_programs=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

export SOFTPR_BUILD="$build"

for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    # shellcheck disable=SC2086
    $SOFTPR_VALGRIND "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed, or valgrind found errors after the tests passed.
        echo "!! $name exited with status $rc"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        failed_programs="$failed_programs $name"
    fi
done

if [ -n "$failed_programs" ]; then
    echo "failing programs:$failed_programs"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
