#!/bin/sh
# joule advise end to end: each subcommand answers in Markdown with the
# seed's sections and its sources named, and in JSON; the documented rules
# pick what they say; measurements in the results database calibrate the
# model; audit gates CI with its exit status; bad input is refused.
J=$1
. "$(dirname "$0")/lib.sh"
DATA=$(dirname "$0")/../data/audit
export JOULE_DB="$TMP/none.db"

# optimize: the seed's sections, sources named, an uncalibrated model said so.
expect_exit 0 "optimize" -- "$J" advise optimize -m mistralai/Mistral-7B-Instruct-v0.2 \
    --gpu a800 --use-case api
for s in "## Recommended Configuration" "## Performance Metrics" "## Energy & Efficiency" \
         "## Cost & Carbon (Monthly Estimates)" "## Why This Configuration" \
         "## Optimization Insights" "## Warning: Avoid These Pitfalls" "## Sources" \
         "uncalibrated" "Finding \`batch-size\`" "docs/hardware.md"; do
    expect_in "$TMP/out" "$s" "optimize: $s"
done
expect_not_in "$TMP/out" "Precision: INT8 (default" "optimize: never the default INT8"

# The rules: a model of 3B or fewer gets no 4-bit; an API batches (8..32);
# an interactive use keeps batch <= 4; the default INT8 is never picked.
expect_exit 0 "optimize small --json" -- "$J" advise optimize -m qwen2-1.5b --gpu rtx4090d \
    --accuracy-tolerance 0.05 --json
python3 - "$TMP/out" <<'PY' && ok || bad "optimize small: the documented choice"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["precision"] != "nf4" and d["precision"] != "int8-mixed", d
assert 8 <= d["batch_size"] <= 32, d
e = d["expected"]; m = d["monthly"]
# monthly kWh = J/request x requests x PUE / 3.6e6, cost and carbon from it
assert abs(m["kwh"] - e["j_per_request"] * m["requests"] * m["pue"] / 3.6e6) < 1e-6 * m["kwh"]
assert abs(m["cost_usd"] - m["kwh"] * 0.12) < 1e-6 * m["cost_usd"], m
assert abs(m["kg_co2"] - m["kwh"] * 0.390) < 1e-6 * m["kg_co2"], m
assert d["sources"]["model"]["calibrated"] is False
assert any(f["id"] == "nf4-small" for f in d["sources"]["findings"]), d["sources"]
PY
expect_exit 0 "optimize interactive" -- "$J" advise optimize -m 7B --gpu rtx4090 \
    --use-case interactive --json
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['batch_size'] <= 4, d" \
    "$TMP/out" && ok || bad "optimize interactive: batch <= 4"
# Memory: a 13B model in FP16 does not fit on a 24 GB card; INT8 and 4-bit would.
expect_exit 2 "optimize too big" -- "$J" advise optimize -m 13B --gpu rtx4090 --precision fp16
expect_in "$TMP/err" "no configuration fits" "too big: says so"
expect_in "$TMP/err" "precisions that fit: FP8" "too big: the precision needed to fit"

# compare: one column per precision, each cell's source, the paradoxes.
expect_exit 0 "compare" -- "$J" advise compare -m mistral-7b --gpu a800
expect_in "$TMP/out" "| Delta energy vs first |" "compare: delta row"
expect_in "$TMP/out" "## Paradox Warnings" "compare: warnings"
expect_exit 0 "compare --json" -- "$J" advise compare -m qwen2-1.5b --gpu rtx5090 --json
python3 - "$TMP/out" <<'PY' && ok || bad "compare: the model agrees with the findings' direction"
import json, sys
c = {x["precision"]: x for x in json.load(open(sys.argv[1]))["precisions"]}
assert c["int8-mixed"]["j_per_1k_out_tokens"] > c["fp16"]["j_per_1k_out_tokens"], c
assert c["nf4"]["j_per_1k_out_tokens"] > c["fp16"]["j_per_1k_out_tokens"], c   # <= 3B
assert all(x["energy_source"].startswith("model") for x in c.values())
PY

# estimate: current against optimised, arithmetic of kWh, cost, CO2.
expect_exit 0 "estimate" -- "$J" advise estimate -m 7B --gpu a100-80gb \
    --precision int8-mixed --requests 2000000 --region cn --local --json
python3 - "$TMP/out" <<'PY' && ok || bad "estimate: arithmetic and the optimised config"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pue"] == 1.0 and d["price_usd_per_kwh"] == 0.085 and d["g_co2_per_kwh"] == 555
for k in ("current", "optimized"):
    x = d[k]
    assert abs(x["kwh"] - x["j_per_request"] * 2e6 / 3.6e6) < 1e-6 * x["kwh"], x
    assert abs(x["cost_usd"] - x["kwh"] * 0.085) < 1e-6 * x["cost_usd"], x
    assert abs(x["kg_co2"] - x["kwh"] * 0.555) < 1e-6 * x["kg_co2"], x
assert d["optimized"]["precision"] == "int8" and d["optimized"]["batch_size"] > 1, d
assert d["optimized"]["kwh"] < d["current"]["kwh"], d
PY

# diagnose: the INT8 paradox is recognised, fixes ranked by expected gain.
expect_exit 0 "diagnose" -- "$J" advise diagnose -m mistral-7b --gpu rtx4090d \
    --precision int8-mixed --batch 1 --throughput 10
expect_in "$TMP/out" "INT8 energy paradox" "diagnose: the pattern"
expect_in "$TMP/out" "Confidence: HIGH" "diagnose: confidence"
expect_in "$TMP/out" "llm_int8_threshold=0.0" "diagnose: the fix"
expect_in "$TMP/out" "Measured here: nothing yet for INT8 (default, threshold 6) at batch 1" \
    "diagnose: says it has no measurement of this configuration"
expect_exit 2 "diagnose without observation" -- "$J" advise diagnose -m 7B --gpu a800

# Validation: BF16 before Ampere is refused with the reason; an unknown
# device gets the closest one of its family, said so; nonsense is refused.
expect_exit 2 "bf16 on v100" -- "$J" advise estimate -m 7B --gpu v100 --precision bf16
expect_in "$TMP/err" "Ampere" "bf16: the reason"
expect_exit 0 "h800" -- "$J" advise compare -m 7B --gpu h800
expect_in "$TMP/err" "closest Hopper" "h800: the closest device, said so"
expect_exit 2 "unknown device" -- "$J" advise compare -m 7B --gpu abacus
expect_in "$TMP/err" "known:" "unknown device: lists the devices"
expect_exit 2 "unknown model" -- "$J" advise compare -m acme/foo --gpu a800
expect_exit 2 "no db" -- "$J" advise compare -m 7B --gpu a800 --db "$TMP/missing.db"

# Calibration: a database with measurements on the device is used and said.
"$J" model synth --shape stories15m --layers 2 --vocab 512 --type q8_0 -o "$TMP/m.gguf" \
    >/dev/null 2>&1
cat >"$TMP/meter.txt" <<EOF2
domain pkg kind=package mode=counter update_ms=1
at 0 pkg=30
EOF2
expect_exit 0 "a measurement" -- "$J" run --set model="$TMP/m.gguf" --set precision=q8_0 \
    --set protocol.meter_sources=fake:"$TMP/meter.txt" --set protocol.idle_s=0 \
    --set protocol.min_window_s=0 --set protocol.cycles=1 --set dataset.sample_size=2 \
    --set max_output_tokens=4 --db "$TMP/r.db" --quiet
# The measured CPU matches a pattern only GPUs and named CPUs have: the
# CPU classes stay uncalibrated, which the answer says.
expect_exit 0 "calibration on a CPU class" -- "$J" advise compare -m "$TMP/m.gguf" \
    --gpu cpu-desktop --db "$TMP/r.db"
expect_in "$TMP/out" "holds no completed experiment" "cpu class: uncalibrated, said why"

# audit: critical findings fail the run (exit 1), clean code passes; JSON and SARIF.
expect_exit 1 "audit fire" -- "$J" advise audit "$DATA/fire"
expect_in "$TMP/out" "### Critical Issues" "audit: sections"
expect_in "$TMP/out" "int8_default.py:5:5 [int8-default-threshold]" "audit: file:line and rule"
expect_exit 0 "audit quiet" -- "$J" advise audit "$DATA/quiet"
expect_in "$TMP/out" "0 critical, 0 warnings, 0 info" "audit quiet: nothing found"
expect_exit 1 "audit json" -- "$J" advise audit "$DATA/fire" --format json
python3 - "$TMP/out" <<'PY' && ok || bad "audit json: counts and fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["files"] == 5 and d["counts"] == {"critical": 1, "warning": 4, "info": 1}, d
for f in d["findings"]:
    assert f["line"] >= 1 and f["rule"] and f["impact"] and f["fix"], f
PY
expect_exit 1 "audit sarif" -- "$J" advise audit "$DATA/fire/int8_default.py" --format sarif
python3 - "$TMP/out" <<'PY' && ok || bad "audit sarif: a SARIF 2.1.0 log"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"][0]["results"]
assert d["version"] == "2.1.0" and len(r) == 1 and r[0]["level"] == "error", d
assert r[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5, r
PY
expect_exit 2 "audit missing" -- "$J" advise audit "$TMP/nothing-here"
expect_exit 2 "audit bad format" -- "$J" advise audit "$DATA/quiet" --format xml

# Listings.
expect_exit 0 "devices" -- "$J" advise devices --json
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); ids={x['id'] for x in d}; \
assert {'rtx3090','rtx4090','rtx4090d','rtx5090','a10','a100-40gb','a100-80gb','a800', \
'h100-pcie','h100-sxm','h200','l4','l40s','t4','v100','mi300x'} <= ids, ids" "$TMP/out" \
    && ok || bad "devices: the issue's GPUs"
expect_exit 0 "findings" -- "$J" advise findings
expect_in "$TMP/out" "17-147%" "findings: the INT8 figure"
expect_exit 2 "no subcommand" -- "$J" advise
expect_exit 0 "help" -- "$J" advise --help

finish
