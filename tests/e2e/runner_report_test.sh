#!/usr/bin/env bash
# `mproc report` in a real browser: runs of configs/command.yaml and of 10^6 squares, and a
# C++ program's MPROC_TRACE, each turned into an HTML file that Debian's chromium (headless,
# installed here if missing; skipped with a message where it cannot be) loads: the DOM has
# the timeline with a row per rank and the script ran without an error; a screenshot is taken.
source "$(dirname "$0")/lib.sh"
cd "$work"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        # As tools/bootstrap.sh does: the package lists may be missing on a fresh machine.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1;
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || true
    fi
fi
command -v chromium >/dev/null 2>&1 || { echo "SKIPPED: no chromium, and it cannot be installed here (apt-get install chromium)"; exit 77; }

# browse NAME HTML RANKS: loads HTML in headless chromium, checks the DOM and the console.
browse() {
    local name=$1 page=$2 ranks=$3 dom
    dom=$(timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr \
          --virtual-time-budget=2000 --dump-dom "file://$work/$page" 2>"$work/console.txt")
    contains "$name: the page's script ran" "$dom" "data-ready=\"1\""
    contains "$name: one timeline row per rank ($ranks)" "$dom" "data-ranks=\"$ranks\""
    [ "$(grep -o "<g class=\"rank\"" <<<"$dom" | wc -l)" -eq "$ranks" ] && ok "$name: $ranks rows in the DOM" \
        || bad "$name: rows" "$(grep -o "<g class=\"rank\"[^>]*>" <<<"$dom" | head)"
    contains "$name: labelled by rank and host" "$dom" "rank 0 \($(hostname)\)"
    grep -qiE "uncaught|console.*error" "$work/console.txt" && bad "$name: script errors" "$(grep -iE 'uncaught|error' "$work/console.txt" | head -5)" \
        || ok "$name: no script error"
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1300,1600 --screenshot="$work/$page.png" "file://$work/$page" >/dev/null 2>&1
    [ -s "$work/$page.png" ] && ok "$name: a screenshot" || bad "$name: no screenshot"
    # Every axis is ticked at round steps (1, 2 or 5 × 10^k, or a clock's minutes and hours),
    # labelled 2.2k or 250 ms, never 2.16e+03.
    /usr/bin/python3 - "$work/$page" <<'PY' && ok "$name: axes ticked at round steps" || bad "$name: axis ticks" "$(cat "$work/ticks.txt")"
import math, re, sys
page = open(sys.argv[1]).read()
units = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3, " µs": 1e-6, " ms": 1e-3, " s": 1,
         " min": 60, " h": 3600, " d": 86400}
def parse(label):
    m = re.fullmatch(r"(-?[0-9.]+)( µs| ms| s| min| h| d|k|M|G|m)?", label)
    if not m: raise ValueError("a label that is not a short number: " + label)
    return float(m.group(1)) * units[m.group(2) or ""]
def round_step(step):
    if step in (15, 30, 900, 1800, 10800, 21600, 43200): return True  # a clock's
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5))
problems = []
for svg in re.findall(r"<svg.*?</svg>", page, re.S):
    for anchor in ("end", "middle"):
        labels = re.findall(r"<text class='tick' text-anchor='%s'[^>]*>([^<]*)</text>" % anchor, svg)
        if len(labels) < 2: continue
        values = [parse(l) for l in labels]
        steps = [b - a for a, b in zip(values, values[1:])]
        if values[0] != 0 or not all(abs(s - steps[0]) <= 1e-6 * steps[0] for s in steps) or not round_step(steps[0]):
            problems.append(" ".join(labels))
if "e+" in " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", page)): problems.append("a label in e-notation")
open(sys.argv[1].rsplit("/", 1)[0] + "/ticks.txt", "w").write("\n".join(problems))
sys.exit(1 if problems else 0)
PY
    local size; size=$(stat -c %s "$page")
    [ "$size" -le $((3 * 1024 * 1024)) ] && ok "$name: $((size / 1024)) KiB, at most 3 MB" || bad "$name: $size bytes"
    [ -n "${MPROC_KEEP_REPORTS:-}" ] && cp "$work/$page" "$work/$page.png" "$MPROC_KEEP_REPORTS/"
    return 0
}

# The command job's example, at 3 ranks; its summary names the report.
cp "$root/configs/command.yaml" cmd.yaml
expect "command.yaml runs" 0 "$mproc" run cmd.yaml --set output.path=cmd.jsonl
contains "the end of the run names the report" "$err" "see the run: .* report cmd.yaml"
[ -s cmd.jsonl.trace ] && ok "a trace beside the results" || bad "no trace" "$(ls)"
expect "report of command.yaml" 0 "$mproc" report cmd.yaml --set output.path=cmd.jsonl --chrome-trace cmd.chrome.json
browse "command.yaml" cmd.jsonl.html 3
/usr/bin/python3 - <<'PY' && ok "the Chrome trace: a thread per rank and the chunks" || bad "the Chrome trace" "$(head -c 400 cmd.chrome.json)"
import json
events = json.load(open("cmd.chrome.json"))["traceEvents"]
names = [e for e in events if e["ph"] == "M"]
chunks = [e for e in events if e["ph"] == "X"]
tasks = [e for e in chunks if "run_item" in e["name"]]   # and the pool's initializer, once a worker
assert len(names) == 3 and len(tasks) == 6, (len(names), [e["name"] for e in chunks])
PY

# 10^6 squares at 3 ranks: downsampled, still a few MB at most.
printf 'job: squares\ninput: {range: {stop: 1000000}}\noutput: {path: sq.jsonl}\nlaunch: {ranks: 3}\n' > sq.yaml
expect "10^6 squares run" 0 "$mproc" run sq.yaml
expect "report of 10^6 squares" 0 "$mproc" report sq.yaml -o squares.html
browse "10^6 squares" squares.html 3

# A failing and retried run: failures are marked on the timeline.
printf 'job: fault\ninput: {range: {stop: 40}}\nparams: {on: [5, 17], how: throw, sleep: 0.01}\nerrors: {policy: retry, retries: 1}\noutput: {path: f.jsonl}\nlaunch: {ranks: 2}\n' > f.yaml
expect "a run with failures (exit 1)" 1 "$mproc" run f.yaml
expect "its report" 0 "$mproc" report f.yaml
browse "failures" f.jsonl.html 2
contains "failures marked" "$(cat f.jsonl.html)" "class='fail'.*input 5 failed"
contains "retries marked" "$(cat f.jsonl.html)" "class='retry'.*input 5 took 2 attempts"

# Past the 100,000 chunks a trace keeps one by one, the failures it keeps still show.
printf 'job: fault\ninput: {range: {stop: 120000}}\nparams: {on: [50000, 119000], how: throw}\npool: {chunksize: 1}\nerrors: {policy: skip}\noutput: {path: many.jsonl}\nlaunch: {ranks: 3}\n' > many.yaml
expect "120,000 chunks, two failed (exit 1)" 1 "$mproc" run many.yaml
expect "their report" 0 "$mproc" report many.yaml
[ "$(grep -o "<line class='fail'" many.jsonl.html | wc -l)" -eq 2 ] && ok "both failures marked over the shaded timeline" \
    || bad "failures past 100,000" "$(grep -o "<line class='fail'[^>]*>" many.jsonl.html | head)"
browse "120,000 chunks" many.jsonl.html 3

# A C++ program: MPROC_TRACE=FILE, then `mproc report FILE`.
example=${MPROC_BUILD_DIR:-$root/build}/framework/pool_example
if [ -x "$example" ]; then
    MPROC_TRACE="$work/prog.trace" timeout 120 mpirun -np 4 --oversubscribe --bind-to none "$example" >/dev/null 2>&1 \
        && ok "a C++ program ran with MPROC_TRACE" || bad "the C++ program"
    expect "report of its trace" 0 "$mproc" report prog.trace -o prog.html
    browse "C++ program" prog.html 4
else
    bad "no pool_example at $example"
fi
# A C++ program's failed chunks (tasks that threw) are drawn on top of the others, at least
# 2 px wide, however many chunks share their pixel.
program=${MPROC_BUILD_DIR:-$root/build}/tests/e2e_program
if [ -x "$program" ]; then
    MPROC_TRACE="$work/fails.trace" timeout 120 mpirun -np 3 --oversubscribe --bind-to none "$program" fails >"$work/fails.out" 2>&1 \
        && contains "a C++ program with two failed tasks ran" "$(cat "$work/fails.out")" "^2 failed" || bad "the failing program" "$(cat "$work/fails.out")"
    expect "report of its trace" 0 "$mproc" report fails.trace -o fails.html
    [ "$(grep -oE "<rect class='failmark'[^>]*width='([2-9]|[1-9][0-9])[.0-9]*'" fails.html | wc -l)" -eq 2 ] \
        && ok "both failed chunks drawn, at least 2 px wide" || bad "failed chunks" "$(grep -o "<rect class='failmark'[^>]*>" fails.html | head)"
    browse "C++ program with failures" fails.html 3
fi
expect "a missing trace is named" 2 "$mproc" report nothing.trace
contains "and says why" "$err" "no trace at nothing.trace"
finish
