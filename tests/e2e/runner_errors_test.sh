#!/usr/bin/env bash
# What goes wrong, through the real `tools/mproc`: every kind of bad config is one line
# "CONFIG:LINE:COLUMN: what is wrong" with exit 2 before any rank starts; the error policies;
# task timeouts that really stop the task.
source "$(dirname "$0")/lib.sh"
cd "$work"
mkdir -p data && printf 'a\nb\n' > data/items.txt

# bad NAME EXPECTED_LOCATION PATTERN YAML : the config must be refused with that message.
refuse() {
    local name=$1 where=$2 pattern=$3 yaml=$4
    printf '%s\n' "$yaml" > bad.yaml
    expect "refused: $name" 2 "$mproc" validate bad.yaml
    local line; line=$(head -1 <<<"$err")
    if [[ "$line" == "bad.yaml:$where: "* ]] && grep -qE -- "$pattern" <<<"$line"; then
        ok "refused: $name says where and why"
    else
        bad "refused: $name: wanted bad.yaml:$where: /$pattern/" "$err"
    fi
    [ "$(wc -l <<<"$err")" -eq 1 ] && ok "refused: $name in one line" || bad "refused: $name: more than one line" "$err"
}

refuse "unknown key, with a suggestion" 5:3 "unknown key 'chunksiz' in pool \(did you mean 'chunksize'\?\)" \
'job: squares
input:
  range: {stop: 10}
pool:
  chunksiz: 10'
refuse "unknown top-level key" 3:1 "unknown key 'outptu' \(did you mean 'output'\?\)" \
'job: squares
input: {values: [1]}
outptu: {path: x.jsonl}'
refuse "a value where a mapping goes, with its form" 3:9 "output must be a mapping of path, provenance, joblog, task_logs, not 'out.jsonl' \(e.g. output: \{path: ...\}\)" \
'job: squares
input: {values: [1]}
output: out.jsonl'
refuse "a list where a range goes" 2:16 "input.range must be a mapping of start, stop, step, not a list \(e.g. range: \{start: ...\}\)" \
'job: squares
input: {range: [0, 10]}'
refuse "wrong type" 4:14 "pool.chunksize must be an integer, not 'lots'" \
'job: squares
input: {values: [1]}
pool:
  chunksize: lots'
refuse "wrong type of a boolean" 3:17 "pool.ordered must be true or false" \
'job: squares
input: {values: [1]}
pool: {ordered: maybe}'
refuse "empty input" 2:17 "input.values is empty" \
'job: squares
input: {values: []}'
refuse "no input source" 2:8 "input needs exactly one source" \
'job: squares
input: {}'
refuse "conflicting input sources" 3:3 "input has both 'range' and 'values'" \
'job: squares
input:
  range: {stop: 3}
  values: [1]'
refuse "missing input file" 2:16 "input.lines: cannot read 'data/nothing.txt' \(no such file\)" \
'job: command
input: {lines: data/nothing.txt}
params: {command: "true"}'
refuse "glob matching nothing" 2:16 "input.files: no file matches 'data/\*.csv'" \
'job: wordcount
input: {files: "data/*.csv"}'
refuse "unknown job" 1:6 "unknown job 'squares2' \(did you mean 'squares'\?\)" \
'job: squares2
input: {values: [1]}'
refuse "unknown job parameter" 3:10 "job 'pi' has no parameter 'sample' \(did you mean 'samples'\?\)" \
'job: pi
input: {range: {stop: 2}}
params: {sample: 10}'
refuse "job parameter of the wrong type" 3:19 "params.samples must be an integer" \
'job: pi
input: {range: {stop: 2}}
params: {samples: many}'
refuse "missing required parameter" 1:6 "job 'command' needs params.command" \
'job: command
input: {values: [1]}'
refuse "job's own check of a parameter" 3:9 "params: samples must be at least 1" \
'job: pi
input: {range: {stop: 2}}
params: {samples: 0}'
refuse "bad error policy" 3:18 "errors.policy must be one of fail, skip, retry, not 'skipp' \(did you mean 'skip'\?\)" \
'job: squares
input: {values: [1]}
errors: {policy: skipp}'
refuse "unknown output format" 3:16 "output.path: unknown format '.json'" \
'job: squares
input: {values: [1]}
output: {path: out.json}'
mkdir -p locked && chmod 555 locked
if [ "$(id -u)" -ne 0 ]; then
    refuse "unwritable output directory" 3:16 "output.path: cannot write into" \
'job: squares
input: {values: [1]}
output: {path: locked/out.jsonl}'
else
    # root writes anywhere; a path under a regular file is unwritable for anyone.
    touch plainfile
    refuse "unwritable output directory" 3:16 "output.path: cannot write into" \
'job: squares
input: {values: [1]}
output: {path: plainfile/out.jsonl}'
fi
refuse "malformed YAML" 3:1 "malformed YAML" \
'job: squares
input: {values: [1]
pool: x'

# The slurm: section is checked the same way (tools/mproc submit validates before sbatch).
refuse "a malformed time limit" 4:9 "slurm.time must be a Slurm time limit .*not '1:2:3:4'" \
'job: squares
input: {values: [1]}
slurm:
  time: "1:2:3:4"'
refuse "zero nodes" 3:16 "slurm.nodes must be at least 1, not 0" \
'job: squares
input: {values: [1]}
slurm: {nodes: 0}'
refuse "a warning longer than the limit" 5:11 "slurm.signal \(600 s before the limit\) must be shorter than slurm.time" \
'job: squares
input: {values: [1]}
slurm:
  time: "5:00"
  signal: 600'
refuse "a misspelt on_timeout" 3:31 "slurm.on_timeout must be one of chain, requeue, stop, not 'requeu' \(did you mean 'requeue'\?\)" \
'job: squares
input: {values: [1]}
slurm: {time: 10, on_timeout: requeu}'
refuse "a partition that would break its line" 3:20 "slurm.partition must not contain spaces" \
'job: squares
input: {values: [1]}
slurm: {partition: "a; rm -rf x"}'
refuse "an extra line that is not an option" 3:28 "each of slurm.extra must be an '#SBATCH --option' line" \
'job: squares
input: {values: [1]}
slurm: {extra: ["--qos=x", "echo hi"]}'
refuse "an array with output to stdout" 4:34 "slurm.array: each array task writes its own part" \
'job: squares
input: {values: [1]}
output: {path: "-"}
slurm: {on_timeout: stop, array: 2}'
expect "submit --dry-run refuses a bad config too" 2 "$mproc" submit bad.yaml --dry-run

printf 'job: squares\ninput: {values: [1]}\n' > good.yaml
expect "a --set with a wrong type" 2 "$mproc" run good.yaml --set pool.chunksize=abc
contains "a --set error names the override" "$err" "^--set pool.chunksize=abc: pool.chunksize must be an integer"
expect "a bad --ranks" 2 "$mproc" run good.yaml --ranks zero
expect "a bad --shard" 2 "$mproc" run good.yaml --shard 3/3
contains "a bad --shard says why" "$err" "--shard needs K/N with 0 <= K < N"
expect "a --shard with results to stdout" 2 "$mproc" run good.yaml --shard 0/2 --set output.path=-
contains "a --shard with results to stdout says why" "$err" "^--shard: an array task needs a results file"
expect "no config file" 2 "$mproc" run nothing.yaml
contains "no config file: says so" "$err" "^nothing.yaml: cannot read the config file: No such file or directory"
expect "validate a good config" 0 "$mproc" validate good.yaml
contains "validate summarises" "$out" "good.yaml: ok: job squares, 1 inputs"

# Error policies, with a command that fails for odd inputs.
cat > policy.yaml <<'YAML'
job: command
input: {range: {stop: 6}}
params: {command: "test $(expr {} % 2) -eq 0"}
pool: {chunksize: 1}
output: {path: policy.jsonl}
YAML
expect "policy fail stops at the first failure" 1 "$mproc" run policy.yaml --set errors.policy=fail
contains "policy fail names the input and the error" "$err" "policy.yaml: input [135] \([135]\) failed: exit code 1$"
[ ! -e policy.jsonl ] && [ -e policy.jsonl.part ] && ok "policy fail keeps partial results for --resume" || bad "policy fail files" "$(ls)"
expect "policy skip, resumed, runs everything" 1 "$mproc" run policy.yaml --resume --set errors.policy=skip
[ "$(grep -c '"error"' policy.jsonl)" -eq 3 ] && [ "$(grep -c '"exit_code": 0' policy.jsonl)" -eq 3 ] && ok "policy skip records 3 errors and 3 results" || bad "policy skip records" "$(cat policy.jsonl)"

# retry: each input fails the first time it runs and succeeds the second.
cat > retry.yaml <<YAML
job: command
input: {range: {stop: 4}}
params: {command: "test -e $work/seen.{} || { touch $work/seen.{}; exit 7; }"}
pool: {chunksize: 1}
output: {path: retry.jsonl}
errors: {policy: retry, retries: 1}
YAML
expect "policy retry succeeds on the second attempt" 0 "$mproc" run retry.yaml
[ "$(grep -c '"exit_code": 0' retry.jsonl)" -eq 4 ] && ok "retry: all 4 succeeded" || bad "retry records" "$(cat retry.jsonl)"
rm -f "$work"/seen.*
expect "without retries the same fails" 1 "$mproc" run retry.yaml --set errors.policy=skip --set errors.retries=0

# Timeouts: a command that sleeps 30 s is killed after 1 s; the run goes on. The sleep's
# length is unique to this test run (30.0<pid>), so pgrep finds only its own.
long="30.0$$"
cat > timeout.yaml <<YAML
job: command
input: {values: ["$long", 0]}
params: {command: "sleep {}; echo done"}
pool: {chunksize: 1}
output: {path: timeout.jsonl}
errors: {policy: skip, task_timeout: 1}
YAML
start=$(date +%s)
expect "task_timeout kills an overrunning command" 1 "$mproc" run timeout.yaml
took=$(( $(date +%s) - start ))
[ "$took" -lt 15 ] && ok "task_timeout: the run took ${took}s, not 30" || bad "task_timeout took ${took}s"
contains "task_timeout: recorded as timed out" "$(cat timeout.jsonl)" '"index": 0, "input": "30\.0[0-9]+", "result": \{"exit_code": null, "signal": "SIGTERM",.*"error": "timed out after 1 s; the command was ended"'
contains "task_timeout: the next input ran" "$(cat timeout.jsonl)" '"index": 1, "input": 0, "result": \{"exit_code": 0'
if pgrep -f "sleep $long" >/dev/null; then bad "task_timeout: the sleep is still running"; else ok "task_timeout: no sleep left behind"; fi
expect "task_timeout in a C++ job" 1 "$mproc" run "$root/configs/cpu_sum.yaml" --set errors.task_timeout=0.05 --set errors.policy=skip --set input.range.stop=2 --set params.span=2000000000 --set output.path=cpu.jsonl
[ "$(grep -c 'timed out after' cpu.jsonl)" -eq 2 ] && ok "cpu_sum stops at its deadline" || bad "cpu_sum timeout" "$(cat cpu.jsonl)"

chmod 755 locked
# The CLI explains itself: every verb's --help, and --version, exit 0.
for verb in run validate submit merge jobs test build bench; do
    expect "$verb --help" 0 "$mproc" "$verb" --help
    contains "$verb --help: its usage" "$out" "^[Uu]sage: ([^ ]*/)?mproc $verb"
done
run_help=$("$mproc" run --help)
for opt in --ranks --hostfile --resume --restart --retry-failed --shard --many-ranks --set; do
    if grep -q -- "^  $opt" <<<"$run_help"; then ok "run --help: $opt"; else bad "run --help lacks $opt"; fi
done
expect "--version" 0 "$mproc" --version
contains "--version names it" "$out" "^mproc [0-9]+\.[0-9]+\.[0-9]+"
# Templates validate refuses: a placeholder the inputs cannot fill, or one inside quotes.
refuse "{n} with a range input" 3:19 "params.command: \{n\} \(character 6\) names a field, but the inputs have none" \
'job: command
input: {range: {stop: 3}}
params: {command: "echo {n}"}'
refuse "{n} not in the grid" 3:19 "\{n\} \(character 10\) is not a field of every input; they have: a, b" \
'job: command
input: {grid: {a: [1], b: [2]}}
params: {command: "echo {a} {n}"}'
refuse "{} inside double quotes" 3:19 "\{\} \(character 9\) is inside quotes; mproc quotes every value itself" \
'job: command
input: {values: [a]}
params: {command: "echo \"x {}\""}'
refuse "{} inside single quotes" 3:19 "\{\} \(character 9\) is inside quotes" \
"job: command
input: {values: [a]}
params: {command: \"echo 'x {}'\"}"
cat > t5.yaml <<'YAML'
job: command
input: {values: [a]}
params: {command: 'echo \"{}'}
YAML
expect "validate: an escaped quote is no quote" 0 "$mproc" validate t5.yaml
# A failure budget: past errors.max_failures no more inputs go out; those running finish.
cat > budget.yaml <<'YAML'
job: command
input: {range: {stop: 40}}
params: {command: "sleep 0.05; case {} in *1) exit 1;; esac"}
pool: {chunksize: 1}
errors: {policy: skip, max_failures: 2}
output: {path: budget.jsonl}
launch: {ranks: 3}
YAML
expect "max_failures: 2" 1 "$mproc" run budget.yaml
contains "max_failures: says so" "$err" "3 tasks failed, more than errors.max_failures allows \(2\); the inputs not run are left for --resume"
records=$(wc -l < budget.jsonl.part)
[ "$(grep -c '"error"' budget.jsonl.part)" -eq 3 ] && [ "$records" -ge 22 ] && [ "$records" -lt 40 ] \
    && ok "max_failures: stopped after the 3rd failure (input 21), $records records" || bad "max_failures records" "$(cut -c1-60 budget.jsonl.part)"
expect "max_failures: --resume with a larger budget" 1 "$mproc" run budget.yaml --resume --set 'errors.max_failures=100%'
[ "$(wc -l < budget.jsonl)" -eq 40 ] && ok "max_failures: every input once" || bad "max_failures: records after resume" "$(wc -l < budget.jsonl)"
expect "max_failures: 5% of 40 is 2" 1 "$mproc" run budget.yaml --restart --set 'errors.max_failures=5%'
contains "max_failures 5%: the same stop" "$err" "more than errors.max_failures allows \(2\)"
expect "max_failures over 100%" 2 "$mproc" validate budget.yaml --set 'errors.max_failures=120%'
expect "max_failures with policy fail" 2 "$mproc" validate budget.yaml --set errors.policy=fail
contains "max_failures with policy fail: says why" "$err" "errors.max_failures is a budget for errors.policy skip or retry"
finish
