#!/usr/bin/env bash
# Runs a command across "hosts" on this machine (two, or N with --hosts N): network namespaces joined by a bridge,
# each with its own address and hostname, so Open MPI sees two nodes and talks TCP between
# them, as it would between cluster nodes.
#
#   netns_hosts.sh [--hosts N] RANKS_PER_HOST -- PROGRAM ARGS...   runs mpirun over the hosts
#   netns_hosts.sh [--hosts N] RANKS_PER_HOST --shell -- COMMAND...
#       runs COMMAND on the first host with Open MPI's settings for these hosts in the
#       environment (OMPI_MCA_*) and $MPROC_HOSTFILE naming every host: whatever mpirun the
#       command starts (tools/mproc run --hostfile "$MPROC_HOSTFILE") spans them all.
#
# Exit 77 (CTest's "skipped") with a message when namespaces cannot be made here. Everything
# it creates is removed on exit, whatever happened; its traffic never leaves the bridge.
set -u
count=2
[ "$1" = --hosts ] && { count=$2; shift 2; }
per_host=$1; shift
shell=0; [ "$1" = --shell ] && { shell=1; shift; }
[ "$1" = -- ] && shift
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
tag=mp$$                                   # unique names: several runs may overlap
agent=$(mktemp /tmp/mproc-agent.XXXXXX)
hostfile=$(mktemp /tmp/mproc-hosts.XXXXXX)
trap 'netns_remove "$tag"; rm -f "$agent" "$hostfile"' EXIT
netns_make "$tag" "$count" || { echo "SKIPPED: $NETNS_WHY (network namespaces need root and CAP_NET_ADMIN)"; exit 77; }
subnet=$NETNS_SUBNET.0
declare -A ns_of=() ip_of=()
for host in "${NETNS_HOSTS[@]}"; do ns_of[$host]=${NETNS_NS[$host]}; ip_of[$host]=${NETNS_IP[$host]}; done

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
for host in "${NETNS_HOSTS[@]}"; do printf '%s slots=%s\n' "$host" "$per_host"; done >"$hostfile"
on_h1=(ip netns exec "${ns_of[$h1]}" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$h1")
if [ "$shell" = 1 ]; then
    MPROC_HOSTFILE=$hostfile "${on_h1[@]}" "$@"
else
    "${on_h1[@]}" mpirun --hostfile "$hostfile" -np $((count * per_host)) \
        --oversubscribe --bind-to none --timeout 240 "$@"
fi
