#!/bin/sh
# pg-run.sh BUILD_DIR [ctest args...] -- the PostgreSQL pass of `make test`:
# starts a throwaway PostgreSQL 15 cluster in a temp dir (initdb + pg_ctl on
# a free port of 127.0.0.1, no system service), runs the suites that speak
# to a database with PROFILED_TEST_PG pointing at it (each suite makes its
# own databases: tests/support/testutil.c), then stops the cluster and
# removes it. initdb refuses root: as root the cluster runs as the
# `postgres` user the Debian package creates.
set -e
BUILD=${1:?usage: pg-run.sh BUILD_DIR [ctest args]}
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$(mktemp -d /tmp/profiled-pg-XXXXXX)
trap 'sh "$ROOT/scripts/pg-cluster.sh" remove "$DIR"' EXIT INT TERM
PORT=$(sh "$ROOT/scripts/pg-cluster.sh" init "$DIR")

# The suites whose subject is SQLite's files (disk_full, integrity,
# migrations, event_levels, render's query plans) or that touch no
# database, and replicas (it starts a cluster of its own) stay in the
# SQLite pass only. The script suites take their database from
# tests/support/test-db.sh, which reads PROFILED_TEST_PG too.
SQLITE_ONLY='^(base|bench_load|definitions|disk_full|integrity|migrations|event_levels|write_pages|render|ratelimit|segment|fairq|docs|contract_lint|layout|deploy|replicas)$'
status=0
(cd "$BUILD" && PROFILED_TEST_PG="postgresql://postgres@127.0.0.1:$PORT" ctest --output-on-failure -E "$SQLITE_ONLY" "$@") || status=$?
if [ "$status" -ne 0 ]; then
    echo "pg-run: PostgreSQL's log (last lines):" >&2
    tail -n 40 "$DIR/log" >&2
fi
exit "$status"
