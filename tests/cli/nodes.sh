#!/bin/sh
# One experiment measured on several nodes (joule run --nodes): here two
# processes on one machine stand for two nodes, each with its own scripted
# meter (40 W on the lead, 100 W on the other).  The cycle's energy is the
# sum of both nodes' windows, its duration the longer window, the result
# lists the nodes; a node that never comes, a lead that never comes, a node
# that dies mid-run and bad flags all end with a clear message.
J=$1
. "$(dirname "$0")/lib.sh"

export JOULE_DB="$TMP/r.db"
export JOULE_CACHE_DIR="$TMP/cache"
synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/m40.txt" 40
fake_meter "$TMP/m100.txt" 100
LEAD="run -m $TMP/m.gguf -d questions -n 4 -b 2 --max-tokens 5 --cycles 2 --interval 5
      --idle 0.2 --min-window 0.3 --warmup 1 --meter fake:$TMP/m40.txt --quiet"

# Two nodes.  The other node needs no model: it only measures.
"$J" run --nodes 2 --join job7 --rank 1 --node nodeB --meter "fake:$TMP/m100.txt" \
    --interval 5 --idle 0.2 --node-timeout 30 --quiet >"$TMP/b.out" 2>"$TMP/b.err" &
B=$!
expect_exit 0 "lead" -- "$J" $LEAD --nodes 2 --join job7 --rank 0 --node nodeA \
    --node-timeout 30
wait $B && ok || { bad "other node: exit $?"; cat "$TMP/b.err" >&2; }
expect_in "$TMP/out" "nodes: nodeA (lead), nodeB" "lead: the nodes listed"
expect_in "$TMP/b.out" "[completed]" "other node: prints the experiment"
expect_exit 0 "show" -- "$J" results show 1 --raw
expect_in "$TMP/out" "nodeA (lead), nodeB" "show: the nodes"
expect_in "$TMP/out" "nodeB:pkg" "show: the other node's domain"

# The figures: per cycle, energy = (lead + other) / passes, duration = the
# longer window / passes; each node's window at its own power.
expect_exit 0 "domains" -- "$J" results export 1 --what domains --json
cp "$TMP/out" "$TMP/dom.json"
expect_exit 0 "cycles" -- "$J" results export 1 --what cycles --json
python3 - "$TMP/dom.json" "$TMP/out" <<'PY' && ok || bad "sums across nodes"
import json, sys
dom = json.load(open(sys.argv[1]))
cyc = json.load(open(sys.argv[2]))
assert len(cyc) == 2, cyc
for c in cyc:
    rows = {d["domain"]: d for d in dom if d["cycle"] == c["cycle"] and d["window"] == "run"}
    assert set(rows) == {"pkg", "nodeB:pkg"}, rows.keys()
    lead, other = rows["pkg"], rows["nodeB:pkg"]
    assert abs(lead["avg_power_w"] - 40) < 1, lead
    assert abs(other["avg_power_w"] - 100) < 2, other
    k = c["repeats"]
    total = (lead["energy_j"] + other["energy_j"]) / k
    assert abs(c["energy_total_j"] - total) <= 1e-6 * total, (c, total)
    longest = max(lead["energy_j"] / lead["avg_power_w"], other["energy_j"] / other["avg_power_w"])
    assert abs(c["duration_s"] * k - longest) <= 0.02 * longest, (c, longest)
    # the other node opens first and closes last: its window holds the lead's
    assert other["energy_j"] / other["avg_power_w"] >= lead["energy_j"] / lead["avg_power_w"]
PY

# No other node comes: the lead says who is missing and fails.
expect_exit 1 "missing node" -- "$J" $LEAD --nodes 3 --join job8 --rank 0 --node nodeA \
    --node-timeout 1
expect_in "$TMP/err" "2 of 2 other nodes did not join within 1 s" "missing node: counted"
expect_in "$TMP/err" "rank 1 (not joined), rank 2 (not joined)" "missing node: named"

# No lead comes: the other node says what to start.
expect_exit 1 "no lead" -- "$J" run --nodes 2 --join job9 --rank 1 --node nodeB \
    --meter "fake:$TMP/m100.txt" --idle 0 --node-timeout 1
expect_in "$TMP/err" "no experiment was opened under join key 'job9'" "no lead: said"

# The other node dies in the middle: the lead fails with its name, the
# cycles already measured stay.
"$J" run --nodes 2 --join job10 --rank 1 --node nodeB --meter "fake:$TMP/m100.txt" \
    --interval 5 --idle 0 --node-timeout 30 --quiet >/dev/null 2>&1 &
B=$!
"$J" $LEAD --nodes 2 --join job10 --rank 0 --node nodeA --node-timeout 2 --cycles 10 \
    --min-window 1 >"$TMP/out" 2>"$TMP/err" &
L=$!
# Its id: the newest experiment, once the lead has made it.
ID=
i=0
while [ $i -lt 300 ]; do
    ID=$("$J" results list --csv 2>/dev/null | sed -n 's/^\([0-9][0-9]*\),.*/\1/p' | tail -1)
    [ "${ID:-0}" -gt 2 ] && "$J" results export "$ID" --what cycles --csv 2>/dev/null \
        | grep -q '^0,' && break
    sleep 0.1; i=$((i + 1))
done
kill -9 $B
wait $L
[ $? -eq 1 ] && ok || bad "dead node: lead exit"
# (its state, measuring or done, depends on where in a cycle the kill fell)
expect_in "$TMP/err" "nodeB (rank 1, " "dead node: named"
"$J" results export "$ID" --what cycles --csv >"$TMP/c.csv" 2>/dev/null
n=$(grep -c '^[0-9]' "$TMP/c.csv")
[ "$n" -ge 1 ] && [ "$n" -lt 10 ] && ok || bad "dead node: $n cycles kept"
expect_exit 0 "dead node: show" -- "$J" results show "$ID"
expect_in "$TMP/out" "failed" "dead node: the experiment failed"

# Flags.
expect_exit 2 "join without nodes" -- "$J" $LEAD --join x
expect_in "$TMP/err" "--join and --rank need --nodes" "join without nodes: said"
expect_exit 2 "rank out of range" -- "$J" $LEAD --nodes 2 --join x --rank 2
expect_in "$TMP/err" "--rank 2 is out of range for --nodes 2" "rank: said"
env -u SLURM_JOB_ID "$J" $LEAD --nodes 2 >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && ok || bad "nodes without a join key: exit"
expect_in "$TMP/err" "needs --join KEY" "nodes without a join key: said"
finish
