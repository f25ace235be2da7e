#!/bin/sh
# joule sweep --slurm against stand-ins of sbatch, squeue and sacct (shell
# scripts on PATH): the job array script, the submission, the array tasks
# run as Slurm would run them, status from Slurm and the store, the retry of
# failed points, the table collected, the job and node in each result.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_CACHE_DIR="$TMP/cache"
synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
mkdir -p "$TMP/bin"
cat >"$TMP/bin/sbatch" <<EOF
#!/bin/sh
echo "\$@" >>"$TMP/sbatch.calls"
n=\$(wc -l <"$TMP/sbatch.calls")
echo \$((4241 + n))
EOF
cat >"$TMP/bin/sacct" <<EOF
#!/bin/sh
cat "$TMP/sacct.out" 2>/dev/null
EOF
cat >"$TMP/bin/squeue" <<EOF
#!/bin/sh
[ -f "$TMP/squeue.fails" ] && { echo "squeue: error: Unable to contact slurm controller" >&2; exit 1; }
exit 0
EOF
chmod +x "$TMP/bin/sbatch" "$TMP/bin/sacct" "$TMP/bin/squeue"
PATH="$TMP/bin:$PATH"
export PATH
SET="--set protocol.meter_sources=fake:$TMP/meter.txt --set protocol.idle_s=0
     --set protocol.min_window_s=0 --set protocol.cycles=1 --set dataset.sample_size=2
     --set max_output_tokens=4"

expect_exit 0 "submit" -- "$J" sweep - -m "$TMP/m.gguf" --vary batch_size=1,2 $SET --slurm \
    --partition gpu --account lab --time 00:10:00 --gpus-per-task 1 --max-parallel 1 \
    --db "$TMP/r.db" --sweep-dir "$TMP/sw"
expect_in "$TMP/out" "job 4242, 2 array tasks (1-2%1)" "submit: job and array"
ID=$(sed -n 's/^submitted sweep \([0-9a-f]*\):.*/\1/p' "$TMP/out")
[ -n "$ID" ] && ok || bad "submit: no sweep id"
S="$TMP/sw/$ID/sweep.sbatch"
grep -q -- "--array=1-2%1" "$TMP/sbatch.calls" && ok || bad "sbatch: --array"
for l in "#SBATCH --partition=gpu" "#SBATCH --account=lab" "#SBATCH --time=00:10:00" \
         "#SBATCH --gpus-per-task=1" "run '$TMP/sw/$ID'/point-"; do
    grep -qF -- "$l" "$S" && ok || bad "script: $l"
done
[ -f "$TMP/sw/$ID/point-001.yaml" ] && [ -f "$TMP/sw/$ID/point-002.yaml" ] && ok \
    || bad "the points' configs"

# Slurm runs task 1; task 2 fails on its node before joule starts.
SLURM_JOB_ID=4243 SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=1 SLURMD_NODENAME=node01 \
    bash "$S" >/dev/null 2>&1 && ok || bad "array task 1"
# Without accounting (sacct lists nothing) each task's record says how it
# ended: task 1 completed; task 2 started and left squeue without an end.
grep -qx "4242 COMPLETED node01 0" "$TMP/sw/$ID/logs/point-001.state" && ok \
    || bad "task 1's record"
printf '4242 RUNNING node02 -\n' >"$TMP/sw/$ID/logs/point-002.state"
expect_exit 0 "status without sacct" -- "$J" sweep status "$ID" --sweep-dir "$TMP/sw"
grep -q "^1 .*COMPLETED .*node01 .*completed" "$TMP/out" && ok || bad "no sacct: point 1"
grep -q "^2 .*KILLED .*node02 .*none" "$TMP/out" && ok || bad "no sacct: point 2 killed"
expect_in "$TMP/out" "1 of 2 points completed, 1 failed" "no sacct: counts"
# When squeue does not answer, a started task may still run: not failed.
touch "$TMP/squeue.fails"
expect_exit 0 "status, squeue down" -- "$J" sweep status "$ID" --sweep-dir "$TMP/sw"
grep -q "^2 .*UNKNOWN .*none" "$TMP/out" && ok || bad "squeue down: point 2 unknown"
expect_in "$TMP/out" "1 of 2 points completed, 0 failed" "squeue down: counts"
rm "$TMP/squeue.fails"
printf '4242_1|COMPLETED|node01\n4242_2|FAILED|node02\n' >"$TMP/sacct.out"
expect_exit 0 "status" -- "$J" sweep status "$ID" --sweep-dir "$TMP/sw"
expect_in "$TMP/out" "1 of 2 points completed, 1 failed" "status: counts"
grep -q "^1 .*COMPLETED .*node01 .*completed .*batch_size=1" "$TMP/out" && ok \
    || bad "status: point 1 from Slurm and the store"
grep -q "^2 .*FAILED .*node02 .*none .*batch_size=2" "$TMP/out" && ok || bad "status: point 2"
expect_exit 1 "collect too early" -- "$J" sweep collect "$ID" --sweep-dir "$TMP/sw"
expect_in "$TMP/err" "1 of 2 points completed" "collect: says what is missing"

# Only the failed point is resubmitted.
expect_exit 0 "retry" -- "$J" sweep status "$ID" --sweep-dir "$TMP/sw" --retry-failed
expect_in "$TMP/out" "resubmitted points 2: job 4243" "retry: point 2 only"
tail -1 "$TMP/sbatch.calls" | grep -q -- "--array=2 " && ok || bad "retry: --array=2"
SLURM_JOB_ID=4244 SLURM_ARRAY_JOB_ID=4243 SLURM_ARRAY_TASK_ID=2 SLURMD_NODENAME=node03 \
    bash "$S" >/dev/null 2>&1 && ok || bad "array task 2"
printf '4243_2|COMPLETED|node03\n' >"$TMP/sacct.out"
expect_exit 0 "status json" -- "$J" sweep status "$ID" --sweep-dir "$TMP/sw" --json
python3 - "$TMP/out" <<'PY' && ok || bad "status json: both completed, the latest job wins"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["status"] for x in d] == ["completed", "completed"], d
assert d[1]["slurm_state"] == "COMPLETED" and d[1]["node"] == "node03", d
PY
expect_exit 0 "collect" -- "$J" sweep collect "$ID" --sweep-dir "$TMP/sw" --csv
python3 - "$TMP/out" <<'PY' && ok || bad "collect: the comparison table"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert [x["batch_size"] for x in r] == ["1", "2"], r
assert all(x["status"] == "completed" and float(x["tokens_per_joule"]) > 0 for x in r), r
PY
# Each result says which job, task and node produced it.
ID1=$(sed -n '2p' "$TMP/out" | cut -d, -f3)
expect_exit 0 "result info" -- "$J" results export "$ID1" --what info --csv --db "$TMP/r.db"
expect_in "$TMP/out" 'slurm_node"":""node01' "result: the node"
expect_in "$TMP/out" 'slurm_array_task_id"":""1' "result: the array task"

# The table for people ends with the report command of its experiments.
expect_exit 0 "collect table" -- "$J" sweep collect "$ID" --sweep-dir "$TMP/sw"
expect_in "$TMP/out" "report: joule report --sweep " "collect: the report command"
IDS=$(sed -n 's/^report: joule report --sweep \([0-9,]*\) .*/\1/p' "$TMP/out")
expect_exit 0 "the report" -- "$J" report --sweep "$IDS" -o "$TMP/sweep.html" --db "$TMP/r.db"

# --print-only writes everything and submits nothing.
n=$(wc -l <"$TMP/sbatch.calls")
expect_exit 0 "print only" -- "$J" sweep - -m "$TMP/m.gguf" --vary batch_size=1,2,4 $SET \
    --slurm --print-only --db "$TMP/r.db" --sweep-dir "$TMP/sw"
expect_in "$TMP/out" "#SBATCH --job-name=joule-" "print only: the script"
expect_in "$TMP/err" "3 points written to" "print only: says where"
[ "$(wc -l <"$TMP/sbatch.calls")" -eq "$n" ] && ok || bad "print only: sbatch was called"

# Refusals.
expect_exit 2 "slurm options without --slurm" -- "$J" sweep - -m "$TMP/m.gguf" \
    --vary batch_size=1,2 --partition gpu
expect_exit 2 "bad --time" -- "$J" sweep - -m "$TMP/m.gguf" --vary batch_size=1,2 --slurm \
    --time 10min
expect_exit 2 "unknown sweep" -- "$J" sweep status nope --sweep-dir "$TMP/sw"
expect_in "$TMP/err" "manifest.json" "unknown sweep: names the file"
PATH=/usr/bin:/bin expect_exit 1 "no sbatch" -- "$J" sweep - -m "$TMP/m.gguf" \
    --vary batch_size=1,2 $SET --slurm --db "$TMP/r.db" --sweep-dir "$TMP/sw"
expect_in "$TMP/err" "--print-only" "no sbatch: suggests --print-only"

finish
