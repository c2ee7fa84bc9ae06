#!/usr/bin/env bash
# The farm on a node, through the real `tools/mproc`: job slots ({%}, MPROC_SLOT and the rest
# of what a command sees) at 1, 2, 3 and 5 ranks, flat and in node groups; cores per worker
# (the ranks started, OMP_NUM_THREADS, ctx.cores(), a user's own setting kept); devices per
# worker from launch.gpus and from CUDA_VISIBLE_DEVICES, and a node with too few refused
# before anything is written; --dry-run (with --resume too); the longest inputs first from each kind of
# durations file, with the results file in input order.
source "$(dirname "$0")/lib.sh"
cd "$work" || exit 1

# field FILE KEY: KEY's value in every record's result (where job), one per line.
field() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    v = r[sys.argv[2]]
    print(",".join(v) if isinstance(v, list) else v)' "$1" "$2"; }

# What a command sees, at several rank counts: {%} = MPROC_SLOT = PARALLEL_JOBSLOT, a slot
# from 1 to the workers; MPROC_INDEX and PARALLEL_SEQ name its input; the slot is the worker's
# place among the ranks that run tasks, flat or in groups.
cat >slots.yaml <<'EOF'
job: command
input: {range: {stop: 24}}
params: {command: 'echo {%} $MPROC_SLOT $PARALLEL_JOBSLOT $MPROC_NODE_SLOT $MPROC_RANK $MPROC_HOST $MPROC_INDEX $PARALLEL_SEQ $OMP_NUM_THREADS'}
pool: {chunksize: 1}
output: {path: slots.jsonl}
EOF
check_slots() {  # NAME RANKS GROUPS: every record's line against its rank, index and host
    python3 - "$1" "$2" "$3" "$(hostname)" <<'EOF'
import json, sys
name, ranks, groups, host = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# Which ranks run tasks: all but rank 0 (one rank: rank 0 itself); with MPROC_GROUP_SIZE=2
# the first of each pair of ranks after 0 leads and runs none (a pair of one is a worker).
if ranks == 1:
    workers = [0]
elif groups == "2":
    rest = list(range(1, ranks))
    workers = [r for i, r in enumerate(rest) if i % 2 == 1 or i == len(rest) - 1 and len(rest) % 2 == 1]
else:
    workers = list(range(1, ranks))
problems, used = [], set()
for line in open("slots.jsonl"):
    r = json.loads(line)
    w = r["result"]["stdout"].split()
    slot, slot2, jobslot, node_slot, rank, h, index, seq, omp = w
    want_slot = workers.index(r["rank"]) + 1 if r["rank"] in workers else None
    used.add(int(slot))
    if not (slot == slot2 == jobslot == str(want_slot) and node_slot == str(want_slot - 1)
            and rank == str(r["rank"]) and h == host and index == str(r["index"])
            and seq == str(r["index"] + 1) and omp == "1"):
        problems.append(line.strip())
if problems or not used <= set(range(1, len(workers) + 1)):
    print("\n".join(problems[:5]) or "slots used: %s" % sorted(used))
    sys.exit(1)
EOF
}
for ranks in 1 2 3 5; do
    expect "$ranks ranks: a run with slots" 0 "$mproc" run slots.yaml --ranks $ranks --restart
    why=$(check_slots slots $ranks flat 2>&1) && ok "$ranks ranks: {%}, MPROC_SLOT, PARALLEL_JOBSLOT, MPROC_NODE_SLOT, MPROC_RANK, MPROC_HOST, MPROC_INDEX and PARALLEL_SEQ as each task ran" ||
        bad "$ranks ranks: what commands saw" "$why"
done
expect "5 ranks in node groups of 2" 0 env MPROC_GROUP_SIZE=2 "$mproc" run slots.yaml --ranks 5 --restart
why=$(check_slots groups 5 2 2>&1) && ok "in groups, slots count only the ranks that run tasks (2 and 4)" ||
    bad "slots in groups" "$why"

# Cores per worker: a worker per N of this machine's cores, at least one, and rank 0; every
# task told N threads unless the user set a number; a C++ job reads ctx.cores().
cores=$(nproc)
printf 'job: where\ninput: {range: {stop: 8}}\npool: {chunksize: 1, cores_per_worker: 2}\noutput: {path: where.jsonl}\n' >where.yaml
expect "cores_per_worker 2: validate names the ranks" 0 "$mproc" validate where.yaml
want=$(( (cores / 2 > 0 ? cores / 2 : 1) + 1 ))
contains "cores_per_worker 2 on $cores cores: $want ranks" "$out" ", $want ranks$"
expect "cores_per_worker 2: the run" 0 "$mproc" run where.yaml
[ "$(field where.jsonl OMP_NUM_THREADS | sort -u)" = 2 ] && ok "every task saw OMP_NUM_THREADS=2" ||
    bad "OMP_NUM_THREADS" "$(field where.jsonl OMP_NUM_THREADS | sort | uniq -c)"
[ "$(field where.jsonl cores | sort -u)" = 2 ] && ok "ctx.cores() is 2" || bad "ctx.cores()" "$(field where.jsonl cores)"
[ "$(field where.jsonl rank | sort -u | wc -l)" -le $((want - 1)) ] && ok "no more workers than $((want - 1))" ||
    bad "workers" "$(field where.jsonl rank | sort | uniq -c)"
expect "the user's own OMP_NUM_THREADS" 0 env OMP_NUM_THREADS=7 "$mproc" run where.yaml --restart
[ "$(field where.jsonl OMP_NUM_THREADS | sort -u)" = 7 ] && ok "is kept" || bad "OMP_NUM_THREADS=7 not kept" "$(field where.jsonl OMP_NUM_THREADS)"
expect "cores_per_worker 0 is refused" 2 "$mproc" validate where.yaml --set pool.cores_per_worker=0
contains "with its place" "$err" "pool.cores_per_worker"

# Devices per worker: each worker its own share of the node's, from launch.gpus or from the
# allocation's CUDA_VISIBLE_DEVICES; never two workers on one device.
printf 'job: where\ninput: {range: {stop: 12}}\npool: {chunksize: 1, gpus_per_worker: 2}\nlaunch: {gpus: [0, 1, 2, 3]}\noutput: {path: gpus.jsonl}\n' >gpus.yaml
expect "gpus_per_worker 2 of launch.gpus [0, 1, 2, 3], 2 workers" 0 "$mproc" run gpus.yaml --ranks 3
pairs=$(python3 -c '
import json
print(" ".join(sorted({"%d:%s" % (json.loads(l)["result"]["slot"], json.loads(l)["result"]["CUDA_VISIBLE_DEVICES"]) for l in open("gpus.jsonl")})))')
[ "$pairs" = "1:0,1 2:2,3" ] && ok "slot 1 sees devices 0,1 and slot 2 sees 2,3" || bad "devices by slot" "$pairs"
expect "gpus_per_worker 1 of CUDA_VISIBLE_DEVICES=4,5,6,7 at 5 ranks" 0 env CUDA_VISIBLE_DEVICES=4,5,6,7 \
    "$mproc" run gpus.yaml --ranks 5 --restart --set pool.gpus_per_worker=1 --set 'launch.gpus=[]'
pairs=$(python3 -c '
import json
print(" ".join(sorted({"%d:%s" % (json.loads(l)["result"]["slot"], json.loads(l)["result"]["CUDA_VISIBLE_DEVICES"]) for l in open("gpus.jsonl")})))')
[ "$pairs" = "1:4 2:5 3:6 4:7" ] && ok "four workers, one device each: $pairs" || bad "devices from the allocation" "$pairs"
mkdir short && cd short || exit 1
cp ../gpus.yaml . && sed -i 's/path: gpus.jsonl/path: out\/gpus.jsonl/' gpus.yaml
expect "two workers needing 4 devices of the 3 the allocation set: refused" 2 env CUDA_VISIBLE_DEVICES=0,1,2 \
    "$mproc" run gpus.yaml --ranks 3 --set 'launch.gpus=[]'
contains "the refusal names the devices found and needed" "$err" \
    'pool.gpus_per_worker: 2 workers on .* need 4 devices \(2 each\), but it has 3 \(0, 1, 2, from CUDA_VISIBLE_DEVICES\)'
[ -z "$(ls -A . | grep -v '^gpus.yaml$')" ] && ok "nothing was written" || bad "files after a refusal" "$(ls -A)"
expect "no devices at all: refused" 2 env -u CUDA_VISIBLE_DEVICES -u ROCR_VISIBLE_DEVICES \
    "$mproc" run gpus.yaml --ranks 2 --set 'launch.gpus=[]'
contains "saying none were found" "$err" 'but it has none'
cd "$work" || exit 1

# --dry-run: the commands exactly as they would run, then the count; nothing ran or was written.
mkdir dry && cd dry || exit 1
printf 'job: command\ninput: {values: ["a b.txt", "it'"'"'s", "c"]}\nparams: {command: "wc -l {} > {.}.n"}\noutput: {path: out/dry.jsonl}\n' >shell.yaml
expect "a dry run" 0 "$mproc" run shell.yaml --dry-run 2
want="wc -l 'a b.txt' > 'a b'.n
wc -l 'it'\\''s' > 'it'\\''s'.n
# 2 of 3 commands (a dry run: nothing ran, nothing was written)"
[ "$out" = "$want" ] && ok "shows the line /bin/sh -c gets, quoted, and the count" || bad "dry run" "$out"
printf 'job: command\ninput: {values: ["a b.txt"]}\nparams: {command: "CUDA_VISIBLE_DEVICES={%%} wc -l {}"}\n' >slot.yaml
expect "a dry run with {%}" 0 "$mproc" run slot.yaml --dry-run
contains "{%} is left for the worker" "$out" "^CUDA_VISIBLE_DEVICES=\{%\} wc -l 'a b.txt'$"
contains "and said so" "$out" 'slot of the worker that runs it'
printf 'job: command\ninput: {values: ["a b.txt"]}\nparams: {command: "wc -l {}"}\n' >direct.yaml
expect "a dry run without a shell" 0 "$mproc" run direct.yaml --dry-run
contains "shows the program and its arguments, marked" "$out" '^\(no shell\) \["wc", "-l", "a b.txt"\]$'
[ "$(ls -A)" = "$(printf 'direct.yaml\nshell.yaml\nslot.yaml')" ] && ok "a dry run writes nothing" || bad "files after dry runs" "$(ls -A)"
expect "--dry-run 0 is refused" 2 "$mproc" run shell.yaml --dry-run 0
contains "with how to write it" "$err" 'takes how many commands to show'
# With --resume: what a stopped run has still to do, and nothing of its files touched.
printf 'job: command\ninput: {range: {stop: 10}}\nparams: {command: "test {} -lt 3"}\npool: {chunksize: 1}\nerrors: {policy: skip, max_failures: 1}\noutput: {path: res/r.jsonl}\n' >part.yaml
expect "a run its failure budget stops" 1 "$mproc" run part.yaml --ranks 2
before=$(cd res && ls -l --time-style=full-iso && md5sum ./*)
expect "a dry run with --resume" 0 "$mproc" run part.yaml --dry-run 20 --resume
shown=$(sed -n 's/^(no shell) \["test", "\([0-9]*\)".*/\1/p' <<<"$out" | tr '\n' ' ')
left=$(python3 -c 'import json; done = {json.loads(l)["index"] for l in open("res/r.jsonl.part")}
print(" ".join(str(i) for i in range(10) if i not in done), end=" ")')
[ -n "$shown" ] && [ "$shown" = "$left" ] && ok "shows what is not yet done ($shown)" || bad "dry run with --resume: shown [$shown], not done [$left]" "$out"
contains "and counts it so" "$out" "^# [0-9]+ of [0-9]+ commands not yet done"
[ "$before" = "$(cd res && ls -l --time-style=full-iso && md5sum ./*)" ] && ok "and leaves the run's files as they were" || bad "files changed by a dry run"
cd "$work" || exit 1

# The longest first: 1 worker, so the tasks run in the order they go out.
printf 'job: command\ninput: {values: [0.1, 0.2, 0.05, 0.4, 0.3]}\nparams: {command: "sleep {}"}\npool: {chunksize: 1}\noutput: {path: lf.jsonl}\n' >lf.yaml
expect "a first run, in input order" 0 "$mproc" run lf.yaml --ranks 2
cp lf.jsonl earlier.jsonl
cp lf.jsonl.summary.json earlier.summary.json
run_order() { python3 -c '
import json
rs = [json.loads(l) for l in open("lf.jsonl")]
print(" ".join(str(r["input"]) for r in sorted(rs, key=lambda r: r["start"])))'; }
in_order() { python3 -c '
import json
print(" ".join(str(json.loads(l)["index"]) for l in open("lf.jsonl")))'; }
for source in earlier.jsonl earlier.summary.json joblog; do
    extra=()
    if [ $source = joblog ]; then
        "$mproc" run lf.yaml --ranks 2 --restart --set output.joblog=earlier.log >/dev/null 2>&1
        source=earlier.log
    fi
    expect "longest first from $source" 0 "$mproc" run lf.yaml --ranks 2 --restart \
        --set pool.order=longest_first --set pool.durations=$source
    [ "$(run_order)" = "0.4 0.3 0.2 0.1 0.05" ] && ok "$source: the inputs ran longest first" ||
        bad "$source: the order they ran in" "$(run_order)"
    [ "$(in_order)" = "0 1 2 3 4" ] && ok "$source: the results file is in input order" || bad "$source: results order" "$(in_order)"
done
# An input the durations do not know goes where the mean of the known ones would.
printf '{"index": 0, "input": 9, "seconds": 0.01}\n{"index": 1, "input": 0.4, "seconds": 0.4}\n{"index": 2, "input": 0.05, "seconds": 0.05}\n' >partial.jsonl
expect "durations that know some inputs" 0 "$mproc" run lf.yaml --ranks 2 --restart \
    --set pool.order=longest_first --set pool.durations=partial.jsonl
[ "$(run_order)" = "0.4 0.1 0.2 0.3 0.05" ] && ok "the unknown ones after the known long one, before the known short one" ||
    bad "with unknown inputs" "$(run_order)"
expect "longest_first without durations" 2 "$mproc" validate lf.yaml --set pool.order=longest_first
contains "is refused, saying what it needs" "$err" 'longest_first needs pool.durations'
expect "durations without longest_first" 2 "$mproc" validate lf.yaml --set pool.durations=earlier.jsonl
contains "is refused, naming the way on" "$err" 'add pool.order: longest_first'
expect "a missing durations file" 2 "$mproc" validate lf.yaml --set pool.order=longest_first --set pool.durations=nope.jsonl
contains "is named" "$err" "pool.durations: cannot read 'nope.jsonl' \(no such file\)"
printf 'not json\n' >bad.jsonl
expect "a durations file that is none of the three" 2 "$mproc" run lf.yaml --ranks 2 --restart \
    --set pool.order=longest_first --set pool.durations=bad.jsonl
contains "is refused with its line" "$err" 'pool.durations: bad.jsonl:1: .*want .jsonl results, a .summary.json or a GNU parallel joblog'
finish
