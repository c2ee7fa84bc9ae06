#!/usr/bin/env bash
# The command farm as a GNU parallel user meets it: every record, success or failure, carries
# its exit code (or signal), stdout and stderr apart with truncation flags, host, rank,
# start, seconds and attempts; --retry-failed runs exactly the failures again, in place;
# output.joblog, the JSON summary and output.task_logs; templates without shell syntax run
# without a shell and pass inputs through untouched. At 1, 2, 3 and 5 ranks.
source "$(dirname "$0")/lib.sh"
cd "$work"

# --- Records: every field, for each kind of ending --------------------------------------------
cat > die.sh <<'SH'
#!/bin/sh
kill -USR2 $$
SH
chmod +x die.sh
cat > rec.yaml <<YAML
job: command
input: {values: ["ok", "fail", "long"]}
params:
  command: "case {} in ok) echo out; echo err >&2;; fail) echo why >&2; exit 4;; long) seq 1 5000;; esac"
  max_output: 100
errors: {policy: skip}
output: {path: rec.jsonl}
YAML
expect "records: a run with failures" 1 "$mproc" run rec.yaml --ranks 3
# Without shell syntax the program runs directly: its own signal and exit code are seen.
expect "records: a program killed by a signal" 1 "$mproc" run rec.yaml --ranks 2 \
    --set "params.command=$work/die.sh {}" --set 'input.values=["signal"]' --set output.path=sig.jsonl
expect "records: a program that is not there" 1 "$mproc" run rec.yaml --ranks 2 \
    --set "params.command=$work/no-such-program {}" --set 'input.values=["missing"]' --set output.path=missing.jsonl
cat sig.jsonl missing.jsonl >> rec.jsonl
python3 - "$work/rec.jsonl" <<'PY' && ok "records: every field, for successes and failures" || bad "records" "$(cat rec.jsonl)"
import json, sys, re, socket
recs = {r["input"]: r for r in map(json.loads, open(sys.argv[1]))}
fields = {"exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated"}
def check(cond, what):
    if not cond:
        print("wrong:", what); sys.exit(1)
for r in recs.values():
    check(set(r["result"]) == fields, ("result fields", r))
    check(r["host"] == socket.gethostname() and isinstance(r["rank"], int), ("where", r))
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["start"]), ("start", r))
    check(isinstance(r["seconds"], (int, float)) and r["seconds"] >= 0 and r["attempts"] == 1, ("seconds", r))
    check("std::" not in r.get("error", ""), ("a C++ name", r))
ok, fail, long, sig, missing = (recs[k] for k in ("ok", "fail", "long", "signal", "missing"))
check("error" not in ok and ok["result"]["stdout"] == "out\n" and ok["result"]["stderr"] == "err\n", ("apart", ok))
check(fail["error"] == "exit code 4: why" and fail["result"]["exit_code"] == 4 and fail["result"]["stderr"] == "why\n", ("fail", fail))
check(len(long["result"]["stdout"]) == 100 and long["result"]["stdout_truncated"] and not long["result"]["stderr_truncated"], ("cut", long))
check(sig["error"] == "killed by SIGUSR2" and sig["result"]["signal"] == "SIGUSR2" and sig["result"]["exit_code"] is None, ("signal", sig))
check(missing["result"]["exit_code"] == 127 and missing["error"].endswith("no-such-program': No such file or directory"), ("missing", missing))
PY

# Attempts: a command that fails on its first try, under policy retry.
cat > flaky.yaml <<YAML
job: command
input: {range: {stop: 3}}
params: {command: "test -e tried{} || { touch tried{}; exit 1; }"}
errors: {policy: retry, retries: 2}
output: {path: flaky.jsonl}
YAML
expect "attempts: flaky commands succeed on a retry" 0 "$mproc" run flaky.yaml --ranks 2
[ "$(grep -c '"attempts": 2}' flaky.jsonl)" -eq 3 ] && ok "attempts: each record says 2" || bad "attempts" "$(cat flaky.jsonl)"

# Inputs pass through untouched: with a shell (quoted) and without one (run directly).
cat > lit.yaml <<'YAML'
job: command
input: {values: ["$(touch pwned)", "a'b\"c", "-n", "two words"]}
params: {command: "printf [%s] {}"}
output: {path: lit.jsonl}
YAML
expect "literal inputs, no shell" 0 "$mproc" run lit.yaml --ranks 2
expect "literal inputs, through the shell" 0 "$mproc" run lit.yaml --ranks 2 \
    --set 'params.command=printf [%s] {} ; true' --set output.path=lit2.jsonl
for f in lit.jsonl lit2.jsonl; do
    got=$(python3 -c 'import json,sys; print("|".join(json.loads(l)["result"]["stdout"] for l in open(sys.argv[1])))' "$f")
    [ "$got" = "[\$(touch pwned)]|[a'b\"c]|[-n]|[two words]" ] && ok "$f: each input one argument, as written" || bad "$f" "$got"
done
[ ! -e pwned ] && ok "no input ran as code" || bad "an input ran: pwned exists"

# A CSV input: a header names the columns, each row is a mapping ({name} in templates).
printf 'file,threshold\n"a b.txt",0.5\nc.txt,"1,5"\n' > in.csv
printf 'job: command\ninput: {csv: in.csv}\nparams: {command: "printf %%s/%%s/%%s {file} {threshold} {#}"}\noutput: {path: csv.jsonl}\n' > csv.yaml
expect "csv input" 0 "$mproc" run csv.yaml --ranks 2
got=$(python3 -c 'import json; print("|".join(json.loads(l)["result"]["stdout"] for l in open("csv.jsonl")))')
[ "$got" = "a b.txt/0.5/1|c.txt/1,5/2" ] && ok "csv: columns by name, quoted fields as written" || bad "csv columns" "$got"
expect "csv: a column that is not there" 2 "$mproc" validate csv.yaml --set 'params.command=echo {name}'
contains "csv: names the columns" "$err" "\{name\} \(character 6\) is not a field of every input; they have: file, threshold"
printf 'a,b\n1,2\n3\n' > short.csv
expect "csv: a short row" 2 "$mproc" validate csv.yaml --set input.csv=short.csv --set 'params.command=echo {a}'
contains "csv: names the row" "$err" "input.csv: short.csv:3: 1 fields, but the header names 2"

# --- --retry-failed, the joblog, the summary and the task logs, at 1, 2, 3 and 5 ranks -------
for ranks in 1 2 3 5; do
    rm -rf ok-* ran.log logs re.jsonl* re.joblog clean.jsonl*
    cat > re.yaml <<YAML
job: command
input: {range: {stop: 20}}
params: {command: "echo {} >> ran.log; case {} in 3|8|15) test -e ok-{} || exit 2;; esac; echo done {}"}
errors: {policy: skip}
pool: {chunksize: 2}
output: {path: re.jsonl, joblog: re.joblog, task_logs: logs}
YAML
    expect "$ranks ranks: a run with 3 failures" 1 "$mproc" run re.yaml --ranks $ranks
    [ "$(grep -c '"error"' re.jsonl)" -eq 3 ] && ok "$ranks ranks: 3 failures recorded" || bad "$ranks ranks: failures" "$(cat re.jsonl)"
    python3 - <<'PY' && ok "$ranks ranks: the summary counts them" || bad "$ranks ranks: summary" "$(cat re.jsonl.summary.json)"
import json
s = json.load(open("re.jsonl.summary.json"))
assert s["inputs"] == 20 and s["ran"] == 20 and s["failed"] == 3 and s["exit_code"] == 1, s
assert sorted(f["index"] for f in s["failures"]) == [3, 8, 15], s
assert sum(r["tasks"] for r in s["ranks"]) == 20, s
PY
    [ "$(head -1 re.joblog)" = "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')" ] \
        && [ "$(tail -n +2 re.joblog | awk -F'\t' 'NF == 9 && $7 == 2 {print $1}' | sort -n | tr '\n' ' ')" = "4 9 16 " ] \
        && ok "$ranks ranks: the joblog has a line per task, the failures' Exitval 2" || bad "$ranks ranks: joblog" "$(cat re.joblog)"
    [ "$(cat logs/5.out)" = "done 5" ] && [ "$(ls logs | wc -l)" -eq 40 ] && ok "$ranks ranks: task_logs hold each task's output" || bad "$ranks ranks: task logs" "$(ls logs | head)"
    expect "$ranks ranks: --resume of the finished run names --retry-failed" 0 "$mproc" run re.yaml --ranks $ranks --resume
    contains "$ranks ranks: the way on" "$err" "3 of its inputs failed: run them again with: .* --retry-failed"
    touch ok-3 ok-15 ok-8
    : > ran.log
    expect "$ranks ranks: --retry-failed" 0 "$mproc" run re.yaml --ranks $ranks --retry-failed
    [ "$(sort -n ran.log | tr '\n' ' ')" = "3 8 15 " ] && ok "$ranks ranks: exactly the failures ran again" || bad "$ranks ranks: ran" "$(cat ran.log)"
    [ "$(tail -n +2 re.joblog | wc -l)" -eq 23 ] && ok "$ranks ranks: the joblog gained their lines" || bad "$ranks ranks: joblog after retry" "$(cat re.joblog)"
    cp re.yaml clean.yaml
    sed -i 's/path: re.jsonl, joblog: re.joblog, task_logs: logs/path: clean.jsonl/' clean.yaml
    expect "$ranks ranks: a clean run" 0 "$mproc" run clean.yaml --ranks $ranks
    cmp -s <(strip re.jsonl) <(strip clean.jsonl) && ok "$ranks ranks: the file a clean run writes" \
        || bad "$ranks ranks: retried results differ" "$(diff <(strip re.jsonl) <(strip clean.jsonl) | head -6)"
    expect "$ranks ranks: nothing left to retry" 0 "$mproc" run re.yaml --ranks $ranks --retry-failed
    contains "$ranks ranks: says so" "$err" "no input failed: nothing to run again"
done

# Refusals.
printf 'job: command\ninput: {range: {stop: 3}}\nparams: {command: "true"}\noutput: {path: none.jsonl}\n' > none.yaml
expect "--retry-failed without results" 2 "$mproc" run none.yaml --retry-failed
contains "names the way on" "$err" "no finished results at none.jsonl to retry; run without --retry-failed"
expect "--retry-failed with --resume" 2 "$mproc" run none.yaml --retry-failed --resume
printf 'job: command\ninput: {range: {stop: 4}}\nparams: {command: "exit {}"}\nerrors: {policy: fail}\noutput: {path: part.jsonl}\n' > part.yaml
expect "a run stopped by a failure" 1 "$mproc" run part.yaml --ranks 2
expect "--retry-failed of an unfinished run" 2 "$mproc" run part.yaml --retry-failed
contains "says to finish it first" "$err" "holds an interrupted run; finish it first with: .* --resume"

# Other jobs add provenance only when asked, and a resumed file stays byte-identical.
printf 'job: squares\ninput: {range: {stop: 5}}\noutput: {path: sq.jsonl, provenance: true}\n' > sq.yaml
expect "squares with output.provenance" 0 "$mproc" run sq.yaml --ranks 2
[ "$(grep -c '"result": [0-9]*, "host": ".*", "rank": [0-9]*, "start": ".*Z", "seconds": .*, "attempts": 1}$' sq.jsonl)" -eq 5 ] \
    && ok "provenance fields on every record" || bad "provenance" "$(cat sq.jsonl)"
expect "squares without" 0 "$mproc" run sq.yaml --ranks 2 --set output.provenance=false --set output.path=sq2.jsonl
! grep -q '"host"' sq2.jsonl && ok "none by default" || bad "provenance by default" "$(cat sq2.jsonl)"

finish
