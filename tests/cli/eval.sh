#!/bin/sh
# joule eval end to end on a small synthesized model: perplexity by sliding
# windows (every token scored once, whatever the window), each generated
# task on its default built-in dataset, multiple choice on an MMLU-format
# file, per-sample rows, and the errors of bad arguments.
J=$1
. "$(dirname "$0")/lib.sh"
export JOULE_DB="$TMP/results.db"

expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
    --kv-heads 2 --ffn 128 --vocab 512 --ctx 1024 --tokenizer spm --type q8_0 -o "$TMP/m.gguf"

# Perplexity: the same tokens scored with different windows and strides.
# One line, so that `model tokenize --count` counts the whole text.
i=0
while [ $i -lt 40 ]; do
    printf "the quick brown fox jumps over the lazy dog while the farmer counts sheep %d. " $i
    i=$((i + 1))
done >"$TMP/t.txt"
n=$("$J" model tokenize -m "$TMP/m.gguf" --count --file "$TMP/t.txt")
for ws in "1024 512" "256 128" "64 64" "64 16" "100 7"; do
    set -- $ws
    expect_exit 0 "ppl window $1 stride $2" -- "$J" eval -m "$TMP/m.gguf" --task ppl \
        -d "$TMP/t.txt" --window "$1" --stride "$2" --json
    python3 - "$TMP/out" "$n" "$1" "$2" <<'PY' && ok || bad "ppl window $1 stride $2: counts"
import json, math, sys
d = json.load(open(sys.argv[1]))
n, w, s = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert d["task"] == "ppl" and d["n"] == n - 1, (d, n)
keep = max(1, w - s)  # context a later window keeps: stride w advances by w - 1
windows = 1 if n <= w else 1 + math.ceil((n - w) / (w - keep))
assert d["windows"] == windows, (d, windows)
assert abs(d["perplexity"] - math.exp(d["nll_per_token"])) < 1e-7 * d["perplexity"], d
# A random-weight model knows nothing: near the vocabulary size, far above 1.
assert 50 < d["perplexity"] < 5000, d
PY
done
expect_in "$TMP/err" "stored in $TMP/results.db" "ppl: the score is stored"
n=$(sqlite3 "$TMP/results.db" "SELECT count(*) FROM evals WHERE task = 'ppl' AND experiment_id IS NULL" 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM evals WHERE task = 'ppl' AND experiment_id IS NULL\").fetchone()[0])" "$TMP/results.db")
[ "$n" -eq 5 ] && ok || bad "ppl: $n scores stored, expected 5"
expect_exit 0 "ppl --no-store" -- "$J" eval -m "$TMP/m.gguf" --task ppl -d "$TMP/t.txt" --no-store
expect_not_in "$TMP/err" "stored" "--no-store: nothing stored"
expect_exit 0 "ppl default text" -- "$J" eval -m "$TMP/m.gguf" --task ppl
expect_in "$TMP/out" "perplexity" "ppl: table"
expect_in "$TMP/out" "summaries" "ppl: default text named"

# Generated tasks on their built-in datasets.
expect_exit 0 "exact" -- "$J" eval -m "$TMP/m.gguf" --task exact -n 6 --max-tokens 4 --raw
expect_in "$TMP/out" "accuracy" "exact: accuracy line"
expect_in "$TMP/out" "questions (6 samples)" "exact: default dataset"
expect_exit 0 "numeric --json" -- "$J" eval -m "$TMP/m.gguf" --task numeric -n 5 \
    --max-tokens 8 --json --raw
python3 - "$TMP/out" <<'PY' && ok || bad "numeric --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["task"] == "numeric" and d["n"] == 5 and len(d["samples"]) == 5, d
assert 0 <= d["accuracy"] <= 1 and d["correct"] == sum(s["score"] for s in d["samples"]), d
assert d["tokens_generated"] >= 5, d
PY
expect_exit 0 "rouge --csv" -- "$J" eval -m "$TMP/m.gguf" --task rouge -n 3 --max-tokens 8 --csv
python3 - "$TMP/out" <<'PY' && ok || bad "rouge --csv"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert len(r) == 1 and r[0]["task"] == "rouge" and r[0]["n"] == "3", r
for k in ("rouge1", "rouge2", "rougeL"):
    assert 0 <= float(r[0][k]) <= 1, r
assert float(r[0]["score"]) == float(r[0]["rougeL"]), r
PY

# Multiple choice on an MMLU-format file: every sample gets one choice.
cat >"$TMP/mc.csv" <<'CSV'
What is 2 + 2?,3,4,5,6,B
Which is a colour?,Red,Table,Seven,Run,A
"Which word, of these, is a verb?",Chair,Blue,Run,Under,C
CSV
expect_exit 0 "mc" -- "$J" eval -m "$TMP/m.gguf" --task mc -d "$TMP/mc.csv" --json --raw
python3 - "$TMP/out" <<'PY' && ok || bad "mc --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["n"] == 3 and len(d["samples"]) == 3, d
assert all(0 <= s["choice"] <= 3 for s in d["samples"]), d
assert d["correct"] == sum(s["score"] for s in d["samples"]), d
PY

# Errors: exit 2 and the reason.
expect_exit 2 "no task" -- "$J" eval -m "$TMP/m.gguf"
expect_in "$TMP/err" "--task" "no task: says so"
expect_exit 2 "unknown task" -- "$J" eval -m "$TMP/m.gguf" --task bleu
expect_exit 2 "mc without a file" -- "$J" eval -m "$TMP/m.gguf" --task mc
expect_in "$TMP/err" "mmlu" "mc: the format it needs"
expect_exit 2 "mc on a dataset without choices" -- "$J" eval -m "$TMP/m.gguf" --task mc \
    -d questions
expect_in "$TMP/err" "choices" "mc on questions: says why"
expect_exit 2 "window too large" -- "$J" eval -m "$TMP/m.gguf" --task ppl -d "$TMP/t.txt" \
    --window 100000
expect_exit 2 "unknown synth shape" -- "$J" eval -m synth:nosuchshape --task ppl
expect_in "$TMP/err" "stories15m" "unknown shape: the shapes listed"
# The LLM.int8 mode scores what joule run measures as int8-mixed.
expect_exit 0 "ppl int8-mixed" -- "$J" eval -m "$TMP/m.gguf" --task ppl -d "$TMP/t.txt" \
    --int8-threshold 0.5 --json --no-store
python3 - "$TMP/out" <<'PY' && ok || bad "ppl int8-mixed: named by its mode"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["weight_type"] == "int8-mixed" and d["perplexity"] > 1, d
PY
expect_exit 2 "bad int8 threshold" -- "$J" eval -m "$TMP/m.gguf" --task ppl --int8-threshold x
expect_exit 2 "missing model" -- "$J" eval -m "$TMP/none.gguf" --task exact
expect_exit 2 "missing text" -- "$J" eval -m "$TMP/m.gguf" --task ppl -d "$TMP/none.txt"

finish
