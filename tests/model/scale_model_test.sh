#!/usr/bin/env bash
# The scale model (tools/model/scale_model.py) on the raw figures of three bench runs kept here:
# bench_2026-11-30.jsonl, the run whose table is the README's and whose calibration
# ARCHITECTURE.md shows; bench_2026-11-29.jsonl, the README's before it, from before the bench
# had its probe (the model then takes rank 0's wake-up as measured alone); and
# bench_2026-11-29-probe.jsonl, the first run with the probe (its cost rows, raw MPI's round trip
# and its scale rows are what the model reads). The model draws its random lateness from fixed
# seeds, so its output is fixed by those figures, and expected-2026-11-30.md, expected.md and
# expected-probe.md hold it: a change to the model shows as a difference. Regenerate them on
# purpose:
#   python3 tools/model/scale_model.py tests/model/bench_2026-11-30.jsonl --cores 2 > tests/model/expected-2026-11-30.md
#   python3 tools/model/scale_model.py tests/model/bench_2026-11-29.jsonl --cores 2 > tests/model/expected.md
#   python3 tools/model/scale_model.py tests/model/bench_2026-11-29-probe.jsonl --cores 2 > tests/model/expected-probe.md
# What the model must go on saying is checked apart, so a regenerated file that breaks it still
# fails.
source "$(dirname "$0")/../e2e/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
model=$root/tools/model/scale_model.py
raw=$here/bench_2026-11-29.jsonl

# The rows the targets are set on, all six 2 ms rows: how many have the error in table column
# $1 (a signed figure, "+12%" or "-2.8 pts") beyond $2 either way, in the model's output $3.
outside_2ms() {
    grep -E '^\| (flat|groups of 16) \| [0-9]+ \| 2 ms ' <<<"$3" |
        awk -F"|" -v col="$1" -v limit="$2" '{e = $col; gsub(/[ %+]|pts/, "", e); e += 0
                                              if (e > limit || e < -limit) n++} END {print n + 0}'
}
# Run $1's model, compared with its kept output $2 (exit 1: some 0.5 ms row is outside the
# tolerance in every run kept); $3 says which run in the messages. Leaves the output in $out.
model_of() {
    local rows
    expect "the model runs on $3" 1 python3 "$model" "$here/$1" --cores 2 "${@:4}"
    if [ "$out" = "$(cat "$here/$2")" ]; then ok "its output is the expected one"
    else bad "its output differs from $2" "$(diff <(echo "$out") "$here/$2")"; fi
    rows=$(grep -cE '^\| (flat|groups of 16) \| [0-9]+ \| ' <<<"$out")
    [ "$rows" = 12 ] && ok "12 calibration rows" || bad "calibration rows: $rows, wanted 12" "$out"
}
# Rank 0's CPU within 20% and (unless $3 is "cpu") the efficiency within 3 points in every 2 ms
# row of output $1 ($2 names the run).
holds_2ms() {
    local cpu eff
    cpu=$(outside_2ms 7 20 "$1")
    [ "$cpu" = 0 ] && ok "$2: rank 0's CPU within 20% in every 2 ms row" ||
        bad "$2: $cpu 2 ms rows with rank 0's CPU outside 20%" "$1"
    [ "${3:-}" = cpu ] && return
    eff=$(outside_2ms 10 3 "$1")
    [ "$eff" = 0 ] && ok "$2: the efficiency within 3 points in every 2 ms row" ||
        bad "$2: $eff 2 ms rows with the efficiency outside 3 points" "$1"
}
# Projection: 18 rows; in groups rank 0 spends less per task than flat, everywhere.
projection_of() {
    local projection worse
    projection=$(sed -n '/^Projection/,$p' <<<"$1" | grep -E '^\| [0-9,]+ \| [0-9]+ ms \|')
    [ "$(wc -l <<<"$projection")" = 18 ] && ok "$2: 18 projection rows" ||
        bad "$2: projection rows" "$projection"
    worse=$(awk -F'|' '{cpu = $6 + 0; key = $2 $3} $4 ~ /flat/ {flat[key] = cpu}
                       $4 ~ /groups/ && cpu >= flat[key] {n++} END {print n + 0}' <<<"$projection")
    [ "$worse" = 0 ] && ok "$2: rank 0's CPU per task lower in groups than flat at every size" ||
        bad "$2: $worse projection rows where groups cost rank 0 as much as flat" "$projection"
}

# The README's run: the model reads rank 0's wake-up as a multiple of the probe's.
model_of bench_2026-11-30.jsonl expected-2026-11-30.md "the README's run" --plot "$work/model.svg"
contains "it reads rank 0's wake-up over the probe's, by the host's wake-ups" "$out" '\| wake over probe, [0-9]+ a core \|'
contains "it draws the plot" "$(head -c 300 "$work/model.svg")" '^<svg '
holds_2ms "$out" "the README's run"
projection_of "$out" "the README's run"

# The README's run before it, without the probe: rank 0's wake-up as measured alone.
model_of bench_2026-11-29.jsonl expected.md "the run before the probe"
holds_2ms "$out" "the run before the probe"
projection_of "$out" "the run before the probe"

# The first run with the probe: rank 0's CPU holds in every 2 ms row (its efficiency misses at
# flat 128, +3.6 points, on a row whose three runs read 93%, 87% and 80%).
model_of bench_2026-11-29-probe.jsonl expected-probe.md "the first run with the probe"
holds_2ms "$out" "the first run with the probe" cpu

expect "no arguments: the usage" 2 python3 "$model"
contains "which names the raw figures" "$err" 'scale_model.py RAW'
expect "an unknown option: the usage" 2 python3 "$model" "$raw" --bogus 1
finish
