#!/usr/bin/env bash
# A stop ends what the run started: Ctrl-C or SIGTERM while long commands run ends them (and
# what they started in their process group) within seconds, with the summary, exit 3 and the
# command to continue; a command that ignores SIGTERM is killed after a short grace; a C++
# task stops at its next check. Every process is found by a marker unique to this test run.
source "$(dirname "$0")/lib.sh"
cd "$work"

started() {  # started PATTERN: waits (up to 20 s) until a process matching PATTERN runs
    local i
    for i in $(seq 100); do pgrep -f "$1" >/dev/null && return 0; sleep 0.2; done
    return 1
}
left() { pgrep -f "$1" | wc -l; }

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
