#!/usr/bin/env bash
# A host whose link goes down mid-run, across two namespace hosts: its ranks stop answering,
# the heartbeat names one of them within seconds, the run ends as if they were lost and
# restarts by itself; once the link is back it finishes with the results a run on one host
# writes. Nothing of the run is left on either host.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
cd "$work" || exit 1
printf 'job: squares\ninput: {range: {stop: 400}}\nparams: {sleep: 0.02}\npool: {chunksize: 1}\n' >cut.yaml
"$mproc" run cut.yaml --ranks 3 --set output.path=here.jsonl >/dev/null 2>&1 || bad "the run on this host"

# Inside the first host: start the run over both, cut the second host's link after a
# second and a half, and mend it six seconds later. (The hosts are namespaces named after
# the first one's hostname.)
cat >cut.sh <<'EOF'
mproc=$1
tag=$(hostname); tag=${tag%-h1}
MPROC_HEARTBEAT_SECONDS=3 "$mproc" run cut.yaml --ranks 4 --hostfile "$MPROC_HOSTFILE" \
    --set output.path=hosts.jsonl >run.log 2>&1 &
front=$!
sleep 1.5
ip netns exec "${tag}n2" ip link set eth0 down
sleep 6
ip netns exec "${tag}n2" ip link set eth0 up
wait "$front"
echo "exit $?" >>run.log
EOF
MPROC_HEARTBEAT_SECONDS=3 timeout 400 bash "$root/tests/multinode/netns_hosts.sh" 2 --shell -- \
    bash cut.sh "$mproc" >"$work/out" 2>&1
rc=$?
[ "$rc" = 77 ] && { cat "$work/out"; exit 77; }
log=$(cat run.log 2>/dev/null)
contains "the run ends by itself (exit 0)" "$log" "^exit 0$"
contains "a rank on the cut host is named" "$log" \
    "rank [23] on mp[0-9]+-h2 stopped answering: no heartbeat for [3-9]\.[0-9] s|lost communication|exited on signal"
contains "and the run restarted" "$log" "restart 1 of 5 \(errors.restarts\) after a lost rank"
cmp -s hosts.jsonl here.jsonl && ok "the same results as on one host" ||
    bad "results differ" "$(diff hosts.jsonl here.jsonl 2>&1 | head -5; tail -20 run.log)"
gone "mproc-runner run cut.yaml" 20 && ok "nothing of the run is left" \
    || { bad "left running" "$(pgrep -af "mproc-runner run cut.yaml")"; pkill -KILL -f "mproc-runner run cut.yaml"; }
[ -n "${MPROC_SHOW:-}" ] && cat run.log
finish
