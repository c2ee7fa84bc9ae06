#!/usr/bin/env bash
# The scale simulator (tools/model) through `tools/mproc model`, on the bench run kept here
# (bench_2026-12-07.jsonl, its default costs): the line it ends with; rank 0's CPU per task
# against that run's 2 ms rows at 9 and 33 ranks, which a core per rank does not change much
# (the simulator times rank 0's real Dispatcher here; 129 ranks on this host's 2 cores cost rank
# 0 more per event than the cost rows measure, as docs/scale-model.md shows); rank 0's messages
# per task flat and in groups at 10^4 ranks; where rank 0 saturates; its refusals.
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
# there, the median of three simulations (each times the Dispatcher anew, beside whatever else
# the suite runs). Flat, within 30%: every result is a message to rank 0, and the simulator's
# price of a message is worked out from the bench's busiest row. In groups the simulator reads
# low: rank 0 wakes about once per leader's batch, after up to 10 ms asleep, and runs it cold,
# which costs it 20-23 µs a wake-up more than the simulator's warm timings and the bench's
# cost rows price (docs/scale-model.md), most of its figure there; it is held between 30%
# and 125% of the measured.
for ranks in 9 33; do
    for layout in flat 16; do
        if [ $layout = flat ]; then impl="mproc flat"; workers=$((ranks - 1)); g=0; low=70; high=130
        else impl="mproc groups of 16"; workers=$((ranks - 1 - (ranks + 14) / 16)); g=16; low=30; high=125; fi
        measured=$(median "$impl" $workers "rank 0 CPU per 2 ms task")
        took=$(median "$impl" $workers "length of a 2 ms task")
        ms=$(awk -v t="$took" 'BEGIN { printf "%.4f", t / 1000 }')
        runs=()
        for _ in 1 2 3; do
            expect "$ranks ranks, $impl, tasks of $ms ms" 0 "$mproc" model --ranks $ranks --task-ms "$ms" \
                --group-size $g --node-ranks 0
            runs+=("$(figures "$out")")
        done
        read -r eff cpu <<<"$(printf '%s\n' "${runs[@]}" | sort -k2 -g | sed -n 2p)"
        if awk -v s="$cpu" -v m="$measured" -v l="$low" -v h="$high" 'BEGIN { exit !(s >= l / 100 * m && s <= h / 100 * m) }'; then
            ok "rank 0 $cpu us per task, measured $measured: within $low-$high%"
        else
            bad "rank 0 $cpu us per task, measured $measured: not within $low-$high%" "$out"
        fi
        awk -v e="$eff" 'BEGIN { exit !(e >= 90 && e <= 100.5) }' && ok "efficiency $eff%" ||
            bad "efficiency $eff% with a core per rank and 2 ms tasks" "$out"
    done
done

# 10^4 ranks of 10 ms tasks: flat, rank 0 sends and receives a message per task; in groups, a
# message per batch of a group's members.
messages() { sed -nE 's/.* ([0-9.]+) messages and .*/\1/p' <<<"$1" | head -1; }
expect "10^4 ranks flat" 0 "$mproc" model --ranks 10000 --task-ms 10
flat_messages=$(messages "$out")
expect "10^4 ranks in groups of 16" 0 "$mproc" model --ranks 10000 --task-ms 10 --group-size 16
groups_messages=$(messages "$out")
awk -v f="$flat_messages" 'BEGIN { exit !(f >= 1.9 && f <= 2.1) }' &&
    ok "flat, rank 0 handles 2 messages per task ($flat_messages)" || bad "flat: $flat_messages messages per task" "$out"
awk -v g="$groups_messages" 'BEGIN { exit !(g > 0 && g < 0.5) }' &&
    ok "in groups, a fraction of one ($groups_messages)" || bad "groups: $groups_messages messages per task" "$out"
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
