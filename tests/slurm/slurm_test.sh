#!/usr/bin/env bash
# `tools/mproc submit` against a real Slurm started here (local_slurm.sh): a squares job (ranks
# by mpirun, and by srun --mpi=pmix), a job the time limit interrupts and that continues in a
# chained job, the same with a requeued job, a job array whose parts are merged, and the plain
# slurm/example.sbatch, and workers of two cores (--cpus-per-task). Every result is compared
# byte for byte with a clean `tools/mproc run` of the same config.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/local_slurm.sh"

slurm_install || { echo "FAILED: could not install Slurm"; exit 1; }
trap 'slurm_down; rm -rf "$work"' EXIT
slurm_up || { echo "FAILED: Slurm did not start"; exit 1; }
cd "$work" || exit 1
mkdir -p results

# config NAME JOB INPUT [SLURM-LINES...]: writes NAME.yaml with its results in results/NAME.jsonl.
config() {
    local name=$1 job=$2 input=$3; shift 3
    {
        echo "job: $job"
        echo "input: $input"
        echo "output: {path: results/$name.jsonl}"
        echo "slurm:"
        echo "  output: results/$name-%j.log"
        for line in "$@"; do echo "  $line"; done
    } >"$name.yaml"
}

# submit NAME [ARGS...]: submits NAME.yaml; the job id goes in $id.
submit() {
    local name=$1; shift
    id=$("$mproc" submit "$name.yaml" "$@" 2>"$work/stderr")
    if [[ "$id" =~ ^[0-9]+$ ]]; then ok "submit $name: job $id"; else bad "submit $name: '$id'" "$(cat "$work/stderr")"; fi
}

# clean NAME [SET...]: the results of a plain local run of NAME.yaml, in clean/.
clean() {
    local name=$1; shift
    "$mproc" run "$name.yaml" --ranks 3 --set "output.path=clean/$name.jsonl" "$@" >/dev/null 2>&1 ||
        bad "clean run of $name"
}

# same NAME FILE WANT: FILE is WANT, byte for byte.
same() {
    if [ -f "$2" ] && cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 differs from $3" "$(diff "$2" "$3" 2>&1 | head -5)"; fi
}

# jobs_of NAME: the jobs called NAME, one "id state restarts" line each.
jobs_of() {
    scontrol -o show job 2>/dev/null | grep "JobName=$1 " |
        sed -E 's/^JobId=([0-9]+) .*JobState=([A-Z_]+) .*Restarts=([0-9]+).*/\1 \2 \3/'
}

# wait_file FILE SECONDS: until FILE exists (results are renamed into place at the end).
wait_file() {
    for _ in $(seq $(($2 * 5))); do [ -f "$1" ] && return 0; sleep 0.2; done
    return 1
}

# Slurm holds a requeued job back for two minutes (its eligible time). Like an administrator,
# the test lets it start at once, in the background: what is tested is what the job does next.
# Only once the first run's step daemon has gone: started while it still cleans up, the second
# run fails at once (seen once in CI).
release_when_requeued() {
    for _ in $(seq 600); do
        if scontrol -o show job "$1" 2>/dev/null | grep -q 'JobState=PENDING Reason=BeginTime' &&
            ! pgrep -f "slurmstepd: \[$1\." >/dev/null; then
            sleep 1
            scontrol update JobId="$1" StartTime=now && echo "  (released requeued job $1 at $(date +%T))"
            return
        fi
        sleep 0.5
    done
}

# The time-limit jobs first: they take longest. One minute of allocation, the warning 50 s
# before the limit (Slurm checks limits every 30 s, so it comes 10 to 40 s in), and about
# 45 s of work: the first allocation is always interrupted.
# The requeued one starts its ranks with srun, whose stop at the warning then is tested too.
for how in chain requeue; do
    launcher=mpirun; [ $how = requeue ] && launcher=srun
    config $how squares "{range: {stop: 180}}" "time: 1" "signal: 50" "on_timeout: $how" \
        "ntasks_per_node: 3" "launcher: $launcher"
    printf 'params: {sleep: 0.5}\npool: {chunksize: 1}\n' >>$how.yaml
done
submit chain
submit requeue
requeue_id=$id
release_when_requeued "$requeue_id" &
releaser=$!
trap 'kill "$releaser" 2>/dev/null; slurm_down; rm -rf "$work"' EXIT

config squares squares "{range: {stop: 5000}}" "ntasks_per_node: 3"
config srun squares "{range: {stop: 5000}}" "ntasks_per_node: 3" "launcher: srun"
config parts cpu_sum "{range: {stop: 30}}" "array: 3" "ntasks_per_node: 2"
# Workers of 2 cores: the script asks for --cpus-per-task=2 (slurm.cpus_per_task follows
# pool.cores_per_worker), srun is given it, and every task is told 2 threads.
config cores where "{range: {stop: 12}}" "ntasks_per_node: 3" "launcher: srun"
echo "pool: {chunksize: 1, cores_per_worker: 2}" >>cores.yaml
echo "params: {span: 100000}" >>parts.yaml
expect "dry run prints the script" 0 "$mproc" submit squares.yaml --dry-run
contains "the script asks for the warning signal" "$out" '^#SBATCH --signal=B:USR1@[0-9]+$'
contains "the script's array line" "$("$mproc" submit parts.yaml --dry-run 2>&1)" '^#SBATCH --array=0-2$'
submit squares
squares_id=$id
submit srun
srun_id=$id
submit parts
parts_id=$id
contains "the script asks for 2 cores per task" "$("$mproc" submit cores.yaml --dry-run 2>&1)" '^#SBATCH --cpus-per-task=2$'
submit cores
cores_id=$id
# The plain example, as a user would submit it after editing its two paths.
plain_id=$(MPROC=$mproc CONFIG=squares.yaml sbatch --parsable "$root/slurm/example.sbatch" \
           --set output.path=results/plain.jsonl)

for name in squares srun parts; do clean "$name"; done
# Sleeping changes no result: the clean runs of the slow jobs do not sleep.
for name in chain requeue; do clean "$name" --set params.sleep=0; done

state=$(slurm_wait "$squares_id" 120)
[ "$state" = COMPLETED ] && ok "squares job completed" || bad "squares job: $state" "$(cat results/squares-*.log 2>&1)"
same "squares results through mpirun in the allocation" results/squares.jsonl clean/squares.jsonl
state=$(slurm_wait "$srun_id" 120)
[ "$state" = COMPLETED ] && ok "srun job completed" || bad "srun job: $state" "$(cat results/srun-*.log 2>&1)"
same "squares results through srun --mpi=pmix" results/srun.jsonl clean/srun.jsonl

state=$(slurm_wait "$plain_id" 120)
[ "$state" = COMPLETED ] && ok "slurm/example.sbatch completed" || bad "slurm/example.sbatch: $state" "$(cat slurm-$plain_id.out 2>&1)"
same "slurm/example.sbatch results" results/plain.jsonl clean/squares.jsonl

state=$(slurm_wait "$cores_id" 120)
[ "$state" = COMPLETED ] && ok "cores job completed" || bad "cores job: $state" "$(cat results/cores-*.log 2>&1)"
seen=$(python3 -c '
import json
print(" ".join(sorted({"%s:%s" % (r["cores"], r["OMP_NUM_THREADS"]) for r in (json.loads(l)["result"] for l in open("results/cores.jsonl"))})))' 2>&1)
[ "$seen" = "2:2" ] && ok "in the allocation every task had ctx.cores() 2 and OMP_NUM_THREADS=2" || bad "cores in the allocation" "$seen"
cpus=$(scontrol -o show job "$cores_id" 2>/dev/null | grep -oE 'NumCPUs=[0-9]+' | head -1)
[ "$cpus" = NumCPUs=6 ] && ok "Slurm allocated 3 tasks x 2 CPUs ($cpus)" || bad "the allocation's CPUs" "$cpus"

# The array: three tasks, each with its own part; the last to finish merges them.
for k in 0 1 2; do
    state=$(slurm_wait "${parts_id}_$k" 120)
    [ "$state" = COMPLETED ] && ok "array task $k completed" || bad "array task $k: $state" "$(cat results/parts-*.log 2>&1)"
done
for k in 0 1 2; do
    [ -f "results/parts.part-$k-of-3.jsonl" ] && ok "array part $k written" || bad "array part $k missing"
done
grep -q '"index": 0,' results/parts.part-0-of-3.jsonl && ! grep -q '"index": 10,' results/parts.part-0-of-3.jsonl &&
    grep -q '"index": 10,' results/parts.part-1-of-3.jsonl && ok "each array task took its own share" ||
    bad "array shares" "$(head -c 300 results/parts.part-*-of-3.jsonl)"
same "merged array results" results/parts.jsonl clean/parts.jsonl
same "merged array reduction" results/parts.jsonl.reduced.json clean/parts.jsonl.reduced.json
rm -f results/parts.jsonl
expect "merge by hand" 0 "$mproc" merge parts.yaml
same "merged by hand" results/parts.jsonl clean/parts.jsonl
rm results/parts.part-1-of-3.jsonl
expect "merge with a part missing" 3 "$mproc" merge parts.yaml
contains "merge names the missing part" "$err" 'parts\.part-1-of-3\.jsonl'

# Time limits: the chain and the requeued job end with the results of a clean run.
if wait_file results/chain.jsonl 300; then
    same "chained continuation: the results of a clean run" results/chain.jsonl clean/chain.jsonl
else
    bad "the chained job never finished" "$(jobs_of mproc-squares; tail -5 results/chain-*.log)"
fi
logs=$(cat results/chain-*.log 2>/dev/null)
contains "the first allocation was interrupted" "$logs" 'interrupted: [0-9]+ tasks'
contains "and continued in a chained job" "$logs" 'the run continues in job [0-9]+'
contains "the continuation resumed" "$logs" 'were done by an earlier run'
[ ! -e results/chain.jsonl.part ] && tail -1 results/chain.jsonl.journal | grep -qx complete \
    && ok "no partial results left behind; the journal says complete" || bad "chain: partial results left" "$(ls results)"
if wait_file results/requeue.jsonl 300; then
    same "requeued job: the results of a clean run" results/requeue.jsonl clean/requeue.jsonl
else
    bad "the requeued job never finished" "$(jobs_of mproc-squares; tail -5 results/requeue-*.log)"
fi
state=$(slurm_wait "$requeue_id" 60)
restarts=$(scontrol -o show job "$requeue_id" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
[ "$state" = COMPLETED ] && [ "${restarts:-0}" -ge 1 ] && ok "requeued job completed after $restarts requeue(s)" ||
    bad "requeued job: state $state, restarts ${restarts:-?}" "$(tail -5 results/requeue-*.log)"
# For the record: when each job ran.
scontrol -o show job | grep -E 'JobName=mproc-squares' |
    sed -E 's/^JobId=([0-9]+) .*JobState=([A-Z]+) .*Restarts=([0-9]+) .*SubmitTime=([^ ]+) .*StartTime=([^ ]+) EndTime=([^ ]+).*/  job \1: \2, restarts \3, submitted \4, ran \5 to \6/'
finish
