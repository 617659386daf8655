#!/bin/sh
# bench-ab.sh -- `make bench-ab BASELINE=REV`: this checkout against another
# commit, side by side in one go. Both are built Release (the baseline in a
# temporary git worktree), serve copies of one generated database, pinned to
# core 0 (--threads 1 --workers 1, access log off) under profiled-load on
# core 1, in alternating runs (baseline first, then this first), and the medians are
# printed with their ratio, req/s and p99. The mix runs with its ingest on
# its own connections (--ingest-connections) and gets a second row,
# mix-reads: its reads alone. Nothing listens outside 127.0.0.1.
#   env: BASELINE (commit, default HEAD~1), AB_PROFILES (20000),
#        AB_EVENTS (events a profile, 20), AB_REPEAT (runs each, 3),
#        AB_DURATION (seconds a run, 4), AB_SCENARIOS (traits-user metadata
#        events-first ingest), AB_CONNECTIONS (32), AB_PORT (18990),
#        AB_MIX_INGEST_CONNECTIONS (of the mix's connections, 2)
# shellcheck disable=SC2086
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
REV=${BASELINE:-HEAD~1}
NP=${AB_PROFILES:-20000} NE=${AB_EVENTS:-20} REPEAT=${AB_REPEAT:-3} DUR=${AB_DURATION:-4}
SCENARIOS=${AB_SCENARIOS:-traits-user metadata events-first ingest}
CONNS=${AB_CONNECTIONS:-32} PORT=${AB_PORT:-18990} MIX_INGEST=${AB_MIX_INGEST_CONNECTIONS:-2}
HIGH="--rate 1000000000 --burst 1000000000 --ingest-rate 1000000000 --ingest-burst 1000000000"
say() { printf 'bench-ab: %s\n' "$*" >&2; }

SHA=$(git rev-parse --verify "$REV^{commit}") || { say "no commit $REV"; exit 2; }
W=$(mktemp -d /tmp/profiled-ab.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    git worktree remove --force "$W/base-src" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

sh scripts/install-deps.sh
say "building this checkout (Release, build-bench/)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" --target profiled profiled-gendata profiled-load >/dev/null
say "building the baseline $(git log -1 --format='%h %s' "$SHA" | cut -c1-60)"
git worktree add -q --detach "$W/base-src" "$SHA"
cmake -S "$W/base-src" -B "$W/base-build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$W/base-build" -j "$(nproc)" --target profiled >/dev/null
NEW=build-bench/profiled OLD=$W/base-build/profiled LOAD=build-bench/profiled-load

say "data: $NP profiles, $NE events each"
build-bench/profiled-gendata --profiles "$NP" --events "$NE" >"$W/data.ndjson"
"$OLD" import --db "$W/old.db" --client intilery --account marketing --brand MARKETING "$W/data.ndjson" 2>/dev/null
cp "$W/old.db" "$W/new.db"
for i in 1 2 3 4 5 6 7 8; do
    "$OLD" token create --db "$W/old.db" --client intilery --account marketing --name "ab$i" >>"$W/old.tokens"
    "$NEW" token create --db "$W/new.db" --client intilery --account marketing --name "ab$i" >>"$W/new.tokens"
done

# jnum FILE KEY: a top-level number of profiled-load's JSON (one a line).
jnum() { awk -v k="\"$2\":" '$1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$1"; }
# put FILE ROW KEY_PREFIX: appends req/s to $W/ROW and p99 (ms) to $W/ROW.p99
put() {
    echo "$(jnum "$1" "${3}rps")" >>"$W/$2"
    awk -v v="$(jnum "$1" "${3}p99_us")" 'BEGIN { printf "%.3f\n", v / 1000 }' >>"$W/$2.p99"
}

# run NAME BINARY DB TOKENS SCENARIO: one measured run, its req/s to
# $W/NAME.SCENARIO (the mix's reads also to $W/NAME.mix-reads)
run() {
    taskset -c 0 "$2" serve --listen "127.0.0.1:$PORT" --db "$3" --threads 1 --workers 1 --access-log off $HIGH \
        >"$W/serve.out" 2>"$W/serve.err" &
    PID=$!
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { cat "$W/serve.err" >&2; say "the server did not start"; exit 1; }
        sleep 0.1
    done
    extra=""
    [ "$5" != mix ] || extra="--ingest-connections $MIX_INGEST"
    taskset -c 1 "$LOAD" --url "http://127.0.0.1:$PORT" --connections "$CONNS" --duration "$DUR" --warmup 1 \
        --profiles "$NP" --tokens "$4" --scenario "$5" --json "$W/r.json" --quiet --check status $extra >/dev/null
    put "$W/r.json" "$1.$5" ""
    [ "$5" != mix ] || put "$W/r.json" "$1.mix-reads" reads_
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for sc in $SCENARIOS; do
    r=0
    while [ $r -lt "$REPEAT" ]; do
        # Which goes first alternates: a run warms the page cache for the next.
        if [ $((r % 2)) -eq 0 ]; then
            run old "$OLD" "$W/old.db" "$W/old.tokens" "$sc"
            run new "$NEW" "$W/new.db" "$W/new.tokens" "$sc"
        else
            run new "$NEW" "$W/new.db" "$W/new.tokens" "$sc"
            run old "$OLD" "$W/old.db" "$W/old.tokens" "$sc"
        fi
        r=$((r + 1))
    done
    say "$sc: baseline $(tr '\n' ' ' <"$W/old.$sc")/ this $(tr '\n' ' ' <"$W/new.$sc")"
    [ "$sc" != mix ] || say "mix-reads: baseline $(tr '\n' ' ' <"$W/old.mix-reads")/ this $(tr '\n' ' ' <"$W/new.mix-reads")"
done

printf '\nbaseline %s, this %s; %s profiles x %s events, %s connections, %s s runs, medians of %s\n' \
    "$(git rev-parse --short "$SHA")" "$(git describe --always --dirty)" "$NP" "$NE" "$CONNS" "$DUR" "$REPEAT"
printf '%-14s %14s %14s %7s %12s %12s\n' scenario "baseline req/s" "this req/s" ratio "base p99 ms" "this p99 ms"
ROWS=$(for sc in $SCENARIOS; do
    echo "$sc"
    [ "$sc" != mix ] || echo mix-reads
done)
for sc in $ROWS; do
    a=$(median "$W/old.$sc") b=$(median "$W/new.$sc")
    printf '%-14s %14.0f %14.0f %7.2f %12.2f %12.2f\n' "$sc" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print (a > 0) ? b / a : 0 }')" \
        "$(median "$W/old.$sc.p99")" "$(median "$W/new.$sc.p99")"
done
