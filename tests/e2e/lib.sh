# Shared by the end-to-end scripts: a checker that counts, and the runner under test.
# Each script ends with "N passed, M failed" and exits non-zero when anything failed.
set -u
passed=0
failed=0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mproc=$root/tools/mproc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/    /' | head -20; }
# expect NAME WANT_EXIT CMD... : runs CMD, keeps its stderr in $err and stdout in $out.
expect() {
    local name=$1 want=$2; shift 2
    out=$("$@" 2>"$work/stderr"); rc=$?
    err=$(cat "$work/stderr")
    if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else bad "$name: exit $rc, wanted $want" "$err"; fi
}
# contains NAME TEXT PATTERN : grep -E for PATTERN in TEXT.
contains() { if grep -qE -- "$3" <<<"$2"; then ok "$1"; else bad "$1: no /$3/ in" "$2"; fi; }
# hosts_of FILE: the distinct first lines of the "stdout" fields of a `command` job's .jsonl
# (one per host when the command is `hostname`), sorted.
hosts_of() { grep -oE '"stdout": "[^"\\]*' "$1" 2>/dev/null | sed 's/.*"//' | sort -u; }
# strip FILE: the records of FILE without their per-run fields (host, rank, start, seconds,
# attempts): what two runs of the same inputs must agree on.
strip() {
    sed -E 's/, "host": "[^"]*", "rank": [0-9]+, "start": "[^"]*", "seconds": [0-9.e+-]+, "attempts": [0-9]+\}$/}/' "$1"
}
# Processes by a pattern unique to the test (never a machine-wide name), polled every 0.2 s:
# started PATTERN waits up to 20 s for one to run; gone PATTERN SECONDS waits for none to be
# left; left PATTERN counts them.
started() {
    local i
    for i in $(seq 100); do pgrep -f "$1" >/dev/null && return 0; sleep 0.2; done
    return 1
}
gone() {
    local i
    for i in $(seq $(($2 * 5))); do pgrep -f "$1" >/dev/null || return 0; sleep 0.2; done
    return 1
}
left() { pgrep -f "$1" | wc -l; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
