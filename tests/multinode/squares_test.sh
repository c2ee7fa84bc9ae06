#!/usr/bin/env bash
# A squares batch job across two namespace hosts, then four in node groups, through `tools/mproc run --hostfile`: the same
# launch code (tools/mproc run_job) the Slurm script runs inside an allocation. Its results
# must be those of a run on this host, and both hosts must have done tasks (a `command` job
# running `hostname` shows where tasks ran).
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
cd "$work" || exit 1
printf 'job: squares\ninput: {range: {stop: 20000}}\npool: {chunksize: 50}\n' >squares.yaml
"$mproc" run squares.yaml --ranks 3 --set output.path=here.jsonl >/dev/null 2>&1 || bad "the run on this host"

printf 'job: command\ninput: {range: {stop: 60}}\nparams: {command: hostname}\npool: {chunksize: 1}\n' >where.yaml
# Workers of 2 cores on hosts of 2 slots, no rank count given: one worker a host, and rank 0
# besides on the first.
printf 'job: where\ninput: {range: {stop: 40}}\npool: {chunksize: 1, cores_per_worker: 2}\n' >cores.yaml
bash "$root/tests/multinode/netns_hosts.sh" 2 --shell -- bash -c \
    '"$0" run squares.yaml --ranks 4 --hostfile "$MPROC_HOSTFILE" --set output.path=hosts.jsonl &&
     "$0" run where.yaml --ranks 4 --hostfile "$MPROC_HOSTFILE" --set output.path=where.jsonl &&
     "$0" run cores.yaml --hostfile "$MPROC_HOSTFILE" --set output.path=cores.jsonl' \
    "$mproc" >"$work/out" 2>&1
rc=$?
[ "$rc" = 77 ] && { cat "$work/out"; exit 77; }
err=$(cat "$work/out")
[ "$rc" = 0 ] && ok "squares across two hosts (exit 0)" || bad "squares across two hosts: exit $rc" "$err"
cmp -s hosts.jsonl here.jsonl && ok "the same results as on one host" ||
    bad "results across hosts differ" "$(diff hosts.jsonl here.jsonl 2>&1 | head -5)"
# Ranks 2 and 3 are on the second host (two slots per host, filled in order).
contains "the second host's ranks did tasks" "$err" 'rank 3: [1-9][0-9]* tasks'
contains "rank 2 too" "$err" 'rank 2: [1-9][0-9]* tasks'
hosts=$(hosts_of where.jsonl)
[ "$(wc -l <<<"$hosts")" = 2 ] && grep -q -- '-h1$' <<<"$hosts" && grep -q -- '-h2$' <<<"$hosts" &&
    ok "tasks ran on both hosts: $(echo $hosts)" || bad "tasks' hosts" "$hosts"

layout=$(python3 -c '
import json
print(" ".join(sorted({"%s:%s:%s:%s:%s" % (r["host"][-2:], r["rank"], r["slot"], r["node_slot"], r["OMP_NUM_THREADS"])
                       for r in (json.loads(l)["result"] for l in open("cores.jsonl"))})))' 2>&1)
[ "$layout" = "h1:1:1:0:2 h2:2:2:0:2" ] &&
    ok "cores_per_worker 2 over a hostfile: one worker a host (slots 1 and 2), OMP_NUM_THREADS=2 on both" ||
    bad "cores_per_worker over a hostfile (host:rank:slot:node_slot:OMP_NUM_THREADS)" "$layout"

# Four hosts with node groups: on each host its first rank leads the others and runs no
# tasks; the results are the same.
MPROC_GROUP_SIZE=node bash "$root/tests/multinode/netns_hosts.sh" --hosts 4 3 --shell -- bash -c \
    '"$0" run squares.yaml --ranks 12 --hostfile "$MPROC_HOSTFILE" --set output.path=groups.jsonl' \
    "$mproc" >"$work/out4" 2>&1
rc=$?
err4=$(cat "$work/out4")
[ "$rc" = 0 ] && ok "squares on four hosts in node groups (exit 0)" || bad "four hosts, groups: exit $rc" "$err4"
cmp -s groups.jsonl here.jsonl && ok "the same results as on one host" ||
    bad "results in groups differ" "$(diff groups.jsonl here.jsonl 2>&1 | head -5)"
# Hosts 2 to 4 hold ranks 3-5, 6-8 and 9-11: 3, 6 and 9 lead, the others work.
contains "a member on the fourth host did tasks" "$err4" 'rank 11: [1-9][0-9]* tasks'
contains "a member on the second host did tasks" "$err4" 'rank 4: [1-9][0-9]* tasks'
if grep -Eq 'rank (3|6|9): [1-9][0-9]* tasks' <<<"$err4"; then
    bad "a group leader ran tasks" "$err4"
else
    ok "the leaders (ranks 3, 6, 9) ran no tasks"
fi
[ -n "${MPROC_SHOW:-}" ] && echo "$err" && echo "$err4"
finish
