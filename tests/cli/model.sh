#!/bin/sh
# joule model info: real GGUF files from the shared reference pack (when it
# sits beside the checkout), committed small files, and broken ones.
J=$1
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODELS="$ROOT/../shared/testdata/models"

expect_exit 0 "model --help" -- "$J" model --help
expect_in "$TMP/out" "usage: joule model info" "help"
expect_exit 2 "model, no subcommand" -- "$J" model
expect_exit 2 "model bogus" -- "$J" model bogus
expect_exit 2 "info, no file" -- "$J" model info
expect_exit 2 "info, bad option" -- "$J" model info --nope x.gguf
expect_exit 1 "info, missing file" -- "$J" model info "$TMP/missing.gguf"
expect_in "$TMP/err" "missing.gguf" "missing file named"
printf 'GGUF\003\000\000\000' >"$TMP/trunc.gguf"
expect_exit 2 "info, truncated" -- "$J" model info "$TMP/trunc.gguf"
expect_in "$TMP/err" "trunc.gguf: offset " "offset in the message"
printf 'not a model at all' >"$TMP/text.gguf"
expect_exit 2 "info, not GGUF" -- "$J" model info "$TMP/text.gguf"
expect_in "$TMP/err" "bad magic" "bad magic message"

expect_exit 0 "info, committed file" -- "$J" model info "$ROOT/fuzz/corpus/gguf/tensor-q4_0.gguf"
expect_in "$TMP/out" "GGUF v3" "version shown"

if [ -d "$MODELS" ]; then
    expect_exit 0 "info llama q4_k_m" -- "$J" model info "$MODELS/llama-tiny-q4_k_m.gguf"
    expect_in "$TMP/out" "parameters     1692928 in 21 tensors" "llama parameters"
    expect_in "$TMP/out" "Q4_K x13" "q4_k_m histogram"
    expect_in "$TMP/out" "Q6_K x3" "q4_k_m histogram q6_k"
    expect_exit 0 "info qwen2 json" -- "$J" model info --json "$MODELS/qwen2-tiny-f16.gguf"
    if python3 - "$TMP/out" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["architecture"] == "qwen2" and d["parameters"] == 14047744, d
assert d["hyperparameters"]["tied_output"] is True
assert d["rope"]["freq_base"] == 1e6
assert d["tokenizer"]["model"] == "gpt2" and d["tokenizer"]["vocab_size"] == 50257
assert d["tokenizer"]["add_bos"] is None  # the file does not say
P
    then ok; else bad "qwen2 json"; fi
    expect_exit 0 "info phi3" -- "$J" model info "$MODELS/phi3-tiny-f16.gguf"
    expect_in "$TMP/out" "parameters     1475840" "phi3 parameters"
else
    echo "skipped: $MODELS not found (the shared reference pack)"
fi

# joule model tokenize
expect_exit 2 "tokenize, no model" -- "$J" model tokenize hello
expect_in "$TMP/err" "no model: give -m FILE" "no model message"
expect_exit 2 "tokenize, no text" -- "$J" model tokenize -m x.gguf
expect_exit 2 "tokenize, text and file" -- "$J" model tokenize -m x.gguf --file y hello
expect_exit 2 "tokenize, bad gguf" -- "$J" model tokenize -m "$TMP/text.gguf" hello
expect_in "$TMP/err" "bad magic" "bad model message"
VOCABS="$ROOT/../shared/testdata/tokenizer"
if [ -d "$VOCABS" ]; then
    # gpt-2: ids as llama.cpp gives them (from its test vectors).
    expect_exit 0 "tokenize gpt-2 ids" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-gpt-2.gguf" --ids "Hello world"
    expect_in "$TMP/out" "15496 995" "gpt-2 ids"
    # SPM adds BOS as the vocabulary says, unless --no-bos.
    expect_exit 0 "tokenize spm" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-llama-spm.gguf" " Hello"
    expect_in "$TMP/out" "1:'<s>'" "bos added"
    expect_exit 0 "tokenize spm no-bos" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-llama-spm.gguf" --no-bos --ids " Hello"
    if [ "$(cat "$TMP/out")" = "29871 15043" ]; then ok; else bad "no bos: $(cat "$TMP/out")"; fi
    # Special-token text is plain text unless --special.
    expect_exit 0 "tokenize special" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-phi-3.gguf" --special --ids "<|user|>"
    expect_in "$TMP/out" "1 32010" "special recognised"
    expect_exit 0 "tokenize no special" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-phi-3.gguf" --ids "<|user|>"
    expect_not_in "$TMP/out" "32010" "special not parsed"
    # One output line per input line.
    printf 'one line\nsecond line here\n\n' >"$TMP/lines.txt"
    expect_exit 0 "tokenize file" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-llama-spm.gguf" --count --file "$TMP/lines.txt"
    lines=$(wc -l <"$TMP/out")
    if [ "$lines" -eq 3 ]; then ok; else bad "tokenize --file: $lines lines, expected 3"; fi
    expect_exit 1 "tokenize unsupported vocab" -- "$J" model tokenize -m "$VOCABS/ggml-vocab-bert-bge.gguf" x
    expect_in "$TMP/err" "unsupported tokenizer" "unsupported message"
else
    echo "skipped: $VOCABS not found (the shared tokenizer vectors)"
fi
finish
