#!/usr/bin/env bash
# The scale simulator (tools/model) through `tools/mproc model`, on the bench run kept here
# (bench_2026-12-07.jsonl, its default costs): the line it ends with; rank 0's CPU per task
# against that run's 2 ms rows at 9 and 33 ranks, which a core per rank does not change much
# (the simulator times rank 0's real Dispatcher here; 129 ranks on this host's 2 cores cost rank
# 0 more per event than the cost rows measure, as docs/scale-model.md shows); groups cheaper for
# rank 0 than flat at 10^4 ranks; where rank 0 saturates; its refusals.
source "$(dirname "$0")/../e2e/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
raw=$here/bench_2026-12-07.jsonl

# median IMPL WORKERS FIGURE: the kept run's median of that row.
median() {
    python3 - "$raw" "$@" <<'EOF'
import json, statistics, sys
raw, impl, workers, figure = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
v = [r["value"] for r in map(json.loads, open(raw))
     if r["impl"] == impl and r["workers"] == workers and r["figure"] == figure]
print(statistics.median(v))
EOF
}
# last_line OUTPUT: P and C of its last line, or nothing if it is not the promised line.
line_re='^([0-9]+) ranks, ([0-9.]+) ms tasks, (flat|groups of [0-9]+): ([0-9.]+)% of the ideal rate, rank 0 ([0-9.]+) us of CPU per task$'
figures() { tail -1 <<<"$1" | sed -nE "s/$line_re/\4 \5/p"; }

expect "a simulated run" 0 "$mproc" model --ranks 129 --task-ms 2 --group-size 16
contains "ends with the promised line" "$(tail -1 <<<"$out")" \
    '^129 ranks, 2 ms tasks, groups of 16: [0-9.]+% of the ideal rate, rank 0 [0-9.]+ us of CPU per task$'
expect "flat" 0 "$mproc" model --ranks 9 --task-ms 0.5
contains "says flat" "$(tail -1 <<<"$out")" '^9 ranks, 0.50 ms tasks, flat: '

# Rank 0's CPU per 2 ms task against the kept run, on one node with the task length measured
# there, within 25%.
for ranks in 9 33; do
    for layout in flat 16; do
        if [ $layout = flat ]; then impl="mproc flat"; workers=$((ranks - 1)); g=0
        else impl="mproc groups of 16"; workers=$((ranks - 1 - (ranks + 14) / 16)); g=16; fi
        measured=$(median "$impl" $workers "rank 0 CPU per 2 ms task")
        took=$(median "$impl" $workers "length of a 2 ms task")
        ms=$(awk -v t="$took" 'BEGIN { printf "%.4f", t / 1000 }')
        expect "$ranks ranks, $impl, tasks of $ms ms" 0 "$mproc" model --ranks $ranks --task-ms "$ms" \
            --group-size $g --node-ranks 0
        read -r eff cpu <<<"$(figures "$out")"
        if awk -v s="$cpu" -v m="$measured" 'BEGIN { exit !(s >= 0.75 * m && s <= 1.25 * m) }'; then
            ok "rank 0 $cpu us per task, measured $measured: within 25%"
        else
            bad "rank 0 $cpu us per task, measured $measured: not within 25%" "$out"
        fi
        awk -v e="$eff" 'BEGIN { exit !(e >= 90 && e <= 100.5) }' && ok "efficiency $eff%" ||
            bad "efficiency $eff% with a core per rank and 2 ms tasks" "$out"
    done
done

# 10^4 ranks of 10 ms tasks: in groups rank 0 handles a message per group, not per worker.
expect "10^4 ranks flat" 0 "$mproc" model --ranks 10000 --task-ms 10
read -r flat_eff flat_cpu <<<"$(figures "$out")"
expect "10^4 ranks in groups of 16" 0 "$mproc" model --ranks 10000 --task-ms 10 --group-size 16
read -r groups_eff groups_cpu <<<"$(figures "$out")"
awk -v f="$flat_cpu" -v g="$groups_cpu" 'BEGIN { exit !(g < f) }' &&
    ok "rank 0 pays less per task in groups ($groups_cpu us) than flat ($flat_cpu us)" ||
    bad "groups $groups_cpu us per task, flat $flat_cpu us"
awk -v f="$flat_eff" -v g="$groups_eff" 'BEGIN { exit !(g > f) }' &&
    ok "and reaches more of the ideal rate ($groups_eff% against $flat_eff%)" ||
    bad "groups $groups_eff%, flat $flat_eff%"
# Where rank 0 cannot keep up, the simulated rate is what rank 0's CPU allows, not the ideal.
expect "10^4 ranks of 1 ms tasks flat" 0 "$mproc" model --ranks 10000 --task-ms 1
contains "say rank 0 is busy all the time" "$out" 'rank 0 busy (9[5-9]|100)\.[0-9]%'
read -r eff cpu <<<"$(figures "$out")"
awk -v e="$eff" -v c="$cpu" 'BEGIN { bound = 100 * (1000 / c) / (9999 / 1)  # tasks/ms rank 0 allows, over the ideal
                                     exit !(e <= 1.1 * bound && e >= 0.5 * bound) }' &&
    ok "its rate ($eff%) is what $cpu us of rank 0 per task allows" || bad "rate $eff% with $cpu us per task" "$out"

expect "no --ranks" 2 "$mproc" model --task-ms 2
contains "is refused, saying what is needed" "$err" '--ranks and --task-ms are needed'
expect "a group of one" 2 "$mproc" model --ranks 9 --task-ms 2 --group-size 1
contains "is refused" "$err" 'group-size is 0 \(flat\) or 2 or more'
expect "a word for a number" 2 "$mproc" model --ranks many --task-ms 2
contains "is refused, naming the option" "$err" "--ranks takes a number from 2 to 1000000, not 'many'"
expect "a bench run that is not there" 2 "$mproc" model --ranks 9 --task-ms 2 --costs "$work/none.jsonl"
contains "is named" "$err" 'cannot read the bench run .*none.jsonl'

finish
