#!/usr/bin/env bash
# A stop ends what the run started: Ctrl-C, SIGTERM or SIGHUP while long commands run ends
# them (and everything they started, even in a session of its own) within seconds, with the
# summary, exit 3 and the command to continue; a command that ignores SIGTERM is killed after
# a short grace; kill -9 of the front or of mpirun, and a task_timeout, leave nothing running
# either; a C++ task stops at its next check. Every process is found by a marker unique to
# this test run.
source "$(dirname "$0")/lib.sh"
cd "$work"


# stop NAME SIGNAL CONFIG MARKER MAX_SECONDS [ARGS...]: runs CONFIG (with ARGS), stops it
# with SIGNAL once MARKER runs, and checks the outcome.
stop() {
    local name=$1 sig=$2 config=$3 marker=$4 max=$5
    shift 5
    set -m  # job control: the run gets SIGINT as from a terminal
    "$mproc" run "$config" "$@" >"$work/stop.log" 2>&1 &
    local front=$!
    set +m
    started "$marker" && ok "$name: the commands run" || bad "$name: the commands never started" "$(cat "$work/stop.log")"
    local t0; t0=$(date +%s%N)
    kill "-$sig" "$front"
    wait "$front"; local rc=$?
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$rc" -eq 3 ] && ok "$name: exit 3" || bad "$name: exit $rc" "$(tail -5 "$work/stop.log")"
    [ "$ms" -lt $((max * 1000)) ] && ok "$name: ended in $ms ms" || bad "$name: took $ms ms (at most ${max} s)"
    sleep 0.3
    [ "$(left "$marker")" -eq 0 ] && ok "$name: no command left running" \
        || { bad "$name: commands left running" "$(pgrep -af "$marker")"; pkill -KILL -f "$marker"; }
    pgrep -f "mproc-runner run $config" >/dev/null && bad "$name: ranks left running" || ok "$name: no rank left running"
    contains "$name: the summary" "$(cat "$work/stop.log")" "^interrupted: "
    contains "$name: how to continue" "$(cat "$work/stop.log")" "continue with: .*run $config --resume"
}

# Inputs 0 and 1 run until stop-ok exists (then every input is quick).
mark="1000.0$$"
cat > long.yaml <<YAML
job: command
input: {range: {stop: 6}}
params: {command: "test -e stop-ok || sleep $mark; echo {}"}
pool: {chunksize: 1}
output: {path: long.jsonl}
launch: {ranks: 3}
YAML
stop "SIGTERM" TERM long.yaml "sleep $mark" 10
[ "$(cat long.jsonl.part | wc -l)" -eq 0 ] && ok "SIGTERM: no record of a stopped command" || bad "SIGTERM: stopped commands recorded" "$(cat long.jsonl.part)"
stop "Ctrl-C of a resumed run" INT long.yaml "sleep $mark" 10 --resume
touch stop-ok
expect "after the stops, --resume" 0 "$mproc" run long.yaml --resume
[ "$(grep -c '"exit_code": 0' long.jsonl)" -eq 6 ] && ok "every input done once" || bad "resumed records" "$(cat long.jsonl)"

# A command that ignores SIGTERM, and a child it started in the background.
mark2="1000.1$$"
cat > ignore.yaml <<YAML
job: command
input: {range: {stop: 4}}
params: {command: "trap '' TERM; sleep $mark2 & sleep $mark2; echo {}"}
pool: {chunksize: 1}
output: {path: ignore.jsonl}
launch: {ranks: 3}
YAML
stop "SIGTERM ignored" TERM ignore.yaml "sleep $mark2" 10

# Descendants in sessions of their own (setsid) that ignore SIGTERM, under each kind of stop.
mark3="1000.2$$"
cat > hide.sh <<SH
#!/bin/sh
trap '' TERM HUP
setsid sh -c "trap '' TERM HUP; sleep $mark3" &
sleep $mark3
SH
chmod +x hide.sh
cfg="hide$$.yaml"  # unique: the ranks and mpirun are found by it
cat > "$cfg" <<YAML
job: command
input: {range: {stop: 4}}
params: {command: "$work/hide.sh {}"}
pool: {chunksize: 1}
output: {path: hide.jsonl}
launch: {ranks: 3}
YAML
stop "SIGHUP, setsid descendants" HUP "$cfg" "sleep $mark3" 12 --restart

# kill -9 of the front, then of mpirun: the kernel tells mpirun (the front's death signal),
# then the commands' supervisors (their rank's), and they end everything below them.
for victim in front mpirun; do
    "$mproc" run "$cfg" --restart >"$work/kill.log" 2>&1 &
    front=$!
    started "sleep $mark3" && ok "kill -9 $victim: the commands run" || bad "kill -9 $victim: nothing started" "$(cat "$work/kill.log")"
    if [ "$victim" = front ]; then
        kill -KILL "$front"
    else
        kill -KILL "$(pgrep -f "mpirun .*mproc-runner run $cfg")"
    fi
    wait "$front" 2>/dev/null
    gone "sleep $mark3" 10 && ok "kill -9 $victim: no command left" \
        || { bad "kill -9 $victim: commands left" "$(ps -o pid,ppid,pgid,sid,cmd -p "$(pgrep -d, -f "sleep $mark3")")"; pkill -KILL -f "$mark3"; }
    gone "mproc-runner run $cfg" 10 && ok "kill -9 $victim: no rank or mpirun left" \
        || { bad "kill -9 $victim: left running" "$(pgrep -af "mproc-runner run $cfg")"; pkill -KILL -f "mproc-runner run $cfg"; }
done

# A second stop does not wait for the commands' grace: mpirun is ended at once.
"$mproc" run "$cfg" --restart >"$work/twice.log" 2>&1 &
front=$!
started "sleep $mark3" && ok "second stop: the commands run" || bad "second stop: nothing started"
t0=$(date +%s%N)
kill -TERM "$front"; sleep 0.3; kill -TERM "$front"
wait "$front"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 3 ] && ok "second stop: exit 3" || bad "second stop: exit $rc" "$(cat "$work/twice.log")"
[ "$ms" -lt 6000 ] && ok "second stop: ended in $ms ms" || bad "second stop: took $ms ms"
contains "second stop: how to continue" "$(cat "$work/twice.log")" "stopped at once; completed results are kept: continue with: .* --resume"
gone "sleep $mark3" 10 && ok "second stop: no command left" \
    || { bad "second stop: commands left" "$(pgrep -af "sleep $mark3")"; pkill -KILL -f "$mark3"; }
gone "mproc-runner run $cfg" 10 && ok "second stop: no rank or mpirun left" \
    || { bad "second stop: left running" "$(pgrep -af "mproc-runner run $cfg")"; pkill -KILL -f "mproc-runner run $cfg"; }

# A stopped rank (SIGSTOP) holds an ordered run back: it is named, then the run goes on
# when it continues.
qcfg="quiet$$.yaml"
printf 'job: command\ninput: {range: {stop: 40}}\nparams: {command: "sleep 0.1"}\npool: {chunksize: 1}\noutput: {path: quiet.jsonl}\n' > "$qcfg"
MPROC_QUIET_SECONDS=2 "$mproc" run "$qcfg" --ranks 3 >"$work/quiet.log" 2>&1 &
front=$!
started "mproc-runner run $qcfg" && sleep 1.5
victim=$(pgrep -f "^[^ ]*mproc-runner run $qcfg" | sort -n | tail -1)
kill -STOP "$victim"
sleep 3.5  # named after 2 s (MPROC_QUIET_SECONDS)
kill -CONT "$victim"
wait "$front"; rc=$?
[ "$rc" -eq 0 ] && ok "stopped rank: the run finishes once it continues" || bad "stopped rank: exit $rc" "$(cat "$work/quiet.log")"
contains "stopped rank: named on the screen" "$(cat "$work/quiet.log")" "^mproc: rank [12] on $(hostname): no answer for [2-9]\.[0-9] s"
[ "$(wc -l < quiet.jsonl)" -eq 40 ] && ok "stopped rank: every record" || bad "stopped rank: records" "$(wc -l < quiet.jsonl)"

# The same in a node group its leader feeds (MPROC_GROUP_SIZE=3 at 4 ranks: rank 1 leads 2 and
# 3): only the leader knows what the stopped member holds, and it tells rank 0.
gcfg="gquiet$$.yaml"
sed 's/quiet.jsonl/gquiet.jsonl/' "$qcfg" > "$gcfg"
MPROC_GROUP_SIZE=3 MPROC_QUIET_SECONDS=2 "$mproc" run "$gcfg" --ranks 4 >"$work/gquiet.log" 2>&1 &
front=$!
started "mproc-runner run $gcfg" && sleep 1.5
# Rank 3, a member, found by the rank Open MPI gives it (the newest pid could be the leader).
victim=""
for p in $(pgrep -f "^[^ ]*mproc-runner run $gcfg"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=3' && victim=$p
done
[ -n "$victim" ] && ok "stopped member: rank 3 found" || bad "stopped member: no rank 3" "$(pgrep -af "$gcfg")"
kill -STOP "$victim"
sleep 3.5
kill -CONT "$victim"
wait "$front"; rc=$?
[ "$rc" -eq 0 ] && ok "stopped member: the run finishes once it continues" || bad "stopped member: exit $rc" "$(cat "$work/gquiet.log")"
contains "stopped member: named on the screen" "$(cat "$work/gquiet.log")" "^mproc: rank 3 on $(hostname): no answer for [2-9]\.[0-9] s"
[ "$(wc -l < gquiet.jsonl)" -eq 40 ] && ok "stopped member: every record" || bad "stopped member: records" "$(wc -l < gquiet.jsonl)"

# task_timeout: the timed-out command's hidden descendants end with it.
cat > "t$cfg" <<YAML
job: command
input: {range: {stop: 3}}
params: {command: "$work/hide.sh {}"}
errors: {policy: skip, task_timeout: 1}
output: {path: timeout.jsonl}
launch: {ranks: 2}
YAML
expect "task_timeout over hidden descendants: exit 1" 1 "$mproc" run "t$cfg"
[ "$(grep -c '"error": "timed out after 1 s; the command was ended"' timeout.jsonl)" -eq 3 ] \
    && ok "task_timeout: three timeouts recorded" || bad "task_timeout records" "$(cat timeout.jsonl)"
[ "$(left "sleep $mark3")" -eq 0 ] && ok "task_timeout: no descendant left" \
    || { bad "task_timeout: descendants left" "$(pgrep -af "sleep $mark3")"; pkill -KILL -f "$mark3"; }

# A C++ job stops at its next check instead of finishing its task.
cat > cpu.yaml <<YAML
job: cpu_sum
input: {range: {stop: 4}}
params: {span: 4000000000}
pool: {chunksize: 1}
output: {path: cpu.jsonl}
launch: {ranks: 3}
YAML
set -m
"$mproc" run cpu.yaml >"$work/cpu.log" 2>&1 &
front=$!
set +m
sleep 2
t0=$(date +%s%N)
kill -TERM "$front"; wait "$front"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 3 ] && ok "C++ task: exit 3" || bad "C++ task: exit $rc" "$(tail -3 "$work/cpu.log")"
[ "$ms" -lt 5000 ] && ok "C++ task: stopped in $ms ms" || bad "C++ task: took $ms ms"
finish
