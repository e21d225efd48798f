#!/usr/bin/env bash
# A real Slurm cluster on this host, for CI: munge, slurmctld and two slurmd (emulated nodes n1,
# n2 on 127.0.0.1), from Debian's packages. Runs the script printed by `llmbench cluster slurm`
# (4 shards of one plan against the simulator, then the merge) and checks the merged result.
# usage: tests/slurm/run.sh path/to/llmbench
set -euo pipefail
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi
W=$(mktemp -d /tmp/llmbench-slurm.XXXXXX)
CONF=$W/slurm.conf
mkdir -p "$W/state" "$W/spool" "$W/results" "$W/munge"
cleanup() {
  for p in "$W"/slurmd-n1.pid "$W"/slurmd-n2.pid "$W"/slurmctld.pid "$W"/munged.pid "$W"/sim.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
}
trap cleanup EXIT

# munge: a key and a daemon of our own (no systemd here).
$SUDO mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
[ -f /etc/munge/munge.key ] || $SUDO sh -c 'dd if=/dev/urandom bs=1 count=1024 > /etc/munge/munge.key 2>/dev/null'
$SUDO chmod 400 /etc/munge/munge.key
MUNGE_USER=$(stat -c %U /etc/munge/munge.key)
$SUDO chown -R "$MUNGE_USER" /etc/munge /var/lib/munge /var/log/munge /run/munge
munged --force --pid-file="$W/munged.pid" 2>/dev/null || $SUDO -u "$MUNGE_USER" munged --force

USER_NAME=$(id -un)
CPUS=$(nproc)
cat > "$CONF" <<CONF
ClusterName=llmbench
SlurmctldHost=localhost
SlurmUser=$USER_NAME
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool/%n
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd-%n.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd-%n.log
SlurmctldPort=16817
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=n1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17001 CPUs=$CPUS RealMemory=1000
NodeName=n2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17002 CPUs=$CPUS RealMemory=1000
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$CONF
mkdir -p "$W/spool/n1" "$W/spool/n2"
slurmctld -f "$CONF"
slurmd -f "$CONF" -N n1
slurmd -f "$CONF" -N n2
for _ in $(seq 60); do
  [ "$(sinfo -h -o %T 2>/dev/null | grep -c idle)" -ge 1 ] && break
  sleep 0.5
done
sinfo

# The target: the simulator, on loopback.
"$BIN" sim --port 0 --profile small --decode-base-ms 5 > "$W/sim.out" 2>&1 &
echo $! > "$W/sim.pid"
for _ in $(seq 50); do URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$W/sim.out" | head -1 || true); [ -n "$URL" ] && break; sleep 0.1; done

"$BIN" cluster slurm --shards 4 --results "$W/results" --lead 10s --binary "$BIN" -- \
  throughput --url "$URL" --rate 20 --duration 4s --seed 3 --max-tokens 16 -q > "$W/submit.sh"
bash "$W/submit.sh"
for _ in $(seq 240); do
  [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 0.5
done
squeue -h | grep . && { echo "jobs did not finish"; tail -20 "$W"/slurmctld.log; exit 1; }
ls "$W/results"
test -f "$W/results/merged.json" || { echo "no merged result"; cat "$W"/results/*.log 2>/dev/null | tail -30; exit 1; }
python3 - "$W/results/merged.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
shards = r["config"]["merged_shards"]
assert len(shards) == 4, shards
assert sorted(s["shard"]["index"] for s in shards) == [0, 1, 2, 3]
assert all(s["shard"]["source"] == "LLMBENCH_SHARD" for s in shards), shards
ids = [q["id"] for q in r["requests"]]
assert ids == list(range(len(ids))), "the union of the shards is the whole plan"
s = r["summary"]
assert s["requests"]["ok"] == s["requests"]["total"] > 40, s["requests"]
lags = [s["shard"]["start_lag_ms"] for s in shards]
print(f"slurm: 4 shards merged, {s['requests']['total']} requests, sent {s['throughput']['sent_req_s']:.1f} req/s, start lag {min(lags):.1f}-{max(lags):.1f} ms")
PY
