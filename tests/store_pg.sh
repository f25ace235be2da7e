#!/bin/sh
# store_pg.sh TEST_STORE - the results store's test suite on PostgreSQL: starts
# a throw-away server (tests/tools/pgtest.sh), runs test_store against it
# (which runs the suite on SQLite, then again on the server), stops it.
# Exit 77 (ctest: skipped) with the reason when no server can start here.
. "$(dirname "$0")/tools/pgtest.sh"
if ! pg_start; then
    echo "SKIP: $PG_SKIP"
    exit 77
fi
"$1"
rc=$?
pg_stop
exit $rc
