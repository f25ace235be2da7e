#!/bin/sh
# joule against one PostgreSQL results database (a throw-away server from
# tests/tools/pgtest.sh): `joule run` of a small synthesized model with a
# scripted meter straight into it, results list/show/export from it, two
# concurrent writers both landing, a run into a local SQLite file pushed
# into it (twice: nothing the second time, no duplicate uid), rm cascading.
# Also two concurrent writers into one SQLite file.  Exit 77 (skipped) with
# the reason when no server can start here.
J=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/pgtest.sh"
# pg_start's trap replaces lib.sh's: both clean up.
cleanup() { pg_stop; rm -rf "$TMP"; }
if ! pg_start; then
    echo "SKIP: $PG_SKIP"
    rm -rf "$TMP"
    exit 77
fi
trap cleanup EXIT
URL=$JOULE_TEST_PG_URL
PSQL="psql -X -q -t -A $URL"
export JOULE_CACHE_DIR="$TMP/cache"
unset JOULE_DB

synth_tiny "$TMP/m.gguf"
fake_meter "$TMP/meter.txt" 40
RUN="run -m $TMP/m.gguf -d questions -n 2 -b 2 --max-tokens 3 --cycles 2 --fresh
     --meter fake:$TMP/meter.txt --interval 5 --idle 0.1 --min-window 0 --warmup 0"

# A run straight into PostgreSQL.
expect_exit 0 "run --db URL" -- "$J" $RUN --db "$URL" --name pg-first
expect_in "$TMP/out" "experiment 1  pg-first  [completed]" "run into PostgreSQL: header"
expect_exit 0 "list" -- "$J" results --db "$URL" list --csv
expect_in "$TMP/out" "1,pg-first,completed," "list from PostgreSQL"
JOULE_DB="$URL" expect_exit 0 "list (JOULE_DB)" -- "$J" results list
expect_in "$TMP/out" "pg-first" "JOULE_DB=URL"
expect_exit 0 "show" -- "$J" results --db "$URL" show 1 --raw --json
python3 - "$TMP/out" <<'PY' && ok || bad "show --json from PostgreSQL"
import json, sys
d = json.load(open(sys.argv[1]))
e = [m for m in d["summary"] if m["metric"] == "energy_total_j"][0]
assert e["n"] == 2 and e["mean"] > 0, e
assert len(d["cycles"]) == 2 and len(d["requests"]) == 4, d
assert d["info"]["status"] == "completed", d["info"]
PY
expect_exit 0 "export" -- "$J" results --db "$URL" export 1
expect_in "$TMP/out" "1,pg-first,synthetic llama,q8_0,builtin" "export from PostgreSQL"

# two_writers DB A B: runs named A and B into DB at the same time.
two_writers() {
    "$J" $RUN --db "$1" --name "$2" >"$TMP/a.out" 2>"$TMP/a.err" &
    pa=$!
    "$J" $RUN --db "$1" --name "$3" >"$TMP/b.out" 2>"$TMP/b.err" &
    pb=$!
    wait $pa && ok || { bad "concurrent writer $2"; cat "$TMP/a.err" >&2; }
    wait $pb && ok || { bad "concurrent writer $3"; cat "$TMP/b.err" >&2; }
}

# Two writers at once, both landing whole.
two_writers "$URL" conc-a conc-b
[ "$($PSQL -c "SELECT count(*) FROM experiments WHERE name LIKE 'conc-%' AND status = 'completed'")" = 2 ] \
    && ok || bad "both concurrent experiments completed"
[ "$($PSQL -c "SELECT count(*) FROM cycles c JOIN experiments e ON e.id = c.experiment_id WHERE e.name LIKE 'conc-%'")" = 4 ] \
    && ok || bad "both concurrent experiments have their cycles"

# Offline into SQLite, then pushed: counts match, twice is once.
expect_exit 0 "run into SQLite" -- "$J" $RUN --db "$TMP/local.db" --name offline
expect_exit 0 "run into SQLite (2)" -- "$J" $RUN --db "$TMP/local.db" --name offline-2
expect_exit 0 "push" -- "$J" results push --from "$TMP/local.db" --to "$URL"
expect_in "$TMP/out" "pushed 2 experiments (4 cycles), 0 already there" "push counts"
expect_exit 0 "push again" -- "$J" results push --from "$TMP/local.db" --to "$URL"
expect_in "$TMP/out" "pushed 0 experiments (0 cycles), 2 already there" "second push pushes 0"
JOULE_DB="$TMP/local.db" expect_exit 0 "push (--from JOULE_DB)" -- "$J" results push --to "$URL"
expect_in "$TMP/out" "pushed 0 experiments" "push from JOULE_DB"
[ "$($PSQL -c "SELECT count(*) - count(DISTINCT uid) FROM experiments")" = 0 ] \
    && ok || bad "no duplicate uid after pushes"
[ "$($PSQL -c "SELECT count(*) FROM experiments")" = 5 ] && ok || bad "5 experiments in PostgreSQL"
local_req=$(sqlite3 "$TMP/local.db" "SELECT count(*) FROM requests" 2>/dev/null || echo 8)
[ "$($PSQL -c "SELECT count(*) FROM requests r JOIN experiments e ON e.id = r.experiment_id WHERE e.name LIKE 'offline%'")" = "$local_req" ] \
    && ok || bad "pushed requests match the source"
expect_exit 0 "list after push" -- "$J" results --db "$URL" list --csv
expect_in "$TMP/out" "offline-2" "pushed experiment listed"
expect_exit 2 "push without --to" -- "$J" results push --from "$TMP/local.db"
expect_in "$TMP/err" "push needs --to" "push: missing --to named"
expect_exit 2 "push to itself" -- "$J" results push --from "$TMP/local.db" --to "$TMP/local.db"
expect_in "$TMP/err" "the same database" "push: same database refused"

# rm cascades on PostgreSQL too.
expect_exit 0 "rm" -- "$J" results --db "$URL" rm 1 --yes
[ "$($PSQL -c "SELECT count(*) FROM cycles WHERE experiment_id = 1") $($PSQL -c "SELECT count(*) FROM requests WHERE experiment_id = 1") $($PSQL -c "SELECT count(*) FROM metrics WHERE experiment_id = 1")" = "0 0 0" ] \
    && ok || bad "rm cascades to cycles, requests and metrics"
expect_exit 2 "show removed" -- "$J" results --db "$URL" show 1
expect_in "$TMP/err" "no experiment 1 in $URL" "unknown id names the URL"

# A server that is not there: a clear message without the password.
expect_exit 1 "no server" -- "$J" results --db "postgresql://joule:s3cret@127.0.0.1:1/x" list
expect_in "$TMP/err" "postgresql://joule@127.0.0.1:1/x: cannot connect" "no server: message"
expect_not_in "$TMP/err" "s3cret" "no server: password hidden"

# One experiment on two "nodes" (two processes, 40 W and 100 W meters) that
# meet through PostgreSQL; then pushed from SQLite with its nodes.
fake_meter "$TMP/m100.txt" 100
two_nodes() { # DB KEY NAME
    "$J" run --nodes 2 --join "$2" --rank 1 --node nodeB --meter "fake:$TMP/m100.txt" \
        --interval 5 --idle 0 --node-timeout 60 --quiet --db "$1" >/dev/null 2>"$TMP/b.err" &
    b=$!
    expect_exit 0 "lead $3" -- "$J" $RUN --db "$1" --name "$3" --nodes 2 --join "$2" \
        --rank 0 --node nodeA --node-timeout 60
    wait $b && ok || { bad "other node $3"; cat "$TMP/b.err" >&2; }
}
two_nodes "$URL" pgkey multi-pg
expect_in "$TMP/out" "nodes: nodeA (lead), nodeB" "two nodes through PostgreSQL"
[ "$($PSQL -c "SELECT count(*) FROM domains d JOIN experiments e ON e.id = d.experiment_id WHERE e.name = 'multi-pg' AND d.domain = 'nodeB:pkg'")" = 2 ] \
    && ok || bad "the other node's domain in both cycles"
two_nodes "$TMP/multi.db" sqkey multi-sq
expect_exit 0 "push multi-node" -- "$J" results push --from "$TMP/multi.db" --to "$URL"
id=$($PSQL -c "SELECT id FROM experiments WHERE name = 'multi-sq'")
expect_exit 0 "show pushed multi-node" -- "$J" results --db "$URL" show "$id"
expect_in "$TMP/out" "nodeA (lead), nodeB" "pushed with its nodes"

# Two writers into one SQLite file at once.
two_writers "$TMP/conc.db" sq-a sq-b
expect_exit 0 "list SQLite" -- "$J" results --db "$TMP/conc.db" list --csv
expect_in "$TMP/out" "sq-a,completed" "SQLite writer a landed"
expect_in "$TMP/out" "sq-b,completed" "SQLite writer b landed"

finish
