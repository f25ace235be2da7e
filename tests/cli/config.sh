#!/bin/sh
# joule config (validate, show, new, keys), joule presets and joule
# datasets: what a user checks before running, and the errors they get.
J=$1
. "$(dirname "$0")/lib.sh"

# new -> a commented file of the preset; show loads it back unchanged.
expect_exit 0 "config new" -- "$J" config new --preset quick-test -o "$TMP/exp.yaml"
expect_in "$TMP/exp.yaml" "preset: quick-test" "new: the preset recorded"
expect_in "$TMP/exp.yaml" "max_input_tokens: 64" "new: the preset's keys"
expect_in "$TMP/exp.yaml" "# prompts run together in one batch" "new: comments"
expect_exit 2 "validate without a model" -- "$J" config validate "$TMP/exp.yaml"
expect_in "$TMP/err" "no model" "validate: says what is missing"
expect_exit 0 "show with --set" -- "$J" config show "$TMP/exp.yaml" --set model=m.gguf \
    --set batch_size=4
expect_in "$TMP/out" "model: m.gguf" "show: --set model"
expect_in "$TMP/out" "batch_size: 4" "show: --set over the file"
expect_in "$TMP/out" "max_output_tokens: 32" "show: the file's preset under it"
expect_not_in "$TMP/out" "# " "show: no comments unless asked"
cp "$TMP/out" "$TMP/shown.yaml"
expect_exit 0 "validate the shown config" -- "$J" config validate "$TMP/shown.yaml"
expect_in "$TMP/out" "shown.yaml: ok" "validate: ok line"
expect_exit 0 "show the shown config" -- "$J" config show "$TMP/shown.yaml"
cmp -s "$TMP/out" "$TMP/shown.yaml" && ok || bad "show: canonical YAML is a fixed point"

# Errors: file:line:column, did-you-mean, allowed values, exit 2; exit 1
# for a file that cannot be read.
printf 'model: m.gguf\nprotocol:\n  cycles: 12\n' >"$TMP/range.yaml"
printf 'model: m.gguf\nprecision: q4\n' >"$TMP/enum.yaml"
expect_exit 2 "validate bad files" -- "$J" config validate "$TMP/range.yaml" "$TMP/enum.yaml" \
    "$TMP/shown.yaml"
expect_in "$TMP/err" "range.yaml:3:3: protocol.cycles: 12 is out of range (allowed: 1..10)" \
    "validate: range error"
expect_in "$TMP/err" "enum.yaml:2:1: precision: 'q4' is not allowed" "validate: enum error"
expect_in "$TMP/err" "did you mean 'q4_0'?" "validate: near miss"
expect_in "$TMP/out" "shown.yaml: ok" "validate: the good file still checked"
expect_exit 1 "validate a missing file" -- "$J" config validate "$TMP/none.yaml"
expect_in "$TMP/err" "none.yaml" "missing file named"
expect_exit 2 "show --set unknown" -- "$J" config show --set cycles=3
expect_in "$TMP/err" "did you mean 'protocol.cycles'?" "unknown key: did you mean"
expect_exit 2 "unknown preset" -- "$J" config show --preset quick
expect_in "$TMP/err" "did you mean 'quick-test'?" "unknown preset: did you mean"
expect_exit 2 "unknown subcommand" -- "$J" config frobnicate
expect_exit 2 "no subcommand" -- "$J" config

# keys and presets, for people and as JSON.
expect_exit 0 "config keys" -- "$J" config keys
expect_in "$TMP/out" "protocol.min_window_s" "keys: a protocol key"
expect_exit 0 "config keys --json" -- "$J" config keys --json
python3 - "$TMP/out" <<'PY' && ok || bad "keys --json: every key with its fields"
import json, sys
keys = json.load(open(sys.argv[1]))
assert len(keys) >= 30, len(keys)
for k in keys:
    assert set(k) == {"key", "type", "allowed", "default", "help"}, k
    assert k["help"], k
assert {"batch_size", "decoding.temperature", "dataset.name"} <= {k["key"] for k in keys}
PY
expect_exit 0 "presets" -- "$J" presets
expect_in "$TMP/out" "throughput" "presets: listed"
expect_exit 0 "presets --json" -- "$J" presets --json
python3 - "$TMP/out" <<'PY' && ok || bad "presets --json: what each sets"
import json, sys
p = {x["name"]: x["sets"] for x in json.load(open(sys.argv[1]))}
assert p["quick-test"]["max_input_tokens"] == "64", p
assert p["benchmark"]["precision"] == "f16", p
assert p["throughput"]["batch_size"] == "8", p
PY

# datasets: the built-ins, and a file's samples.
expect_exit 0 "datasets" -- "$J" datasets
for d in summaries questions arithmetic instructions; do
    expect_in "$TMP/out" "$d" "datasets: $d listed"
done
expect_exit 0 "datasets show" -- "$J" datasets show arithmetic -n 2
expect_in "$TMP/out" "answer" "datasets show: the answer of a problem"
printf '{"instruction": "Name a colour.", "input": "", "output": "Blue."}\n{"instruction": 3}\n' \
    >"$TMP/d.jsonl"
expect_exit 2 "datasets show a bad file" -- "$J" datasets show "$TMP/d.jsonl"
expect_in "$TMP/err" "d.jsonl:2:" "bad record: file:line"
expect_exit 0 "datasets show --skip-bad --json" -- "$J" datasets show "$TMP/d.jsonl" \
    --skip-bad --json
python3 - "$TMP/out" <<'PY' && ok || bad "datasets show --json: one sample, one skipped"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "alpaca" and d["samples"] == 1 and d["skipped"] == 1, d
assert "Name a colour." in d["sample"][0]["prompt"], d
assert d["sample"][0]["reference"] == "Blue.", d
PY
expect_exit 2 "datasets show unknown" -- "$J" datasets show no-such-set
expect_in "$TMP/err" "summaries" "unknown dataset: built-ins listed"

finish
