#!/usr/bin/env bash
# Runs a command across two "hosts" on this machine: network namespaces joined by a bridge,
# each with its own address and hostname, so Open MPI sees two nodes and talks TCP between
# them, as it would between cluster nodes (notes/openmpi-debian.md, "Several hosts").
#
#   netns_hosts.sh RANKS_PER_HOST -- PROGRAM ARGS...   runs mpirun over both hosts
#   netns_hosts.sh RANKS_PER_HOST --shell -- COMMAND...
#       runs COMMAND on the first host with Open MPI's settings for these hosts in the
#       environment (OMPI_MCA_*) and $MPROC_HOSTFILE naming both hosts: whatever mpirun the
#       command starts (tools/mproc run --hostfile "$MPROC_HOSTFILE") spans both hosts.
#
# Exit 77 (CTest's "skipped") with a message when namespaces cannot be made here. Everything
# it creates is removed on exit, whatever happened; its traffic never leaves the bridge.
set -u
per_host=$1; shift
shell=0; [ "$1" = --shell ] && { shell=1; shift; }
[ "$1" = -- ] && shift
tag=mp$$                                   # unique names: several runs may overlap
br=${tag}br; subnet=10.213.$(( $$ % 200 + 20 )).0
declare -A ns_of=([${tag}-h1]=${tag}n1 [${tag}-h2]=${tag}n2)
declare -A ip_of=([${tag}-h1]=${subnet%.0}.1 [${tag}-h2]=${subnet%.0}.2)

cleanup() {
    for host in "${!ns_of[@]}"; do
        local ns=${ns_of[$host]}
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
        ip link del "v$ns" 2>/dev/null
    done
    ip link del "$br" 2>/dev/null
    rm -f "$agent" "$hostfile"
}
agent=$(mktemp /tmp/mproc-agent.XXXXXX)
hostfile=$(mktemp /tmp/mproc-hosts.XXXXXX)
trap cleanup EXIT

skip() { echo "SKIPPED: $1 (network namespaces need root and CAP_NET_ADMIN)"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root"
ip link add "$br" type bridge 2>/dev/null || skip "cannot create a bridge"
ip link set "$br" up
for host in "${!ns_of[@]}"; do
    ns=${ns_of[$host]}
    ip netns add "$ns" || skip "cannot create a network namespace"
    ip link add "v$ns" type veth peer name eth0 netns "$ns" || skip "cannot create a veth pair"
    ip link set "v$ns" master "$br" up
    ip -n "$ns" addr add "${ip_of[$host]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done

# Open MPI's launch agent, called as `agent HOST COMMAND...` where ssh would be: enter the
# host's namespace with its hostname instead of logging in.
{
    echo '#!/usr/bin/env bash'
    echo 'host=$1; shift'
    echo 'case "$host" in'
    for host in "${!ns_of[@]}"; do
        echo "    $host|${ip_of[$host]}) exec ip netns exec ${ns_of[$host]} unshare --uts sh -c 'hostname $host; exec \"\$@\"' sh sh -c \"\$*\" ;;"
    done
    echo '    *) echo "agent: unknown host $host" >&2; exit 1 ;;'
    echo 'esac'
} > "$agent"
chmod +x "$agent"

h1=${tag}-h1 h2=${tag}-h2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The hosts talk TCP only (no shared memory between them, as between real nodes), on the
# bridge's subnet only; a cut link is noticed in seconds, not minutes. As environment
# variables, so an mpirun started by the --shell command reads them too.
export OMPI_MCA_plm_rsh_agent=$agent OMPI_MCA_btl=tcp,self \
       OMPI_MCA_btl_tcp_if_include=$subnet/24 OMPI_MCA_oob_tcp_if_include=$subnet/24 \
       OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 \
       OMPI_MCA_oob_tcp_keepalive_probes=3
printf '%s slots=%s\n%s slots=%s\n' "$h1" "$per_host" "$h2" "$per_host" >"$hostfile"
on_h1=(ip netns exec "${ns_of[$h1]}" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$h1")
if [ "$shell" = 1 ]; then
    MPROC_HOSTFILE=$hostfile "${on_h1[@]}" "$@"
else
    "${on_h1[@]}" mpirun --hostfile "$hostfile" -np $((2 * per_host)) \
        --oversubscribe --bind-to none --timeout 240 "$@"
fi
