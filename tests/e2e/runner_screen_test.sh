#!/usr/bin/env bash
# What a person sees: the live bar in a real terminal (a tmux pane) is one line that fits the
# pane at 80, 50 and 30 columns, and closing the terminal (SIGHUP) ends the run with nothing
# left running. Skipped (exit 77) where tmux is missing and cannot be installed.
source "$(dirname "$0")/lib.sh"
cd "$work"
if ! command -v tmux >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null 2>&1
    fi
    command -v tmux >/dev/null 2>&1 || { echo "skipped: tmux is not installed"; exit 77; }
fi
session="mproc-screen-$$"
sock="$work/tmux.sock"   # a server of our own, ended by this test alone
tm() { tmux -S "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$work"' EXIT

config="bar-$$.yaml"   # its name marks this test's processes
cat > "$config" <<'YAML'
job: squares
input: {range: {stop: 400}}
params: {sleep: 0.05}
pool: {chunksize: 1}
output: {path: bar.jsonl}
launch: {ranks: 2}
YAML
for width in 80 50 30; do
    rm -f bar.jsonl*
    tm new-session -d -s "$session" -x "$width" -y 20 "cd '$work' && '$mproc' run $config; sleep 60"
    for i in $(seq 50); do tm capture-pane -p -t "$session" | grep -q '/400 (' && break; sleep 0.2; done
    sleep 2
    tm capture-pane -p -t "$session" > "pane-$width"
    lines=$(grep -c . "pane-$width")
    longest=$(awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }' "pane-$width")
    [ "$lines" -eq 1 ] && ok "$width columns: the bar is one line" || bad "$width columns: $lines lines" "$(cat "pane-$width")"
    [ "$longest" -lt "$width" ] && ok "$width columns: it fits ($longest)" || bad "$width columns: $longest wide" "$(cat "pane-$width")"
    grep -q '/400 ([0-9.]*%)' "pane-$width" && grep -q 'failed' "pane-$width" \
        && ok "$width columns: count and failures always shown" || bad "$width columns: fields missing" "$(cat "pane-$width")"
    # Closing the terminal: the run stops like Ctrl-C, and nothing of it is left.
    tm kill-session -t "$session"
    if gone "mproc-runner run $config" 10; then
        ok "$width columns: closing the terminal ends the run"
    else
        bad "$width columns: ranks left after the terminal closed" "$(pgrep -af "mproc-runner run $config")"
        pkill -KILL -f "mproc-runner run $config"
    fi
    [ -e bar.jsonl.journal ] && [ ! -e bar.jsonl ] && ok "$width columns: the journal is kept for --resume" \
        || bad "$width columns: files after the hang-up" "$(ls)"
done
finish
