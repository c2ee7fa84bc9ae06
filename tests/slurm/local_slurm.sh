# Sourced by the Slurm tests: a real single-node Slurm on this machine, started and stopped by
# the test itself (../shared notes: "Slurm"). Everything it makes lives in one directory,
# $SLURM_TEST_DIR: configuration, munge key and socket, spool, state, logs and pid files. The
# daemons are stopped by those pid files, whatever happened, and the directory removed.
#
#   slurm_install          installs slurmctld, slurmd, slurm-client and munge if missing
#   slurm_up [hosts]       starts munged, slurmctld and slurmd; exports SLURM_CONF. With
#                          "hosts", two nodes, each a slurmd in a network namespace "host" of
#                          its own (tests/multinode/netns_lib.sh); returns 77 when namespaces
#                          cannot be made here
#   slurm_down             stops what slurm_up started (safe to call twice)
#   slurm_wait JOBID [S]   waits up to S seconds (default 120) for a job to end; prints its state
#                          (COMPLETED, FAILED, TIMEOUT, ...; NOT-ENDED(state) when it did not)

SLURM_PACKAGES=(slurmctld slurmd slurm-client munge)
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/bootstrap.sh"  # mproc_ensure_packages
source "$(dirname "${BASH_SOURCE[0]}")/../multinode/netns_lib.sh"
SLURM_NETNS_TAG=""

slurm_install() {
    [ -z "$(mproc_missing_packages "${SLURM_PACKAGES[@]}")" ] && return 0
    # Debian's maintainer scripts would start the daemons with no configuration: a policy-rc.d
    # that forbids it (the image usually has one already; ours is removed again afterwards).
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    (mproc_ensure_packages "${SLURM_PACKAGES[@]}") || rc=$?  # it exits on failure
    [ "$made_policy" = 1 ] && rm -f "$policy"
    return $rc
}

slurm_up() {
    local hosts=${1:-}
    SLURM_TEST_DIR=$(mktemp -d /tmp/mproc-slurm.XXXXXX)
    local d=$SLURM_TEST_DIR node cpus mem ctld_addr=127.0.0.1 nodes="" ports=(16817 16818)
    chmod 755 "$d"
    mkdir -p "$d/munge" "$d/spool/ctld" "$d/log"
    chmod 700 "$d/munge"
    node=$(hostname -s)
    # Sixteen CPUs on a two-core machine (config_overrides lets slurmd claim them), so the
    # tests' jobs run side by side with oversubscribed ranks, as the MPI tests do (their ranks
    # sleep while they wait); memory below what the machine has, or the node is drained.
    cpus=16
    mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) / 4 ))
    if [ "$hosts" = hosts ]; then
        SLURM_NETNS_TAG=ms$$
        netns_make "$SLURM_NETNS_TAG" || { echo "SKIPPED: $NETNS_WHY" >&2; return 77; }
        ctld_addr=$NETNS_SUBNET.254   # the bridge: where the hosts reach this machine
        ports=(16827 16828)           # apart from a one-node cluster running at the same time
        local h
        for h in "${NETNS_HOSTS[@]}"; do
            nodes+="NodeName=$h NodeAddr=${NETNS_IP[$h]} CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'
            mkdir -p "$d/spool/$h"
        done
    else
        nodes="NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'
        mkdir -p "$d/spool/$node"
    fi
    # munge: its own key and socket, so a munged the machine may run is left alone.
    dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$d/munge/munge.key"
    munged --force --socket="$d/munge/socket" --key-file="$d/munge/munge.key" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" \
        --seed-file="$d/munge/seed" || { echo "slurm test: munged did not start" >&2; return 1; }
    cat >"$d/slurm.conf" <<CONF
ClusterName=mproc-test
SlurmctldHost=$node($ctld_addr)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/socket
CredType=cred/munge
StateSaveLocation=$d/spool/ctld
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5
SlurmdParameters=config_overrides
MpiDefault=pmix
MailProg=/bin/true
MinJobAge=600
KillWait=10
ReturnToService=2
${nodes}PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$d/slurm.conf
    slurmctld -f "$SLURM_CONF" || { echo "slurm test: slurmctld did not start" >&2; return 1; }
    if [ "$hosts" = hosts ]; then
        # nsenter, not `ip netns exec`: that remounts /sys, and slurmd needs the cgroup mounts.
        for h in "${NETNS_HOSTS[@]}"; do
            nsenter --net="/run/netns/${NETNS_NS[$h]}" unshare --uts \
                sh -c 'hostname "$0"; exec slurmd -f "$1" -N "$0"' "$h" "$SLURM_CONF" ||
                { echo "slurm test: slurmd on $h did not start" >&2; return 1; }
        done
    else
        slurmd -f "$SLURM_CONF" -N "$node" || { echo "slurm test: slurmd did not start" >&2; return 1; }
    fi
    local i
    for i in $(seq 100); do
        [ "$(sinfo -h -o '%T' 2>/dev/null | sort -u)" = idle ] && return 0
        sleep 0.2
    done
    echo "slurm test: the nodes did not come up:" >&2
    sinfo >&2 || true
    tail -n 20 "$d"/log/*.log >&2 || true
    return 1
}

# Kills the daemon whose pid file is $1 and waits for it to end.
slurm_stop_pidfile() {
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

slurm_down() {
    local d=${SLURM_TEST_DIR:-}
    [ -n "$d" ] && [ -d "$d" ] || return 0
    # Jobs first (their steps are children of slurmd), then the daemons, then munge.
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    local pidfile
    for pidfile in "$d"/slurmd-*.pid; do slurm_stop_pidfile "$pidfile"; done
    slurm_stop_pidfile "$d/slurmctld.pid"
    slurm_stop_pidfile "$d/munge/munged.pid"
    [ -n "$SLURM_NETNS_TAG" ] && netns_remove "$SLURM_NETNS_TAG"
    SLURM_NETNS_TAG=""
    if [ -n "${MPROC_KEEP_SLURM_LOGS:-}" ]; then
        echo "slurm test: logs kept in $d/log" >&2
    else
        rm -rf "$d"
    fi
    SLURM_TEST_DIR=
    unset SLURM_CONF
}

slurm_state() {
    scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}

slurm_wait() {
    local id=$1 limit=${2:-120} state=""
    for _ in $(seq $((limit * 5))); do
        state=$(slurm_state "$id")
        case "$state" in
            PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|SUSPENDED|"") ;;
            *) echo "$state"; return 0 ;;
        esac
        sleep 0.2
    done
    echo "NOT-ENDED($state)"
    return 1
}
