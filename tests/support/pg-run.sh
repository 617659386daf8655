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
BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/initdb" ] || { echo "pg-run: $BIN/initdb missing: sh scripts/install-deps.sh installs postgresql-15" >&2; exit 1; }

DIR=$(mktemp -d /tmp/profiled-pg-XXXXXX)
RUN=""
if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$DIR"
    RUN="runuser -u postgres --"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    $RUN "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

$RUN "$BIN/initdb" -D "$DIR/data" --auth=trust -U postgres -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; exit 1; }
# fsync off: a test cluster only. Shared memory in mmap files of the data
# directory: a chroot or container may lack a usable /dev/shm. 200
# connections: suites run one at a time, but a server opens one per worker and writer.
$RUN "$BIN/pg_ctl" -D "$DIR/data" -w -l "$DIR/log" \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c dynamic_shared_memory_type=mmap" start >/dev/null ||
    { cat "$DIR/log" >&2; exit 1; }

# The suites whose subject is SQLite's files (disk_full, integrity,
# migrations, event_levels, render's query plans) or that touch no
# database, the view cache's (PostgreSQL has no view cache yet), the script suites (their servers use file paths), and
# replicas (it starts a cluster of its own) stay in the SQLite pass only.
SQLITE_ONLY='^(base|bench_load|definitions|disk_full|integrity|migrations|event_levels|render|cache|ratelimit|segment|fairq|segment_client|browser|docs|postman|contract_lint|contract|layout|deploy|replicas)$'
status=0
(cd "$BUILD" && PROFILED_TEST_PG="postgresql://postgres@127.0.0.1:$PORT" ctest --output-on-failure -E "$SQLITE_ONLY" "$@") || status=$?
if [ "$status" -ne 0 ]; then
    echo "pg-run: PostgreSQL's log (last lines):" >&2
    tail -n 40 "$DIR/log" >&2
fi
exit "$status"
