#!/bin/sh
# joule compare end to end on a small synthesized model with a scripted
# energy source: one configuration per precision and batch size, each
# measured and scored; the table's columns, the deltas against the first
# precision, the ranks, the recommendation rule; a re-run reuses what was
# measured; bad input is refused before anything runs.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_DB="$TMP/results.db"
export JOULE_CACHE_DIR="$TMP/cache"
expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
    --kv-heads 2 --ffn 128 --vocab 512 --ctx 1024 --tokenizer spm --type f32 -o "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
FAST="--set protocol.meter_sources=fake:$TMP/meter.txt --set protocol.idle_s=0.1
      --set protocol.min_window_s=0 --set protocol.cycles=2 --set dataset.sample_size=3
      --set max_output_tokens=4"

expect_exit 0 "compare --json" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q8_0,q4_0 \
    --batch 1,2 $FAST --json
cp "$TMP/out" "$TMP/first.json"
python3 - "$TMP/out" <<'PY' && ok || bad "compare --json: columns, deltas, ranks, rule"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["configurations"]
assert [(x["precision"], x["batch_size"]) for x in c] == [
    ("f16", 1), ("f16", 2), ("q8_0", 1), ("q8_0", 2), ("q4_0", 1), ("q4_0", 2)], c
assert c[0]["delta_energy_vs_ref"] == 0 and c[0]["accuracy_loss"] == 0, c[0]
for x in c:
    assert x["energy_provenance"] == "measured", x
    assert x["j_per_1k_tokens"] > 0 and x["throughput_tok_s"] > 0, x
    assert abs(x["delta_energy_vs_ref"] - (x["j_per_1k_tokens"] / c[0]["j_per_1k_tokens"] - 1)) < 1e-6
    # Ranks: 1 + the number of configurations with less energy.
    assert x["rank_energy"] == 1 + sum(y["j_per_1k_tokens"] < x["j_per_1k_tokens"] for y in c)
# Accuracy belongs to the file: the same at both batch sizes.
for i in (0, 2, 4):
    assert c[i]["accuracy"] == c[i + 1]["accuracy"], c
    assert 1 < c[i]["accuracy"] < 5000, c[i]  # a perplexity
# The rule: the least energy among those within the tolerance.
ok = [i for i, x in enumerate(c) if x["accuracy_loss"] <= d["max_accuracy_drop"] + 1e-12]
best = min(ok, key=lambda i: c[i]["j_per_1k_tokens"])
assert d["recommended"] == best, (d["recommended"], best)
assert d["compare_id"] == 1, d.get("compare_id")  # the store keeps its experiments
PY

# Again: every configuration is reused (no new experiment), and the table for people.
expect_exit 0 "compare again" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q8_0,q4_0 \
    --batch 1,2 $FAST
expect_in "$TMP/out" "delta energy vs ref" "table: delta row"
expect_in "$TMP/out" "perplexity increase" "table: accuracy delta row"
expect_in "$TMP/out" "recommendation:" "table: a recommendation"
expect_in "$TMP/out" "rule: the lowest energy per 1k output tokens" "table: the rule stated"
expect_in "$TMP/out" "compare 2; report: joule report --compare 2 -o compare.html" \
    "table: the compare's id and its report"
expect_exit 0 "report of the compare by id" -- "$J" report --compare 2 -o "$TMP/c.html"
expect_in "$TMP/out" "wrote $TMP/c.html (3 charts" "report --compare ID"
n=$("$J" results list --csv | grep -c compare)
[ "$n" -eq 6 ] && ok || bad "compare again: $n experiments, expected 6 (reused)"
expect_not_in "$TMP/err" "task ppl" "compare again: scores taken from the store"
# Each experiment keeps the score of its file.
expect_exit 0 "results show" -- "$J" results show 2
expect_in "$TMP/out" "accuracy of the measured file" "show: accuracy section"
expect_exit 0 "export accuracy" -- "$J" results export 3 --what accuracy --csv
python3 - "$TMP/out" "$TMP/first.json" <<'PY' && ok || bad "export accuracy: the compare's score"
import csv, json, sys
r = list(csv.DictReader(open(sys.argv[1])))
first = json.load(open(sys.argv[2]))["configurations"]
assert len(r) == 1 and r[0]["task"] == "ppl" and r[0]["experiment_id"] == "3", r
assert abs(float(r[0]["score"]) - first[2]["accuracy"]) < 1e-6 * first[2]["accuracy"], r
PY

# A tolerance of 0 only admits what is at least as good as the reference.
expect_exit 0 "compare --csv strict" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q4_0 \
    $FAST --max-accuracy-drop 0 --csv
python3 - "$TMP/out" <<'PY' && ok || bad "compare --csv: strict rule"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert len(r) == 2 and sum(x["recommended"] == "1" for x in r) == 1, r
pick = next(x for x in r if x["recommended"] == "1")
assert float(pick["accuracy_loss"]) <= 0, pick
PY

# Refusals, before anything is measured.
expect_exit 2 "no precisions" -- "$J" compare -m "$TMP/m.gguf"
expect_in "$TMP/err" "--precisions" "no precisions: says so"
expect_exit 2 "bad precision" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q8 $FAST
expect_in "$TMP/err" "did you mean" "bad precision: near miss"
expect_exit 2 "bad task" -- "$J" compare -m "$TMP/m.gguf" --precisions f16 --task bleu
expect_exit 2 "missing eval text" -- "$J" compare -m "$TMP/m.gguf" --precisions f16 \
    --eval-dataset "$TMP/none.txt" $FAST
expect_exit 2 "mc without data" -- "$J" compare -m "$TMP/m.gguf" --precisions f16 --task mc
n=$("$J" results list --csv | grep -c compare)
[ "$n" -eq 6 ] && ok || bad "refusals measured something: $n experiments, expected 6"

# LLM.int8: int8 and int8-mixed measure one INT8 file without and with its
# 16-bit outlier columns; the share of those columns is reported, and
# scored in the same mode.
expect_exit 0 "compare int8" -- "$J" compare -m "$TMP/m.gguf" \
    --precisions f16,int8,int8-mixed --int8-threshold 0.5 $FAST --json --quiet
[ -s "$TMP/err" ] && bad "compare --quiet: wrote to stderr" || ok
python3 - "$TMP/out" <<'PY' && ok || bad "compare int8: outlier shares"
import json, sys
c = json.load(open(sys.argv[1]))["configurations"]
assert [x["precision"] for x in c] == ["f16", "int8", "int8-mixed"], c
assert c[0]["int8_outlier_share"] is None, c[0]
assert c[1]["int8_outlier_share"] == 0, c[1]
assert 0 < c[2]["int8_outlier_share"] < 1, c[2]
# One file, two modes: the decomposition changes the score.
assert c[1]["accuracy"] != c[2]["accuracy"], c
PY
expect_exit 0 "int8 recorded" -- "$J" results list --csv
expect_in "$TMP/out" "int8-mixed" "results: the precision is the mode measured"
expect_exit 0 "evals" -- "$J" results evals --csv
python3 - "$TMP/out" <<'PY' && ok || bad "results evals: every score, named by precision"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert {"f16", "int8", "int8-mixed"} <= {x["weight_type"] for x in r}, r
assert all(x["task"] == "ppl" and float(x["score"]) > 1 for x in r), r
PY
expect_exit 0 "int8 file" -- "$J" model info "$TMP/cache/quantized/"*-int8.gguf
expect_in "$TMP/out" "F16" "int8 file: 16-bit embedding"
expect_in "$TMP/out" "Q8_0" "int8 file: INT8 matrices"
expect_exit 2 "int8 threshold out of range" -- "$J" compare -m "$TMP/m.gguf" \
    --precisions int8-mixed --int8-threshold -1 $FAST
expect_in "$TMP/err" "int8_threshold" "int8 threshold: names the key"

finish
