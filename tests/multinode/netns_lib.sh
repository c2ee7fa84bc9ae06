# Sourced: "hosts" on this machine as network namespaces joined by a bridge, each with its own
# address. Needs root and CAP_NET_ADMIN.
#
#   netns_make TAG [N]        makes N hosts (default 2) ${TAG}-h1 ... ${TAG}-hN: namespaces
#                             ${TAG}n1 ... with addresses $NETNS_SUBNET.1 ... .N on bridge
#                             ${TAG}br, which has .254
#                             (so daemons of this machine's own namespace reach the hosts);
#                             returns 1 with $NETNS_WHY set when it cannot
#   netns_remove TAG          kills what runs in them and removes them, the veths and the
#                             bridge (up to 8 hosts)
#
# Fills NETNS_HOSTS (names), NETNS_NS and NETNS_IP (by name) and NETNS_SUBNET ("10.x.y").

declare -a NETNS_HOSTS=()
declare -A NETNS_NS=() NETNS_IP=()
NETNS_SUBNET=""

netns_make() {
    local tag=$1 count=${2:-2} host ns i
    NETNS_SUBNET=10.$(( 210 + $$ % 40 )).$(( ($$ / 40) % 250 ))  # apart from concurrent runs
    NETNS_HOSTS=()
    for i in $(seq "$count"); do NETNS_HOSTS+=("$tag-h$i"); done
    NETNS_WHY=""
    [ "$(id -u)" = 0 ] || { NETNS_WHY="not root"; return 1; }
    ip link add "${tag}br" type bridge 2>/dev/null || { NETNS_WHY="cannot create a bridge"; return 1; }
    ip addr add "$NETNS_SUBNET.254/24" dev "${tag}br"
    ip link set "${tag}br" up
    for i in $(seq "$count"); do
        host=$tag-h$i ns=${tag}n$i
        NETNS_NS[$host]=$ns
        NETNS_IP[$host]=$NETNS_SUBNET.$i
        ip netns add "$ns" || { NETNS_WHY="cannot create a network namespace"; return 1; }
        ip link add "v$ns" type veth peer name eth0 netns "$ns" ||
            { NETNS_WHY="cannot create a veth pair"; return 1; }
        ip link set "v$ns" master "${tag}br" up
        ip -n "$ns" addr add "$NETNS_SUBNET.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
}

netns_remove() {
    local tag=$1 i
    for i in 1 2 3 4 5 6 7 8; do
        ip netns pids "${tag}n$i" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "${tag}n$i" 2>/dev/null
        ip link del "v${tag}n$i" 2>/dev/null
    done
    ip link del "${tag}br" 2>/dev/null
    return 0
}
