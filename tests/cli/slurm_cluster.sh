#!/bin/sh
# joule sweep --slurm on a real one-node Slurm cluster that this script starts
# on localhost from Debian's slurm-wlm and munge: munged with its own key and
# socket, slurmctld and slurmd on free ports, state, spool, logs and pid files
# all in a temp folder (/etc/munge and any system daemon are left alone).
#   - a 4-point sweep runs as a job array through the real sbatch; status says
#     all 4 completed, collect prints 4 rows, each result records its Slurm
#     job, array task and node;
#   - a second sweep whose slow point is killed (scancel) mid-run: status says
#     it failed, --retry-failed resubmits that point only, and the store then
#     holds one completed experiment per point.
# The results database is PostgreSQL (tests/tools/pgtest.sh starts a
# throw-away server), else, said so, SQLite in the temp folder; every
# access goes through joule.
# Needs root (slurmd runs jobs as their user and must own its spool); when not
# root, a binary is missing or a daemon does not start, it prints "SKIP:
# reason" and exits 77 (ctest: skipped).
#   JOULE_TEST_SLURM=required (CI): a skip fails instead.
J=$1
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

C="" # the cluster's folder
DAEMONS="" # pids of munged, slurmctld, slurmd
PG=""
cleanup() {
    if [ -n "$C" ]; then
        # The tasks first: slurmstepd and the jobs are not slurmd's children.
        if [ "${SLURM_CONF:-}" = "$C/slurm.conf" ] && scancel --full --quiet --user=root >/dev/null 2>&1; then
            n=0
            while [ "$n" -lt 50 ] && [ -n "$(squeue -h 2>/dev/null)" ]; do
                sleep 0.2
                n=$((n + 1))
            done
        fi
        for p in $DAEMONS; do kill "$p" 2>/dev/null; done
        for p in $DAEMONS; do wait "$p" 2>/dev/null; done
        # Whatever still carries this cluster's config in its environment
        # (a job step that outlived slurmd) is ours: ended by its pid.
        for e in /proc/[0-9]*/environ; do
            p=${e#/proc/}
            p=${p%/environ}
            [ "$p" = "$$" ] && continue
            if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF "SLURM_CONF=$C/slurm.conf"; then
                echo "cleanup: ending leftover process $p" >&2
                kill -9 "$p" 2>/dev/null
            fi
        done
        rm -rf "$C"
    fi
    [ -n "$PG" ] && pg_stop
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# skip REASON [LOG...]: the reason, the logs' tails, exit 77 (1 when required).
skip() {
    reason=$1
    shift
    for f in "$@"; do
        [ -s "$f" ] && { echo "--- $(basename "$f") (last lines)"; tail -n 12 "$f"; }
    done
    if [ "${JOULE_TEST_SLURM:-}" = required ]; then
        echo "FAIL: $reason (JOULE_TEST_SLURM=required)" >&2
        exit 1
    fi
    echo "SKIP: $reason"
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "not root: slurmd must run jobs as their user and own its spool"
for b in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo python3; do
    command -v "$b" >/dev/null 2>&1 ||
        skip "$b not found (scripts/install-deps --slurm installs slurm-wlm and munge)"
done

# /tmp, not the build tree: a unix socket path is limited to 108 bytes.
C=$(mktemp -d /tmp/joule-slurm.XXXXXX)
chmod 755 "$C" # munged wants its socket's folder reachable by all
mkdir -p "$C/munge" "$C/run" "$C/state" "$C/spool" "$C/log"
chmod 700 "$C/munge"
mungekey --create --keyfile="$C/munge/munge.key" >"$C/log/mungekey.log" 2>&1 ||
    skip "mungekey could not write a key" "$C/log/mungekey.log"
munged --foreground --key-file="$C/munge/munge.key" --socket="$C/run/munge.sock" \
    --pid-file="$C/run/munged.pid" --seed-file="$C/munge/seed" \
    --log-file="$C/log/munged.log" >"$C/log/munged.out" 2>&1 &
DAEMONS="$!"
n=0
while [ ! -S "$C/run/munge.sock" ] && [ "$n" -lt 50 ]; do
    sleep 0.1
    n=$((n + 1))
done
[ -S "$C/run/munge.sock" ] || skip "munged did not start" "$C/log/munged.out"

# Two free ports for slurmctld and slurmd (another cluster may be running).
PORTS=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
CTLD_PORT=${PORTS% *}
SLURMD_PORT=${PORTS#* }
# The node as slurmd sees this machine: name, CPUs, sockets, cores, memory.
HW=$(slurmd -C 2>/dev/null | head -n 1)
NODE=$(echo "$HW" | sed -n 's/^NodeName=\([^ ]*\) .*/\1/p')
[ -n "$NODE" ] || skip "slurmd -C printed no node ('$HW')"
cat >"$C/slurm.conf" <<EOF
ClusterName=joule-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$C/run/munge.sock
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/run/slurmctld.pid
SlurmdPidFile=$C/run/slurmd.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=5
$HW NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=joule Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
sed -i 's/ UpTime=[^ ]*//' "$C/slurm.conf"
export SLURM_CONF="$C/slurm.conf"
slurmctld -D >"$C/log/slurmctld.out" 2>&1 &
CTLD=$!
slurmd -D >"$C/log/slurmd.out" 2>&1 &
SLURMD=$!
DAEMONS="$DAEMONS $CTLD $SLURMD"
LOGS="$C/log/slurmctld.out $C/log/slurmd.out"
n=0
while [ "$n" -lt 100 ]; do
    kill -0 "$CTLD" 2>/dev/null || skip "slurmctld exited" $LOGS
    kill -0 "$SLURMD" 2>/dev/null || skip "slurmd exited" $LOGS
    st=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null)
    [ "$st" = idle ] && break
    sleep 0.2
    n=$((n + 1))
done
[ "$st" = idle ] || skip "the node is not idle after 20 s (sinfo: '$st')" $LOGS
echo "cluster: node $NODE idle after $((n / 5)) s (slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT)"

# The results database: PostgreSQL, as on a cluster; where no server can
# start here, an SQLite file, said so (and a failure where the test is
# required, as in CI).
SLURM_TEST_DB="$TMP/results.db"
. "$HERE/../tools/pgtest.sh"
if pg_start; then
    PG=1
    SLURM_TEST_DB=$JOULE_TEST_PG_URL
    echo "NOTE: results in PostgreSQL ($JOULE_TEST_PG_URL)"
elif [ "${JOULE_TEST_SLURM:-}" = required ]; then
    bad "PostgreSQL did not start ($PG_SKIP), and JOULE_TEST_SLURM=required"
else
    echo "NOTE: results in SQLite (PostgreSQL did not start: $PG_SKIP)"
fi

# Exported, so sbatch passes them on to the tasks.
export JOULE_CACHE_DIR="$TMP/cache"
synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
# A space in the sweep folder: the paths in the script must be quoted.
SW="$TMP/sweep dir"
SET="--set protocol.meter_sources=fake:$TMP/meter.txt --set protocol.idle_s=0
     --set protocol.cycles=1 --set dataset.sample_size=2"

# wait_job JOB SECONDS: until squeue lists no task of JOB.
wait_job() {
    n=0
    while [ "$n" -lt $(($2 * 5)) ]; do
        q=$(squeue -h -r -j "$1" -o '%i %T' 2>&1) || { bad "squeue: $q"; return 1; }
        [ -z "$q" ] && return 0
        sleep 0.2
        n=$((n + 1))
    done
    bad "job $1 still queued after $2 s: $q"
    return 1
}

# --- 1. a 4-point job array ------------------------------------------------
T0=$(date +%s)
expect_exit 0 "submit" -- "$J" sweep - -m "$TMP/m.gguf" --vary batch_size=1,2 \
    --vary max_output_tokens=4,6 $SET --set protocol.min_window_s=0 --slurm \
    --partition joule --time 00:05:00 --max-parallel 2 --db "$SLURM_TEST_DB" --sweep-dir "$SW"
expect_in "$TMP/out" "4 array tasks (1-4%2)" "submit: a 4-task array, 2 at a time"
ID=$(sed -n 's/^submitted sweep \([0-9a-f]*\):.*/\1/p' "$TMP/out")
JOB=$(sed -n 's/^submitted sweep [0-9a-f]*: job \([0-9]*\),.*/\1/p' "$TMP/out")
if [ -z "$ID" ] || [ -z "$JOB" ]; then
    bad "submit: no sweep or job id"
finish
fi
squeue -h -r -j "$JOB" -o '%i' | grep -q "^${JOB}_[1-4]$" && ok || bad "squeue: no task of $JOB"
wait_job "$JOB" 60 && ok
echo "4-point sweep done after $(($(date +%s) - T0)) s"
expect_exit 0 "status" -- "$J" sweep status "$ID" --sweep-dir "$SW"
expect_in "$TMP/out" "4 of 4 points completed, 0 failed" "status: all completed"
expect_exit 0 "collect" -- "$J" sweep collect "$ID" --sweep-dir "$SW" --csv
cp "$TMP/out" "$TMP/collect1"
python3 - "$TMP/collect1" <<'PY' && ok || bad "collect: 4 completed rows"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert len(r) == 4, r
assert sorted((x["batch_size"], x["max_output_tokens"]) for x in r) == \
    [("1", "4"), ("1", "6"), ("2", "4"), ("2", "6")], r
assert all(x["status"] == "completed" and float(x["tokens_per_joule"]) > 0 for x in r), r
PY
expect_exit 0 "collect table" -- "$J" sweep collect "$ID" --sweep-dir "$SW"
[ "$(grep -c ' completed ' "$TMP/out")" -eq 4 ] && ok || bad "collect: 4 rows in the table"
# Each result: the array job, its task (= the point) and the node.
python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])): print(r["point"], r["experiment_id"])' \
    "$TMP/collect1" >"$TMP/ids"
[ "$(wc -l <"$TMP/ids")" -eq 4 ] && ok || bad "collect: 4 experiment ids"
while read -r k eid; do
    expect_exit 0 "result $k" -- "$J" results export "$eid" --what info --json \
        --db "$SLURM_TEST_DB" </dev/null
    python3 - "$TMP/out" "$JOB" "$k" "$NODE" <<'PY' && ok || bad "result of point $k: slurm ids"
import json, sys
out, job, task, node = sys.argv[1:]
info = {r["field"]: r["value"] for r in json.load(open(out))}
env = json.loads(info["environment"])
assert env["slurm_array_job_id"] == job and env["slurm_array_task_id"] == task, env
assert env["slurm_node"] == node and env["slurm_job_id"].isdigit(), env
PY
done <"$TMP/ids"

# --- 2. a task killed mid-run, then --retry-failed --------------------------
# Point 2 lasts at least 4 s (its cycle repeats until then): long enough to
# be killed while it runs, short enough to run again.
expect_exit 0 "submit 2" -- "$J" sweep - -m "$TMP/m.gguf" --vary protocol.min_window_s=0,4 \
    $SET --set max_output_tokens=4 --slurm --partition joule --time 00:05:00 \
    --db "$SLURM_TEST_DB" --sweep-dir "$SW"
ID2=$(sed -n 's/^submitted sweep \([0-9a-f]*\):.*/\1/p' "$TMP/out")
JOB2=$(sed -n 's/^submitted sweep [0-9a-f]*: job \([0-9]*\),.*/\1/p' "$TMP/out")
n=0
while [ "$n" -lt 150 ] &&
    ! squeue -h -r -j "$JOB2" -o '%i %T' 2>/dev/null | grep -q "^${JOB2}_2 RUNNING"; do
    sleep 0.2
    n=$((n + 1))
done
# Once its experiment is in the store, half way through its window.
sleep 2
if squeue -h -r -j "$JOB2" -o '%i %T' | grep -q "^${JOB2}_2 RUNNING"; then
    ok
    scancel "${JOB2}_2" && ok || bad "scancel ${JOB2}_2"
else
    bad "task ${JOB2}_2 was not running"
fi
wait_job "$JOB2" 60 && ok
echo "killed sweep done after $(($(date +%s) - T0)) s"
expect_exit 0 "status 2" -- "$J" sweep status "$ID2" --sweep-dir "$SW"
echo "after the kill:"
cat "$TMP/out"
expect_in "$TMP/out" "1 of 2 points completed, 1 failed" "status 2: the killed point failed"
grep -q "^2 .* $NODE .*protocol.min_window_s=4" "$TMP/out" && ok || bad "status 2: point 2's node"
grep -q "^1 .*COMPLETED .*completed .*protocol.min_window_s=0" "$TMP/out" && ok ||
    bad "status 2: point 1 completed"
expect_exit 1 "collect 2 too early" -- "$J" sweep collect "$ID2" --sweep-dir "$SW"

expect_exit 0 "retry" -- "$J" sweep status "$ID2" --sweep-dir "$SW" --retry-failed
expect_in "$TMP/out" "resubmitted points 2: job " "retry: point 2 only"
JOB3=$(sed -n 's/^resubmitted points 2: job \([0-9]*\)$/\1/p' "$TMP/out")
if [ -n "$JOB3" ]; then
    squeue -h -r -j "$JOB3" -o '%i' | grep -qx "${JOB3}_2" && ok || bad "retry: not task 2"
    wait_job "$JOB3" 60 && ok
    echo "retry done after $(($(date +%s) - T0)) s"
fi
expect_exit 0 "status 3" -- "$J" sweep status "$ID2" --sweep-dir "$SW" --json
python3 - "$TMP/out" <<'PY' && ok || bad "status 3: both completed"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["status"] for x in d] == ["completed", "completed"], d
assert [x["slurm_state"] for x in d] == ["COMPLETED", "COMPLETED"], d
PY
expect_exit 0 "collect 2" -- "$J" sweep collect "$ID2" --sweep-dir "$SW" --csv
python3 - "$TMP/out" <<'PY' && ok || bad "collect 2: 2 completed rows"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert [x["protocol.min_window_s"] for x in r] == ["0", "4"], r
assert all(x["status"] == "completed" for x in r), r
PY
# No duplicate: one experiment per point of both sweeps, each completed.
expect_exit 0 "list" -- "$J" results list --json --db "$SLURM_TEST_DB"
python3 - "$TMP/out" <<'PY' && ok || bad "the store: one completed experiment per point"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 6, d
assert all(x["status"] == "completed" for x in d), d
PY

finish
