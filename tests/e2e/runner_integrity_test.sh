#!/usr/bin/env bash
# The runner never mixes, loses or silently discards work: a resume with a changed config, a
# plain run over partial results, runs racing for one results file, a full disk, a torn .part,
# a kill in the rename window, side files of two results in one folder, the journal's size,
# values and bytes passed through as written, and config mistakes caught before any rank.
source "$(dirname "$0")/lib.sh"
cd "$work"

same() {  # same NAME FILE CLEAN
    if cmp -s <(strip "$2") <(strip "$3"); then ok "$1"; else bad "$1" "$(diff <(strip "$2") <(strip "$3") | head -6)"; fi
}
unchanged() {  # unchanged NAME: the partial results are as saved in keep/
    if cmp -s keep/part "$p.part" && cmp -s keep/journal "$p.journal"; then ok "$1: files left as they were"; else bad "$1: files changed"; fi
}

# --- A run has an identity -------------------------------------------------------------------
# Input 3 fails until ok-3 exists, so errors.policy: fail stops the run there and leaves
# partial results, with no timing involved.
cat > cmd.yaml <<'YAML'
job: command
input: {range: {start: 1, stop: 7}}
params: {command: "(test -e ok-{} || test {} != 3) && echo {}"}
output: {path: cmd.jsonl}
launch: {ranks: 2}
YAML
p=cmd.jsonl
expect "a failing input stops the run" 1 "$mproc" run cmd.yaml --set pool.chunksize=1
hint=$(sed -n 's/.*continue with: //p' <<<"$err")
[ -e cmd.jsonl.part ] && [ -e cmd.jsonl.journal ] && ok "partial results kept" || bad "partial results" "$(ls)"
contains "the hint repeats the overrides" "$hint" "run cmd.yaml --set pool.chunksize=1 --resume$"
mkdir -p keep && cp cmd.jsonl.part keep/part && cp cmd.jsonl.journal keep/journal

expect "a plain run over partial results refuses" 2 "$mproc" run cmd.yaml --set pool.chunksize=1
contains "and names --resume" "$err" "partial results of an interrupted run \([0-9]+ inputs done\); continue it with: .*run cmd.yaml --set pool.chunksize=1 --resume"
contains "and names --restart" "$err" "discard them with: .*--restart"
unchanged "plain run"
expect "a changed command refuses" 2 "$mproc" run cmd.yaml --resume --set 'params.command=echo {}'
contains "naming it, was and now" "$err" 'params.command changed since the interrupted run: was "\(test -e ok-\{\} \|\| test \{\} != 3\) && echo \{\}", now "echo \{\}"'
unchanged "changed command"
expect "a changed range refuses" 2 "$mproc" run cmd.yaml --resume --set input.range.stop=50
contains "naming the range" "$err" 'input.range changed since the interrupted run: was \{"start": 1, "step": 1, "stop": 7\}, now \{"start": 1, "step": 1, "stop": 50\}'
unchanged "changed range"
expect "a changed job refuses" 2 "$mproc" run cmd.yaml --resume --set job=squares --set params=
contains "naming the job" "$err" 'job changed since the interrupted run: was "command", now "squares"'
unchanged "changed job"
expect "a changed order refuses" 2 "$mproc" run cmd.yaml --resume --set pool.ordered=false
contains "naming the order" "$err" "pool.ordered changed since the interrupted run: was true, now false"
unchanged "changed order"

touch ok-3
eval "$hint" >/dev/null 2>"$work/hint.err" && ok "the hint, followed as printed, finishes the run" || bad "the hint" "$(cat "$work/hint.err")"
"$mproc" run cmd.yaml --set output.path=clean-cmd.jsonl 2>/dev/null
same "the resumed results are a clean run's" cmd.jsonl clean-cmd.jsonl
expect "--resume of the finished run with another range refuses" 2 "$mproc" run cmd.yaml --resume --set input.range.stop=9
contains "and says the run is finished" "$err" "since the finished run: .* is complete for the old config"
expect "--resume of the finished run, same config" 0 "$mproc" run cmd.yaml --resume --set pool.chunksize=1
contains "says it is complete" "$err" "cmd.jsonl is complete; nothing to resume"
expect "--restart discards and runs anew" 0 "$mproc" run cmd.yaml --restart --set input.range.stop=3
[ "$(wc -l < cmd.jsonl)" -eq 2 ] && ok "--restart: the new run's records only" || bad "--restart records" "$(cat cmd.jsonl)"
expect "--resume with --restart" 2 "$mproc" run cmd.yaml --resume --restart

# A lines input whose file changed under an interrupted run.
printf 'a\nb\nc\n' > items.txt
cat > lines.yaml <<'YAML'
job: command
input: {lines: items.txt}
params: {command: "test {} != b"}
output: {path: lines.jsonl}
YAML
expect "lines: stops at b" 1 "$mproc" run lines.yaml
printf 'a\nx\nc\n' > items.txt
expect "lines: a changed file refuses" 2 "$mproc" run lines.yaml --resume
contains "lines: naming its content" "$err" "input.lines_content changed since the interrupted run"

# --- One run per results file ----------------------------------------------------------------
cat > race.yaml <<'YAML'
job: squares
input: {range: {stop: 40}}
params: {sleep: 0.05}
output: {path: race.jsonl}
launch: {ranks: 2}
YAML
"$mproc" run race.yaml --set output.path=clean-race.jsonl 2>/dev/null
for i in 1 2 3; do "$mproc" run race.yaml >"race-$i.out" 2>&1 & eval "race_$i=\$!"; done
codes=""
for i in 1 2 3; do eval "wait \$race_$i"; codes="$codes $?"; done
[ "$(tr ' ' '\n' <<<"$codes" | grep -c '^0$')" -eq 1 ] && [ "$(tr ' ' '\n' <<<"$codes" | grep -c '^2$')" -eq 2 ] \
    && ok "three runs at once: one runs, two are refused (exits$codes)" || bad "three runs at once: exits$codes" "$(cat race-*.out)"
cat race-*.out > race.all
contains "the refusal names the run holding the results" "$(cat race.all)" "another run is writing race.jsonl \(host [^,]+, pid [0-9]+\)|partial results of an interrupted run"
same "the one run's results are whole" race.jsonl clean-race.jsonl
[ -e race.jsonl.lock ] && ok "the lock file stays" || bad "the lock file is gone"
# A run holding the lock is named, and refused at once (not after a wait).
flock race.jsonl.lock sleep 5 &
holder=$!
sleep 0.3
start=$(date +%s)
expect "a run while another holds the results" 2 "$mproc" run race.yaml --restart
[ $(( $(date +%s) - start )) -lt 5 ] && ok "refused at once" || bad "refused only after a wait"
contains "and says so" "$err" "another run is writing race.jsonl"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# --- Torn files and the rename window ----------------------------------------------------------
cat > pi.yaml <<'YAML'
job: pi
input: {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, x]}
params: {samples: 1000}
pool: {chunksize: 1}
output: {path: pi.jsonl}
launch: {ranks: 2}
YAML
"$mproc" run pi.yaml --set 'input.values=[0, 1, 2, 3, 4, 5, 6, 7, 8]' --set output.path=clean-pi.jsonl 2>/dev/null
expect "pi stops at a bad input" 1 "$mproc" run pi.yaml
truncate -s $(( $(stat -c %s pi.jsonl.part) - 7 )) pi.jsonl.part
expect "a torn .part, resumed" 1 "$mproc" run pi.yaml --resume --set errors.policy=skip
head -n 9 pi.jsonl > pi-first9.jsonl
same "a torn .part is cut back, not padded: records as a clean run's" pi-first9.jsonl clean-pi.jsonl
[ "$(tr -d '\000' < pi.jsonl | wc -c)" -eq "$(wc -c < pi.jsonl)" ] && ok "no NUL bytes" || bad "NUL bytes in the results"
cmp -s pi.jsonl.reduced.json clean-pi.jsonl.reduced.json && ok "the reduction counts each record once" \
    || bad "the reduction" "$(cat pi.jsonl.reduced.json clean-pi.jsonl.reduced.json)"

# The same, in .csv: the reduction cannot be counted again from a torn file, so resume refuses.
rm -f pi.csv*
expect "csv: pi stops at a bad input" 1 "$mproc" run pi.yaml --set output.path=pi.csv
truncate -s $(( $(stat -c %s pi.csv.part) - 5 )) pi.csv.part
before=$(stat -c %s pi.csv.part)
expect "csv: a .part torn below the reduction refuses" 2 "$mproc" run pi.yaml --set output.path=pi.csv --resume
contains "csv: says why" "$err" "records were lost, and a .csv file does not carry results exactly"
[ "$(stat -c %s pi.csv.part)" -eq "$before" ] && ok "csv: .part not padded" || bad "csv: .part size changed"

# Killed after .part was renamed into place but before the journal said so.
"$mproc" run pi.yaml --set 'input.values=[0, 1, 2, 3, 4, 5, 6, 7, 8]' --set output.path=win.jsonl 2>/dev/null
cp win.jsonl win.keep
sed -i '$d' win.jsonl.journal
expect "rename window: --resume" 0 "$mproc" run pi.yaml --set 'input.values=[0, 1, 2, 3, 4, 5, 6, 7, 8]' --set output.path=win.jsonl --resume
contains "rename window: nothing is redone" "$err" "is complete; nothing to resume"
cmp -s win.jsonl win.keep && ok "rename window: results untouched" || bad "rename window: results changed"
# Killed after the reduction was written but before the rename.
mv win.jsonl win.jsonl.part
sed -i '$d' win.jsonl.journal
expect "before the rename: --resume" 0 "$mproc" run pi.yaml --set 'input.values=[0, 1, 2, 3, 4, 5, 6, 7, 8]' --set output.path=win.jsonl --resume
contains "before the rename: no task runs again" "$err" "done: 0 tasks.*9 were done by an earlier run"
cmp -s win.jsonl win.keep && cmp -s win.jsonl.reduced.json clean-pi.jsonl.reduced.json && ok "before the rename: the same files" || bad "before the rename: files differ"

# --- Side files per results file ----------------------------------------------------------------
"$mproc" run pi.yaml --set 'input.values=[1, 2]' --set output.path=x.jsonl 2>/dev/null
"$mproc" run pi.yaml --set 'input.values=[3]' --set output.path=x.csv 2>/dev/null
[ -e x.jsonl.reduced.json ] && [ -e x.csv.reduced.json ] && ! cmp -s x.jsonl.reduced.json x.csv.reduced.json \
    && ok "x.jsonl and x.csv have their own reductions" || bad "shared reductions" "$(ls x.*)"
contains "x.jsonl's sbatch script is its own" "$("$mproc" submit pi.yaml --set output.path=x.jsonl --dry-run 2>&1)" "x\.jsonl\.sbatch"

# --- A bounded journal --------------------------------------------------------------------------
mkdir -p words
python3 - <<'PY'
n = 0
for f in range(30):
    with open("words/f%02d.txt" % f, "w") as o:
        o.write(" ".join("w%07d" % (n + i) for i in range(4000)))
    n += 4000
PY
cat > wc.yaml <<'YAML'
job: wordcount
input: {files: "words/*.txt"}
pool: {chunksize: 1}
output: {path: wc.jsonl}
launch: {ranks: 3}
YAML
expect "wordcount, 120,000 distinct words" 0 "$mproc" run wc.yaml
journal=$(stat -c %s wc.jsonl.journal); results=$(stat -c %s wc.jsonl)
[ "$journal" -lt 4096 ] && ok "journal $journal bytes for $results bytes of results" || bad "journal $journal bytes"
[ ! -e wc.jsonl.state ] && ok "no state left after the run" || bad "state left behind"

# --- Values as written, bytes as they are ------------------------------------------------------
cat > vals.yaml <<'YAML'
job: command
input: {values: [0.1, 2.50, 1e-3, 1180591620717411303424, .nan, 0x1F, -0, "quoted"]}
params: {command: "echo {}"}
output: {path: vals.jsonl}
YAML
expect "values as written" 0 "$mproc" run vals.yaml
outs=$(python3 -c '
import json
for l in open("vals.jsonl", encoding="utf-8"):
    r = json.loads(l)
    print(r["result"]["stdout"].strip(), json.dumps(r["input"]))')
want='0.1 0.1
2.50 2.5
1e-3 0.001
1180591620717411303424 1180591620717411303424
.nan ".nan"
0x1F "0x1F"
-0 0
quoted "quoted"'
[ "$outs" = "$want" ] && ok "commands get the text, .jsonl numbers keep it (strings where not JSON)" || bad "values" "$outs"
grep -q '"input": 2.50,' vals.jsonl && grep -q '"input": 1e-3,' vals.jsonl && ok ".jsonl keeps 2.50 and 1e-3 as written" || bad ".jsonl numbers" "$(cut -c1-40 vals.jsonl)"
expect "values in csv" 0 "$mproc" run vals.yaml --set output.path=vals.csv
[ "$(cut -d, -f2 vals.csv | sed -n '2,4p' | tr '\n' ' ')" = "0.1 2.50 1e-3 " ] && ok "csv cells as written" || bad "csv cells" "$(head -4 vals.csv)"
printf 'job: command\ninput: {grid: {alpha: [0.1, 2.50]}}\nparams: {command: "echo {alpha}"}\noutput: {path: grid.jsonl}\n' > grid.yaml
expect "grid" 0 "$mproc" run grid.yaml
[ "$(grep -o '"stdout": "[^"]*' grid.jsonl | cut -d'"' -f4 | tr '\n' ' ')" = '0.1\n 2.50\n ' ] && ok "grid values as written" || bad "grid values" "$(cat grid.jsonl)"

printf 'job: squares\ninput: {values: [3037000499, 3037000500, 1180591620717411303424]}\nerrors: {policy: skip}\noutput: {path: big.jsonl}\n' > big.yaml
expect "squares near 2^63" 1 "$mproc" run big.yaml
contains "an exact square" "$(cat big.jsonl)" '"input": 3037000499, "result": 9223372030926249001'
contains "an overflow is an error, not a wrong number" "$(cat big.jsonl)" '"input": 3037000500, "error": ".*does not fit a 64-bit integer'
contains "an input beyond 64 bits is an error" "$(cat big.jsonl)" '"input": 1180591620717411303424, "error": ".*does not fit a 64-bit integer'
printf 'job: cpu_sum\ninput: {values: [10000000, 9223372036854775807]}\nparams: {span: 1000000}\noutput: {path: cs.jsonl}\n' > cs.yaml
expect "cpu_sum past 2^128" 0 "$mproc" run cs.yaml
want=$(python3 -c '
def F(n):
    s1 = n * (n - 1) // 2
    return s1 + (n - 1) * n * (2 * n - 1) // 6 + s1 * s1
sp = 10**6
print(sum(F((i + 1) * sp) - F(i * sp) for i in (10**7, 2**63 - 1)))')
[ "$(cat cs.jsonl.reduced.json)" = "\"$want\"" ] && ok "cpu_sum exact past 2^128 (as Python computes it)" || bad "cpu_sum" "$(cat cs.jsonl.reduced.json) vs $want"

printf 'a\tb\ncaf\351\n' > odd.txt
cat > bytes.yaml <<'YAML'
job: command
input: {lines: odd.txt}
params: {command: "printf 'caf\\351 %s' {}"}
output: {path: bytes.jsonl}
YAML
expect "bytes that are not UTF-8" 0 "$mproc" run bytes.yaml
python3 -c '
import json, sys
lines = open("bytes.jsonl", "rb").read().decode("utf-8").splitlines()   # strict: fails on bad bytes
recs = [json.loads(l) for l in lines]
out = recs[1]["result"]["stdout"].encode("utf-8", "surrogateescape")
inp = recs[1]["input"].encode("utf-8", "surrogateescape")
sys.exit(0 if out == b"caf\xe9 caf\xe9" and inp == b"caf\xe9" and recs[0]["input"] == "a\tb" else 1)' \
    && ok ".jsonl is valid UTF-8 JSON and gives the bytes back (surrogateescape)" || bad "invalid UTF-8" "$(cat bytes.jsonl)"
expect "tabs in .txt" 0 "$mproc" run bytes.yaml --set output.path=bytes.txt
[ "$(wc -l < bytes.txt)" -eq 2 ] && [ "$(head -1 bytes.txt | awk -F'\t' '{print NF}')" -eq 8 ] \
    && ok ".txt: one record a line, eight columns (three and the provenance)" || bad ".txt records" "$(cat -A bytes.txt)"
printf 'job: command\ninput: {values: ["two\\nlines"]}\nparams: {command: "echo {}"}\noutput: {path: nl.csv}\n' > nl.yaml
expect "a newline in a csv field" 0 "$mproc" run nl.yaml
[ "$(wc -l < nl.csv)" -eq 2 ] && ok ".csv: one record a line" || bad ".csv records" "$(cat -A nl.csv)"

# --- Config mistakes before any rank starts -----------------------------------------------------
printf 'job: squares\ninput: {values: [1]}\noutput: {path: early.jsonl}\n' > early.yaml
no_files() { [ ! -e early.jsonl.part ] && [ ! -e early.jsonl.journal ] && ok "$1: no files left" || bad "$1: files left" "$(ls early*)"; }
expect "processes beyond the workers" 2 "$mproc" run early.yaml --ranks 3 --set pool.processes=4
contains "processes: names --ranks" "$err" "pool.processes is 4, but the run has 2 worker ranks .*--ranks 5"
no_files "processes"
expect "--resume with results to stdout" 2 "$mproc" run early.yaml --resume --set output.path=-
contains "stdout: says why" "$err" "--resume works on a results file, and output.path is '-'"
printf 'job: squares\ninput: {values: [1]}\npool: {chunksize: 2}\npool: {ordered: false}\n' > dup.yaml
expect "a duplicate key" 2 "$mproc" run dup.yaml
contains "duplicate key: both places" "$err" "^dup.yaml:4:1: duplicate key 'pool' \(first at line 3, column 1\)"
printf 'job: squares\ninput: {values: [1]}\nlaunch: {ranks: 4294967299}\n' > huge.yaml
expect "launch.ranks beyond range" 2 "$mproc" run huge.yaml
contains "launch.ranks: says so" "$err" "huge.yaml:3:17: launch.ranks must be at most"
expect "task_timeout .nan" 2 "$mproc" run early.yaml --set errors.task_timeout=.nan
contains "task_timeout: a finite number" "$err" "errors.task_timeout must be a finite number"
expect "negative task_timeout" 2 "$mproc" run early.yaml --set errors.task_timeout=-1
mkdir -p adir
expect "a directory as CONFIG" 2 "$mproc" run adir
contains "a directory: says so" "$err" "^adir: is a directory"
if [ "$(id -u)" -ne 0 ]; then
    cp early.yaml noread.yaml && chmod 000 noread.yaml
    expect "an unreadable CONFIG" 2 "$mproc" run noread.yaml
    contains "unreadable: says so" "$err" "cannot read the config file: Permission denied"
else
    echo "note: running as root, which reads any file: the unreadable-CONFIG case is not tried"
fi
marker="mproc-many-ranks-$$"
start=$(date +%s)
expect "--ranks 100000 on this machine" 2 "$mproc" run early.yaml --ranks 100000 --set "params.sleep=0" --set "output.path=$marker.jsonl"
[ $(( $(date +%s) - start )) -lt 10 ] && ok "refused at once" || bad "--ranks 100000 took $(( $(date +%s) - start ))s"
contains "names the way on" "$err" "more than 64 per core; .*--many-ranks"
pgrep -f "$marker" >/dev/null && bad "--ranks 100000 started something" || ok "nothing started"

# The config is read once: a FIFO can be read only once, so a second reading would hang.
mkfifo once.yaml
cat early.yaml > once.yaml &
writer=$!
expect "a config that can be read once" 0 timeout 60 "$mproc" run once.yaml --set output.path=once.jsonl
kill "$writer" 2>/dev/null
finish
