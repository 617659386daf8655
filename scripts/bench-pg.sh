#!/bin/sh
# bench-pg.sh -- the SQLite-against-PostgreSQL part of `make bench` (also
# alone: `sh scripts/bench-pg.sh`): the same data in a SQLite file and in a
# database of a throwaway PostgreSQL cluster (scripts/pg-cluster.sh), the
# same profiled-load scenarios against each, side by side in one run.
#   reads (traits-user, metadata, events-first) and ingest, at 10k and 100k
#   profiles; the server (profiled, and for PostgreSQL the postgres
#   processes too) on core 0, the client on core 1: the same one core of
#   server side for both backends;
#   then one against two replicas on one PostgreSQL, unpinned (this
#   machine has 2 cores: they share them with PostgreSQL and the client).
# Prints a table; raw runs go to bench-results/pg/.
#   env: BENCH_PG_SCALE (default 0.1: 1k and 10k profiles; 1: 10k and 100k,
#        about 8 minutes in all, 3 of them PostgreSQL's import), BENCH_DURATION,
#        BENCH_WARMUP, BENCH_REPEAT (runs per cell, the best kept),
#        BENCH_PORT (default 18720), BENCH_KEEP=1
# shellcheck disable=SC2046,SC2086
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
T0=$(date +%s)
SCALE=${BENCH_PG_SCALE:-0.1}
DUR=${BENCH_DURATION:-4} WARM=${BENCH_WARMUP:-1} REPEAT=${BENCH_REPEAT:-2}
BUILD=build-bench
OUT=bench-results/pg
CONNS=64
CLIENT=intilery ACCOUNT=marketing BRAND=MARKETING
PORT=${BENCH_PORT:-18720}
PORT2=$((PORT + 1))
HIGH="--rate 1000000000 --burst 1000000000 --ingest-rate 1000000000 --ingest-burst 1000000000 --access-log off"
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); if (v < 100) v = 100; print v }'; }
SIZES="$(scaled 10000) $(scaled 100000)"

say() { printf 'bench-pg: [%4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { say "error: $*"; exit 1; }

sh scripts/install-deps.sh
cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $BUILD -j "$(nproc)" --target profiled profiled-gendata profiled-load >/dev/null
BIN=$BUILD/profiled GEN=$BUILD/profiled-gendata LOAD=$BUILD/profiled-load

WORK=$(mktemp -d /tmp/profiled-bench-pg.XXXXXX)
chmod 755 "$WORK" # the cluster below runs as postgres when we are root
PGDIR=$WORK/pg
SPIDS=""
cleanup() {
    for p in $SPIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    sh scripts/pg-cluster.sh remove "$PGDIR" 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$OUT"
mkdir -p "$OUT"

# The cluster with settings a server would have (fsync stays off, as in
# every test cluster here: the SQLite runs use --sync normal, which does
# not fsync each commit either); shared_buffers large enough for 100k
# profiles.
PG_CLUSTER_OPTS="-c shared_buffers=512MB -c synchronous_commit=off" sh scripts/pg-cluster.sh init "$PGDIR" >/dev/null
export PG_CLUSTER_OPTS="-c shared_buffers=512MB -c synchronous_commit=off"
pg_pin() { # CPUS: every postgres process of the cluster (backends inherit the postmaster's)
    pid=$(head -n 1 "$PGDIR/data/postmaster.pid")
    for p in $pid $(ps -o pid= --ppid "$pid"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done
}

. scripts/bench-lib.sh # wait_http, jnum
# serve DB PORT CPUS|- [flags]: one replica
serve() {
    s_db=$1 s_port=$2 s_cpus=$3
    shift 3
    if [ "$s_cpus" = - ]; then
        "$BIN" serve --listen 127.0.0.1:$s_port --db "$s_db" $HIGH "$@" >>"$WORK/serve.log" 2>&1 &
    else
        taskset -c "$s_cpus" "$BIN" serve --listen 127.0.0.1:$s_port --db "$s_db" $HIGH "$@" >>"$WORK/serve.log" 2>&1 &
    fi
    SPIDS="$SPIDS $!"
    wait_http "http://127.0.0.1:$s_port/healthz" || die "profiled did not start (see $WORK/serve.log)"
}
unserve() {
    for p in $SPIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    SPIDS=""
}

# load KEY CPUS|- PORT [profiled-load args]: one run into $OUT/KEY.json
load() {
    key=$1 l_cpus=$2 l_port=$3
    shift 3
    pin=""
    [ "$l_cpus" = - ] || pin="taskset -c $l_cpus"
    timeout $((DUR + WARM + 60)) $pin "$LOAD" --url http://127.0.0.1:$l_port --connections $CONNS --duration "$DUR" \
        --warmup "$WARM" --json "$OUT/$key.json" --quiet "$@" || say "$key: profiled-load failed"
    say "$key: $(jnum "$OUT/$key.json" rps) req/s, $(jnum "$OUT/$key.json" events_per_s) events/s, p99 $(jnum "$OUT/$key.json" p99_us) us, errors $(jnum "$OUT/$key.json" errors)"
}
# load2 KEY [profiled-load args]: half the connections on each of two
# replicas at once; KEY.json holds the sums (and the worse p99)
load2() {
    key=$1
    shift
    lpids=""
    for p in $PORT $PORT2; do
        timeout $((DUR + WARM + 60)) "$LOAD" --url http://127.0.0.1:$p --connections $((CONNS / 2)) --duration "$DUR" \
            --warmup "$WARM" --json "$OUT/$key.$p.part" --quiet "$@" &
        lpids="$lpids $!"
    done
    for p in $lpids; do wait "$p" || true; done
    a=$OUT/$key.$PORT.part b=$OUT/$key.$PORT2.part
    printf '{\n  "rps": %s,\n  "events_per_s": %s,\n  "p99_us": %s,\n  "errors": %s\n}\n' \
        "$(awk -v x="$(jnum "$a" rps)" -v y="$(jnum "$b" rps)" 'BEGIN { print x + y }')" \
        "$(awk -v x="$(jnum "$a" events_per_s)" -v y="$(jnum "$b" events_per_s)" 'BEGIN { print x + y }')" \
        "$(awk -v x="$(jnum "$a" p99_us)" -v y="$(jnum "$b" p99_us)" 'BEGIN { print (x > y ? x : y) }')" \
        "$(awk -v x="$(jnum "$a" errors)" -v y="$(jnum "$b" errors)" 'BEGIN { print x + y }')" >"$OUT/$key.json"
    rm -f "$a" "$b"
    say "$key: $(jnum "$OUT/$key.json" rps) req/s, $(jnum "$OUT/$key.json" events_per_s) events/s over 2 replicas"
}
# best KEY: the run of KEY.rN with the most req/s becomes KEY
best() {
    b_top="" b_rps=-1
    for f in "$OUT/$1".r*.json; do
        [ -f "$f" ] || continue
        v=$(jnum "$f" rps)
        if awk -v a="${v:-0}" -v b="$b_rps" 'BEGIN { exit !(a > b) }'; then b_top=$f b_rps=$v; fi
    done
    [ -z "$b_top" ] || cp "$b_top" "$OUT/$1.json"
}

mktokens() {
    : >"$2"
    for i in 1 2 3 4 5 6 7 8; do
        "$BIN" token create --db "$1" --client $CLIENT --account $ACCOUNT --name "bench-$i" >>"$2"
    done
}

READS="traits-user metadata events-first"
for n in $SIZES; do
    say "generating $n profiles x 20 events"
    "$GEN" --profiles "$n" --events 20 >"$WORK/data.ndjson"
    msgs=$(wc -l <"$WORK/data.ndjson")
    url=$(sh scripts/pg-cluster.sh createdb "$PGDIR" "bench$n")
    for be in sqlite pg; do
        db=$WORK/bench$n.db
        [ $be = sqlite ] || db=$url
        t1=$(date +%s.%N)
        "$BIN" import --db "$db" --client $CLIENT --account $ACCOUNT --brand $BRAND "$WORK/data.ndjson" 2>>"$WORK/import.log"
        t2=$(date +%s.%N)
        awk -v a="$t1" -v b="$t2" -v m="$msgs" 'BEGIN { printf "%.0f\n", m / (b - a) }' >"$OUT/import-$be-$n.rate"
        say "import $be $n: $(cat "$OUT/import-$be-$n.rate") messages/s"
        mktokens "$db" "$WORK/tokens-$be-$n.txt"
    done
    rm -f "$WORK/data.ndjson"
    # reads, then ingest (last: it adds data), alternating the backends run by run
    for s in $READS ingest; do
        r=1
        while [ $r -le "$REPEAT" ]; do
            for be in sqlite pg; do
                db=$WORK/bench$n.db
                [ $be = sqlite ] || db=$url
                serve "$db" $PORT 0 --threads 1 --workers 1
                [ $be = sqlite ] || pg_pin 0
                load "$s-$be-$n.r$r" 1 $PORT --tokens "$WORK/tokens-$be-$n.txt" --profiles "$n" \
                    --scenario $s $([ $s != events-first ] || echo --limit 100)
                unserve
            done
            r=$((r + 1))
        done
        best "$s-sqlite-$n"
        best "$s-pg-$n"
    done
done

# one against two replicas on one PostgreSQL (the 100k database), unpinned
n=$(scaled 100000)
url=postgresql://postgres@127.0.0.1:$(cat "$PGDIR/port")/bench$n
pg_pin 0,1
for s in traits-user ingest; do
    r=1
    while [ $r -le "$REPEAT" ]; do
        serve "$url" $PORT - --threads 1 --workers 2
        load "$s-rep1.r$r" - $PORT --tokens "$WORK/tokens-pg-$n.txt" --profiles "$n" --scenario $s
        serve "$url" $PORT2 - --threads 1 --workers 2
        load2 "$s-rep2.r$r" --tokens "$WORK/tokens-pg-$n.txt" --profiles "$n" --scenario $s
        unserve
        r=$((r + 1))
    done
    best "$s-rep1"
    best "$s-rep2"
done

# ---- the table
f0() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }'; }
ms() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.2f", v / 1000 }'; }
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
{
    echo "SQLite against PostgreSQL 15, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores"
    echo "server side on core 0 (profiled --threads 1 --workers 1, and PostgreSQL's processes), client on core 1;"
    echo "$CONNS connections, closed loop, ${DUR}s after ${WARM}s warm-up, best of $REPEAT alternating runs; ingest: 100-event batches"
    printf '%-12s %8s %12s %9s %12s %9s %8s\n' scenario profiles "sqlite r/s" "p99 ms" "postgres r/s" "p99 ms" "pg/sqlite"
    for n in $SIZES; do
        for s in $READS ingest; do
            a=$OUT/$s-sqlite-$n.json b=$OUT/$s-pg-$n.json
            k=rps
            [ $s != ingest ] || k=events_per_s
            printf '%-12s %8s %12s %9s %12s %9s %8s\n' "$s" "$n" "$(f0 "$(jnum "$a" $k)")" "$(ms "$(jnum "$a" p99_us)")" \
                "$(f0 "$(jnum "$b" $k)")" "$(ms "$(jnum "$b" p99_us)")" "$(ratio "$(jnum "$b" $k)" "$(jnum "$a" $k)")"
        done
        printf '%-12s %8s %12s %9s %12s %9s %8s\n' "import" "$n" "$(cat "$OUT/import-sqlite-$n.rate")" - \
            "$(cat "$OUT/import-pg-$n.rate")" - "$(ratio "$(cat "$OUT/import-pg-$n.rate")" "$(cat "$OUT/import-sqlite-$n.rate")")"
    done
    echo "(ingest and import figures are events/s and messages/s)"
    echo
    echo "one against two replicas on one PostgreSQL ($n profiles), nothing pinned: 2 cores for replicas, PostgreSQL and client"
    for s in traits-user ingest; do
        k=rps
        [ $s != ingest ] || k=events_per_s
        a=$OUT/$s-rep1.json b=$OUT/$s-rep2.json
        printf '  %-12s 1 replica %8s  2 replicas %8s  ratio %s\n' "$s" "$(f0 "$(jnum "$a" $k)")" "$(f0 "$(jnum "$b" $k)")" \
            "$(ratio "$(jnum "$b" $k)" "$(jnum "$a" $k)")"
    done
} >"$OUT/table.txt"
echo
cat "$OUT/table.txt"
say "raw runs: $OUT/; whole run $(($(date +%s) - T0)) s"
