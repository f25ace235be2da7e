# lib.sh - helpers for the CLI tests (sourced).  Each test script ends with
# `finish`, which prints "N passed, N failed" and sets the exit status.
PASS=0
FAIL=0
TMP=$(mktemp -d "${JOULE_TEST_TMP:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }

# expect_exit CODE DESC -- CMD...: run CMD, output in $TMP/out and $TMP/err.
expect_exit() {
    want=$1; desc=$2; shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        bad "$desc: exit $got, expected $want"; sed 's/^/  out: /' "$TMP/out" >&2
        sed 's/^/  err: /' "$TMP/err" >&2
    fi
}

# expect_in FILE TEXT DESC: FILE contains TEXT (fixed string).
expect_in() {
    if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(basename "$1")"
        sed 's/^/  | /' "$1" >&2; fi
}

expect_not_in() {
    if grep -qF -- "$2" "$1"; then bad "$3: '$2' unexpectedly in $(basename "$1")"; else ok; fi
}

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
    exit $?
}
