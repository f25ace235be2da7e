#!/bin/sh
# joule plot end to end: a results database made with a scripted energy
# source (a run with its timeline, a sweep over batch size and precision,
# a compare with accuracy) and an EAPO trials CSV; every kind as PNG and
# SVG, checked structurally (PNG header and size; SVG parsed as XML with
# one marker path per data point); bad input refused with a clear message.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_DB="$TMP/results.db"
export JOULE_CACHE_DIR="$TMP/cache"
expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
    --kv-heads 2 --ffn 128 --vocab 512 --ctx 1024 --tokenizer spm --type f32 -o "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
SET="--set protocol.meter_sources=fake:$TMP/meter.txt --set protocol.idle_s=0.1
     --set protocol.min_window_s=0 --set protocol.cycles=2 --set dataset.sample_size=4
     --set max_output_tokens=4"

# Experiment 1: three cycles with the power timeline stored.
expect_exit 0 "run --timeline" -- "$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 \
    --max-tokens 4 --cycles 3 --meter "fake:$TMP/meter.txt" --interval 20 --idle 0.1 \
    --min-window 0.3 --warmup 1 --timeline --quiet
# Experiments 2-5: a sweep; 6-9: a compare (scored).
expect_exit 0 "sweep" -- "$J" sweep - --set model="$TMP/m.gguf" --vary batch_size=1,2 \
    --vary precision=q8_0,q4_0 $SET --quiet --in-order
expect_exit 0 "compare" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q4_0 --batch 1,2 \
    $SET --quiet --eval-samples 4
cat >"$TMP/trials.csv" <<'EOF'
trial,prompt_config,metric_rougeL,metric_energy_total_J,metric_tokens_total,metric_tpj
0,"{""style"": ""role"", ""format"": ""bullets""}",0.20,50,100,2
1,"{""style"": ""plain"",
""format"": ""prose""}",0.30,80,100,1.25
2,"{}",0.25,90,100,1.1
3,"{}",0.35,NaN,100,
4,"{}",0.40,120,100,0.83
EOF

# check FILE FORMAT [W H]: the picture is complete and well formed; for SVG,
# the marker paths number the points the text alternative (in $TMP/out) states.
check() {
    python3 - "$@" "$TMP/out" <<'PY' && ok || bad "check $*"
import re, struct, sys
import xml.etree.ElementTree as ET
path, fmt = sys.argv[1], sys.argv[2]
out = open(sys.argv[-1]).read()
data = open(path, "rb").read()
if fmt == "png":
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert (w, h) == (int(sys.argv[3]), int(sys.argv[4])), (w, h)
    assert data[-8:-4] == b"IEND"
else:
    root = ET.fromstring(data)  # raises when not well formed
    assert root.tag.endswith("svg"), root.tag
    ns = "{http://www.w3.org/2000/svg}"
    markers = [p for p in root.iter(ns + "path") if "fill-opacity:0.85" in p.get("style", "")]
    stated = sum(int(n) for n in re.findall(r"(\d+) points", out))
    # A line of more than 120 points is drawn without markers (charts.c,
    # JOULE_CHART_MARK_MAX): a timeline's sample count depends on the machine.
    assert stated > 0 and (len(markers) == stated or (len(markers) == 0 and stated > 120)), \
        (len(markers), stated, out)
assert ("wrote " + path) in out, out
PY
}

# timeline: one series, 3 cycles -> 6 window markers; constant 40 W.
expect_exit 0 "timeline png" -- "$J" plot 1 -o "$TMP/t.png"
check "$TMP/t.png" png 800 500
python3 - "$TMP/out" <<'PY' && ok || bad "timeline: the fake meter's 40 W (from a counter sampled)"
import re, sys
lo, hi = map(float, re.search(r"power \(W\) from ([\d.]+) to ([\d.]+)", open(sys.argv[1]).read()).groups())
assert 30 < lo <= 40 <= hi < 50, (lo, hi)
PY
expect_in "$TMP/out" "6 vertical markers" "timeline: window start and end of 3 cycles"
expect_in "$TMP/out" "1 series (pkg)" "timeline: one line per domain"
expect_exit 0 "timeline svg" -- "$J" plot 1 --kind timeline -o "$TMP/t.svg" --title "My #1 run"
check "$TMP/t.svg" svg
expect_in "$TMP/out" "My #1 run: " "timeline: the title given"

# sweep: two panels, a line per precision over batch 1, 2.
expect_exit 0 "sweep png" -- "$J" plot --sweep 2-5 -o "$TMP/s.png"
check "$TMP/s.png" png 800 1000
expect_exit 0 "sweep svg" -- "$J" plot --sweep 2,3,4,5 --kind sweep -o "$TMP/s.svg"
check "$TMP/s.svg" svg
expect_in "$TMP/out" "2 panels" "sweep: energy and throughput panels"
expect_in "$TMP/out" "2 series (q8_0, q4_0), 4 points, with error bars" "sweep: series"
expect_in "$TMP/out" "against batch size (sequences) from 1 to 2" "sweep: x axis"

# pareto from a compare: perplexity against J/1k tokens, frontier.
expect_exit 0 "pareto png" -- "$J" plot --compare 6-9 -o "$TMP/p.png"
check "$TMP/p.png" png 800 500
expect_exit 0 "pareto svg" -- "$J" plot --compare 6-9 --kind pareto -o "$TMP/p.svg"
check "$TMP/p.svg" svg
expect_in "$TMP/out" "against perplexity (lower is better)" "pareto: the task's score"
expect_in "$TMP/out" "2 series (f16, q4_0), 4 points, with Pareto frontier" "pareto: series"

# pareto from a trials CSV: the NaN trial left out (noted), the frontier.
expect_exit 0 "pareto csv png" -- "$J" plot --csv "$TMP/trials.csv" -o "$TMP/c.png"
check "$TMP/c.png" png 800 500
expect_in "$TMP/err" "1 trial without accuracy or energy left out" "csv: skipped trial noted"
expect_exit 0 "pareto csv svg" -- "$J" plot --csv "$TMP/trials.csv" -o "$TMP/c.svg"
check "$TMP/c.svg" svg
expect_in "$TMP/out" "from 500 to 1.2e+03 against ROUGE-L F1" "csv: J per 1k tokens"
expect_in "$TMP/out" "1 series (trials), 4 points, with Pareto frontier" "csv: series"

# Any two columns of a CSV (the seed's plot): a series per label, the top
# rows by `value` annotated, jittered markers, the frontier on true values.
cat >"$TMP/eapo.csv" <<'EOF'
number,value,cfg_style,metric_rougeL,metric_energy_total_J
0,-0.5,concise,0.20,50
1,-0.6,role,0.30,80
2,-0.9,role,0.25,90
3,-0.2,stepwise,0.40,120
4,-0.4,concise,0.40,60
EOF
expect_exit 0 "csv x/y" -- "$J" plot --csv "$TMP/eapo.csv" --x metric_energy_total_J \
    --y metric_rougeL --label cfg_style --annotate-topk 2 --jitter-frac 0.02 --out "$TMP/xy.svg"
check "$TMP/xy.svg" svg
expect_in "$TMP/out" "3 series (concise, role, stepwise), 5 points, with Pareto frontier, the 2 best labelled" \
    "csv x/y: series per label, annotations"
expect_in "$TMP/out" "metric_energy_total_J (lower is better)" "csv x/y: direction of x"
expect_in "$TMP/out" "metric_rougeL (higher is better)" "csv x/y: direction of y"
python3 - "$TMP/xy.svg" <<'PY' && ok || bad "csv x/y: a frontier line"
import sys, xml.etree.ElementTree as ET
# PLplot draws the dashed frontier as short grey strokes (the neutral colour).
root = ET.parse(sys.argv[1]).getroot()
grey = [p for p in root.iter("{http://www.w3.org/2000/svg}path")
        if "stroke:rgb(31.372549%,31.372549%,31.372549%)" in p.get("style", "")]
assert len(grey) > 10, len(grey)
PY
expect_exit 0 "csv x/y png" -- "$J" plot --csv "$TMP/eapo.csv" --x metric_energy_total_J \
    --y metric_rougeL -o "$TMP/xy.png"
check "$TMP/xy.png" png 800 500
expect_exit 2 "csv x/y: unknown column" -- "$J" plot --csv "$TMP/eapo.csv" --x energy \
    --y metric_rougeL -o "$TMP/x.svg"
expect_in "$TMP/err" "no column 'energy' (the columns: number, value, cfg_style" \
    "csv x/y: names the columns"
expect_exit 2 "csv x without y" -- "$J" plot --csv "$TMP/eapo.csv" --x value -o "$TMP/x.svg"
expect_exit 2 "label without x/y" -- "$J" plot --csv "$TMP/eapo.csv" --label cfg_style \
    -o "$TMP/x.svg"

# A sweep and a compare are stored with their experiments: one id names them.
expect_exit 0 "sweep by its id" -- "$J" plot --sweep 1 -o "$TMP/g1.svg"
sed 's/wrote .*//' "$TMP/out" >"$TMP/g1.txt"
expect_exit 0 "sweep by its ids" -- "$J" plot --sweep 2-5 -o "$TMP/g2.svg"
sed 's/wrote .*//' "$TMP/out" >"$TMP/g2.txt"
sed -i 's/experiments [0-9, -]*//' "$TMP/g1.txt" "$TMP/g2.txt"
cmp -s "$TMP/g1.txt" "$TMP/g2.txt" && ok || bad "--sweep 1 is experiments 2-5"
expect_exit 0 "compare by its id" -- "$J" plot --compare 2 -o "$TMP/g3.svg"
expect_in "$TMP/out" "4 points" "--compare 2 (ids count sweeps and compares together): its 4 configurations"

# latency: a CDF per experiment, from a run, a sweep or a compare.
expect_exit 0 "latency png" -- "$J" plot 1 --kind latency -o "$TMP/l.png"
check "$TMP/l.png" png 800 500
expect_exit 0 "latency svg" -- "$J" plot --compare 6-9 --kind latency -o "$TMP/l.svg"
check "$TMP/l.svg" svg
expect_in "$TMP/out" "Step chart of fraction of requests" "latency: a CDF"
expect_in "$TMP/out" "4 series (#6 f16 b1, #7 f16 b2, #8 q4_0 b1, #9 q4_0 b2)" "latency: series"
expect_exit 0 "latency of a sweep" -- "$J" plot --sweep 2-5 --kind latency -o "$TMP/l2.svg"
check "$TMP/l2.svg" svg

# Errors: the message names the problem; 2 for input, 1 for the output file.
expect_exit 2 "unknown experiment" -- "$J" plot 99 -o "$TMP/x.png"
expect_in "$TMP/err" "no experiment 99" "unknown experiment: said"
expect_exit 2 "kind does not fit" -- "$J" plot 1 --kind pareto -o "$TMP/x.png"
expect_in "$TMP/err" "a pareto chart does not fit an experiment ID (it fits: timeline, latency)" \
    "kind does not fit: said"
expect_exit 2 "csv is pareto only" -- "$J" plot --csv "$TMP/trials.csv" --kind sweep -o "$TMP/x.png"
expect_exit 2 "unknown kind" -- "$J" plot 1 --kind pie -o "$TMP/x.png"
expect_exit 2 "no timeline stored" -- "$J" plot 2 -o "$TMP/x.png"
expect_in "$TMP/err" "experiment 2 has no stored power timeline: run it with --timeline" \
    "no timeline: said"
expect_exit 2 "pareto without scores" -- "$J" plot --compare 2-3 -o "$TMP/x.png"
expect_in "$TMP/err" "experiment 2 has no accuracy score" "no score: said"
expect_exit 2 "bad id list" -- "$J" plot --sweep 3-a -o "$TMP/x.png"
expect_exit 2 "two sources" -- "$J" plot 1 --sweep 2-5 -o "$TMP/x.png"
expect_exit 2 "no source" -- "$J" plot -o "$TMP/x.png"
expect_exit 2 "no output" -- "$J" plot 1
expect_exit 2 "unknown format" -- "$J" plot 1 -o "$TMP/x.jpg"
expect_in "$TMP/err" "name the file .png or .svg" "unknown format: said"
expect_exit 1 "unwritable output" -- "$J" plot 1 -o "$TMP/no/such/dir/x.png"
expect_in "$TMP/err" "cannot write $TMP/no/such/dir/x.png: No such file or directory" \
    "unwritable: said"
expect_exit 2 "no database" -- "$J" plot 1 -o "$TMP/x.png" --db "$TMP/none.db"
expect_in "$TMP/err" "no results database at $TMP/none.db" "no database: said"
[ ! -e "$TMP/x.png" ] && ok || bad "errors: no picture written"

printf 'trial,metric_energy_total_J,metric_tokens_total\n0,1,2\n' >"$TMP/nocol.csv"
expect_exit 2 "csv: missing column" -- "$J" plot --csv "$TMP/nocol.csv" -o "$TMP/x.png"
expect_in "$TMP/err" "nocol.csv:1: no column metric_rougeL" "missing column: file and line"
printf 'metric_rougeL,metric_tpj\n0.1,2\n"x\n0.2,3\n' >"$TMP/quote.csv"
expect_exit 2 "csv: open quote" -- "$J" plot --csv "$TMP/quote.csv" -o "$TMP/x.png"
expect_in "$TMP/err" "quote.csv:3: a quote is not closed" "open quote: file and line"
printf 'metric_rougeL,metric_tpj\n0.1,2\n\n0.2,fast\n' >"$TMP/text.csv"
expect_exit 2 "csv: not a number" -- "$J" plot --csv "$TMP/text.csv" -o "$TMP/x.png"
expect_in "$TMP/err" "text.csv:4: metric_tpj: 'fast' is not a number" "not a number: file and line"
expect_exit 2 "csv: missing file" -- "$J" plot --csv "$TMP/none.csv" -o "$TMP/x.png"
expect_in "$TMP/err" "none.csv: No such file" "missing csv: said"

expect_exit 0 "help" -- "$J" plot --help
expect_in "$TMP/out" "--kind K" "help: options"
expect_exit 0 "listed" -- "$J" --help
expect_in "$TMP/out" "plot" "joule --help lists plot"
finish
