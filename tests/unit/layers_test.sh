#!/usr/bin/env bash
# The layers of framework/src, checked: a file includes only headers of its own folder and
# of the folders below it (the order below, bottom first), and the schedulers
# (engine/dispatcher.*, engine/group_dispatcher.*) include nothing that brings in <mpi.h>.
# ARCHITECTURE.md draws the same order.
set -uo pipefail
src=$(cd "$(dirname "$0")/../../framework/src" && pwd)
order=(base transport shared engine services runtime api)
level() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }

bad=0
for dir in "$src"/*/; do
    d=$(basename "$dir")
    [ "$(level "$d")" -ge 0 ] || { echo "framework/src/$d/: a folder the layer order does not name"; bad=1; }
done
for file in "$src"/*/*; do
    d=$(basename "$(dirname "$file")")
    mine=$(level "$d")
    while IFS=: read -r line inc; do
        target=${inc%%/*}
        [ "$target" = mproc ] && continue  # the public headers sit below every layer
        theirs=$(level "$target")
        if [ "$theirs" -lt 0 ] || [ "$theirs" -gt "$mine" ]; then
            echo "framework/src/$d/$(basename "$file"):$line includes \"$inc\": $d/ may include only ${order[*]:0:$((mine + 1))}"
            bad=1
        fi
    done < <(grep -n '^#include "' "$file" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
done

# What the schedulers' files include, followed through framework/src and the public headers:
# none of it may be <mpi.h>.
seen=()
walk() {
    local f=$1 inc path
    for s in "${seen[@]}"; do [ "$s" = "$f" ] && return 0; done
    seen+=("$f")
    if grep -q '^#include <mpi.h>' "$f"; then echo "$f includes <mpi.h>"; return 1; fi
    while read -r inc; do
        for path in "$src/$inc" "$src/../include/$inc"; do
            if [ -f "$path" ]; then walk "$(realpath "$path")" || return 1; fi
        done
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    return 0
}
for f in "$src"/engine/dispatcher.* "$src"/engine/group_dispatcher.*; do
    [ -f "$f" ] || { echo "$f is missing"; bad=1; continue; }
    walk "$f" || { echo "engine/$(basename "$f") reaches <mpi.h>"; bad=1; }
done
[ "$bad" = 0 ] && echo "layers: every include looks down; the schedulers reach no <mpi.h>"
exit "$bad"
