# Sourced by tools/mproc: makes sure the Debian packages a verb needs are installed.
#
# As root with apt-get, missing packages are installed (once, non-interactively). Otherwise
# the exact list is printed with the command that would install it, and the verb stops.

MPROC_BUILD_PACKAGES=(cmake ninja-build g++ libopenmpi-dev openmpi-bin
                      libboost-serialization-dev libyaml-cpp-dev libgtest-dev libcli11-dev)
MPROC_BENCH_PACKAGES=(python3 python3-mpi4py parallel)

mproc_missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

mproc_ensure_packages() {
    local missing
    missing=$(mproc_missing_packages "$@" | tr '\n' ' ')
    [ -z "${missing// /}" ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "mproc: missing Debian packages: $missing" >&2
        echo "mproc: install them with: sudo apt-get install -y $missing" >&2
        exit 2
    fi
    echo "mproc: installing the Debian packages it needs (half a minute or so): $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends $missing >&2 || {
            echo "mproc: apt-get could not install: $missing" >&2
            exit 2
        }
    fi
}
