#!/bin/sh
# A root-only energy_uj (Linux >= 5.10) is reported as unavailable with the
# command that grants access.  Root reads anything, so as root the check
# runs as `nobody` through setpriv.
J=$1
. "$(dirname "$0")/lib.sh"
root=$(mktemp -d /tmp/joule-pc.XXXXXX)
trap 'rm -rf "$TMP" "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/intel-rapl:0"
echo package-0 >"$root/intel-rapl:0/name"
echo 1000 >"$root/intel-rapl:0/energy_uj"
echo 262143328850 >"$root/intel-rapl:0/max_energy_range_uj"
chmod 755 "$root/intel-rapl:0"
chmod 644 "$root/intel-rapl:0/name" "$root/intel-rapl:0/max_energy_range_uj"
chmod 400 "$root/intel-rapl:0/energy_uj"
bin=$(mktemp -d /tmp/joule-bin.XXXXXX)
cp "$J" "$bin/joule" && chmod 755 "$bin" "$bin/joule"
run=""
if [ "$(id -u)" -eq 0 ]; then
    chown root "$root/intel-rapl:0/energy_uj"
    run="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi
JOULE_POWERCAP_ROOT="$root" $run "$bin/joule" devices --sources rapl >"$TMP/out" 2>&1
rc=$?
rm -rf "$bin"
if [ $rc -eq 0 ]; then ok; else bad "devices as unprivileged user: exit $rc"; cat "$TMP/out" >&2; fi
expect_in "$TMP/out" "unavailable" "labelled unavailable"
expect_in "$TMP/out" "root-only" "reason"
expect_in "$TMP/out" "sudo chmod o+r $root/intel-rapl:0/energy_uj" "the fix"
finish
