#!/bin/sh
# joule model synth and joule quantize: every built-in shape (reduced in
# width, depth and vocabulary so the test stays fast) and every type, read
# back with joule model info and the tokenizer; quantize round trips.
J=$1
. "$(dirname "$0")/lib.sh"

expect_exit 0 "synth --list-shapes" -- "$J" model synth --list-shapes
for s in stories15m smollm-135m tinyllama-1.1b llama-3.2-1b qwen2-1.5b phi-3-mini qwen2.5-7b mistral-7b \
         llama-3-8b; do
    expect_in "$TMP/out" "$s" "shape $s listed"
done
expect_exit 2 "synth, no output" -- "$J" model synth --shape tinyllama-1.1b
expect_exit 2 "synth, unknown shape" -- "$J" model synth --shape nope -o "$TMP/x.gguf"
expect_in "$TMP/err" "unknown shape 'nope'" "unknown shape named"
expect_exit 2 "synth, unknown type" -- "$J" model synth --shape tinyllama-1.1b --type q3_x \
    -o "$TMP/x.gguf"
expect_in "$TMP/err" "unknown type 'q3_x'" "unknown type named"
expect_exit 2 "synth, arch without dims" -- "$J" model synth --arch llama -o "$TMP/x.gguf"
expect_exit 2 "synth, heads do not divide dim" -- "$J" model synth --arch llama --dim 96 \
    --layers 1 --heads 5 --ffn 64 --vocab 400 -o "$TMP/x.gguf"
expect_exit 2 "synth, vocab too small" -- "$J" model synth --shape tinyllama-1.1b --vocab 10 \
    -o "$TMP/x.gguf"

# Every shape, reduced: 1 block, 32-wide heads, ffn 512, 512 tokens.
for spec in "smollm-135m 9 llama gpt2" "tinyllama-1.1b 32 llama llama" \
            "llama-3.2-1b 32 llama gpt2" "qwen2-1.5b 12 qwen2 gpt2" "phi-3-mini 32 phi3 llama" \
            "qwen2.5-7b 28 qwen2 gpt2" "mistral-7b 32 llama llama" "llama-3-8b 32 llama gpt2"; do
    set -- $spec
    f="$TMP/$1.gguf"
    expect_exit 0 "synth $1" -- "$J" model synth --shape "$1" --layers 1 --dim $(($2 * 32)) \
        --ffn 512 --vocab 512 --type q8_0 -o "$f"
    expect_exit 0 "info $1" -- "$J" model info "$f"
    expect_in "$TMP/out" "$3 (synthetic $1)" "$1 architecture"
    expect_exit 0 "tokenize $1" -- "$J" model tokenize -m "$f" "hello world"
    expect_in "$TMP/out" "'" "$1 tokens"
    expect_exit 0 "info --json $1" -- "$J" model info --json "$f"
    expect_in "$TMP/out" "\"$4\"" "$1 tokenizer kind"
done

# Parameter count of the reduced TinyLlama: embedding and output 2 x 512 x 1024,
# q and o 1024^2 each, k and v 1024 x 128 each, ffn 3 x 1024 x 512, 3 norms.
expect_exit 0 "info tinyllama reduced" -- "$J" model info "$TMP/tinyllama-1.1b.gguf"
expect_in "$TMP/out" "parameters     4983808 in 12 tensors" "tinyllama reduced parameters"

# Every type, on the reduced TinyLlama shape (rows of 1024, whole K blocks).
for t in f32 f16 bf16 q8_0 q4_0 q4_k_m q6_k; do
    f="$TMP/tl-$t.gguf"
    expect_exit 0 "synth type $t" -- "$J" model synth --shape tinyllama-1.1b --layers 2 \
        --dim 1024 --ffn 512 --vocab 512 --type $t -o "$f"
    expect_exit 0 "info type $t" -- "$J" model info "$f"
    if [ $t = f32 ]; then n=21; else n=5; fi
    expect_in "$TMP/out" "F32 x$n" "type $t: norms stay F32"
done
"$J" model info "$TMP/tl-q4_0.gguf" >"$TMP/i"
expect_in "$TMP/i" "Q4_0 x15" "q4_0: matrices"
expect_in "$TMP/i" "Q6_K x1" "q4_0: output.weight in Q6_K"
"$J" model info "$TMP/tl-q4_k_m.gguf" >"$TMP/i"
expect_in "$TMP/i" "Q6_K x3" "q4_k_m: output, attn_v and ffn_down of the last block in Q6_K"
expect_in "$TMP/i" "Q4_K x13" "q4_k_m: the rest in Q4_K"
# 576-wide rows cannot hold K super-blocks: Q5_0 / Q8_0 fallbacks.
"$J" model info "$TMP/smollm-135m.gguf" >/dev/null
expect_exit 0 "synth smollm q4_k_m" -- "$J" model synth --shape smollm-135m --layers 1 \
    --vocab 512 --type q4_k_m -o "$TMP/sm.gguf"
expect_exit 0 "info smollm q4_k_m" -- "$J" model info "$TMP/sm.gguf"
expect_in "$TMP/out" "Q5_0 x" "smollm q4_k_m falls back to Q5_0"
expect_not_in "$TMP/out" "Q4_K" "smollm q4_k_m has no Q4_K"

# Same seed, same bytes, whatever the thread count; another seed differs.
"$J" model synth --shape qwen2-1.5b --layers 1 --dim 384 --ffn 512 --vocab 512 --type q4_0 \
    --seed 7 --threads 1 -o "$TMP/a.gguf" >/dev/null
"$J" model synth --shape qwen2-1.5b --layers 1 --dim 384 --ffn 512 --vocab 512 --type q4_0 \
    --seed 7 --threads 2 -o "$TMP/b.gguf" >/dev/null
"$J" model synth --shape qwen2-1.5b --layers 1 --dim 384 --ffn 512 --vocab 512 --type q4_0 \
    --seed 8 --threads 2 -o "$TMP/c.gguf" >/dev/null
if cmp -s "$TMP/a.gguf" "$TMP/b.gguf"; then ok; else bad "threads change the bytes"; fi
if cmp -s "$TMP/a.gguf" "$TMP/c.gguf"; then bad "seed does not change the bytes"; else ok; fi

# joule quantize
expect_exit 0 "quantize --help" -- "$J" quantize --help
expect_exit 2 "quantize, no type" -- "$J" quantize "$TMP/tl-f32.gguf" "$TMP/q.gguf"
expect_exit 2 "quantize, bad type" -- "$J" quantize "$TMP/tl-f32.gguf" "$TMP/q.gguf" --type q9
expect_exit 1 "quantize, missing input" -- "$J" quantize "$TMP/none.gguf" "$TMP/q.gguf" \
    --type q8_0
for t in q8_0 q4_0 q4_k_m q6_k f16 bf16; do
    expect_exit 0 "quantize f32 -> $t" -- "$J" quantize "$TMP/tl-f32.gguf" "$TMP/q-$t.gguf" \
        --type $t
    # Same recipe as synth: the same tensor types, bytes and metadata.
    "$J" model info --json "$TMP/q-$t.gguf" | sed 's/"file": "[^"]*"//' >"$TMP/qi"
    "$J" model info --json "$TMP/tl-$t.gguf" | sed 's/"file": "[^"]*"//' >"$TMP/si"
    if cmp -s "$TMP/qi" "$TMP/si"; then ok; else bad "quantize $t differs from synth $t"
        diff "$TMP/qi" "$TMP/si" | head -5 >&2; fi
done
# q8_0 of an f32 model equals synth's q8_0 byte for byte (same metadata order).
if cmp -s "$TMP/q-q8_0.gguf" "$TMP/tl-q8_0.gguf"; then ok; else bad "quantize q8_0 bytes"; fi
expect_exit 0 "quantize q4_k_m -> f32" -- "$J" quantize "$TMP/q-q4_k_m.gguf" "$TMP/back.gguf" \
    --type f32
expect_exit 0 "info round trip" -- "$J" model info "$TMP/back.gguf"
expect_in "$TMP/out" "synthetic tinyllama-1.1b" "name kept"
expect_in "$TMP/out" "F32 x21" "all F32 again"
expect_exit 0 "tokenize round trip" -- "$J" model tokenize -m "$TMP/back.gguf" --ids "hello"
"$J" model tokenize -m "$TMP/tl-f32.gguf" --ids "hello" >"$TMP/ids0"
if cmp -s "$TMP/out" "$TMP/ids0"; then ok; else bad "vocabulary changed by quantize"; fi
expect_exit 0 "quantize phi3 q4_k_m" -- "$J" quantize "$TMP/phi-3-mini.gguf" "$TMP/p.gguf" \
    --type q4_k_m
expect_exit 0 "info phi3 q4_k_m" -- "$J" model info "$TMP/p.gguf"
expect_in "$TMP/out" "Q5_K x1" "phi3 attn_qkv in Q5_K"

finish
