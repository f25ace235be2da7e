#!/bin/sh
# joule results end to end on a fixture database written through the
# store's write side (tests/tools/mkstore.c): list, show (--raw), export
# CSV and JSON, compare, rm with and without --yes, bad ids, a missing,
# a corrupt and a newer database, with their messages and exit codes.
J=$1
MK=$2
. "$(dirname "$0")/lib.sh"

DB="$TMP/sub/results.db"
expect_exit 0 "mkstore" -- "$MK" "$DB"

# list: both experiments, in the three formats.
expect_exit 0 "list" -- "$J" results --db "$DB" list
expect_in "$TMP/out" "tiny-q4" "list names experiment 1"
expect_in "$TMP/out" "tiny-f16" "list names experiment 2"
expect_in "$TMP/out" "3/3" "list: cycles done/planned"
expect_in "$TMP/out" "2/3" "list: an incomplete experiment"
expect_in "$TMP/out" "ept_out_j_per_tok" "list: EPT column"
# JOULE_DB instead of --db, and --db after the command.
JOULE_DB="$DB" expect_exit 0 "list (JOULE_DB)" -- "$J" results list --csv
expect_in "$TMP/out" "id,name,status,created,model,precision,backend,dataset,batch_size,cycles,ept_out_j_per_tok,tokens_per_joule,energy_total_j" "list --csv header"
expect_in "$TMP/out" "1,tiny-q4,completed," "list --csv row"
expect_in "$TMP/out" ",4,3/3,0.523088023088023,2.37121212121212,110" "list --csv numbers"
expect_exit 0 "list --json" -- "$J" results list --json --db "$DB"
python3 - "$TMP/out" <<'PY' && ok || bad "list --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["id"] for x in d] == [1, 2], d
assert d[0]["energy_total_j"] == 110 and d[1]["energy_total_j"] == 200, d
assert d[1]["status"] == "running" and d[0]["cycles"] == "3/3", d
PY

# show: mean +- ci95 (energy 100, 110, 120: 110 +- 24.8414), facts.
expect_exit 0 "show 1" -- "$J" results --db "$DB" show 1
expect_in "$TMP/out" "110 +- 24.8414" "show: mean +- ci95"
expect_in "$TMP/out" "9.09%" "show: CV"
expect_in "$TMP/out" "precision       q4_0" "show: info fields"
expect_in "$TMP/out" "  precision: q4_0" "show: config YAML indented"
expect_not_in "$TMP/out" "requests:" "show without --raw has no requests"
expect_exit 0 "show --raw" -- "$J" results --db "$DB" show 1 --raw
expect_in "$TMP/out" "cycles:" "show --raw: cycles"
expect_in "$TMP/out" "domains:" "show --raw: domains"
expect_in "$TMP/out" "short-window" "show --raw: domain flags by name"
expect_in "$TMP/out" "alpaca-1" "show --raw: requests"
expect_exit 0 "show --json --raw" -- "$J" results --db "$DB" show 1 --json --raw
python3 - "$TMP/out" <<'PY' && ok || bad "show --json"
import json, sys
d = json.load(open(sys.argv[1]))
e = [m for m in d["summary"] if m["metric"] == "energy_total_j"][0]
assert e["mean"] == 110 and e["std"] == 10 and abs(e["ci95"] - 24.8413771) < 1e-6, e
assert e["n"] == 3 and e["min"] == 100 and e["max"] == 120, e
assert d["info"]["status"] == "completed" and d["info"]["batch_size"] == 4, d["info"]
assert d["info"]["flags"] is None, d["info"]
assert len(d["cycles"]) == 3 and len(d["domains"]) == 6 and len(d["requests"]) == 6
assert d["requests"][0]["text"] == 'Paris, "the capital"\nof France', d["requests"][0]
assert d["requests"][1]["text"] is None
assert d["domains"][0]["net_energy_j"] is None
PY

# export: the seed tools' columns, CSV by default.
expect_exit 0 "export" -- "$J" results --db "$DB" export 1
expect_in "$TMP/out" "experiment_id,name,model,precision,backend,dataset,batch_size,cycles,energy_provenance,energy_total_J,energy_J_per_ex,tokens_total,tpj,latency_s,E_run_J,T_in,T_out,EPT_in_J_per_tok,EPT_out_J_per_tok,EPT_total_J_per_tok,duration_s_mean" "export header"
expect_in "$TMP/out" "1,tiny-q4,tiny.gguf,q4_0,builtin,alpaca,4,3,unavailable,110,55,260," "export row"
python3 - "$TMP/out" <<'PY' && ok || bad "export csv parses"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 1
r = rows[0]
assert float(r["energy_total_j_ci95"]) - 24.8413771 < 1e-6 and r["T_out"] == "210", r
assert float(r["EPT_out_J_per_tok"]) == float(r["ept_out_j_per_tok_mean"]), r
PY
expect_exit 0 "export --json -o" -- "$J" results --db "$DB" export 1 --json -o "$TMP/e.json"
python3 - "$TMP/e.json" <<'PY' && ok || bad "export --json file"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 1 and d[0]["tokens_total"] == 260 and d[0]["E_run_J"] == 110, d
PY
expect_exit 0 "export requests" -- "$J" results --db "$DB" export 1 --what requests
python3 - "$TMP/out" <<'PY' && ok || bad "export requests: RFC 4180 quoting"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 6 and rows[0]["text"] == 'Paris, "the capital"\nof France', rows[0]
assert rows[1]["text"] == "" and rows[5]["cycle"] == "2", rows
PY
expect_exit 0 "export cycles" -- "$J" results --db "$DB" export 2 --what cycles
expect_in "$TMP/out" "cycle,position,started,duration_s,repeats,flags,duration_s" "export cycles header"
expect_exit 2 "export --what bad" -- "$J" results --db "$DB" export 1 --what bogus
expect_in "$TMP/err" "--what expects" "export: bad --what named"

# compare
expect_exit 0 "compare" -- "$J" results --db "$DB" compare 1 2
expect_in "$TMP/out" "overlap" "compare: overlap column"
expect_exit 0 "compare --csv" -- "$J" results --db "$DB" compare 1 2 --csv
expect_in "$TMP/out" "metric,a_mean,a_ci95,b_mean,b_ci95,diff,ratio,overlap" "compare csv header"
expect_in "$TMP/out" "energy_total_j,110,24.8413771175033,200,0,90,1.81818181818182,no" "compare energy row"
expect_in "$TMP/out" "tokens_in,50,0,50,0,0,1,yes" "compare equal row"

# bad ids and usage
expect_exit 2 "show unknown id" -- "$J" results --db "$DB" show 99
expect_in "$TMP/err" "no experiment 99 in $DB (see \`joule results list\`)" "unknown id message"
expect_exit 2 "show non-number" -- "$J" results --db "$DB" show abc
expect_in "$TMP/err" "'abc' is not an experiment id" "non-numeric id message"
expect_exit 2 "compare one id" -- "$J" results --db "$DB" compare 1
expect_exit 2 "compare unknown" -- "$J" results --db "$DB" compare 1 42
expect_in "$TMP/err" "no experiment 42" "compare unknown id message"
expect_exit 2 "unknown subcommand" -- "$J" results --db "$DB" frobnicate
expect_exit 2 "unknown option" -- "$J" results --db "$DB" list --bogus
expect_exit 2 "no subcommand" -- "$J" results --db "$DB"
expect_exit 0 "--help" -- "$J" results --help
expect_in "$TMP/out" "usage: joule results" "help text"

# rm: refuses without --yes when stdin is not a terminal.
expect_exit 2 "rm without --yes" -- "$J" results --db "$DB" rm 2 </dev/null
expect_in "$TMP/err" "add --yes" "rm refusal message"
expect_exit 0 "still there" -- "$J" results --db "$DB" show 2
expect_exit 0 "rm --yes" -- "$J" results --db "$DB" rm 2 --yes
expect_in "$TMP/err" "deleted experiment 2" "rm message"
expect_exit 2 "show removed" -- "$J" results --db "$DB" show 2
expect_exit 2 "rm removed" -- "$J" results --db "$DB" rm 2 --yes
expect_exit 0 "list after rm" -- "$J" results --db "$DB" list --csv
expect_not_in "$TMP/out" "tiny-f16" "removed experiment gone from list"
expect_in "$TMP/out" "tiny-q4" "other experiment kept"

# Missing, corrupt and newer databases.
expect_exit 2 "missing db" -- "$J" results --db "$TMP/none.db" list
expect_in "$TMP/err" "no results database at $TMP/none.db" "missing db message"
[ ! -e "$TMP/none.db" ] && ok || bad "a missing database is not created by reading"
head -c 4096 /dev/urandom >"$TMP/junk.db"
expect_exit 2 "corrupt db" -- "$J" results --db "$TMP/junk.db" list
expect_in "$TMP/err" "not a joule results database" "corrupt db message"
if command -v sqlite3 >/dev/null 2>&1; then
    cp "$DB" "$TMP/newer.db"
    sqlite3 "$TMP/newer.db" "PRAGMA user_version = 8" && ok || bad "sqlite3 set version"
    expect_exit 2 "newer db" -- "$J" results --db "$TMP/newer.db" list
    expect_in "$TMP/err" "was written by a newer joule (schema 8, this joule knows 7)" "newer db message"
fi

finish
