#!/bin/sh
# joule tune and joule tune evaluate end to end, on a small synthesized
# model with a scripted energy source of constant power: trials.csv with the
# seed's columns and figures that recompute to the objective, Pareto ranks
# consistent with the metrics, the tuning's own energy, the same trials for
# the same seed, resume after SIGINT to the trials of an uninterrupted run,
# joule plot on the result, tune evaluate's outputs and arithmetic, and bad
# input refused with exit 2.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_DB="$TMP/results.db"
export JOULE_CACHE_DIR="$TMP/cache"
synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
BASE="-m $TMP/m.gguf --meter fake:$TMP/meter.txt --examples 6 --max-tokens 6 -t 1"

# A tuning with the seed's default weights: 6 trials, rungs 2 and 6.
expect_exit 0 "tune --json" -- "$J" tune $BASE --trials 6 --out "$TMP/a" --json
cp "$TMP/out" "$TMP/a.json"
expect_in "$TMP/err" "bracket 0 rung 0: 3 trials on 2 examples" "tune: progress"
python3 - "$TMP/a/trials.csv" "$TMP/a.json" "$TMP/a/best.json" <<'PY' && ok || bad "tune: trials.csv"
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
head = open(sys.argv[1]).readline().strip().split(",")
seed = ["number", "value", "cfg_style", "cfg_reasoning", "cfg_format", "cfg_brevity",
        "metric_rougeL", "metric_energy_total_J", "metric_tpj", "metric_latency_s",
        "metric_tokens_total", "metric_energy_J_per_ex"]
assert head[:len(seed)] == seed, head
assert head[len(seed):] == ["metric_exact", "metric_numeric", "n_examples", "state",
                            "pareto_rank", "energy_source"], head
assert [int(r["number"]) for r in rows] == list(range(6)), rows
assert len({(r["cfg_style"], r["cfg_reasoning"], r["cfg_format"], r["cfg_brevity"])
            for r in rows}) == 6, "a configuration twice"
f = lambda r, k: float(r[k])
for r in rows:
    e, tok, n = f(r, "metric_energy_total_J"), int(r["metric_tokens_total"]), int(r["n_examples"])
    assert r["energy_source"] == "measured" and e > 0 and tok > 0, r
    assert abs(f(r, "metric_tpj") - tok / e) <= 1e-9 * tok / e, r
    assert abs(f(r, "metric_energy_J_per_ex") - e / n) <= 1e-9 * e, r
    # The seed's objective with weights 1: Acc + TPJ - Energy_kJ.
    v = f(r, "metric_rougeL") + tok / e - e / 1000
    assert abs(f(r, "value") - v) <= 1e-9 * max(1, abs(v)), (r, v)
    assert 0 <= f(r, "metric_rougeL") <= 1, r
    assert (r["state"], n) in (("COMPLETE", 6), ("PRUNED", 2)), r
# Halving: two brackets of 3, each promotes one (the best of its rung 0).
assert sum(r["state"] == "COMPLETE" for r in rows) == 2, rows
# Pareto ranks of the complete trials: accuracy up, J/example down, latency down.
done = [r for r in rows if r["state"] == "COMPLETE"]
pt = {r["number"]: (f(r, "metric_rougeL"), -f(r, "metric_energy_J_per_ex"),
                    -f(r, "metric_latency_s")) for r in done}
dom = lambda a, b: all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))
left, rank, want = dict(pt), 1, {}
while left:
    front = [k for k in left if not any(dom(left[j], left[k]) for j in left if j != k)]
    for k in front:
        want[k] = rank
        del left[k]
    rank += 1
for r in rows:
    assert int(r["pareto_rank"]) == want.get(r["number"], 0), (r, want)
d = json.load(open(sys.argv[2]))
assert d["trials"] == 6 and d["complete"] == 2 and d["pruned"] == 4 and d["rungs"] == [2, 6], d
assert d["tuning_energy_provenance"] == "measured", d
trials_j = sum(f(r, "metric_energy_total_J") for r in rows)
assert abs(d["trials_energy_J"] - trials_j) <= 1e-6 * trials_j, (d["trials_energy_J"], trials_j)
assert d["tuning_energy_J"] >= d["trials_energy_J"] > 0, d
assert abs(d["tuning_energy_J"] - 40 * d["tuning_s"]) < 0.05 * d["tuning_energy_J"], d
best = max(done, key=lambda r: f(r, "value"))
b = json.load(open(sys.argv[3]))
assert b["number"] == int(best["number"]) and d["best"]["number"] == b["number"], (b, best)
assert b["key"] == "style=%s,reasoning=%s,format=%s,brevity=%s" % (
    best["cfg_style"], best["cfg_reasoning"], best["cfg_format"], best["cfg_brevity"]), b
assert [x["number"] for x in d["pareto_front"]] == [int(r["number"]) for r in rows
                                                    if r["pareto_rank"] == "1"], d
PY

# The table for people: best, front, the tuning's own energy.
expect_exit 0 "tune again (all resumed)" -- "$J" tune $BASE --trials 6 --out "$TMP/a"
expect_in "$TMP/out" "6 from an earlier run" "tune again: nothing re-run"
expect_in "$TMP/out" "best: trial" "tune: best printed"
expect_in "$TMP/out" "Pareto front" "tune: front printed"
expect_in "$TMP/out" "the tuning itself" "tune: tuning energy printed"
# The trials are in the results database too, mirroring trials.csv: one
# tuning per trials file (a resumed run updates it), its trials by number.
expect_exit 0 "results tune" -- "$J" results tune --csv
python3 - "$TMP/out" "$TMP/a/trials.csv" <<'PY' && ok || bad "results tune: one tuning of out a"
import csv, sys
r = [x for x in csv.DictReader(open(sys.argv[1])) if x["trials_path"].endswith("/a/trials.csv")]
assert len(r) == 1 and r[0]["trials"] == "6" and r[0]["task"] == "rouge", r
assert float(r[0]["tuning_energy_j"]) > 0 and r[0]["energy_provenance"], r
open(sys.argv[1] + ".id", "w").write(r[0]["id"])
PY
TID=$(cat "$TMP/out.id")
expect_exit 0 "results tune ID" -- "$J" results tune "$TID" --csv
python3 - "$TMP/out" "$TMP/a/trials.csv" <<'PY' && ok || bad "results tune ID: the trials of trials.csv"
import csv, sys
db = list(csv.DictReader(open(sys.argv[1])))
f = list(csv.DictReader(open(sys.argv[2])))
assert [int(x["number"]) for x in db] == [int(x["number"]) for x in f], (db, f)
for a, b in zip(db, f):
    assert a["state"] == b["state"] and a["pareto_rank"] == b["pareto_rank"], (a, b)
    assert a["config"] == ",".join("%s=%s" % (k[4:], b[k]) for k in b if k.startswith("cfg_"))
    for x, y in (("value", "value"), ("rougeL", "metric_rougeL"), ("energy_j", "metric_energy_total_J")):
        if b[y]:
            assert abs(float(a[x]) - float(b[y])) <= 1e-9 * max(1, abs(float(b[y]))), (x, a, b)
PY
expect_exit 2 "results tune: no such tuning" -- "$J" results tune 999
# A stored tuning's report, by its id.
expect_exit 0 "report --tune ID" -- "$J" report --tune "$TID" -o "$TMP/tune.html"
grep -q "<svg" "$TMP/tune.html" && ok || bad "report --tune ID: no chart"
expect_exit 2 "report --tune unknown ID" -- "$J" report --tune 999 -o "$TMP/x.html"
expect_in "$TMP/err" "joule results tune lists them" "report --tune: says where ids are"

# Multi-objective search: TPE splits by Pareto rank (the setting is kept).
expect_exit 0 "tune --search pareto" -- "$J" tune $BASE --trials 6 --search pareto \
    --out "$TMP/p" -q
[ "$(wc -l <"$TMP/p/trials.csv")" -eq 7 ] && ok || bad "pareto search: 6 trials"
grep -q '"search": "pareto"' "$TMP/p/settings.json" && ok || bad "pareto search: in settings"
expect_exit 2 "tune --search bad" -- "$J" tune $BASE --search best --out "$TMP/d"

# The same seed proposes the same configurations; another seed others.
expect_exit 0 "tune same seed" -- "$J" tune $BASE --trials 6 --out "$TMP/b" -q
expect_exit 0 "tune other seed" -- "$J" tune $BASE --trials 6 --out "$TMP/c" --seed 9 -q
cfgs() { cut -d, -f1,3-6 "$1"; }
cfgs "$TMP/a/trials.csv" >"$TMP/a.cfg"
cfgs "$TMP/b/trials.csv" >"$TMP/b.cfg"
cfgs "$TMP/c/trials.csv" >"$TMP/c.cfg"
cmp -s "$TMP/a.cfg" "$TMP/b.cfg" && ok || bad "same seed: other configurations"
cmp -s "$TMP/a.cfg" "$TMP/c.cfg" && bad "another seed: the same configurations" || ok
# A changed setting is refused on resume; --fresh starts over.
expect_exit 2 "resume with other weights" -- "$J" tune $BASE --trials 6 --out "$TMP/a" \
    --energy-weight 2
expect_in "$TMP/err" "--fresh" "resume refused: how to start over"
expect_exit 0 "tune --fresh" -- "$J" tune $BASE --trials 3 --out "$TMP/b" --fresh -q
[ "$(wc -l <"$TMP/b/trials.csv")" -eq 4 ] && ok || bad "--fresh: $(wc -l <"$TMP/b/trials.csv") lines"

# Resume after SIGINT completes the trials of an uninterrupted run.  Accuracy
# alone is the objective here, so promotions do not depend on timing.
ACC="$BASE --max-tokens 12 --trials 8 --tpj-weight 0 --energy-weight 0 -q"
expect_exit 0 "uninterrupted" -- "$J" tune $ACC --out "$TMP/full"
"$J" tune $ACC --out "$TMP/part" >/dev/null 2>"$TMP/part.err" &
pid=$!
i=0
while [ "$(cat "$TMP/part/trials.csv" 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do
    sleep 0.05
    i=$((i + 1))
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] && ok || bad "SIGINT: exit $rc, expected 1"
expect_in "$TMP/part.err" "run the same command again" "SIGINT: how to continue"
n=$(wc -l <"$TMP/part/trials.csv")
[ "$n" -ge 2 ] && [ "$n" -lt 9 ] && ok || bad "SIGINT: $n lines kept"
expect_exit 0 "resume" -- "$J" tune $ACC --out "$TMP/part"
keep() { cut -d, -f1,3-6,15,16 "$1"; }
keep "$TMP/full/trials.csv" >"$TMP/full.k"
keep "$TMP/part/trials.csv" >"$TMP/part.k"
if cmp -s "$TMP/full.k" "$TMP/part.k"; then ok; else
    bad "resume: other trials than the uninterrupted run"
    diff "$TMP/full.k" "$TMP/part.k" >&2
fi

# joule plot draws the result.
expect_exit 0 "plot pareto" -- "$J" plot --kind pareto --csv "$TMP/a/trials.csv" -o "$TMP/p.svg"
expect_in "$TMP/p.svg" "<svg" "plot: an SVG"

# tune evaluate: the seed's evaluate.py.
expect_exit 0 "evaluate" -- "$J" tune evaluate -m "$TMP/m.gguf" --meter "fake:$TMP/meter.txt" \
    --prompt-config '{"style":"role","reasoning":"bounded","format":"bullets","brevity":"word50"}' \
    --dataset summaries --examples 4 --max-tokens 6 -t 1 \
    --per-example-output "$TMP/pe.csv" --summary-output "$TMP/s.json"
python3 - "$TMP/pe.csv" "$TMP/s.json" <<'PY' && ok || bad "evaluate: outputs"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert open(sys.argv[1]).readline().strip() == \
    "doc,ref,pred,rougeL,energy_J,latency_s,tokens_gen", "header"
assert len(rows) == 4, rows
s = json.load(open(sys.argv[2]))
for k in ("mean_rougeL", "mean_energy_J", "total_energy_J", "total_tokens", "tpj",
          "mean_latency_s", "energy_provenance"):
    assert k in s, k
e = [float(r["energy_J"]) for r in rows]
tok = [int(r["tokens_gen"]) for r in rows]
assert all(x > 0 for x in e) and s["energy_provenance"] == "measured", (e, s)
assert abs(s["total_energy_J"] - sum(e)) <= 1e-9 * sum(e), s
assert s["total_tokens"] == sum(tok), s
assert abs(s["tpj"] - sum(tok) / sum(e)) <= 1e-9 * s["tpj"], s
assert abs(s["mean_energy_J"] - sum(e) / 4) <= 1e-9 * sum(e), s
assert abs(s["mean_rougeL"] - sum(float(r["rougeL"]) for r in rows) / 4) < 1e-12, s
assert abs(s["mean_latency_s"] - sum(float(r["latency_s"]) for r in rows) / 4) < 1e-12, s
assert s["prompt_config"]["brevity"] == "word50", s
assert all(r["doc"] and r["ref"] for r in rows), rows
PY
cat >"$TMP/cfg.yaml" <<EOF
# a configuration
style: role
reasoning: bounded
format: bullets
brevity: word50
EOF
expect_exit 0 "evaluate --config" -- "$J" tune evaluate -m "$TMP/m.gguf" \
    --meter "fake:$TMP/meter.txt" --config "$TMP/cfg.yaml" --examples 2 --max-tokens 4 -t 1 \
    --per-example-output "$TMP/pe2.csv" --summary-output "$TMP/s2.json" -b 2
expect_in "$TMP/s2.json" "batch window shared by tokens processed" "evaluate -b 2: split said"

# Bad input: exit 2 with a message, before anything runs.
expect_exit 2 "unknown factor" -- "$J" tune evaluate -m "$TMP/m.gguf" \
    --prompt-config '{"styl":"role"}' --per-example-output "$TMP/x.csv" \
    --summary-output "$TMP/x.json"
expect_in "$TMP/err" "did you mean 'style'" "unknown factor: did you mean"
expect_exit 2 "unknown level" -- "$J" tune evaluate -m "$TMP/m.gguf" \
    --prompt-config '{"style":"rol"}' --per-example-output "$TMP/x.csv" \
    --summary-output "$TMP/x.json"
expect_exit 2 "bad JSON" -- "$J" tune evaluate -m "$TMP/m.gguf" --prompt-config '{"style"' \
    --per-example-output "$TMP/x.csv" --summary-output "$TMP/x.json"
expect_exit 2 "missing dataset" -- "$J" tune evaluate -m "$TMP/m.gguf" \
    --prompt-config '{"style":"role"}' --dataset "$TMP/nope.jsonl" \
    --per-example-output "$TMP/x.csv" --summary-output "$TMP/x.json"
expect_in "$TMP/err" "nope.jsonl" "missing dataset: named"
expect_exit 2 "tune: missing dataset" -- "$J" tune $BASE --dataset "$TMP/nope.jsonl" \
    --out "$TMP/d"
expect_exit 2 "tune: bad task" -- "$J" tune $BASE --task ppl --out "$TMP/d"
expect_exit 2 "tune: bad sampler" -- "$J" tune $BASE --sampler bayes --out "$TMP/d"
expect_exit 2 "tune: no model" -- "$J" tune --out "$TMP/d"
expect_exit 2 "tune: bad eta" -- "$J" tune $BASE --eta 1 --out "$TMP/d"
expect_exit 0 "tune --help" -- "$J" tune --help
expect_in "$TMP/out" "--accuracy-weight" "help: options"
[ -e "$TMP/x.csv" ] && bad "bad input wrote an output" || ok
finish
