#!/usr/bin/env bash
# Kill a run at a random moment — Ctrl-C, SIGTERM, SIGKILL of mpirun, a worker rank killed
# or segfaulting — then `--resume` (a lost worker rank: the run restarts itself), and
# compare the results byte for byte with a clean run.
source "$(dirname "$0")/lib.sh"
cd "$work"
rounds=${MPROC_RESUME_ROUNDS:-2}

# pi is deterministic (each chunk seeded from its index) and reduces, so both the records and
# the reduction carried over through the journal are checked.
cat > job.yaml <<'YAML'
job: pi
input: {range: {stop: 8000}}
params: {samples: 20000, seed: 7}
output: {path: out.jsonl}
launch: {ranks: 3}
YAML
expect "clean run" 0 "$mproc" run job.yaml --set output.path=clean.jsonl
clean_lines=$(wc -l < clean.jsonl)

rank_pid() {  # the pid of MPI rank $1 of the runner, if it is running
    local p
    for p in $(pgrep -f "mproc-runner run job.yaml"); do
        tr '\0' '\n' < /proc/"$p"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return; }
    done
}

interrupt() {  # interrupt HOW ; $front is the pid of tools/mproc
    case "$1" in
        SIGINT) kill -INT "$front" ;;
        SIGTERM) kill -TERM "$front" ;;
        mpirun-SIGKILL) pkill -KILL -f "^mpirun .*mproc-runner run job.yaml" ;;
        worker-SIGKILL) kill -KILL "$(rank_pid 2)" ;;
        worker-SIGSEGV) kill -SEGV "$(rank_pid 1)" ;;
    esac
}

for round in $(seq "$rounds"); do
    for how in SIGINT SIGTERM mpirun-SIGKILL worker-SIGKILL worker-SIGSEGV; do
        rm -f out.jsonl out.jsonl.part out.jsonl.journal out.jsonl.state out.jsonl.reduced.json out.jsonl.crashes
        # Job control on, so the run gets SIGINT as it would from a terminal (a background job
        # of a script otherwise starts with SIGINT ignored).
        set -m
        "$mproc" run job.yaml >"$work/first.log" 2>&1 &
        front=$!
        set +m
        delay=$(/usr/bin/python3 -c "import random; print(round(random.uniform(0.4, 1.6), 2))")
        sleep "$delay"
        interrupt "$how"
        wait "$front"; rc=$?
        name="$how after ${delay}s (round $round)"
        if [ -e out.jsonl ]; then
            case $how in worker-*) ;; *) echo "note: $name: the run finished before the interruption" ;; esac
            case $how in worker-*)
                # A lost rank is not a stop: the front ran the ranks again by itself.
                [ "$rc" -eq 0 ] && ok "$name: finished by itself (exit 0)" || bad "$name: exit $rc" "$(tail -5 "$work/first.log")"
                grep -q "restart 1 of" "$work/first.log" && ok "$name: restarted once, logged" \
                    || echo "note: $name: no restart logged (it finished first)"
            esac
        else
            [ "$rc" -eq 3 ] && ok "$name: exit 3" || bad "$name: exit $rc, wanted 3" "$(tail -5 "$work/first.log")"
            # Killed before the first record was written, a run leaves nothing, and that is fine.
            if [ -e out.jsonl.journal ] || [ ! -e out.jsonl.part ]; then ok "$name: journal kept (or nothing started)"; else bad "$name: results without a journal" "$(ls)"; fi
            kept=$(cat out.jsonl.part 2>/dev/null | wc -l)
            [ "$kept" -lt "$clean_lines" ] && ok "$name: $kept of $clean_lines records kept" || bad "$name: $kept records kept"
            expect "$name: --resume" 0 "$mproc" run job.yaml --resume
            [ "$kept" -eq 0 ] || contains "$name: resume reports earlier work" "$err" "were done by an earlier run"
        fi
        cmp -s out.jsonl clean.jsonl && ok "$name: results identical to a clean run" \
            || bad "$name: results differ" "$(diff out.jsonl clean.jsonl | head -5)"
        cmp -s out.jsonl.reduced.json clean.jsonl.reduced.json && ok "$name: reduction identical" \
            || bad "$name: reduction differs" "$(cat out.jsonl.reduced.json clean.jsonl.reduced.json)"
        # The journal stays, marked complete (a later --resume compares the config with it).
        [ ! -e out.jsonl.part ] && [ ! -e out.jsonl.state ] && tail -1 out.jsonl.journal | grep -qx complete \
            && ok "$name: no leftovers, journal complete" || bad "$name: leftovers" "$(ls; tail -2 out.jsonl.journal)"
        pgrep -f "mproc-runner run job.yaml" >/dev/null && { bad "$name: ranks left running"; pkill -KILL -f "mproc-runner run job.yaml"; } || ok "$name: no rank left running"
    done
done

# In completion order (pool.ordered: false) a block's journal names scattered runs of
# indices; the records then match a clean run's as a set.
for how in SIGTERM worker-SIGKILL; do
    rm -f out.jsonl out.jsonl.part out.jsonl.journal out.jsonl.state out.jsonl.reduced.json out.jsonl.crashes
    "$mproc" run job.yaml --set pool.ordered=false >"$work/first.log" 2>&1 &
    front=$!
    sleep 0.8
    interrupt "$how"
    wait "$front"; rc=$?
    name="unordered, $how"
    [ -e out.jsonl ] && [ "$how" = SIGTERM ] && echo "note: $name: the run finished before the interruption"
    [ -e out.jsonl ] || [ "$rc" -eq 3 ] && ok "$name: exit 3 or finished" || bad "$name: exit $rc, wanted 3"
    [ -e out.jsonl ] || expect "$name: --resume" 0 "$mproc" run job.yaml --set pool.ordered=false --resume
    cmp -s <(sort out.jsonl) <(sort clean.jsonl) && ok "$name: the same records as a clean run" \
        || bad "$name: records differ" "$(diff <(sort out.jsonl) <(sort clean.jsonl) | head -5)"
    cmp -s out.jsonl.reduced.json clean.jsonl.reduced.json && ok "$name: reduction identical" \
        || bad "$name: reduction differs" "$(cat out.jsonl.reduced.json clean.jsonl.reduced.json)"
done

expect "resume of a finished run does nothing" 0 "$mproc" run job.yaml --set pool.ordered=false --resume
contains "and says so" "$err" "is complete; nothing to resume"
finish
