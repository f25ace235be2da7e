# pgtest.sh - a throw-away PostgreSQL server for tests (sourced by sh scripts).
#
#   . tests/tools/pgtest.sh
#   pg_start || { echo "SKIP: $PG_SKIP"; exit 77; }
#   ... use $JOULE_TEST_PG_URL (postgresql://USER@127.0.0.1:PORT/joule_test) ...
#   pg_stop
#
# pg_start makes a data directory under a new temporary folder (in
# $JOULE_TEST_TMP, else /tmp) with initdb from Debian's `postgresql` package
# (/usr/lib/postgresql/*/bin), trust authentication for loopback only,
# listening on 127.0.0.1 on a free port (tried until one works) and on a unix
# socket inside the folder, and creates the database joule_test.  initdb
# refuses to run as root: as root the server runs as the `postgres` system
# user the package creates.  On failure it returns 1 with the reason in
# $PG_SKIP and leaves nothing behind.  pg_stop stops the server
# (pg_ctl stop -m fast) and removes the folder; pg_start arranges for it to
# run on exit too (an EXIT trap that keeps the caller's own).

PG_DIR=
PG_BIN=
PG_SKIP=
PG_AS=

# Runs a server program as the server's user.
pg__run() {
    if [ -n "$PG_AS" ]; then
        runuser -u "$PG_AS" -- "$@"
    else
        "$@"
    fi
}

pg_stop() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
        if [ -f "$PG_DIR/data/postmaster.pid" ]; then
            pg__run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
        fi
        rm -rf "$PG_DIR"
    fi
    PG_DIR=
}

pg_start() {
    PG_SKIP=
    PG_BIN=
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && PG_BIN=$d
    done
    if [ -z "$PG_BIN" ]; then
        PG_SKIP="no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql/*/bin: install the postgresql package"
        return 1
    fi
    PG_AS=
    pg_user=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            PG_SKIP="running as root and there is no postgres user to run the server as"
            return 1
        fi
        if ! command -v runuser >/dev/null 2>&1; then
            PG_SKIP="running as root and runuser is missing"
            return 1
        fi
        PG_AS=postgres
        pg_user=postgres
    fi
    trap 'pg_stop' EXIT
    # The server user must reach the folder through every parent: when it
    # cannot (a private $JOULE_TEST_TMP), /tmp.
    for base in "${JOULE_TEST_TMP:-/tmp}" /tmp; do
        PG_DIR=$(mktemp -d "$base/pg.XXXXXX") || continue
        chmod 755 "$PG_DIR"
        [ -z "$PG_AS" ] && break
        chown "$PG_AS" "$PG_DIR" && runuser -u "$PG_AS" -- test -w "$PG_DIR" && break
        rm -rf "$PG_DIR"
        PG_DIR=
    done
    if [ -z "$PG_DIR" ]; then
        PG_SKIP="cannot make a temporary folder the server can write to"
        return 1
    fi
    if ! pg__run "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$pg_user" -A trust -E UTF8 \
        --locale=C >"$PG_DIR/initdb.log" 2>&1; then
        PG_SKIP="initdb failed: $(tail -n 3 "$PG_DIR/initdb.log" | tr '\n' ' ')"
        pg_stop
        return 1
    fi
    # Loopback only, no other access.
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$PG_DIR/data/pg_hba.conf"
    tries=0
    started=
    while [ $tries -lt 8 ]; do
        tries=$((tries + 1))
        # A port from the pid and the try: another test's server may hold it.
        port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000))
        if pg__run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off" \
            start >/dev/null 2>&1; then
            started=1
            break
        fi
    done
    if [ -z "$started" ]; then
        PG_SKIP="the server did not start: $(tail -n 3 "$PG_DIR/server.log" 2>/dev/null | tr '\n' ' ')"
        pg_stop
        return 1
    fi
    if ! "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U "$pg_user" \
        -d postgres -c 'CREATE DATABASE joule_test' >"$PG_DIR/createdb.log" 2>&1; then
        PG_SKIP="cannot create the test database: $(tr '\n' ' ' <"$PG_DIR/createdb.log")"
        pg_stop
        return 1
    fi
    JOULE_TEST_PG_URL="postgresql://$pg_user@127.0.0.1:$port/joule_test"
    export JOULE_TEST_PG_URL
    return 0
}
