#!/bin/sh
# joule measure end to end: exit codes, signals, bad options, formats.
# usage: measure.sh JOULE NVML_STUB
J=$1
STUB=$2
. "$(dirname "$0")/lib.sh"

# No real hardware: point every source at nothing, and use a fake script
# where exact joules are checked.
export JOULE_POWERCAP_ROOT="$TMP/no-powercap" JOULE_NVML_LIB="$TMP/no-libnvidia-ml.so"
export JOULE_HWMON_ROOT="$TMP/no-hwmon"
cat >"$TMP/fake.txt" <<'S'
domain gpu0 kind=gpu mode=counter resolution_j=0.001
domain pkg kind=package mode=power
at 0 gpu0=100 pkg=20
S

expect_exit 0 "--version" -- "$J" --version
expect_in "$TMP/out" "joule 0.1.0 (commit " "--version"
expect_exit 0 "--help" -- "$J" --help
expect_in "$TMP/out" "measure" "--help lists commands"
expect_exit 0 "measure --help" -- "$J" measure --help
expect_in "$TMP/out" "usage: joule measure" "measure --help"
expect_exit 2 "no command" -- "$J"
expect_exit 2 "unknown command" -- "$J" frobnicate
expect_in "$TMP/err" "unknown command 'frobnicate'" "unknown command message"

# Bad input: exit 2 with a hint.
expect_exit 2 "nothing to measure" -- "$J" measure
expect_in "$TMP/err" "nothing to measure" "nothing to measure message"
expect_exit 2 "missing --" -- "$J" measure sleep 1
expect_in "$TMP/err" "missing '--' before the command" "missing -- message"
expect_in "$TMP/err" "Try 'joule measure --help'" "usage hint"
expect_exit 2 "unknown option" -- "$J" measure --bogus -- true
expect_in "$TMP/err" "unknown option '--bogus'" "unknown option message"
expect_exit 2 "interval 0" -- "$J" measure --interval 0 -- true
expect_in "$TMP/err" "--interval expects a whole number from 1 to 60000, got '0'" "interval msg"
expect_exit 2 "interval abc" -- "$J" measure --interval abc -- true
expect_exit 2 "interval missing value" -- "$J" measure --interval
expect_exit 2 "nothing after --" -- "$J" measure --
expect_exit 2 "bad source" -- "$J" measure --sources nope -- true
expect_in "$TMP/err" "unknown energy source 'nope'" "bad source message"
expect_exit 2 "bad idle" -- "$J" measure --idle -1 -- true

# Exit codes of the command.
expect_exit 0 "true" -- "$J" measure -q -- true
expect_exit 3 "exit 3" -- "$J" measure -q -- sh -c 'exit 3'
expect_in "$TMP/out" "(exit 3)" "exit shown"
expect_exit 127 "not found" -- "$J" measure -q -- joule-no-such-command-xyz
expect_in "$TMP/err" "joule-no-such-command-xyz: command not found" "not found message"
expect_exit 143 "killed by TERM" -- "$J" measure -q -- sh -c 'kill -TERM $$'
expect_in "$TMP/out" "killed by signal 15" "signal shown"
expect_in "$TMP/out" "total" "reading printed after a signal"

# SIGTERM to joule is forwarded to the command; the reading is still printed.
"$J" measure -q -- sleep 30 >"$TMP/fwd" 2>&1 &
pid=$!
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
if [ $rc -eq 143 ]; then ok; else bad "forwarded SIGTERM: exit $rc, expected 143"; fi
expect_in "$TMP/fwd" "killed by signal 15" "forwarded signal reading"
"$J" measure -q -- sleep 30 >"$TMP/fwd" 2>&1 &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 130 ]; then ok; else bad "forwarded SIGINT: exit $rc, expected 130"; fi

# Every domain is labelled on a machine without counters.
expect_exit 0 "sleep, auto sources" -- "$J" measure -- sleep 0.3
expect_in "$TMP/out" "estimated" "cpu estimated"
expect_in "$TMP/out" "not measured" "missing sources listed"
expect_in "$TMP/out" "no NVIDIA driver" "nvml reason"
expect_in "$TMP/out" "CPU energy is estimated instead" "rapl replaced by estimate"

# Exact joules from the scripted source, as JSON.
expect_exit 0 "fake json" -- "$J" measure --sources "fake:$TMP/fake.txt" --interval 10 --json -- sleep 0.3
if python3 - "$TMP/out" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["reading"]
T = r["duration_s"]
g = {x["name"]: x for x in r["domains"]}
assert abs(g["gpu0"]["energy_j"] - 100 * T) < 1e-6, g["gpu0"]
assert g["gpu0"]["provenance"] == "measured"
assert g["pkg"]["provenance"] == "sampled"
assert abs(g["pkg"]["energy_j"] - 20 * T) < 1e-6
assert abs(r["total"]["energy_j"] - 120 * T) < 1e-6
assert "mixed-provenance" in r["flags"]
assert d["exit_code"] == 0 and d["command"] == ["sleep", "0.3"]
P
then ok; else bad "fake json values"; fi

# CSV: a header, one row per domain and a total row.
expect_exit 0 "csv" -- "$J" measure --sources "fake:$TMP/fake.txt" --csv -- true
expect_in "$TMP/out" "window,domain,source,kind,provenance,in_total,energy_j" "csv header"
rows=$(wc -l <"$TMP/out")
if [ "$rows" -eq 4 ]; then ok; else bad "csv rows: $rows, expected 4"; fi

# Idle baseline: net columns.
expect_exit 0 "idle" -- "$J" measure --sources "fake:$TMP/fake.txt" --idle 0.3 -- true
expect_in "$TMP/out" "net_J" "net column"

# Timeline written after the run; a bad path fails but keeps the reading.
expect_exit 0 "timeline" -- "$J" measure --sources "fake:$TMP/fake.txt" --interval 5 --timeline "$TMP/tl.csv" -- sleep 0.2
expect_in "$TMP/tl.csv" "t_s,gpu0_w,pkg_w" "timeline header"
expect_exit 1 "timeline bad path" -- "$J" measure --sources "fake:$TMP/fake.txt" --timeline /nonexistent/dir/tl.csv -- true
expect_in "$TMP/out" "total" "reading kept when the timeline fails"
expect_in "$TMP/err" "timeline not written" "timeline error"

# A malformed script names file and line.
printf 'domain g kind=gpu mode=counter\nat 0 g=oops\n' >"$TMP/bad.txt"
expect_exit 2 "bad script" -- "$J" measure --sources "fake:$TMP/bad.txt" -- true
expect_in "$TMP/err" "bad.txt:2: power of 'g'" "script error position"

# The stub NVML library through JOULE_NVML_LIB: the GPU is measured.
JOULE_NVML_LIB="$STUB" expect_exit 0 "stub gpu" -- "$J" measure --json -- sleep 0.3
if python3 - "$TMP/out" <<'P'
import json, sys
r = json.load(open(sys.argv[1]))["reading"]
g = {x["name"]: x for x in r["domains"]}["gpu0"]
assert g["provenance"] == "measured", g
assert abs(g["energy_j"] - 150 * r["duration_s"]) <= g["bound_j"] + 1e-9, g
P
then ok; else bad "stub gpu reading"; fi

# The built-in workload (what `make run` does).
expect_exit 0 "workload" -- "$J" measure --workload cpu --duration 0.3 --threads 1
expect_in "$TMP/out" "workload: cpu, 1 threads" "workload line"
expect_in "$TMP/out" "GFLOP/J" "workload efficiency"
expect_exit 2 "workload and command" -- "$J" measure --workload cpu -- true
expect_exit 2 "unknown workload" -- "$J" measure --workload gpu

finish
