#!/usr/bin/env bash
# Runs that survive crashes, through the real `tools/mproc run`, at several rank counts:
# a worker rank SIGKILLed mid-run (the run restarts itself and ends with a clean run's file),
# an input that kills its rank every time (charged errors.max_crashes times, then recorded
# as crashed while every other input is good), a command that kills its parent, a C++ job
# that segfaults, aborts or exits in isolation mode, and a rank stopped past the heartbeat.
source "$(dirname "$0")/lib.sh"
cd "$work"

rank_pid() {  # rank_pid CONFIG RANK: the pid of that MPI rank of the runner, if it runs
    local p
    for p in $(pgrep -f "mproc-runner run $1"); do
        tr '\0' '\n' < /proc/"$p"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
    done
}
no_leftovers() {  # no_leftovers NAME CONFIG OUTPUT
    gone "mproc-runner run $2" 10 && ok "$1: no rank or mpirun left" \
        || { bad "$1: left running" "$(pgrep -af "mproc-runner run $2")"; pkill -KILL -f "mproc-runner run $2"; }
    [ ! -e "$3.part" ] && [ ! -e "$3.crashes" ] && [ ! -e "$3.running" ] \
        && ok "$1: no side files left" || bad "$1: side files left" "$(ls)"
}

# 1. A worker rank killed from outside: the front runs the ranks again with --resume by
# itself; the inputs that were out run first, each alone, and the file is a clean run's.
for np in 2 3 5; do
    cfg="sq$np.yaml"
    printf 'job: squares\ninput: {range: {stop: 400}}\nparams: {sleep: 0.02}\npool: {chunksize: 1}\noutput: {path: sq%s.jsonl}\nlaunch: {ranks: %s}\n' "$np" "$np" > "$cfg"
    # The records do not depend on the sleep: the clean run to compare with needs none.
    expect "np=$np clean run" 0 "$mproc" run "$cfg" --set output.path=clean$np.jsonl --set params.sleep=0
    "$mproc" run "$cfg" >"$work/kill$np.log" 2>&1 &
    front=$!
    # Once records are being written: the run is well under way.
    for _ in $(seq 200); do [ -s "sq$np.jsonl.part" ] && break; sleep 0.05; done
    sleep 0.3
    victim=$(rank_pid "$cfg" $((np - 1)))
    [ -n "$victim" ] && kill -KILL "$victim"
    wait "$front"; rc=$?
    log=$(cat "$work/kill$np.log")
    [ "$rc" -eq 0 ] && ok "np=$np rank $((np - 1)) killed: the run finished by itself (exit 0)" \
        || bad "np=$np rank killed: exit $rc" "$log"
    contains "np=$np the restart is logged with its cause" "$log" \
        "restart 1 of 5 \(errors.restarts\) after a lost rank: .*rank $((np - 1)) .*signal 9"
    contains "np=$np the inputs that were out go first" "$log" "may have been out on workers when a rank was lost"
    cmp -s "sq$np.jsonl" "clean$np.jsonl" && ok "np=$np results identical to a clean run" \
        || bad "np=$np results differ" "$(diff "sq$np.jsonl" "clean$np.jsonl" | head -5)"
    no_leftovers "np=$np rank killed" "$cfg" "sq$np.jsonl"
done

# 2. An input that kills its rank whenever it runs: each restart charges it (it runs alone),
# and at errors.max_crashes it is recorded as crashed; every other input is good. Exit 1.
for np in 2 3; do
    cfg="poison$np.yaml"
    printf 'job: fault\ninput: {range: {stop: 30}}\nparams: {on: [7], how: kill_rank, sleep: 0.01}\noutput: {path: poison%s.jsonl}\nlaunch: {ranks: %s}\n' "$np" "$np" > "$cfg"
    expect "np=$np poison input: the run ends by itself, exit 1" 1 "$mproc" run "$cfg"
    contains "np=$np poison: restarts logged" "$err" "restart 3 of 5"
    [ "$(grep -c . "poison$np.jsonl")" -eq 30 ] && ok "np=$np poison: every input has its record" \
        || bad "np=$np poison: records" "$(wc -l < "poison$np.jsonl")"
    contains "np=$np poison: recorded as crashed" "$(grep '"index": 7,' "poison$np.jsonl")" \
        '"error": "crashed its worker 3 times'
    [ "$(grep -v '"index": 7,' "poison$np.jsonl" | grep -c '"result"')" -eq 29 ] \
        && ok "np=$np poison: the 29 others are good" || bad "np=$np poison: others" "$(grep -v result "poison$np.jsonl")"
    no_leftovers "np=$np poison" "$cfg" "poison$np.jsonl"
done
# errors.max_crashes: 1 charges it at once; errors.restarts: 0 gives up on the first loss.
printf 'job: fault\ninput: {range: {stop: 10}}\nparams: {on: [3], how: kill_rank}\nerrors: {max_crashes: 1}\noutput: {path: once.jsonl}\nlaunch: {ranks: 3}\n' > once.yaml
expect "max_crashes 1: exit 1" 1 "$mproc" run once.yaml
contains "max_crashes 1: one restart sufficed" "$err" "restart 2 of 3"
contains "max_crashes 1: recorded" "$(grep '"index": 3,' once.jsonl)" "crashed its worker 1 times"
printf 'job: fault\ninput: {range: {stop: 10}}\nparams: {on: [3], how: kill_rank}\nerrors: {restarts: 0}\noutput: {path: norestart.jsonl}\nlaunch: {ranks: 3}\n' > norestart.yaml
expect "restarts 0: exit 3 on the first loss" 3 "$mproc" run norestart.yaml
contains "restarts 0: how to go on" "$err" "ended abnormally .*continue with: .* --resume"

# 3. A command that kills its parent (the supervisor running it): a crash of that task, the
# rank goes on. Under policy skip it is recorded and the run ends with exit 1.
for np in 2 3; do
    cfg="parent$np.yaml"
    printf 'job: command\ninput: {range: {stop: 20}}\nparams: {command: "if [ {} = 5 ]; then kill -9 $PPID; sleep 1; fi; echo {}"}\nerrors: {policy: skip}\noutput: {path: parent%s.jsonl}\nlaunch: {ranks: %s}\n' "$np" "$np" > "$cfg"
    expect "np=$np a command that kills its parent: exit 1" 1 "$mproc" run "$cfg"
    contains "np=$np recorded as a crash" "$(grep '"index": 5,' "parent$np.jsonl")" \
        '"error": "crashed: the process running the command .* was killed by signal 9'
    [ "$(grep -c '"exit_code": 0' "parent$np.jsonl")" -eq 19 ] && ok "np=$np the 19 others are good" \
        || bad "np=$np others" "$(cat "parent$np.jsonl")"
    no_leftovers "np=$np parent killed" "$cfg" "parent$np.jsonl"
done

# 4. pool.isolate: a C++ task that segfaults, aborts or exits fails alone; no restart.
for how in segfault abort exit; do
    for np in 1 3; do
        cfg="iso$how$np.yaml"
        printf 'job: fault\ninput: {range: {stop: 12}}\nparams: {on: [4, 9], how: %s}\npool: {isolate: true}\nerrors: {policy: retry, retries: 1}\noutput: {path: iso%s%s.jsonl}\nlaunch: {ranks: %s}\n' "$how" "$how" "$np" "$np" > "$cfg"
        expect "np=$np isolate, $how: exit 1" 1 "$mproc" run "$cfg"
        case $how in segfault) want="killed by signal 11" ;; abort) want="killed by signal 6" ;; exit) want="exited with status 3" ;; esac
        [ "$(grep -c "$want" "iso$how$np.jsonl")" -eq 2 ] && ok "np=$np isolate, $how: both recorded ($want)" \
            || bad "np=$np isolate, $how: records" "$(cat "iso$how$np.jsonl")"
        [ "$(grep -c '"result"' "iso$how$np.jsonl")" -eq 10 ] && ok "np=$np isolate, $how: the 10 others are good" \
            || bad "np=$np isolate, $how: others" "$(cat "iso$how$np.jsonl")"
        grep -q "restart" <<<"$err" && bad "np=$np isolate, $how: a restart happened" "$err" || ok "np=$np isolate, $how: no restart"
        no_leftovers "np=$np isolate, $how" "$cfg" "iso$how$np.jsonl"
    done
done

# 5. A rank stopped (SIGSTOP) past the heartbeat: named, treated as lost, and the run
# restarts and finishes by itself.
cfg=stopped.yaml
printf 'job: squares\ninput: {range: {stop: 200}}\nparams: {sleep: 0.02}\noutput: {path: stopped.jsonl}\nlaunch: {ranks: 3}\n' > "$cfg"
expect "stopped: clean run" 0 "$mproc" run "$cfg" --set output.path=clean_stopped.jsonl --set params.sleep=0
MPROC_HEARTBEAT_SECONDS=2 "$mproc" run "$cfg" >"$work/stopped.log" 2>&1 &
front=$!
started "mproc-runner run $cfg" && sleep 1
victim=$(rank_pid "$cfg" 2)
t0=$SECONDS
[ -n "$victim" ] && kill -STOP "$victim"
wait "$front"; rc=$?
log=$(cat "$work/stopped.log")
[ "$rc" -eq 0 ] && ok "stopped rank: the run finished by itself in $((SECONDS - t0)) s" || bad "stopped rank: exit $rc" "$log"
contains "stopped rank: named by the heartbeat" "$log" "rank 2 on $(hostname) stopped answering: no heartbeat for 2\.[0-9] s"
cmp -s stopped.jsonl clean_stopped.jsonl && ok "stopped rank: results identical to a clean run" \
    || bad "stopped rank: results differ" "$(diff stopped.jsonl clean_stopped.jsonl | head -5)"
# Killed when its mpirun went; its parent's end may be reaped a moment after the front's.
for _ in $(seq 30); do [ -n "$victim" ] && kill -0 "$victim" 2>/dev/null || break; sleep 0.1; done
[ -n "$victim" ] && ! kill -0 "$victim" 2>/dev/null && ok "stopped rank: the stopped process is gone" \
    || { bad "stopped rank: the stopped process is left"; kill -KILL "$victim" 2>/dev/null; }
no_leftovers "stopped rank" "$cfg" stopped.jsonl

finish
