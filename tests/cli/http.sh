#!/bin/sh
# The http and command backends end to end: joule run against a real
# `joule serve` on 127.0.0.1 (already running, and managed: started and
# stopped by joule), streamed and not, concurrency 1 and 4; a managed
# sweep over concurrency 1,4,16 with its comparison table; faults from a
# stub server (500, 429, past the timeout, a malformed or cut event
# stream, no usage), a refused connection and a server killed mid-run,
# each a per-request error in a completed experiment; the command backend
# with its JSON line.
J=$1
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

export JOULE_DB="$TMP/results.db"
export JOULE_CACHE_DIR="$TMP/cache"

expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
    --kv-heads 2 --ffn 128 --vocab 512 --ctx 8192 --tokenizer spm --type q8_0 -o "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
FAST="--meter fake:$TMP/meter.txt --interval 5 --idle 0 --min-window 0 --warmup 0 --cycles 1"

# check DESC EXPR: a python expression over the last experiment: status,
# flags, env (JSON text), m[metric], reqs[] rows (finish, error, tokens,
# n_output).
check() {
    python3 - "$JOULE_DB" "$2" <<'PY' && ok || bad "$1"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
i = c.execute("SELECT max(id) FROM experiments").fetchone()[0]
name, status, flags, env = c.execute(
    "SELECT name, status, flags, environment_json FROM experiments WHERE id = ?",
    (i,)).fetchone()
m = dict(c.execute("SELECT name, value FROM metrics WHERE experiment_id = ?", (i,)))
reqs = c.execute("SELECT finish, error, tokens, n_output FROM requests "
                 "WHERE experiment_id = ? ORDER BY idx", (i,)).fetchall()
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("  status", status, "flags", flags, "\n  metrics", m, "\n  requests", reqs[:4],
          file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# start_server OUT ARGS...: joule serve on a free port; sets PID and PORT.
start_server() {
    out=$1
    shift
    "$J" serve -m "$TMP/m.gguf" --port 0 --threads 1 "$@" >"$out.out" 2>"$out.err" &
    PID=$!
    PORT=
    n=0
    while [ $n -lt 100 ] && [ -z "$PORT" ]; do
        PORT=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out.out")
        [ -z "$PORT" ] && sleep 0.1
        n=$((n + 1))
    done
    [ -n "$PORT" ] && ok || bad "server did not start: $(cat "$out.err")"
}

# --- an already running joule serve ---------------------------------------
start_server "$TMP/s1" --parallel 4 --chat-template chatml --max-tokens 4000 --ctx 8192
URL="http://127.0.0.1:$PORT"
expect_exit 0 "http c1 not streamed" -- "$J" run -m "$TMP/m.gguf" --set backend=http \
    --set http.base_url="$URL" --set http.stream=false -d questions -n 4 --max-tokens 8 $FAST
expect_in "$TMP/out" "[completed]" "http c1: completed"
check "http c1: figures" 'status == "completed" and m["requests_failed"] == 0 and
    m["tokens_out"] > 0 and m["energy_total_j"] > 0 and all(r[2] == "usage" for r in reqs)
    and m["throughput_tok_s"] > 0 and "http c1" in name'
expect_exit 0 "http c4 streamed" -- "$J" run -m "$TMP/m.gguf" --set backend=http \
    --set http.base_url="$URL" --set http.concurrency=4 -d questions -n 12 --max-tokens 16 \
    --ignore-eos $FAST --set http.endpoint=chat
check "http c4 streamed: TTFT, ITL, steady state" 'status == "completed" and
    m["requests_failed"] == 0 and m["tokens_out"] == 12 * 16 and m["ttft_mean_s"] > 0 and
    m["itl_mean_s"] > 0 and m["steady_duration_s"] > 0 and m["steady_energy_j"] > 0 and
    0 < m["steady_tokens_out"] <= m["tokens_out"] and m["steady_j_per_tok"] > 0 and
    m["steady_throughput_tok_s"] > 0'
# A steady window shorter than the minimum window is flagged.
expect_exit 0 "http steady short" -- "$J" run -m "$TMP/m.gguf" --set backend=http \
    --set http.base_url="$URL" --set http.concurrency=2 -d questions -n 4 --max-tokens 4 \
    --meter "fake:$TMP/meter.txt" --interval 5 --idle 0 --min-window 0.3 --warmup 0 --cycles 1
check "steady-state-short flag" '"steady-state-short" in flags'
# Open loop: Poisson arrivals.
expect_exit 0 "http rate" -- "$J" run --set backend=http --set http.base_url="$URL" \
    --set http.rate=50 -d questions -n 6 --max-tokens 4 $FAST
check "http rate: no steady window" 'status == "completed" and m["requests_failed"] == 0
    and "steady_duration_s" not in m and "req/s" in name'
# The server killed mid-run: the rest of the requests fail, the run completes.
(sleep 0.5; kill -9 "$PID") &
KILLER=$!
expect_exit 0 "server killed mid-run" -- "$J" run --set backend=http \
    --set http.base_url="$URL" -d questions -n 60 --max-tokens 200 --ignore-eos $FAST
wait "$KILLER"
wait "$PID" 2>/dev/null
check "killed server: partial results" 'status == "completed" and "requests-failed" in flags
    and 0 < m["requests_failed"] < 60 and any(r[0] == "length" for r in reqs) and
    any(r[0] == "error" and r[1] for r in reqs)'
expect_in "$TMP/out" "requests-failed" "killed server: flag printed"

# --- a managed server -------------------------------------------------------
SERVE="$J serve -m {model} --port {port} --parallel {concurrency} --threads 1"
expect_exit 0 "managed" -- "$J" run -m "$TMP/m.gguf" --set backend=http \
    --set server.command="$SERVE" --set http.concurrency=4 -d questions -n 8 --max-tokens 8 \
    $FAST
check "managed: completed, log kept" 'status == "completed" and m["requests_failed"] == 0 and
    __import__("json").loads(env)["server_log"].startswith(sys.argv[1].rsplit("/", 1)[0])'
LOG=$(python3 -c 'import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
e = c.execute("SELECT environment_json FROM experiments ORDER BY id DESC").fetchone()[0]
print(json.loads(e)["server_log"])' "$JOULE_DB")
expect_in "$LOG" "listening on http://127.0.0.1:" "managed: the server's output in its log"
# Nothing listens any more: the server was stopped.
MPORT=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$LOG")
python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    sys.exit(1)
except OSError:
    sys.exit(0)' "$MPORT" && ok || bad "managed: the server still listens"
# A server that never gets ready fails the run, its log named.
expect_exit 1 "managed: not ready" -- "$J" run --set backend=http \
    --set server.command="echo starting {port}; sleep 30" --set server.startup_timeout_s=0.5 \
    --set server.grace_s=0.2 -d questions -n 2 $FAST
expect_in "$TMP/err" "did not answer 200 within 0.5 s" "managed: not ready message"
expect_in "$TMP/err" "starting" "managed: the log's last line quoted"
expect_exit 2 "managed: no {port}" -- "$J" run --set backend=http \
    --set server.command="sleep 1" -d questions -n 2 $FAST
expect_in "$TMP/err" "{port}" "managed: no {port} message"

# A sweep over concurrency, the server restarted per point.
cat >"$TMP/sweep.yaml" <<YAML
model: $TMP/m.gguf
backend: http
max_output_tokens: 8
dataset:
  name: questions
  sample_size: 16
server:
  command: $SERVE
protocol:
  cycles: 1
  warmup_runs: 0
  idle_s: 0
  min_window_s: 0
  meter_sources: fake:$TMP/meter.txt
  meter_interval_ms: 5
YAML
before=$(ls "$TMP/server-logs" | wc -l)
expect_exit 0 "managed sweep" -- "$J" sweep "$TMP/sweep.yaml" --vary http.concurrency=1,4,16 \
    --in-order
expect_in "$TMP/out" "http.concurrency" "sweep: the varied key is a column"
rows=$(grep -c "completed" "$TMP/out")
[ "$rows" -eq 3 ] && ok || { bad "sweep: $rows completed rows, expected 3"; cat "$TMP/out" >&2; }
after=$(ls "$TMP/server-logs" | wc -l)
[ $((after - before)) -eq 3 ] && ok || bad "sweep: $((after - before)) servers, expected 3"

# --- faults from a stub ------------------------------------------------------
python3 "$HERE/http_stub.py" "$TMP/stub.port" &
STUB=$!
n=0
while [ ! -s "$TMP/stub.port" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
SP=$(cat "$TMP/stub.port")
stub_run() {
    mode=$1
    shift
    expect_exit 0 "stub $mode" -- "$J" run --set backend=http \
        --set http.base_url="http://127.0.0.1:$SP/$mode" -d questions -n 3 $FAST "$@"
}
stub_run 500 --set http.retries=1
check "500: every request failed" 'status == "completed" and m["requests_failed"] == 3 and
    "requests-failed" in flags and all(r[0] == "error" and "HTTP 500: boom" in r[1]
    for r in reqs)'
stub_run 429
check "429" 'm["requests_failed"] == 3 and "HTTP 429: slow down" in reqs[0][1]'
stub_run slow --set http.timeout_s=0.3 --set http.concurrency=3
check "timeout" 'm["requests_failed"] == 3 and "timed out after 0.3 s" in reqs[0][1]'
stub_run badsse
check "malformed stream" 'm["requests_failed"] == 3 and
    "malformed event stream: not JSON" in reqs[0][1]'
stub_run cut
check "cut stream" 'm["requests_failed"] == 3 and "without `data: [DONE]`" in reqs[0][1]'
stub_run ok --set http.stream=false
check "stub ok" 'm["requests_failed"] == 0 and m["tokens_out"] == 3 * 3'
stub_run nousage -m "$TMP/m.gguf"
check "no usage: the local tokenizer counts" 'm["requests_failed"] == 0 and
    all(r[2] == "tokenizer" and r[3] > 0 for r in reqs)'
stub_run nousage
check "no usage, no model: unknown" '"tokens-unknown" in flags and
    all(r[2] == "unknown" for r in reqs)'
kill "$STUB"
wait "$STUB" 2>/dev/null

# A refused connection: no server at all.
FREE=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_exit 0 "connection refused" -- "$J" run --set backend=http \
    --set http.base_url="http://127.0.0.1:$FREE" -d questions -n 2 $FAST
check "connection refused: failed requests" 'm["requests_failed"] == 2 and
    "connect" in reqs[0][1].lower()'
expect_exit 2 "bad base url" -- "$J" run --set backend=http --set http.base_url=ftp://x \
    -d questions -n 2 $FAST
expect_in "$TMP/err" "not an http:// or https:// URL" "bad base url: message"
expect_exit 2 "api key env unset" -- "$J" run --set backend=http \
    --set http.api_key_env=JOULE_TEST_NO_SUCH_KEY -d questions -n 2 $FAST
expect_in "$TMP/err" "JOULE_TEST_NO_SUCH_KEY is not set" "api key env: message"

# --- the command backend ----------------------------------------------------
printf '#!/bin/sh\necho "warming up"\necho %s\n' "'{\"tokens_in\": 12, \"tokens_out\": 34}'" \
    >"$TMP/work.sh"
expect_exit 0 "command" -- "$J" run --set backend=command \
    --set command.run="sh $TMP/work.sh" $FAST
check "command: tokens from the JSON line" 'status == "completed" and m["tokens_in"] == 12 and
    m["tokens_out"] == 34 and m["requests"] == 1 and reqs[0][2] == "command"'
expect_exit 0 "command failing" -- "$J" run --set backend=command \
    --set command.run="echo '{\"tokens_in\": 1, \"tokens_out\": 1}'; exit 3" $FAST
check "command: non-zero exit is a failed request" 'm["requests_failed"] == 1 and
    "exited with status 3" in reqs[0][1] and "requests-failed" in flags'
expect_exit 2 "command without command.run" -- "$J" run --set backend=command $FAST
expect_in "$TMP/err" "command.run" "command: message"

finish
