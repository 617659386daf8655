#!/bin/sh
# pg-cluster.sh -- a throwaway PostgreSQL 15 cluster in a directory of its
# own, for the tests and the benchmark; never a system service.
#   pg-cluster.sh init DIR      initdb into DIR/data, pick a free port of
#                               127.0.0.1 (DIR/port), start it; prints the port
#   pg-cluster.sh start DIR     start it again (same port)
#   pg-cluster.sh stop DIR [MODE]   pg_ctl stop (fast, or MODE: smart|immediate)
#   pg-cluster.sh createdb DIR NAME   prints the database's URL
#   pg-cluster.sh remove DIR    stop (immediate) and delete DIR
# fsync is off (a test cluster only), shared memory lives in mmap files of
# the data directory (a chroot or container may lack a usable /dev/shm),
# max_connections is 200 (a server opens one per worker and writer). initdb
# refuses root: as root the cluster runs as the `postgres` user that
# Debian's package creates, and DIR is given to it (its parent must let
# that user through: a mktemp -d directory itself, say).
set -eu
BIN=/usr/lib/postgresql/15/bin
CMD=${1:?usage: pg-cluster.sh init|start|stop|createdb|remove DIR}
DIR=${2:?usage: pg-cluster.sh $CMD DIR}
[ -x "$BIN/initdb" ] || { echo "pg-cluster: $BIN/initdb missing: sh scripts/install-deps.sh installs postgresql-15" >&2; exit 1; }
RUN=""
[ "$(id -u)" -ne 0 ] || RUN="runuser -u postgres --"

start() {
    port=$(cat "$DIR/port")
    $RUN "$BIN/pg_ctl" -D "$DIR/data" -w -l "$DIR/log" -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off \
-c max_connections=200 -c dynamic_shared_memory_type=mmap ${PG_CLUSTER_OPTS:-}" start >/dev/null ||
        { tail -n 20 "$DIR/log" >&2; exit 1; }
}

case $CMD in
init)
    mkdir -p "$DIR"
    [ -z "$RUN" ] || chown postgres:postgres "$DIR"
    $RUN "$BIN/initdb" -D "$DIR/data" --auth=trust -U postgres -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; exit 1; }
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$DIR/port"
    start
    cat "$DIR/port"
    ;;
start) start ;;
stop) $RUN "$BIN/pg_ctl" -D "$DIR/data" -m "${3:-fast}" -w stop >/dev/null ;;
createdb)
    name=${3:?usage: pg-cluster.sh createdb DIR NAME}
    port=$(cat "$DIR/port")
    $RUN "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name"
    echo "postgresql://postgres@127.0.0.1:$port/$name"
    ;;
remove)
    $RUN "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    ;;
*)
    echo "pg-cluster: unknown command $CMD" >&2
    exit 2
    ;;
esac
