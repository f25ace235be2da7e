#!/bin/sh
# joule generate end to end: a model of each architecture streams text; a
# file of 16 prompts runs in batches with the per-request accounting;
# greedy output is the same alone and in a batch; bad arguments and
# missing or corrupt model files are refused with a message and exit 2.
J=$1
. "$(dirname "$0")/lib.sh"

# Small models of the three architectures (1 block, width 128).
for spec in "llama spm q4_0" "qwen2 bpe q8_0" "phi3 spm f16"; do
    set -- $spec
    expect_exit 0 "synth $1" -- "$J" model synth --arch "$1" --dim 128 --layers 2 --heads 4 \
        --kv-heads 2 --ffn 256 --vocab 512 --tokenizer "$2" --type "$3" -o "$TMP/$1.gguf"
done

for a in llama qwen2 phi3; do
    expect_exit 0 "generate $a" -- "$J" generate -m "$TMP/$a.gguf" -p "Hello" -n 32 --ignore-eos
    expect_in "$TMP/err" "decode 31 tokens" "$a: 32 tokens (31 decode steps)"
    expect_in "$TMP/err" "prefill" "$a: statistics"
    [ -s "$TMP/out" ] && ok || bad "$a: no text on stdout"
done

# JSON accounting for one prompt: 32 output tokens, 31 inter-token latencies.
expect_exit 0 "generate --json" -- "$J" generate -m "$TMP/llama.gguf" -p "Hello" -n 32 \
    --ignore-eos --json
python3 - "$TMP/out" <<'PY' && ok || bad "generate --json accounting"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["requests"]
assert len(r) == 1, r
r = r[0]
assert r["output_tokens"] == 32 and r["finish"] == "length", r
assert len(r["itl_s"]) == 31 and r["input_tokens"] >= 2, r
assert r["ttft_s"] >= r["prefill_s"] > 0 and r["decode_s"] > 0, r
assert abs(sum(r["itl_s"]) - r["decode_s"]) < 1e-6, r
assert d["phases"]["decode"]["tokens"] == 31 and d["phases"]["prefill"]["steps"] == 1, d
assert d["engine"]["arch"] == "llama" and d["engine"]["weight_type"] == "Q4_0", d
PY

# A file of 16 prompts in batches of 4 (static) and of 16 (continuous).
i=1
: >"$TMP/prompts.txt"
while [ $i -le 16 ]; do
    printf 'prompt number %d says %s\n' $i "$(printf '%*s' $i '' | tr ' ' x)" >>"$TMP/prompts.txt"
    [ $i -eq 8 ] && printf '\n' >>"$TMP/prompts.txt" # an empty line is skipped
    i=$((i + 1))
done
for mode in "--batch 4" "--batch 16 --continuous"; do
    expect_exit 0 "generate -f ($mode)" -- "$J" generate -m "$TMP/llama.gguf" \
        -f "$TMP/prompts.txt" -n 12 --ignore-eos $mode --json
    python3 - "$TMP/out" <<'PY' && ok || bad "16 prompts accounted ($mode)"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["requests"]
assert len(r) == 16, len(r)
assert [x["index"] for x in r] == list(range(16))
assert all(x["output_tokens"] == 12 and len(x["itl_s"]) == 11 for x in r)
assert all(x["input_tokens"] > 0 for x in r)
assert d["phases"]["decode"]["tokens"] == 16 * 11, d["phases"]
PY
    cp "$TMP/out" "$TMP/batch-$(echo $mode | cut -c9-10 | tr -d ' ')"
done
# Prompt 3 of the file, alone, gives the same text as inside the batches.
sed -n 3p "$TMP/prompts.txt" >"$TMP/one.txt"
expect_exit 0 "generate one prompt of the file" -- "$J" generate -m "$TMP/llama.gguf" \
    -f "$TMP/one.txt" -n 12 --ignore-eos --json
python3 - "$TMP/out" "$TMP/batch-4" "$TMP/batch-16" <<'PY' && ok || bad "alone == in batch"
import json, sys
one = json.load(open(sys.argv[1]))["requests"][0]["text"]
for f in sys.argv[2:]:
    assert json.load(open(f))["requests"][2]["text"] == one, f
PY
# Human output: one block per prompt.
expect_exit 0 "generate -f, text output" -- "$J" generate -m "$TMP/llama.gguf" \
    -f "$TMP/prompts.txt" -n 4 --batch 8 --quiet
expect_in "$TMP/out" "[16] " "16 results printed"

# Sampling options and stop strings are accepted; a seed reproduces.
expect_exit 0 "sampling" -- "$J" generate -m "$TMP/qwen2.gguf" -p "hi" -n 16 --temp 0.8 \
    --top-k 40 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 --seed 7 --ignore-eos --quiet
cp "$TMP/out" "$TMP/s1"
expect_exit 0 "sampling again" -- "$J" generate -m "$TMP/qwen2.gguf" -p "hi" -n 16 --temp 0.8 \
    --top-k 40 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 --seed 7 --ignore-eos --quiet
cmp -s "$TMP/out" "$TMP/s1" && ok || bad "same seed, same text"

# Bad arguments, missing and corrupt models.
expect_exit 2 "no model" -- "$J" generate -p "Hello"
expect_in "$TMP/err" "give a model" "no model named"
expect_exit 2 "no prompt" -- "$J" generate -m "$TMP/llama.gguf"
expect_in "$TMP/err" "give a prompt" "no prompt named"
expect_exit 2 "bad -n" -- "$J" generate -m "$TMP/llama.gguf" -p x -n 0
expect_exit 2 "bad --temp" -- "$J" generate -m "$TMP/llama.gguf" -p x --temp -1
expect_exit 2 "bad --kv" -- "$J" generate -m "$TMP/llama.gguf" -p x --kv q8
expect_in "$TMP/err" "--kv must be f16 or f32" "bad --kv named"
expect_exit 2 "bad --kernels" -- "$J" generate -m "$TMP/llama.gguf" -p x --kernels avx9
expect_in "$TMP/err" "avx9" "bad kernels named"
expect_exit 2 "unknown option" -- "$J" generate -m "$TMP/llama.gguf" -p x --frobnicate
expect_exit 2 "missing model" -- "$J" generate -m "$TMP/none.gguf" -p x
expect_in "$TMP/err" "none.gguf" "missing model named"
head -c 1000 "$TMP/llama.gguf" >"$TMP/cut.gguf"
expect_exit 2 "truncated model" -- "$J" generate -m "$TMP/cut.gguf" -p x
expect_in "$TMP/err" "cut.gguf" "truncated model named"
printf 'not a gguf file at all' >"$TMP/text.gguf"
expect_exit 2 "not a model" -- "$J" generate -m "$TMP/text.gguf" -p x
expect_exit 2 "missing prompts file" -- "$J" generate -m "$TMP/llama.gguf" -f "$TMP/nope.txt"
expect_in "$TMP/err" "nope.txt" "missing prompts file named"
printf '\n\n' >"$TMP/empty.txt"
expect_exit 2 "empty prompts file" -- "$J" generate -m "$TMP/llama.gguf" -f "$TMP/empty.txt"
expect_in "$TMP/err" "no prompts" "empty prompts file"
expect_exit 2 "chat without template" -- "$J" generate -m "$TMP/llama.gguf" -p x --chat
expect_in "$TMP/err" "chat template" "chat refusal explains"
# LLM.int8 mode on a Q8_0 file: the share of outlier columns is reported;
# a file without Q8_0 weights is refused with the way out.
expect_exit 0 "int8 mode" -- "$J" generate -m "$TMP/qwen2.gguf" -p "Hello" -n 8 \
    --int8-threshold 0.5 --json
python3 - "$TMP/out" <<'PY' && ok || bad "int8 mode: counters in the JSON"
import json, sys
e = json.load(open(sys.argv[1]))["engine"]
assert e["int8_threshold"] == 0.5 and 0 < e["int8_outlier_columns"] < e["int8_columns"], e
PY
expect_exit 0 "int8 mode text" -- "$J" generate -m "$TMP/qwen2.gguf" -p "Hello" -n 4 \
    --int8-threshold 0
expect_in "$TMP/err" "int8 threshold 0: 0 of" "int8 mode: pure INT8 has no outliers"
expect_exit 2 "int8 mode needs Q8_0" -- "$J" generate -m "$TMP/phi3.gguf" -p x \
    --int8-threshold 6
expect_in "$TMP/err" "quantize --type int8" "int8 refusal: says how to make the file"
expect_exit 0 "help" -- "$J" generate --help
expect_in "$TMP/out" "usage: joule generate" "usage"
finish
