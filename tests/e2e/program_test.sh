#!/usr/bin/env bash
# Exit codes and messages of an mproc program, checked from outside at several rank counts.
set -u
program=$1
mpirun=$2
fail=0
check() {  # check NAME CONDITION_RESULT DETAIL
    if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAILED: $1 ($3)"; fail=1; fi
}
run() {  # run NP ARGS... -> sets out, err, rc
    local np=$1; shift
    out=$(mktemp); err=$(mktemp)
    if [ "$np" = 0 ]; then
        timeout 60 "$program" "$@" >"$out" 2>"$err"; rc=$?
    else
        timeout 90 "$mpirun" -np "$np" --oversubscribe --bind-to none "$program" "$@" >"$out" 2>"$err"; rc=$?
    fi
}
for np in 0 1 3 5; do
    run "$np" ok
    grep -q '^0 1 4 9 16 $' "$out"; check "np=$np ok prints the squares" $? "$(cat "$out" "$err")"
    [ "$rc" -eq 0 ]; check "np=$np ok exits 0" $? "rc=$rc"

    run "$np" throw
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; check "np=$np throw exits non-zero without hanging" $? "rc=$rc"
    grep -q "the main function on rank 0 threw std::runtime_error: the user's code gave up" "$err"
    check "np=$np throw names the error" $? "$(cat "$err")"
done
for np in 2 3; do
    run "$np" crash
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; check "np=$np a dying worker ends the job" $? "rc=$rc"
done
rm -f "$out" "$err"
exit $fail
