#!/usr/bin/env bash
# `tools/mproc submit` on a real two-node Slurm: each node a slurmd in a network-namespace
# "host" of its own (local_slurm.sh "hosts"), talking TCP. A squares job on 2 nodes x 2 tasks
# must end with the results of a clean local run, and a `command: hostname` job of the same
# shape must show tasks on both nodes. Nothing here is set for the namespaces: the job runs
# the same script and launch code as on a cluster. Skipped (77) where namespaces cannot be made.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/local_slurm.sh"

slurm_install || { echo "FAILED: could not install Slurm"; exit 1; }
trap 'slurm_down; rm -rf "$work"' EXIT
slurm_up hosts
case $? in
    0) ;;
    77) exit 77 ;;
    *) echo "FAILED: Slurm did not start"; exit 1 ;;
esac
sinfo
cd "$work" || exit 1

printf 'job: squares\ninput: {range: {stop: 20000}}\npool: {chunksize: 100}\noutput: {path: results/squares.jsonl}\nslurm: {nodes: 2, ntasks_per_node: 2, output: "results/squares-%%j.log"}\n' >squares.yaml
printf 'job: command\ninput: {range: {stop: 60}}\nparams: {command: hostname}\npool: {chunksize: 1}\noutput: {path: results/where.jsonl}\nslurm: {nodes: 2, ntasks_per_node: 2, output: "results/where-%%j.log"}\n' >where.yaml
squares_id=$("$mproc" submit squares.yaml 2>"$work/stderr") || bad "submit squares" "$(cat "$work/stderr")"
where_id=$("$mproc" submit where.yaml 2>"$work/stderr") || bad "submit where" "$(cat "$work/stderr")"
"$mproc" run squares.yaml --ranks 3 --set output.path=clean.jsonl >/dev/null 2>&1 || bad "the clean run"

state=$(slurm_wait "$squares_id" 180)
[ "$state" = COMPLETED ] && ok "squares on two nodes completed" || bad "squares on two nodes: $state" "$(cat results/squares-*.log 2>&1)"
cmp -s results/squares.jsonl clean.jsonl && ok "the results of a clean run" ||
    bad "squares results differ" "$(diff results/squares.jsonl clean.jsonl 2>&1 | head -5)"
nodes=$(scontrol -o show job "$squares_id" | grep -o ' NodeList=[^ ]*')
contains "the job had both nodes" "$nodes" 'NodeList=ms[0-9]+-h\[1-2\]'
contains "ranks on the second node did tasks" "$(cat results/squares-*.log)" 'rank 3: [1-9][0-9]* tasks'

state=$(slurm_wait "$where_id" 180)
[ "$state" = COMPLETED ] && ok "hostname job completed" || bad "hostname job: $state" "$(cat results/where-*.log 2>&1)"
hosts=$(hosts_of results/where.jsonl)
[ "$(wc -l <<<"$hosts")" = 2 ] && grep -q -- '-h1$' <<<"$hosts" && grep -q -- '-h2$' <<<"$hosts" &&
    ok "tasks ran on both nodes: $(echo $hosts)" || bad "tasks' hosts" "$hosts"
finish
