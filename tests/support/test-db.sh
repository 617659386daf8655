#!/bin/sh
# test-db.sh DIR NAME -- prints a fresh database for a script suite: the
# SQLite file DIR/NAME.db, or, when PROFILED_TEST_PG is set (the
# PostgreSQL pass of `make test`, tests/support/pg-run.sh), the URL of a new
# database NAME_<pid> made on that cluster (removed with the cluster).
set -eu
DIR=${1:?usage: test-db.sh DIR NAME}
NAME=${2:?usage: test-db.sh DIR NAME}
if [ -z "${PROFILED_TEST_PG:-}" ]; then
    echo "$DIR/$NAME.db"
    exit 0
fi
db="${NAME}_$$"
/usr/lib/postgresql/15/bin/createdb --maintenance-db="$PROFILED_TEST_PG/postgres" "$db" >&2
echo "$PROFILED_TEST_PG/$db"
