#!/usr/bin/env bash
# Exit codes and messages of an mproc program, checked from outside at several rank counts
# (0: no mpirun at all).
source "$(dirname "$0")/lib.sh"
program=$1
mpirun=$2

launch() {  # launch NP ARGS... : the program on NP ranks, or alone for NP=0, time-limited
    local np=$1; shift
    if [ "$np" = 0 ]; then timeout 60 "$program" "$@"; else timeout 90 "$mpirun" -np "$np" --oversubscribe --bind-to none "$program" "$@"; fi
}

for np in 0 1 3 5; do
    expect "np=$np ok" 0 launch "$np" ok
    contains "np=$np ok prints the squares" "$out" '^0 1 4 9 16 $'
    expect "np=$np throw exits 1" 1 launch "$np" throw
    contains "np=$np throw names the error" "$err" "the main function on rank 0 threw std::runtime_error: the user's code gave up"
done
for np in 2 3; do
    launch "$np" crash >/dev/null 2>&1; rc=$?
    # Not 0 (it failed) and not 124 (timeout: a rank left hanging).
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "np=$np a dying worker ends the job (exit $rc)" || bad "np=$np crash: exit $rc"
    # A worker dies holding a shared Lock while rank 0 waits for it: not a silent hang.
    start=$SECONDS
    said=$(launch "$np" lock 2>&1); rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ $((SECONDS - start)) -lt 60 ] \
        && ok "np=$np a worker dying with a lock held ends the job (exit $rc, $((SECONDS - start)) s)" \
        || bad "np=$np lock holder died: exit $rc after $((SECONDS - start)) s" "$said"
    contains "np=$np and mpirun names the dead rank" "$said" "exited on signal 6|aborted|Aborted"
done
# A bad MPROC_GROUP_SIZE ends the run at start-up, naming the variable, the value and what it
# takes; a good one runs (np=5 in groups of 2: ranks 1 and 3 lead 2 and 4).
for np in 1 3; do
    said=$(MPROC_GROUP_SIZE=sixteen launch "$np" ok 2>&1); rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "np=$np a bad MPROC_GROUP_SIZE fails (exit $rc)" ||
        bad "np=$np bad MPROC_GROUP_SIZE: exit $rc" "$said"
    contains "np=$np and says why" "$said" "MPROC_GROUP_SIZE='sixteen': want a group size of at least 2 ranks, 'node'"
done
expect "np=5 in groups of 2" 0 env MPROC_GROUP_SIZE=2 "$mpirun" -np 5 --oversubscribe --bind-to none "$program" ok
contains "np=5 in groups of 2 prints the squares" "$out" '^0 1 4 9 16 $'
finish
