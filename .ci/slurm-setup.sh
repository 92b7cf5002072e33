#!/usr/bin/env bash
# Install and start a single-node SLURM cluster on this machine (Debian/Ubuntu,
# root), so the slow SLURM test can submit real jobs. Idempotent: when a node is
# already idle it only says so. No systemd needed: daemons are started directly.
#
# The node is this host (`hostname -s`) with the CPUs and memory `slurmd -C`
# reports; accounting is off (AccountingStorageType=accounting_storage/none), so
# Snakemake's slurm executor must be run with `--slurm-no-account` and
# `--slurm-status-command squeue` (MinJobAge is set high enough for squeue).
set -euo pipefail

log() { echo "[slurm-setup] $*"; }
die() { echo "[slurm-setup] ERROR: $*" >&2; exit 1; }

node_state() { sinfo --noheader -o '%T' 2>/dev/null | head -n1 | tr -d '*~#'; }

if command -v sinfo >/dev/null && [[ "$(node_state)" == idle || "$(node_state)" == mixed ]]; then
  log "SLURM already running: $(sinfo --noheader -o '%N %T %c CPUs %m MB')"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "must run as root to install and start SLURM (no running cluster found)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "apt-get not found; install slurm-wlm and munge by hand"
  log "installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
# `slurmd -C` prints e.g. "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105".
node_line=$(slurmd -C | head -n1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")
sockets=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$node_line")
cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$node_line")
threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$node_line")
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
[[ -n "$cpus" && -n "$memory" ]] || die "could not read CPUs/RealMemory from 'slurmd -C': $node_line"
# Leave a little memory to the OS so slurmd never reports less than configured.
memory=$(( memory * 95 / 100 ))

log "node $host: $cpus CPUs, $memory MB"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat >/etc/slurm/slurm.conf <<EOF
# Written by .ci/slurm-setup.sh: a single-node test cluster.
ClusterName=ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# squeue keeps finished jobs this long; Snakemake's squeue status polling needs it.
MinJobAge=600
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} Boards=1 SocketsPerBoard=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=${memory} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF

# munge: the package creates /etc/munge/munge.key; make one if it is missing.
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"

if ! pgrep -x slurmctld >/dev/null; then
  log "starting slurmctld"
  /usr/sbin/slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
  log "starting slurmd"
  /usr/sbin/slurmd
fi

for _ in $(seq 60); do
  state=$(node_state || true)
  if [[ "$state" == idle || "$state" == mixed ]]; then
    log "ready: $(sinfo --noheader -o '%P %N %T %c CPUs %m MB')"
    exit 0
  fi
  if [[ "$state" == down || "$state" == drained ]]; then
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  fi
  sleep 1
done
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
die "node $host did not become idle within 60 s (state: ${state:-unknown})"
