#!/usr/bin/env bash
# Installed with `cmake --install`, mproc runs from any folder without the checkout: bin/mproc,
# the built-in jobs (the command job's supervisor too), the example configs, the Slurm
# template; it builds nothing, and says so for the verbs that need a checkout.
source "$(dirname "$0")/lib.sh"
build=${MPROC_BUILD_DIR:-$root/build}
prefix=$work/prefix
if cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1; then
    ok "cmake --install"
else
    bad "cmake --install" "$(tail -5 "$work/install.log")"
    finish
    exit
fi
for f in bin/mproc libexec/mproc/mproc-runner libexec/mproc/mproc-supervise \
         share/mproc/slurm/mproc.sbatch.in share/mproc/configs/squares.yaml; do
    [ -e "$prefix/$f" ] && ok "installed: $f" || bad "not installed: $f"
done

mkdir "$work/elsewhere"
cd "$work/elsewhere"
installed=$prefix/bin/mproc
cp "$prefix/share/mproc/configs/squares.yaml" .
expect "mproc --version" 0 "$installed" --version
contains "the version" "$out" "^mproc [0-9]+\.[0-9]+\.[0-9]+$"
expect "mproc jobs" 0 "$installed" jobs
contains "lists the command job" "$out" "^command"
expect "mproc run --help" 0 "$installed" run --help
expect "mproc validate" 0 "$installed" validate squares.yaml
for ranks in 1 3; do
    expect "squares at $ranks ranks, from another folder" 0 "$installed" run squares.yaml --ranks $ranks \
        --set input.range.stop=50 --set output.path=sq$ranks.jsonl
    [ "$(wc -l < sq$ranks.jsonl)" -eq 50 ] && ok "50 records at $ranks ranks" || bad "records at $ranks ranks" "$(head -3 sq$ranks.jsonl)"
done
printf 'job: command\ninput: {values: [a, b]}\nparams: {command: "echo {}"}\noutput: {path: cmd.jsonl}\n' > cmd.yaml
expect "the command job, installed" 0 "$installed" run cmd.yaml --ranks 2
[ "$(grep -c '"exit_code": 0' cmd.jsonl)" -eq 2 ] && ok "its records" || bad "command records" "$(cat cmd.jsonl)"
expect "mproc submit --dry-run" 0 "$installed" submit squares.yaml --dry-run
contains "the script runs the installed mproc" "$out" "^mproc='?$prefix/bin/mproc'?$"
expect "mproc test, installed" 2 "$installed" test
contains "says where test works" "$err" "installed mproc .*; test works in a checkout"
[ ! -e "$prefix/build" ] && ok "nothing was built under the prefix" || bad "a build under the prefix"
finish
