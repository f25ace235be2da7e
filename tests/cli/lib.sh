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

# synth_tiny FILE: the tests' model, a 2-layer Llama of width 64 in Q8_0
# with an SPM tokenizer (an expect_exit check of its own).
synth_tiny() {
    expect_exit 0 "synth" -- "$J" model synth --arch llama --dim 64 --layers 2 --heads 4 \
        --kv-heads 2 --ffn 128 --vocab 512 --tokenizer spm --type q8_0 -o "$1"
}

# fake_meter FILE WATTS: a scripted energy source (meter source fake:FILE)
# of one package domain at constant power.
fake_meter() {
    printf 'domain pkg kind=package mode=counter update_ms=1\nat 0 pkg=%s\n' "$2" >"$1"
}

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
    exit $?
}
