#!/bin/sh
# joule serve end to end on a small synthesized model with a scripted meter
# of constant power: health, models, completions (plain and streamed), chat,
# concurrent requests batched together, energy in usage, malformed and
# oversized bodies, limits, API keys, a client leaving mid-stream, /metrics
# as Prometheus text, a bounded load whose /metrics totals match what the
# clients counted, SIGTERM with a summary and exit 0.
J=$1
. "$(dirname "$0")/lib.sh"

expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
    --kv-heads 2 --ffn 128 --vocab 512 --tokenizer spm --type q8_0 --ctx 8192 -o "$TMP/m.gguf"
cat >"$TMP/meter.txt" <<EOF
domain pkg kind=package mode=power
at 0 pkg=50
EOF

# Usage errors: no model, a public address without a key, a bad template.
expect_exit 2 "no model" -- "$J" serve
expect_in "$TMP/err" "give a model" "no model: message"
expect_exit 2 "public host without key" -- "$J" serve -m "$TMP/m.gguf" --host 0.0.0.0 --port 0
expect_in "$TMP/err" "not a loopback address" "public host: message"
expect_exit 2 "bad chat template" -- "$J" serve -m "$TMP/m.gguf" --port 0 --chat-template nope
expect_exit 2 "bad option" -- "$J" serve -m "$TMP/m.gguf" --frobnicate
expect_exit 0 "help" -- "$J" serve --help
expect_in "$TMP/out" "--api-key KEY" "help lists --api-key"

# start_server OUT ARGS...: starts joule serve on a free port; sets PID and PORT.
start_server() {
    out=$1
    shift
    "$J" serve -m "$TMP/m.gguf" --port 0 --threads 1 --meter "fake:$TMP/meter.txt" \
        --interval 5 "$@" >"$out.out" 2>"$out.err" &
    PID=$!
    PORT=
    n=0
    while [ $n -lt 100 ] && [ -z "$PORT" ]; do
        PORT=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out.out")
        [ -z "$PORT" ] && sleep 0.1
        n=$((n + 1))
    done
    if [ -z "$PORT" ]; then bad "server did not start: $(cat "$out.err")"; return 1; fi
    ok
}

# stop_server: SIGTERM, then the exit status must be 0.
stop_server() {
    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    [ "$rc" -eq 0 ] && ok || bad "server exit $rc after SIGTERM"
}

# Long enough generations (1500 tokens) that concurrent ones overlap.
start_server "$TMP/s1" --parallel 4 --max-body 4096 --max-tokens 2000 --ctx 4096 \
    --chat-template chatml
python3 - "$PORT" <<'PY' && ok || bad "serve: the API"
import http.client, json, socket, sys, threading, time, urllib.request, urllib.error

port = int(sys.argv[1])
base = "http://127.0.0.1:%d" % port

def req(path, body=None, headers=None, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    r = urllib.request.Request(base + path, data=data, headers=headers or {}, method=method)
    if data is not None:
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=60) as f:
            return f.status, f.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def check_usage(u, n_out=None):
    assert u["prompt_tokens"] > 0, u
    if n_out is not None:
        assert u["completion_tokens"] == n_out, u
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    assert u["energy_joules"] > 0, u
    assert u["energy_provenance"] == "sampled", u
    assert u["energy_prefill_joules"] > 0 and u["energy_decode_joules"] > 0, u
    assert abs(u["energy_prefill_joules"] + u["energy_decode_joules"] - u["energy_joules"]) < 1e-6, u

st, b = req("/health")
assert st == 200 and json.loads(b)["status"] == "ok", (st, b)
st, b = req("/v1/models")
d = json.loads(b)
assert st == 200 and d["object"] == "list" and d["data"][0]["id"] == "m", d

# A plain completion: tokens, finish, energy with provenance.
st, b = req("/v1/completions", {"prompt": "Hello world", "max_tokens": 8, "ignore_eos": True,
                                "temperature": 0})
assert st == 200, (st, b)
d = json.loads(b)
assert d["object"] == "text_completion" and d["choices"][0]["finish_reason"] == "length", d
check_usage(d["usage"], 8)
greedy = d["choices"][0]["text"]

# Chat, non-streamed.
st, b = req("/v1/chat/completions", {"messages": [{"role": "system", "content": "Be brief."},
                                                  {"role": "user", "content": "Hi"}],
                                     "max_tokens": 5, "ignore_eos": True})
d = json.loads(b)
assert st == 200 and d["object"] == "chat.completion", (st, b)
assert d["choices"][0]["message"]["role"] == "assistant", d
check_usage(d["usage"], 5)

# Multi-turn is refused with a message.
st, b = req("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"},
                                                  {"role": "assistant", "content": "b"},
                                                  {"role": "user", "content": "c"}]})
assert st == 400 and "one user message" in json.loads(b)["error"]["message"], (st, b)

# Streamed completion: SSE events, text equal to the greedy one, [DONE].
def stream(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream"), r.status
    events, done = [], False
    for line in r.read().decode().split("\n\n"):
        if not line.strip():
            continue
        assert line.startswith("data: "), line
        p = line[6:]
        if p == "[DONE]":
            done = True
            continue
        assert not done, "event after [DONE]"
        events.append(json.loads(p))
    c.close()
    assert done, "no [DONE]"
    return events

ev = stream("/v1/completions", {"prompt": "Hello world", "max_tokens": 8, "ignore_eos": True,
                                "temperature": 0, "stream": True,
                                "stream_options": {"include_usage": True}})
text = "".join(e["choices"][0]["text"] for e in ev if e["choices"])
assert text == greedy, (text, greedy)
fin = [e for e in ev if e["choices"] and e["choices"][0]["finish_reason"]]
assert len(fin) == 1 and fin[0]["choices"][0]["finish_reason"] == "length", ev
check_usage(fin[0]["usage"], 8)
assert ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] == 8, ev[-1]

ev = stream("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}],
                                     "max_tokens": 6, "ignore_eos": True, "stream": True})
assert ev[0]["object"] == "chat.completion.chunk" and ev[0]["choices"][0]["delta"]["role"] == "assistant"
assert ev[-1]["choices"][0]["finish_reason"] == "length", ev[-1]

# Concurrent requests: all complete, and they shared decode steps.
results = [None] * 6
def worker(i):
    results[i] = req("/v1/completions", {"prompt": "request %d" % i, "max_tokens": 1500,
                                         "ignore_eos": True})
ts = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for st, b in results:
    assert st == 200, (st, b)
    check_usage(json.loads(b)["usage"], 1500)

# Errors: malformed JSON, wrong types, too many tokens, oversized body, 404, 405.
st, b = req("/v1/completions", b"{not json")
e = json.loads(b)["error"]
assert st == 400 and e["type"] == "invalid_request_error" and "line 1" in e["message"], (st, b)
st, b = req("/v1/completions", {"prompt": 5})
assert st == 400 and "'prompt'" in json.loads(b)["error"]["message"], b
st, b = req("/v1/completions", {"prompt": "x", "max_tokens": 2001})
assert st == 400 and "--max-tokens" in json.loads(b)["error"]["message"], b
st, b = req("/v1/completions", {"prompt": "x", "n": 2})
assert st == 400, b
st, b = req("/v1/completions", {"prompt": "x" * 10000})
assert st == 413 and "--max-body" in json.loads(b)["error"]["message"], (st, b)
st, b = req("/v1/nothing")
assert st == 404, st
st, b = req("/v1/completions")
assert st == 405, st

# A client that leaves mid-stream: its request is cancelled, the server lives.
s = socket.create_connection(("127.0.0.1", port))
body = json.dumps({"prompt": "bye", "max_tokens": 2000, "ignore_eos": True, "stream": True})
s.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
assert s.recv(100).startswith(b"HTTP/1.1 200"), "stream did not start"
s.close()
time.sleep(1.0)
st, b = req("/health")
assert st == 200, st

# /metrics: Prometheus text, every sample of a declared metric.
st, b = req("/metrics")
assert st == 200
declared, types, samples = set(), {}, {}
for line in b.decode().splitlines():
    if line.startswith("# HELP "):
        declared.add(line.split()[2])
    elif line.startswith("# TYPE "):
        types[line.split()[2]] = line.split()[3]
    elif line:
        name = line.split("{")[0].split(" ")[0]
        value = float(line.rsplit(" ", 1)[1])
        base = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
                base = name[: -len(suf)]
        assert base in declared and base in types, "undeclared sample: " + line
        samples[line.rsplit(" ", 1)[0]] = value
assert set(types) == declared, (set(types), declared)
assert samples['joule_http_requests_total{code="200"}'] >= 10, samples
assert samples['joule_http_requests_total{code="413"}'] == 1, samples
assert samples["joule_batch_max"] >= 2, "concurrent requests never shared a step"
assert samples['joule_completions_total{finish="cancelled"}'] >= 1, "the stream was not cancelled"
assert samples['joule_energy_joules_total{domain="pkg",source="fake",provenance="sampled",in_total="1"}'] > 0
assert samples["joule_completion_tokens_total"] >= 8 + 5 + 8 + 6 + 6 * 1500
assert samples["joule_requests_running"] == 0 and samples["joule_requests_queued"] == 0, samples
assert samples['joule_request_duration_seconds_bucket{le="+Inf"}'] == samples["joule_request_duration_seconds_count"]
PY
stop_server
expect_in "$TMP/s1.err" "joule serve: stopped:" "summary on stop"
expect_in "$TMP/s1.err" "(sampled)" "summary energy provenance"

# One running, none queued; a time limit shorter than a long generation.
start_server "$TMP/s2" --parallel 1 --queue 0 --api-key sekrit --max-tokens 8000 --ctx 8192 \
    --timeout 0.5
python3 - "$PORT" <<'PY' && ok || bad "serve: keys, queue, timeout"
import json, sys, threading, urllib.request, urllib.error
base = "http://127.0.0.1:%s" % sys.argv[1]
def req(path, body=None, key=None):
    r = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode())
    if key is not None:
        r.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(r, timeout=60) as f:
            return f.status, f.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
assert req("/health")[0] == 200            # /health needs no key
assert req("/v1/models")[0] == 401          # no key
assert req("/v1/models", key="wrong")[0] == 401
assert req("/v1/models", key="sekri")[0] == 401
assert req("/v1/models", key="sekrit")[0] == 200
st, b = req("/metrics")
assert st == 401, st
# One running, none queued: a second request at the same time gets 429,
# and the long one runs into the 0.5 s time limit: 504.
out = {}
def long():
    out["long"] = req("/v1/completions", {"prompt": "x", "max_tokens": 8000, "ignore_eos": True}, "sekrit")
t = threading.Thread(target=long)
t.start()
import time
time.sleep(0.15)
st, b = req("/v1/completions", {"prompt": "y", "max_tokens": 4}, "sekrit")
assert st == 429 and json.loads(b)["error"]["type"] == "rate_limit_error", (st, b)
t.join()
st, b = out["long"]
assert st == 504 and "--timeout" in json.loads(b)["error"]["message"], (st, b)
st, b = req("/metrics", key="sekrit")
assert b"joule_request_timeouts_total 1" in b, b
PY
stop_server

# A bounded load: 6 clients for 3 s, each sending small completions (half of
# them streamed) in a closed loop; no crash, every response valid, and the
# /metrics totals equal what the clients counted.
start_server "$TMP/s4" --parallel 4 --queue 64
python3 - "$PORT" <<'PY' && ok || bad "serve: bounded load, metrics consistent"
import http.client, json, sys, threading, time

port = int(sys.argv[1])

def metrics():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out

before = metrics()
counts = {"ok": 0, "tokens": 0, "bad": []}
lock = threading.Lock()
stop = time.time() + 3.0

def client(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    k = 0
    while time.time() < stop:
        stream = (i + k) % 2 == 1
        body = json.dumps({"prompt": "load %d %d" % (i, k), "max_tokens": 4 + k % 5,
                           "ignore_eos": True, "stream": stream,
                           "stream_options": {"include_usage": True}})
        c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        k += 1
        try:
            assert r.status == 200, (r.status, data[:200])
            if stream:
                events = [l[6:] for l in data.decode().split("\n") if l.startswith("data: ")]
                assert events[-1] == "[DONE]", events[-3:]
                usage = [json.loads(e)["usage"] for e in events[:-1]
                         if json.loads(e).get("usage")][-1]
            else:
                usage = json.loads(data)["usage"]
            assert usage["completion_tokens"] == 4 + (k - 1) % 5, usage
            assert usage["energy_joules"] > 0 and usage["energy_provenance"] == "sampled", usage
            with lock:
                counts["ok"] += 1
                counts["tokens"] += usage["completion_tokens"]
        except AssertionError as e:
            with lock:
                counts["bad"].append(repr(e))

threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
after = metrics()
assert not counts["bad"], counts["bad"][:3]
assert counts["ok"] >= 12, counts
d = lambda k: after.get(k, 0) - before.get(k, 0)
# The first metrics scrape itself is one more 200 between the two snapshots.
assert d('joule_http_requests_total{code="200"}') == counts["ok"] + 1, (d('joule_http_requests_total{code="200"}'), counts)
assert d("joule_completion_tokens_total") == counts["tokens"], (d("joule_completion_tokens_total"), counts)
assert d('joule_completions_total{finish="length"}') == counts["ok"], counts
assert after["joule_requests_running"] == 0 and after["joule_requests_queued"] == 0, after
print("load: %d requests, %d tokens in 3 s" % (counts["ok"], counts["tokens"]), file=sys.stderr)
PY
stop_server

# JOULE_API_KEY from the environment; a public host with a key is allowed.
JOULE_API_KEY=envkey start_server "$TMP/s3" --host 127.0.0.1
python3 - "$PORT" <<'PY' && ok || bad "serve: JOULE_API_KEY"
import sys, urllib.request, urllib.error
r = urllib.request.Request("http://127.0.0.1:%s/v1/models" % sys.argv[1])
try:
    urllib.request.urlopen(r, timeout=10)
    raise SystemExit("no 401 without a key")
except urllib.error.HTTPError as e:
    assert e.code == 401
r.add_header("Authorization", "Bearer envkey")
assert urllib.request.urlopen(r, timeout=10).status == 200
PY
stop_server

finish
