#!/bin/sh
# joule report end to end: a results database made with a scripted energy
# source (a run with its timeline and a name full of markup, a sweep, a
# compare with accuracy) and a hand-written trials CSV; each report is
# checked as HTML and as XML (well formed, no script, no network
# reference, unique ids), every chart's markers are counted against its
# text alternative, every figure of the summary is compared with
# `joule results show ID --json`; then chromium, when installed, renders
# each report and the screenshot must not be blank.
#   JOULE_TEST_BROWSER=required (CI): a missing chromium fails the test.
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
EVIL='<script>alert(1)</script>&"x'\''<b>'

# Experiment 1: three cycles with the power timeline, a name of markup.
expect_exit 0 "run --timeline" -- "$J" run -m "$TMP/m.gguf" -d questions -n 4 -b 2 \
    --max-tokens 4 --cycles 3 --meter "fake:$TMP/meter.txt" --interval 20 --idle 0.1 \
    --min-window 0.3 --warmup 1 --timeline --quiet --name "$EVIL"
# Experiments 2-5: a sweep; 6-9: a compare (scored).
expect_exit 0 "sweep" -- "$J" sweep - --set model="$TMP/m.gguf" --vary batch_size=1,2 \
    --vary precision=q8_0,q4_0 $SET --quiet --in-order
expect_exit 0 "compare" -- "$J" compare -m "$TMP/m.gguf" --precisions f16,q4_0 --batch 1,2 \
    $SET --quiet --eval-samples 4
for id in 1 2 3 4 5 6 7 8 9; do
    "$J" results show $id --json >"$TMP/show$id.json" || bad "results show $id"
done

# A trials CSV with the columns of src/tune/trials.h (two factors), a
# failed trial, and markup in a level name.
cat >"$TMP/trials.csv" <<'EOF'
number,value,cfg_style,cfg_format,metric_rougeL,metric_energy_total_J,metric_tpj,metric_latency_s,metric_tokens_total,metric_energy_J_per_ex,metric_exact,metric_numeric,n_examples,state,pareto_rank,energy_source
0,0.20,role,bullets,0.20,50,2,0.5,100,12.5,,,4,COMPLETE,1,measured
1,0.30,plain,prose,0.30,80,1.25,0.6,100,20,,,4,COMPLETE,1,measured
2,0.25,plain,bullets,0.25,90,1.11,0.7,100,22.5,,,4,COMPLETE,2,measured
3,,"<script>&""",prose,,,,,,,,,2,FAIL,0,
4,0.40,cot,prose,0.40,120,0.83,0.9,100,30,,,4,COMPLETE,1,measured
EOF

expect_exit 0 "report run" -- "$J" report 1 -o "$TMP/run.html"
expect_in "$TMP/out" "wrote $TMP/run.html (2 charts" "run: two charts (timeline, latency)"
expect_exit 0 "report sweep" -- "$J" report --sweep 2-5 -o "$TMP/sweep.html"
expect_in "$TMP/out" "(2 charts" "sweep: two charts (sweep, latency)"
expect_exit 0 "report compare" -- "$J" report --compare 6,7,8,9 -o "$TMP/compare.html" \
    --title "Compare $EVIL"
expect_in "$TMP/out" "(3 charts" "compare: three charts (pareto, sweep, latency)"
expect_exit 0 "report tune" -- "$J" report --tune "$TMP/trials.csv" -o "$TMP/tune.html"
expect_in "$TMP/out" "(1 chart," "tune: one chart"
expect_exit 0 "report run without timeline" -- "$J" report 2 -o "$TMP/run2.html"
expect_in "$TMP/run2.html" "No timeline chart: experiment 2 has no stored power timeline" \
    "run without timeline: said in the report"

# check KIND FILE IDS...: the structure of one report, and its figures
# against the database.
check() {
    python3 - "$TMP" "$@" <<'PY' && ok || bad "check $*"
import json, math, re, sys
from html.parser import HTMLParser
import xml.etree.ElementTree as ET

tmp, kind, path, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
raw = open(path, encoding="utf-8").read()
errors = []
def need(cond, what):
    if not cond:
        errors.append(what)

# Well formed as HTML: every element closed in order.
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "area", "base", "wbr", "source"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.ids, self.attrs = [], [], []
    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
    def handle_endtag(self, tag):
        if tag in VOID:
            return
        need(self.stack and self.stack[-1] == tag, "</%s> closes <%s>" % (tag, self.stack[-1:]))
        if self.stack:
            self.stack.pop()
p = P()
p.feed(raw)
p.close()
need(not p.stack, "unclosed: %s" % p.stack)
# ... and as XML (the report is XHTML-compatible), which checks entities too.
root = ET.fromstring(raw.split("\n", 1)[1] if raw.startswith("<!DOCTYPE") else raw)
# No script, no network.
need("<script" not in raw.lower(), "a <script")
for tag, a in p.attrs:
    need(not tag.startswith("on") and not any(k.startswith("on") for k in a), "event handler")
    for k in ("src", "href", "xlink:href", "action", "data"):
        v = (a.get(k) or "").strip().lower()
        need(not re.match(r"^(https?:|//|ftp:|javascript:)", v), "%s=%r on <%s>" % (k, v, tag))
    need(tag not in ("link", "iframe", "object", "embed", "img", "script"), "<%s>" % tag)
need(not re.search(r"url\(\s*['\"]?(https?:|//)", raw), "a url() to the network")
need("@import" not in raw, "@import")
ids_seen = [a["id"] for _, a in p.attrs if "id" in a]
need(len(ids_seen) == len(set(ids_seen)), "duplicate ids")
need("viewport" in raw and "@media print" in raw and "max-width:100%" in raw, "responsive css")

# Charts: figure > svg[role=img] with <title>, figcaption; markers counted.
SVG = "{http://www.w3.org/2000/svg}"
def strip(t):
    return t.split("}")[-1]
figs = [f for f in root.iter() if strip(f.tag) == "figure"]
for f in figs:
    svgs = [s for s in f if strip(s.tag) == "svg"]
    need(len(svgs) == 1, "one svg per figure")
    s = svgs[0]
    need(s.get("role") == "img", "svg role=img")
    titles = [t for t in s if strip(t.tag) == "title"]
    need(titles and titles[0].get("id") == s.get("aria-labelledby"), "svg title labels it")
    alt = titles[0].text if titles else ""
    need(any(strip(c.tag) == "figcaption" for c in f), "figcaption")
    markers = [q for q in s.iter(SVG + "path") if "fill-opacity:0.85" in q.get("style", "")]
    stated = sum(int(n) for n in re.findall(r"(\d+) points", alt))
    # A line of more than 120 points is drawn without markers (JOULE_CHART_MARK_MAX).
    need(stated > 0 and (len(markers) == stated or (len(markers) == 0 and stated > 120)),
         "markers %d, stated %d: %s" % (len(markers), stated, alt))
    need(re.search(r"\(W\)|\(s\)|\(J/|tokens/s|\(0 to 1\)|lower is better", alt or ""),
         "units in the text alternative")
want = {"run": 2, "sweep": 2, "compare": 3, "tune": 1}[kind]
need(len(figs) == want, "%d figures, not %d" % (len(figs), want))

# Figures of the summary against the database.
def close(a, b):
    return (a is None and math.isnan(b)) or (a is not None and abs(a - b) <= 1e-9 * max(1, abs(a)))
def shown(text, v):
    m = re.match(r"\s*[★]?\s*([-+0-9.e]+)", text)
    return m and float(m.group(1)) == float("%.4g" % v)
def text_of(e):
    return "".join(e.itertext())
checked = 0
if kind in ("run", "sweep", "compare"):
    shows = {i: json.load(open("%s/show%s.json" % (tmp, i))) for i in ids}
    summ = {i: {r["metric"]: r for r in shows[i]["summary"]} for i in ids}
    for e in root.iter():
        m = e.get("data-metric")
        if not m:
            continue
        # the experiment: the row's data-id, or the only one
        owner = None
        for row in root.iter():
            if row.get("data-id") and any(x is e for x in row.iter()):
                owner = row.get("data-id")
        if owner is None:
            # one experiment, or the cards and the verdict of the least-energy one
            owner = min(ids, key=lambda i: summ[i]["ept_out_j_per_tok"]["mean"])
        r = summ[owner][m]
        need(close(r["mean"], float(e.get("data-mean"))), "%s of %s: %s != %s"
             % (m, owner, e.get("data-mean"), r["mean"]))
        cell = text_of(e)
        # shown to 4 digits of the stored double (the JSON has 15)
        v = float(e.get("data-mean"))
        need(shown(cell, v), "%s of %s shown as %r, not %.4g" % (m, owner, cell, v))
        if e.get("data-ci") and r["ci95"] is not None:
            need(close(r["ci95"], float(e.get("data-ci"))), "%s ci %s" % (m, e.get("data-ci")))
            need("± %.2g" % float(e.get("data-ci")) in cell, "%s ci %r" % (m, cell))
        checked += 1
    need(checked >= (11 + 6 if kind == "run" else 6 * len(ids) + 7), "only %d figures" % checked)
    # The least-energy configuration is the one marked.
    if kind != "run":
        best = min(ids, key=lambda i: summ[i]["ept_out_j_per_tok"]["mean"])
        rows = [e for e in root.iter() if e.get("class") == "best"]
        need(len(rows) == 1 and rows[0].get("data-id") == best, "best row %s" % best)
        v = [e for e in root.iter() if e.get("id") == "verdict"]
        need(v and ("experiment %s (" % best) in text_of(v[0]), "verdict names %s" % best)
    # Methodology and environment from the info of the first experiment.
    info = shows[ids[0]]["info"]
    env = json.loads(info["environment"])
    for k in ("cpu", "kernel", "joule", "threads"):
        need(str(env[k]) in raw, "environment %s" % k)
    for m in json.loads(info["meter"]):
        need(">%s</strong>" % m["provenance"] in raw, "meter provenance")
    need(info["model_name"] in raw, "model name")
    for k in ("methodology", "environment", "summary", "charts"):
        need(any(e.get("id") == k for e in root.iter()), "section %s" % k)
else:
    need("trial 0" in raw and "0.2" in raw, "least-energy trial (0: 500 J/1k)")
    v = [e for e in root.iter() if e.get("id") == "verdict"][0]
    need("trial 0" in text_of(v) and "500 J per" in text_of(v), text_of(v))
    need("most accurate is trial 4" in text_of(v), text_of(v))
    table = [e for e in root.iter() if e.get("id") == "trials"][0]
    rows = [e for e in table.iter() if strip(e.tag) == "tr"]
    need(len(rows) == 6, "a row per trial and the header: %d" % len(rows))
    need("&lt;script&gt;&amp;&quot;" in raw, "csv cell escaped")
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
PY
}

check run "$TMP/run.html" 1
check sweep "$TMP/sweep.html" 2 3 4 5
check compare "$TMP/compare.html" 6 7 8 9
check tune "$TMP/tune.html"
expect_in "$TMP/run.html" "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x&#39;&lt;b&gt;" \
    "run: the name escaped"
expect_in "$TMP/compare.html" "<title>Compare &lt;script&gt;" "compare: the title escaped"
expect_in "$TMP/run.html" "Power of experiment 1" "run: the timeline"
expect_in "$TMP/compare.html" "Pareto frontier" "compare: the frontier"
expect_in "$TMP/compare.html" "perplexity (lower is better)" "compare: the accuracy axis"
expect_in "$TMP/sweep.html" "Least energy per output token: experiment" "sweep: the verdict"

# Errors: 2 for input, 1 for the output file; no report left behind.
expect_exit 2 "unknown experiment" -- "$J" report 99 -o "$TMP/x.html"
expect_in "$TMP/err" "no experiment 99" "unknown experiment: said"
expect_exit 2 "no source" -- "$J" report -o "$TMP/x.html"
expect_exit 2 "no output" -- "$J" report 1
expect_exit 2 "two sources" -- "$J" report 1 --sweep 2-5 -o "$TMP/x.html"
expect_exit 2 "bad id list" -- "$J" report --compare 6-x -o "$TMP/x.html"
expect_exit 2 "missing csv" -- "$J" report --tune "$TMP/none.csv" -o "$TMP/x.html"
printf 'trial,metric_energy_total_J\n0,1\n' >"$TMP/nocol.csv"
expect_exit 2 "csv without a column" -- "$J" report --tune "$TMP/nocol.csv" -o "$TMP/x.html"
expect_in "$TMP/err" "nocol.csv:1: no column metric_rougeL" "csv: file and line"
expect_exit 1 "unwritable output" -- "$J" report 1 -o "$TMP/no/such/dir/r.html"
[ ! -e "$TMP/x.html" ] && ok || bad "errors: no report written"
ls "$TMP" | grep -q '\.chart' && bad "temporary charts left" || ok
expect_exit 0 "help" -- "$J" report --help
expect_in "$TMP/out" "--compare IDS" "help: options"

# The browser: chromium renders each report; the screenshot is not blank.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    if [ "${JOULE_TEST_BROWSER:-}" = required ]; then
        bad "browser test: chromium is not installed (scripts/install-deps --browser)"
    else
        echo "browser test: skipped (no chromium; scripts/install-deps --browser installs it)"
    fi
else
    # shot HTML PNG WxH
    shot() {
        prof=$(mktemp -d "$TMP/chromium.XXXXXX")
        timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$prof" --screenshot="$2" --window-size="$3" "file://$1" \
            >"$TMP/chromium.log" 2>&1
        python3 - "$2" <<'PY' && ok || { bad "browser: $1 ($3)"; tail -5 "$TMP/chromium.log" >&2; }
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, hdr = 8, b"", None
while pos < len(data):
    n, t = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif t == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype = hdr[:4]
assert depth == 8 and ctype in (2, 6), hdr
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows = bytearray(stride), []
# The top 400 rows (title, summary, cards) are enough to tell a page from a
# blank one, and pure Python decodes them in a fraction of a second.
h = min(h, 400)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
pixels = set()
ink = 0
for r in rows[::4]:
    for x in range(0, stride, bpp * 4):
        px = r[x:x + 3]
        pixels.add(px)
        ink += px != b"\xff\xff\xff"
# Not blank: many colours (text, the palette), and ink on a good part of it.
assert len(pixels) > 16 and ink > 0.02 * (h // 4) * (w // 4), (len(pixels), ink)
PY
    }
    for r in run sweep compare tune; do
        shot "$TMP/$r.html" "$TMP/$r.png" 1000,1400
    done
    shot "$TMP/compare.html" "$TMP/phone.png" 390,844
fi
finish
