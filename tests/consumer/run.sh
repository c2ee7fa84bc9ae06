#!/usr/bin/env bash
# Installs the built library into a scratch prefix, builds the consumer against it with
# find_package(mproc), and runs it under mpirun.
set -eu
build=$1 src=$2 mpirun=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$mpirun" -np 3 --oversubscribe --bind-to none "$work/build/consumer")
echo "$out"
[ "$out" = "consumer total 100" ]
