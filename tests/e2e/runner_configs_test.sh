#!/usr/bin/env bash
# Every built-in job's config runs through the real `tools/mproc run` at several rank counts,
# and its results are checked against what is computed here independently.
source "$(dirname "$0")/lib.sh"
cd "$root"

for ranks in 1 2 3 5; do
    o=$work/squares-$ranks.jsonl
    expect "squares at $ranks ranks" 0 "$mproc" run configs/squares.yaml --ranks "$ranks" --set output.path="$o"
    want=$(for i in $(seq 0 999); do echo "{\"index\": $i, \"input\": $i, \"result\": $((i * i))}"; done)
    if [ "$(cat "$o")" = "$want" ]; then ok "squares at $ranks ranks: all 1000 records, in order"; else bad "squares at $ranks ranks: wrong results" "$(diff <(echo "$want") "$o" | head)"; fi
    contains "squares at $ranks ranks: summary per rank" "$err" "rank [0-9]+: [0-9]+ tasks, busy"
done

expect "cpu_sum" 0 "$mproc" run configs/cpu_sum.yaml --set params.span=100000 --set output.path="$work/cpu.jsonl"
want=$(/usr/bin/python3 -c "N=64*100000; print(sum(j + j*j + j*j*j for j in range(N)))")
[ "$(cat "$work/cpu.jsonl.reduced.json")" = "\"$want\"" ] && ok "cpu_sum: exact total $want" || bad "cpu_sum total" "$(cat "$work/cpu.jsonl.reduced.json") vs $want"
[ "$(wc -l < "$work/cpu.jsonl")" -eq 64 ] && ok "cpu_sum: 64 records" || bad "cpu_sum: record count"

expect "pi" 0 "$mproc" run configs/pi.yaml --ranks 5 --set input.range.stop=40 --set params.samples=100000 --set output.path="$work/pi.jsonl"
contains "pi: reduced samples" "$(cat "$work/pi.jsonl.reduced.json")" '"samples": 4000000'
contains "pi: estimate printed" "$err" "pi ≈ 3\.1[0-9]+ from 4000000 samples"

expect "wordcount" 0 "$mproc" run configs/wordcount.yaml --ranks 2 --set output.path="$work/wc.jsonl"
words=$(cat ./*.md | tr -cs 'A-Za-z0-9' '\n' | grep -c .)
contains "wordcount: total words match tr | grep -c ($words)" "$err" "words: $words,"

expect "file_io" 0 "$mproc" run configs/file_io.yaml --set output.path="$work/io.csv" --set params.out_dir="$work/copies"
bytes=$(cat framework/src/*/* | wc -c)
contains "file_io: total bytes match wc -c ($bytes)" "$(cat "$work/io.csv.reduced.json")" "\"bytes\": $bytes,"
head -1 "$work/io.csv" | grep -q '^index,input,result,error$' && ok "file_io: csv header" || bad "file_io: csv header" "$(head -2 "$work/io.csv")"
same=1; for f in framework/src/*/*; do cmp -s "$f" "$work/copies/$(basename "$f")" || same=0; done
[ "$same" = 1 ] && ok "file_io: copies identical" || bad "file_io: copies differ"

expect "command over a grid" 0 "$mproc" run configs/command.yaml --set output.path="$work/cmd.jsonl"
[ "$(grep -c '"exit_code": 0' "$work/cmd.jsonl")" -eq 6 ] && ok "command: 6 successful records" || bad "command records" "$(cat "$work/cmd.jsonl")"
contains "command: grid values substituted" "$(cat "$work/cmd.jsonl")" 'alpha=0.5 n=100'

expect "command over lines" 0 "$mproc" run configs/command_lines.yaml --set output.path="$work/lines.txt"
contains "command over lines: wc -w of the first line's file" "$(head -1 "$work/lines.txt")" "^0	configs/squares.yaml	.*\"stdout\": \"$(wc -w < configs/squares.yaml)\\\\n\""

# The seeds' Value/Lock example: exact under the lock at every rank count; without it the
# count is shown (how many are lost depends on timing, so only "not more than made" holds).
for ranks in 1 2 3 5; do
    expect "shared_counter at $ranks ranks" 0 "$mproc" run configs/shared_counter.yaml --ranks "$ranks" --set output.path="$work/sc-$ranks.jsonl"
    made=$((10 * 20))  # the config's 10 inputs ("processes") × 20 increments each
    [ "$(cat "$work/sc-$ranks.jsonl.reduced.json")" = "{\"counter\": $made, \"increments\": $made}" ] \
        && ok "shared_counter at $ranks ranks: exactly 200" || bad "shared_counter at $ranks ranks" "$(cat "$work/sc-$ranks.jsonl.reduced.json")"
done
expect "shared_counter without the lock" 0 "$mproc" run configs/shared_counter_racy.yaml --set output.path="$work/scr.jsonl"
counted=$(sed -nE 's/.*"counter": ([0-9]+).*/\1/p' "$work/scr.jsonl.reduced.json")
[ -n "$counted" ] && [ "$counted" -le 20000 ] && [ "$counted" -gt 0 ] \
    && ok "shared_counter without the lock: $counted of 20000 kept" || bad "racy counter" "$(cat "$work/scr.jsonl.reduced.json")"
echo "note: without the lock $counted of 20000 increments were kept"

# The seeds' Queue example: consumer Processes (on worker ranks, or threads of rank 0 when
# none is free) answer every task once, correctly.
want_pc=$(for i in $(seq 0 19); do if [ $((i % 2)) = 0 ]; then echo "mul($i, 7) = $((i * 7))"; else echo "plus($i, 7) = $((i + 7))"; fi; done)
want_sum=$(awk -F'= ' '{ s += $2 } END { print s }' <<<"$want_pc")
for ranks in 1 2 3 5; do
    expect "producer_consumer at $ranks ranks" 0 "$mproc" run configs/producer_consumer.yaml --ranks "$ranks" --set output.path="$work/pc-$ranks.jsonl"
    got_pc=$(sed -nE 's/.*"answer": "Process-[0-9]+ says that ([^"]*)".*/\1/p' "$work/pc-$ranks.jsonl")
    [ "$got_pc" = "$want_pc" ] && ok "producer_consumer at $ranks ranks: 20 answers, each right" \
        || bad "producer_consumer at $ranks ranks: answers" "$(diff <(echo "$want_pc") <(echo "$got_pc") | head)"
    [ "$(cat "$work/pc-$ranks.jsonl.reduced.json")" = "{\"sum\": $want_sum, \"tasks\": 20}" ] && ok "producer_consumer at $ranks ranks: reduction" \
        || bad "producer_consumer at $ranks ranks: reduction" "$(cat "$work/pc-$ranks.jsonl.reduced.json")"
done

expect "stdout output" 0 "$mproc" run configs/squares.yaml --set output.path=- --set input.range.stop=3
[ "$out" = $'{"index": 0, "input": 0, "result": 0}\n{"index": 1, "input": 1, "result": 1}\n{"index": 2, "input": 2, "result": 4}' ] && ok "stdout: the three records" || bad "stdout" "$out"

expect "unordered results" 0 "$mproc" run configs/squares.yaml --set pool.ordered=false --set output.path="$work/un.jsonl"
[ "$(sort "$work/un.jsonl")" = "$(sort "$work/squares-3.jsonl")" ] && ok "unordered: same records as ordered" || bad "unordered records differ"

# A long lazy input: rank 0's memory must not grow with it (results go to disk as they come,
# and imap's window bounds what is in flight). Compare a run 4 times longer: buffers are
# still filling up at 10^6 (measured: ~75 MiB, then flat near 120 MiB up to 10^7), while
# memory that grew with the input would need ~700 MiB more for the longer run.
peak_of() {  # runs N inputs; sets $peak (not a subshell, so the checks count)
    expect "$1 inputs" 0 "$mproc" run configs/squares.yaml --set input.range.stop="$1" --set output.path="$work/big.jsonl"
    [ "$(wc -l < "$work/big.jsonl")" -eq "$1" ] && ok "$1 inputs: all records" || bad "$1 inputs: record count"
    rm -f "$work/big.jsonl"
    peak=$(sed -nE 's/.*rank 0 peak memory ([0-9]+) MiB.*/\1/p' <<<"$err")
}
peak_of 1000000; small=$peak
peak_of 4000000; large=$peak
if [ -n "$small" ] && [ -n "$large" ] && [ "$large" -lt $((2 * small + 40)) ] && [ "$large" -lt 256 ]; then
    ok "rank 0 memory does not grow with the input: $small MiB for 10^6, $large MiB for 4x10^6"
else
    bad "rank 0 memory grew with the input: ${small:-?} MiB for 10^6, ${large:-?} MiB for 4x10^6"
fi

# On a terminal the progress is a live bar redrawn in place (script(1) provides the terminal).
tty_out=$(script -qec "$mproc run configs/pi.yaml --set input.range.stop=20 --set output.path=$work/tty.jsonl" /dev/null)
contains "a terminal gets a live progress bar" "$tty_out" $'\r.*\[#+\.*\] [0-9]+/20 \('
contains "the bar shows tasks/s, ETA and failures" "$tty_out" 'tasks/s, ETA [0-9.]+ s, 0 failed'
contains "a log gets plain progress lines" "$err" '^progress: [0-9]+/[0-9]+ '

expect "mproc jobs" 0 "$mproc" jobs
for j in squares cpu_sum pi wordcount file_io command; do contains "mproc jobs lists $j" "$out" "^$j\$"; done
contains "mproc jobs shows parameters" "$out" "params.samples \(integer, default 1000000\)"

# GNU parallel's placeholders.
cat > "$work/ph.yaml" <<'YAML'
job: command
input: {values: [dir/sub/file.tar.gz, plain, /top.txt]}
params: {command: "X=x; echo {#}:{}:{.}:{/}:{//}:{/.}${X}"}
output: {path: ph.jsonl}
YAML
expect "placeholders" 0 "$mproc" run "$work/ph.yaml" --set output.path="$work/ph.jsonl"
got=$(grep -o '"stdout": "[^"]*' "$work/ph.jsonl" | cut -d'"' -f4 | sed 's/\\n$//')
want='1:dir/sub/file.tar.gz:dir/sub/file.tar:file.tar.gz:dir/sub:file.tarx
2:plain:plain:plain:.:plainx
3:/top.txt:/top:top.txt:/:topx'
[ "$got" = "$want" ] && ok "placeholders as GNU parallel fills them (and \${X} left to the shell)" || bad "placeholders" "$got"
finish
