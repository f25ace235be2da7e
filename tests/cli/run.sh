#!/bin/sh
# joule run and joule sweep end to end, on a small synthesized model with a
# scripted energy source of constant power: the result table and export,
# the flags that are config keys, errors with exit 2, interruption by
# SIGINT and by SIGKILL followed by a resume that neither loses nor
# duplicates a cycle, sweeps (dry run and a real grid), --parallel refused.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_DB="$TMP/results.db"
export JOULE_CACHE_DIR="$TMP/cache"

synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
FAST="--meter fake:$TMP/meter.txt --interval 5 --idle 0.2 --min-window 0 --warmup 1"

# A run from flags: the table for people, with provenance.
expect_exit 0 "run" -- "$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 --max-tokens 5 \
    --cycles 2 $FAST --name first
expect_in "$TMP/out" "experiment 1  first  [completed]" "run: header"
expect_in "$TMP/out" "energy per output token" "run: EPT_out row"
expect_in "$TMP/out" "energy per input token" "run: EPT_in row"
expect_in "$TMP/out" "measured" "run: provenance shown"
expect_in "$TMP/out" "joule results show 1" "run: where to look next"

# The same as JSON: the export row with the seed column names, and figures
# that hang together.
expect_exit 0 "run --json" -- "$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 \
    --max-tokens 5 --cycles 2 $FAST --json --fresh
python3 - "$TMP/out" <<'PY' && ok || bad "run --json export row"
import json, sys
rows = json.load(open(sys.argv[1]))
r = rows[0] if isinstance(rows, list) else rows
for k in ("energy_total_J", "EPT_in_J_per_tok", "EPT_out_J_per_tok", "EPT_total_J_per_tok",
          "T_in", "T_out", "tpj", "E_run_J", "energy_J_per_ex", "latency_s"):
    assert k in r and r[k] is not None, k
assert r["experiment_id"] == 2, r
# The seed columns are means over cycles of per-cycle figures (each cycle's
# own ratios are checked exactly in test_experiment).
assert r["tpj"] == r["tokens_per_joule_mean"], r
assert r["EPT_total_J_per_tok"] == r["ept_total_j_per_tok_mean"], r
assert r["energy_total_J"] == r["energy_total_j_mean"] > 0, r
assert r["T_in"] + r["T_out"] == r["tokens_total"], r
assert r["EPT_in_J_per_tok"] != r["EPT_out_J_per_tok"], r
PY

# A YAML config, a preset under it, and flags over both.
cat >"$TMP/exp.yaml" <<EOF
model: $TMP/m.gguf
batch_size: 3
dataset:
  name: arithmetic
  sample_size: 3
decoding:
  temperature: 0.7
  top_p: 0.9
EOF
expect_exit 0 "run config + preset + flag" -- "$J" run "$TMP/exp.yaml" --preset quick-test \
    --cycles 1 $FAST --max-tokens 4 --quiet
expect_exit 0 "results show" -- "$J" results show 3
expect_in "$TMP/out" "arithmetic" "config: dataset from the file"
expect_in "$TMP/out" "batch_size: 3" "config: file over preset"
expect_in "$TMP/out" "max_output_tokens: 4" "config: flag over file and preset"
expect_in "$TMP/out" "max_input_tokens: 64" "config: preset under the file"

# Bad input: exit 2 with the place and the reason.
printf 'model: x.gguf\nbatchsize: 4\n' >"$TMP/bad.yaml"
expect_exit 2 "bad config key" -- "$J" run "$TMP/bad.yaml"
expect_in "$TMP/err" "bad.yaml:2:1" "bad key: file:line:column"
expect_in "$TMP/err" "batch_size" "bad key: did you mean"
expect_exit 2 "no model" -- "$J" run --preset quick-test
expect_in "$TMP/err" "model" "no model: says so"
expect_exit 2 "missing model file" -- "$J" run -m "$TMP/none.gguf" $FAST
expect_in "$TMP/err" "$TMP/none.gguf" "missing model: named"
expect_exit 2 "bad flag value" -- "$J" run -m "$TMP/m.gguf" -b 0
expect_in "$TMP/err" "batch_size" "bad batch: key named"
expect_exit 2 "unknown dataset" -- "$J" run -m "$TMP/m.gguf" -d nosuchset $FAST
expect_in "$TMP/err" "nosuchset" "unknown dataset: named"
expect_exit 2 "unknown option" -- "$J" run --bogus
expect_exit 2 "parallel refused" -- "$J" run -m "$TMP/m.gguf" --parallel 2
expect_in "$TMP/err" "share the CPUs" "parallel: the reason"
expect_exit 0 "run --help" -- "$J" run --help
expect_in "$TMP/out" "--resume ID" "help lists --resume"

# SIGINT in the middle: finished cycles kept, status interrupted, the
# resume command printed; --resume finishes the rest.
SLOW="--meter fake:$TMP/meter.txt --interval 5 --idle 0.1 --min-window 1.5 --warmup 1"
"$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 --max-tokens 5 --cycles 3 $SLOW \
    --name intr >"$TMP/out" 2>"$TMP/err" &
pid=$!
# Wait until the first cycle is stored, then interrupt the second.
i=0
while [ $i -lt 200 ]; do
    "$J" results list --csv >"$TMP/list" 2>/dev/null
    grep -q "intr.*1/3" "$TMP/list" && break
    sleep 0.1; i=$((i + 1))
done
kill -INT $pid
wait $pid
code=$?
[ "$code" -eq 1 ] && ok || bad "SIGINT: exit $code, expected 1"
expect_in "$TMP/err" "interrupted" "SIGINT: says interrupted"
expect_in "$TMP/err" "joule run --resume 4" "SIGINT: prints the resume command"
expect_exit 0 "list after SIGINT" -- "$J" results list --csv
expect_in "$TMP/out" "interrupted" "SIGINT: status interrupted"
expect_exit 0 "resume" -- "$J" run --resume 4 --quiet
expect_exit 0 "show after resume" -- "$J" results show 4 --raw --csv
python3 - "$J" <<'PY' && ok || bad "SIGINT + resume: cycles 0,1,2 once each"
import csv, subprocess, sys, io
out = subprocess.run([sys.argv[1], "results", "export", "4", "--what", "cycles", "--csv"],
                     capture_output=True, text=True, check=True).stdout
cycles = [int(float(r["cycle"])) for r in csv.DictReader(io.StringIO(out))]
assert sorted(cycles) == [0, 1, 2], cycles
PY

# SIGKILL: the experiment stays "running" with what was stored; the same
# command again continues it.
"$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 --max-tokens 5 --cycles 3 $SLOW \
    --name killed >"$TMP/out" 2>"$TMP/err" &
pid=$!
i=0
while [ $i -lt 200 ]; do
    "$J" results list --csv >"$TMP/list" 2>/dev/null
    grep -q "killed.*1/3" "$TMP/list" && break
    sleep 0.1; i=$((i + 1))
done
kill -KILL $pid
wait $pid 2>/dev/null
expect_exit 0 "rerun after SIGKILL" -- "$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 \
    --max-tokens 5 --cycles 3 $SLOW --name killed
expect_in "$TMP/err" "resuming experiment 5" "SIGKILL: the same config resumes"
expect_in "$TMP/out" "experiment 5  killed  [completed]" "SIGKILL: completed"
python3 - "$J" <<'PY' && ok || bad "SIGKILL + resume: cycles 0,1,2 once each"
import csv, subprocess, sys, io
out = subprocess.run([sys.argv[1], "results", "export", "5", "--what", "cycles", "--csv"],
                     capture_output=True, text=True, check=True).stdout
cycles = sorted(int(float(r["cycle"])) for r in csv.DictReader(io.StringIO(out)))
assert cycles == [0, 1, 2], cycles
PY

# Sweeps: a dry run writes one config per point; a real 2x2 grid runs in a
# seeded order and prints one row per point.
expect_exit 0 "sweep dry run" -- "$J" sweep "$TMP/exp.yaml" --vary batch_size=1,2 \
    --vary max_output_tokens=3,4 --dry-run --out-dir "$TMP/grid"
n=$(ls "$TMP/grid" | wc -l)
[ "$n" -eq 4 ] && ok || bad "sweep dry run: $n files, expected 4"
expect_in "$TMP/grid/point-004.yaml" "batch_size: 2" "dry run: last point's batch"
expect_in "$TMP/grid/point-004.yaml" "max_output_tokens: 4" "dry run: last point's tokens"
expect_exit 0 "a dry-run point runs alone" -- "$J" run "$TMP/grid/point-001.yaml" --cycles 1 \
    $FAST --quiet
expect_exit 0 "sweep" -- "$J" sweep "$TMP/exp.yaml" --vary batch_size=1,2 \
    --vary max_output_tokens=3,4 --set protocol.cycles=1 --set protocol.meter_sources=fake:$TMP/meter.txt \
    --set protocol.idle_s=0.1 --set protocol.min_window_s=0 --seed 7 --csv
expect_in "$TMP/err" "order shuffled (seed 7)" "sweep: order printed"
rows=$(grep -c completed "$TMP/out")
[ "$rows" -eq 4 ] && ok || bad "sweep: $rows completed rows, expected 4"
# The same sweep again measures nothing: every point is reused.
"$J" results list --csv | grep -c completed >"$TMP/n_before"
expect_exit 0 "sweep again" -- "$J" sweep "$TMP/exp.yaml" --vary batch_size=1,2 \
    --vary max_output_tokens=3,4 --set protocol.cycles=1 --set protocol.meter_sources=fake:$TMP/meter.txt \
    --set protocol.idle_s=0.1 --set protocol.min_window_s=0 --seed 7 --csv
reused=$(grep -c "measured before, reused" "$TMP/err")
[ "$reused" -eq 4 ] && ok || bad "sweep again: $reused points reused, expected 4"
"$J" results list --csv | grep -c completed >"$TMP/n_after"
cmp -s "$TMP/n_before" "$TMP/n_after" && ok || bad "sweep again: new experiments were made"
expect_exit 2 "sweep bad key" -- "$J" sweep "$TMP/exp.yaml" --vary batchsize=1,2
expect_in "$TMP/err" "batch_size" "sweep bad key: did you mean"
expect_exit 2 "sweep without --vary" -- "$J" sweep "$TMP/exp.yaml"

finish
