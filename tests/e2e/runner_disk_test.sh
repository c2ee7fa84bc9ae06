#!/usr/bin/env bash
# A full disk: records and the reduction written to a small tmpfs. Every run ends either done
# (exit 0, with whole files) or interrupted (exit 3, naming the path and the system's reason);
# after space is freed, --resume ends with the files a clean run writes. Skipped (exit 77)
# where mounting a tmpfs is not allowed.
source "$(dirname "$0")/lib.sh"
cd "$work"
mnt=$work/disk
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
    echo "skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)"
    exit 77
fi
trap 'umount "$mnt" 2>/dev/null; rm -rf "$work"' EXIT
disk() {  # disk SIZE: an empty tmpfs of SIZE
    umount "$mnt" && mount -t tmpfs -o "size=$1" tmpfs "$mnt"
}
grow() { mount -o remount,size=64m "$mnt"; }

# Records: a command job's output fills the disk while records are written.
cat > rec.yaml <<YAML
job: command
input: {range: {stop: 400}}
params: {command: "head -c 300 /dev/zero | tr '\\\\0' x"}
output: {path: $mnt/rec.jsonl}
launch: {ranks: 3}
YAML
"$mproc" run rec.yaml --set output.path=clean-rec.jsonl 2>/dev/null
disk 48k
expect "records on a full disk" 3 "$mproc" run rec.yaml
contains "names the path and the reason" "$err" "cannot write $mnt/rec\.jsonl\.(part|journal): No space left on device"
contains "and how to go on" "$err" "once that is fixed, continue with: .*run rec.yaml --resume"
grow
expect "records: --resume after space is freed" 0 "$mproc" run rec.yaml --resume
cmp -s <(strip "$mnt/rec.jsonl") <(strip clean-rec.jsonl) && ok "records: the file a clean run writes" \
    || bad "records: results differ" "$(diff <(strip "$mnt/rec.jsonl") <(strip clean-rec.jsonl) | head -4)"

# The reduction: wordcount's reduction is as large as its records, and the largest disk that
# still fails is the one on which only the last write fails: the reduction file.
mkdir -p words
python3 - <<'PY'
n = 0
for f in range(8):
    with open("words/f%d.txt" % f, "w") as o:
        o.write(" ".join("w%07d" % (n + i) for i in range(2000)))
    n += 2000
PY
cat > wc.yaml <<YAML
job: wordcount
input: {files: "$work/words/*.txt"}
pool: {chunksize: 1}
output: {path: $mnt/wc.jsonl}
launch: {ranks: 2}
YAML
"$mproc" run wc.yaml --set output.path=clean-wc.jsonl 2>/dev/null
lo=64 hi=4096  # KiB: lo fails, hi succeeds
last_failure=""
try() {  # try KIB: a run on a disk of that size, then a resume on a larger one
    disk "${1}k"
    "$mproc" run wc.yaml >/dev/null 2>"$work/try.err"; local rc=$?
    if [ "$rc" -eq 3 ]; then
        grep -q "No space left on device" "$work/try.err" || bad "$1 KiB: exit 3 without the reason" "$(tail -3 "$work/try.err")"
        last_failure=$(grep "cannot write" "$work/try.err")
        grow
        "$mproc" run wc.yaml --resume >/dev/null 2>"$work/try.err" || bad "$1 KiB: --resume failed" "$(tail -3 "$work/try.err")"
    elif [ "$rc" -ne 0 ]; then
        bad "$1 KiB: exit $rc, wanted 0 or 3" "$(tail -3 "$work/try.err")"
    fi
    if cmp -s "$mnt/wc.jsonl" clean-wc.jsonl && cmp -s "$mnt/wc.jsonl.reduced.json" clean-wc.jsonl.reduced.json \
        && [ -z "$(ls "$mnt" | grep -E '\.(tmp|part|state)$')" ]; then
        ok "$1 KiB: $([ "$rc" -eq 3 ] && echo "interrupted, resumed," || echo "done") with a clean run's files"
    else
        bad "$1 KiB: files differ from a clean run's" "$(ls -l "$mnt")"
    fi
    return "$rc"
}
while [ $((hi - lo)) -gt 4 ]; do
    mid=$(( (lo + hi) / 2 ))
    if try "$mid"; then hi=$mid; else lo=$mid; failure_at_lo=$last_failure; fi
done
contains "the largest disk that fails, fails writing the reduction" "${failure_at_lo:-none}" "cannot write $mnt/wc\.jsonl\.reduced\.json\.tmp: No space left on device"
finish
