#!/bin/sh
# joule devices: every source listed, found or missing, as text and JSON.
J=$1
STUB=$2
. "$(dirname "$0")/lib.sh"
export JOULE_POWERCAP_ROOT="$TMP/no-powercap" JOULE_HWMON_ROOT="$TMP/no-hwmon"

expect_exit 0 "devices --help" -- "$J" devices --help
expect_in "$TMP/out" "usage: joule devices" "help text"
expect_exit 2 "devices bad arg" -- "$J" devices --nope
JOULE_NVML_LIB="$TMP/none.so" expect_exit 0 "devices, nothing" -- "$J" devices
expect_in "$TMP/out" "unavailable" "missing sources"
expect_in "$TMP/out" "no NVIDIA driver" "nvml reason"
expect_in "$TMP/out" "estimated" "cpu estimate"

JOULE_NVML_LIB="$STUB" NVML_STUB_COUNT=2 expect_exit 0 "devices, stub" -- "$J" devices --json
if python3 - "$TMP/out" <<'P'
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["domains"]}
assert d["gpu0"]["provenance"] == "measured" and d["gpu0"]["available"]
assert d["gpu1"]["uuid"].startswith("GPU-")
assert d["gpu0"]["power_limit_w"] > 0
assert d["package"]["provenance"] == "unavailable"
assert d["cpu"]["provenance"] == "estimated"
P
then ok; else bad "devices json"; fi

mkdir -p "$TMP/pc/intel-rapl:0"
echo package-0 >"$TMP/pc/intel-rapl:0/name"
echo 123456 >"$TMP/pc/intel-rapl:0/energy_uj"
echo 262143328850 >"$TMP/pc/intel-rapl:0/max_energy_range_uj"
JOULE_POWERCAP_ROOT="$TMP/pc" expect_exit 0 "devices, rapl" -- "$J" devices --sources rapl
expect_in "$TMP/out" "package-0" "rapl zone listed"
expect_in "$TMP/out" "counter wraps at 262143" "range shown"
finish
