#!/bin/sh
# bench.sh -- `make bench`: Release build in build-bench/, generated data,
# profiled and nginx (static copies of real answers, the ceiling) on loopback
# under profiled-load, server on core 0 and client on core 1. Prints a table;
# raw results go to bench-results/latest.json. See docs/BENCHMARKS.md.
#   env: BENCH_SCALE (1: 100k profiles), BENCH_FULL=1 (also 1M profiles),
#        BENCH_DURATION / BENCH_WARMUP (whole seconds per run), BENCH_REPEAT
#        (alternating profiled/nginx runs per scenario, best kept), BENCH_PORT,
#        BENCH_UNPINNED=0 (skip the unpinned runs), BENCH_KEEP=1 (keep data),
#        BENCH_MIX_INGEST_CONNECTIONS (connections of the mix that carry its
#        ingest, 2; the others only read; 0: every connection the whole mix)
# Word splitting of $HIGH and of argument lists is intended:
# shellcheck disable=SC2046,SC2086,SC2059
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
T0=$(date +%s)
SCALE=${BENCH_SCALE:-1}
FULL=${BENCH_FULL:-0}
UNPINNED=${BENCH_UNPINNED:-1}
BUILD=build-bench
OUT=bench-results
RUNS=$OUT/runs
CONNS=64
CLIENT=intilery ACCOUNT=marketing BRAND=MARKETING
PPORT=${BENCH_PORT:-18700}
NPORT=$((PPORT + 1))
MIX_INGEST=${BENCH_MIX_INGEST_CONNECTIONS:-2}
HIGH="--rate 1000000000 --burst 1000000000 --ingest-rate 1000000000 --ingest-burst 1000000000"

# Sizes: BENCH_SCALE multiplies every profile count (the deep-scroll
# profiles keep their 101,000 events: page 1,000 needs them).
scaled() { awk -v n="$1" -v s="$SCALE" -v m="${2:-1}" 'BEGIN { v = int(n * s); if (v < m) v = m; print v }'; }
N_MAIN=$(scaled 100000 100)
N_SMALL=$(scaled 10000 100)
N_BIG=$(scaled 1000000 100)
N_EV=$(scaled 2000 50)
EV_PER=150
DEEP_EVENTS=101000
if awk -v s="$SCALE" 'BEGIN { exit !(s < 1) }'; then
    DUR=${BENCH_DURATION:-3} WARM=${BENCH_WARMUP:-1} REPEAT=${BENCH_REPEAT:-1}
else
    DUR=${BENCH_DURATION:-4} WARM=${BENCH_WARMUP:-1} REPEAT=${BENCH_REPEAT:-3}
fi

say() { printf '%s [%4ss] %s\n' "bench:" "$(($(date +%s) - T0))" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---- dependencies and build ------------------------------------------------
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    say "installing nginx (the static-file ceiling)"
fi
PROFILED_EXTRA_PKGS="nginx ${PROFILED_EXTRA_PKGS:-}" sh scripts/install-deps.sh
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed"
say "building Release in $BUILD/"
cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $BUILD -j "$(nproc)" --target profiled profiled-gendata profiled-load bench_ratelimit >/dev/null
BIN=$BUILD/profiled GEN=$BUILD/profiled-gendata LOAD=$BUILD/profiled-load
# nginx runs with access_log off; so does profiled, where it has an access log.
if "$BIN" serve --help 2>&1 | grep -q -- --access-log; then HIGH="$HIGH --access-log off"; fi

for p in $PPORT $NPORT; do
    if curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/"; then die "port $p is in use; set BENCH_PORT"; fi
done

WORK=$(mktemp -d /tmp/profiled-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers (www-data) read the static files
SPID="" NPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$RUNS"
mkdir -p "$RUNS"
: >"$WORK/table.txt"

# ---- servers -------------------------------------------------------------------
. scripts/bench-lib.sh # wait_http, jnum

# serve DB pinned|unpinned [extra flags]
serve() {
    s_db=$1 s_mode=$2
    shift 2
    if [ "$s_mode" = pinned ]; then
        taskset -c 0 "$BIN" serve --listen 127.0.0.1:$PPORT --db "$s_db" --threads 1 --workers 1 $HIGH "$@" >>"$WORK/serve.log" 2>&1 &
    else
        "$BIN" serve --listen 127.0.0.1:$PPORT --db "$s_db" --threads 2 --workers 2 $HIGH "$@" >>"$WORK/serve.log" 2>&1 &
    fi
    SPID=$!
    wait_http "http://127.0.0.1:$PPORT/healthz" || die "profiled did not start (see $WORK/serve.log)"
}

unserve() {
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# CPU accounting, to see the server's share and anyone else's (a busy
# machine makes every number here worse): busy and total jiffies of the
# machine, and the jiffies of a process and its children threads/processes.
# Interrupt time is left out of "busy": loopback traffic is mostly softirq.
machine_jiffies() { awk '/^cpu / { b = $2 + $3 + $4 + $9; print b, b + $5 + $6 + $7 + $8; exit }' /proc/stat; }
server_jiffies() { # PIDS
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }'
}
server_pids() { # PORT
    if [ "$1" = "$PPORT" ]; then echo "$SPID"; else echo "$NPID $(ps -o pid= --ppid "$NPID" 2>/dev/null)"; fi
}

# nginx_start BODY_FILE pinned|unpinned: nginx serving those bytes for every
# path (and, through error_page, for POST too), in the foreground, our child.
nginx_start() {
    ng=$WORK/nginx
    rm -rf "$ng"
    mkdir -p "$ng/www" "$ng/tmp"
    chmod 755 "$ng" "$ng/www"
    cp "$1" "$ng/www/body.json"
    chmod 644 "$ng/www/body.json"
    workers=1
    [ "$2" = pinned ] || workers=2
    cat >"$ng/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
user www-data;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    types {}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    etag off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    open_file_cache max=16 inactive=3600s;
    open_file_cache_valid 3600s;
    client_body_buffer_size 1m;
    client_max_body_size 2m;
    client_body_temp_path $ng/tmp;
    proxy_temp_path $ng/tmp;
    fastcgi_temp_path $ng/tmp;
    uwsgi_temp_path $ng/tmp;
    scgi_temp_path $ng/tmp;
    server {
        listen 127.0.0.1:$NPORT;
        root $ng/www;
        location / { try_files /body.json =404; error_page 405 =200 /body.json; }
    }
}
EOF
    if [ "$2" = pinned ]; then
        taskset -c 0 "$NGINX" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" &
    else
        "$NGINX" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" &
    fi
    NPID=$!
    wait_http "http://127.0.0.1:$NPORT/" || die "nginx did not start (see $ng/error.log)"
}

nginx_stop() {
    kill "$NPID" 2>/dev/null || true
    wait "$NPID" 2>/dev/null || true
    NPID=""
}

# ---- results ---------------------------------------------------------------------
skipped() { grep -q '^  "skipped": "' "$1" 2>/dev/null; }

# load KEY pinned|unpinned PORT [profiled-load args]: one run, JSON in runs/KEY.json.
load() {
    key=$1 l_mode=$2 port=$3
    shift 3
    pids=$(server_pids "$port")
    m0=$(machine_jiffies) s0=$(server_jiffies $pids)
    set +e
    if [ "$l_mode" = pinned ]; then
        timeout $((DUR + WARM + 60)) taskset -c 1 "$LOAD" --url http://127.0.0.1:$port --connections $CONNS \
            --duration "$DUR" --warmup "$WARM" --json "$RUNS/$key.json" --quiet "$@"
    else
        timeout $((DUR + WARM + 60)) "$LOAD" --url http://127.0.0.1:$port --connections $CONNS \
            --duration "$DUR" --warmup "$WARM" --json "$RUNS/$key.json" --quiet "$@"
    fi
    rc=$?
    set -e
    m1=$(machine_jiffies) s1=$(server_jiffies $pids)
    # cores busy: the whole machine and the server, over the whole run
    echo "$m0 $m1 $s0 $s1" | awk -v n="$(nproc)" '{ t = $4 - $2; if (t <= 0) t = 1; printf "%.2f %.2f\n", ($3 - $1) / t * n, ($6 - $5) / t * n }' >"$RUNS/$key.cpu"
    if [ $port = $PPORT ] && [ -n "$SPID" ]; then rss_kb "$SPID" >"$RUNS/$key.rss"; fi
    if [ $rc = 3 ]; then
        say "$key: n/a (events route missing)"
    elif [ $rc != 0 ]; then
        say "$key: profiled-load failed ($rc)"
    else
        say "$key: $(jnum "$RUNS/$key.json" rps) req/s, p99 $(jnum "$RUNS/$key.json" p99_us) us, errors $(jnum "$RUNS/$key.json" errors)"
    fi
    return 0
}

# fetch PATH FILE: one real answer of profiled, for nginx to serve.
fetch() { curl -s -m 10 -H "auth-token: $TOKEN" -o "$2" "http://127.0.0.1:$PPORT$1"; }

# ---- data ----------------------------------------------------------------------
say "generating $N_MAIN profiles x 20 events"
"$GEN" --profiles "$N_MAIN" --events 20 >"$WORK/main.ndjson"
MSGS=$(wc -l <"$WORK/main.ndjson")
say "importing $MSGS messages (timed)"
t1=$(date +%s.%N)
"$BIN" import --db "$WORK/main.db" --client $CLIENT --account $ACCOUNT --brand $BRAND "$WORK/main.ndjson" 2>"$WORK/import.log"
t2=$(date +%s.%N)
IMPORT_S=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
IMPORT_RATE=$(awk -v n="$MSGS" -v s="$IMPORT_S" 'BEGIN { printf "%.0f", n / s }')
say "import: $IMPORT_RATE messages/s"
rm -f "$WORK/main.ndjson"
say "events tenants: $N_EV profiles x $EV_PER events (brand EVENTS), 3 x $DEEP_EVENTS (brand DEEP)"
"$GEN" --profiles "$N_EV" --events $EV_PER --seed 2 |
    "$BIN" import --db "$WORK/main.db" --client $CLIENT --account $ACCOUNT --brand EVENTS - 2>>"$WORK/import.log"
"$GEN" --profiles 3 --events $DEEP_EVENTS --seed 3 |
    "$BIN" import --db "$WORK/main.db" --client $CLIENT --account $ACCOUNT --brand DEEP - 2>>"$WORK/import.log"
say "small database: $N_SMALL profiles"
"$GEN" --profiles "$N_SMALL" --events 20 |
    "$BIN" import --db "$WORK/small.db" --client $CLIENT --account $ACCOUNT --brand $BRAND - 2>>"$WORK/import.log"

# Tokens cover every brand of the account; 16 of them, round-robin per
# connection, with limits high enough that the limiter runs but never bites.
mktokens() {
    : >"$2"
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
        "$BIN" token create --db "$1" --client $CLIENT --account $ACCOUNT --name "bench-$i" >>"$2"
    done
}
mktokens "$WORK/main.db" "$WORK/tokens.txt"
mktokens "$WORK/small.db" "$WORK/tokens-small.txt"
TOKEN=$(head -n 1 "$WORK/tokens.txt")

# ---- the read scenarios, pinned, against profiled then nginx ---------------------
MAIN="--tokens $WORK/tokens.txt --profiles $N_MAIN"
EVT="--tokens $WORK/tokens.txt --tenant $CLIENT/$ACCOUNT/EVENTS --profiles $N_EV"
B=/track/$CLIENT/$ACCOUNT/$BRAND/v1
BE=/track/$CLIENT/$ACCOUNT/EVENTS/v1
READS="traits-user traits-email metadata audiences events-first scroll mix"
SCENARIOS="$READS ingest"

# args_of SCENARIO: profiled-load arguments; path_of: the answer nginx serves.
args_of() {
    case $1 in
    events-first) echo "$EVT --scenario events-first --limit 100" ;;
    scroll) echo "$EVT --scenario scroll --limit 20" ;;
    mix) echo "$MAIN --scenario mix --ingest-connections $MIX_INGEST" ;;
    *) echo "$MAIN --scenario $1" ;;
    esac
}
path_of() {
    case $1 in
    traits-user | mix) echo "$B/profiles/userId:user-000001/traits" ;;
    traits-email) echo "$B/profiles/email:$EMAIL1/traits" ;;
    metadata) echo "$B/profiles/userId:user-000001/metadata" ;;
    audiences) echo "$B/profiles/userId:user-000001/audiences" ;;
    events-first) echo "$BE/profiles/userId:user-000001/events?limit=100" ;;
    scroll) echo "$BE/profiles/userId:user-000001/events?limit=20" ;;
    esac
}

# pair KEY MODE CEILING ARGS...: BENCH_REPEAT alternating runs of profiled
# (already serving) and, when CEILING is 1, of nginx (already serving the
# same bytes), then the best run of each becomes KEY.profiled.MODE and
# KEY.nginx.MODE. Alternating and keeping the best keeps the comparison fair
# when something else on the machine takes CPU now and then.
pair() {
    p_key=$1 p_mode=$2 p_ceiling=$3
    shift 3
    r=1
    while [ $r -le "$REPEAT" ]; do
        load "$p_key.profiled.$p_mode.r$r" $p_mode $PPORT "$@"
        if [ "$p_ceiling" = 1 ]; then
            extra=""
            [ "$p_key" != scroll ] || extra="--max-pages 8" # every page is full: stop where profiled's chains end
            load "$p_key.nginx.$p_mode.r$r" $p_mode $NPORT "$@" --check status $extra
        fi
        r=$((r + 1))
    done
    best "$p_key.profiled.$p_mode"
    [ "$p_ceiling" != 1 ] || best "$p_key.nginx.$p_mode"
}

# best KEY: copies the KEY.rN run with the highest req/s to KEY.
best() {
    b_top="" b_rps=-1
    for f in "$RUNS/$1".r*.json; do
        if [ ! -f "$f" ] || skipped "$f"; then continue; fi
        v=$(jnum "$f" rps)
        if awk -v a="$v" -v b="$b_rps" 'BEGIN { exit !(a > b) }'; then b_top=${f%.json} b_rps=$v; fi
    done
    if [ -z "$b_top" ]; then # all skipped: keep one, so the table says n/a
        for f in "$RUNS/$1".r*.json; do
            [ ! -f "$f" ] || b_top=${f%.json}
            break
        done
    fi
    [ -n "$b_top" ] || return 0
    cp "$b_top.json" "$RUNS/$1.json"
    for x in rss cpu; do [ ! -f "$b_top.$x" ] || cp "$b_top.$x" "$RUNS/$1.$x"; done
}

EVENTS_ROUTE=1
for mode in pinned unpinned; do
    [ $mode = pinned ] || [ "$UNPINNED" = 1 ] || continue
    serve "$WORK/main.db" $mode
    EMAIL1=$(curl -s -H "auth-token: $TOKEN" "http://127.0.0.1:$PPORT$B/profiles/userId:user-000001/traits" |
        sed -n 's/.*"email":"\([^"]*\)".*/\1/p')
    code=$(curl -s -o "$WORK/probe.json" -w '%{http_code}' -H "auth-token: $TOKEN" "http://127.0.0.1:$PPORT$(path_of events-first)")
    if [ "$code" = 404 ] && grep -q invalid_request_error "$WORK/probe.json"; then EVENTS_ROUTE=0; fi
    for s in $READS; do
        ceiling=1
        if [ $EVENTS_ROUTE = 0 ] && { [ $s = events-first ] || [ $s = scroll ]; }; then ceiling=0; fi
        if [ $ceiling = 1 ]; then
            fetch "$(path_of $s)" "$WORK/body-$s.json" || true
            nginx_start "$WORK/body-$s.json" $mode
        fi
        pair $s $mode $ceiling $(args_of $s)
        [ $ceiling = 0 ] || nginx_stop
    done
    unserve
done

# ---- scroll page 1 vs page 1,000 (DEEP: 3 profiles of 101,000 events) --------
# With the cache off: its three first pages would be cached (loop-thread
# hits), and this compares a page built at depth 1 with one at depth 1,000.
serve "$WORK/main.db" pinned --cache-mb 0
DEEP="--tokens $WORK/tokens.txt --tenant $CLIENT/$ACCOUNT/DEEP --profiles 3 --limit 100 --connections 2"
load deep-first.profiled.pinned pinned $PPORT $DEEP --scenario events-first
if [ -f "$RUNS/deep-first.profiled.pinned.json" ] && ! skipped "$RUNS/deep-first.profiled.pinned.json"; then
    # One long walk per connection (no warm-up: the deep pages come last);
    # pages >= 1000 land in the deep histogram.
    DUR_SAVE=$DUR WARM_SAVE=$WARM
    DUR=$((DUR * 3)) WARM=0
    load deep-scroll.profiled.pinned pinned $PPORT $DEEP --scenario scroll --max-pages 1010 --deep-page 1000
    DUR=$DUR_SAVE WARM=$WARM_SAVE
fi

# ---- traits latency by database size: closed loop (64 connections) and open
# loop at a fixed 5,000 req/s (16 connections) ------------------------------------
load "size-$N_MAIN.open.pinned" pinned $PPORT $MAIN --scenario traits-user --rate 5000 --connections 16
# ---- batch lookup: 100 ids a call, reported in profiles/s against the
# single-id traits route of the same run
load batch-traits.profiled.pinned pinned $PPORT $MAIN --scenario batch-traits --batch 100
unserve
serve "$WORK/small.db" pinned
load "size-$N_SMALL.closed.pinned" pinned $PPORT --tokens "$WORK/tokens-small.txt" --profiles "$N_SMALL" --scenario traits-user
load "size-$N_SMALL.open.pinned" pinned $PPORT --tokens "$WORK/tokens-small.txt" --profiles "$N_SMALL" --scenario traits-user \
    --rate 5000 --connections 16
unserve
SIZES="$N_SMALL $N_MAIN"
if [ "$FULL" = 1 ]; then
    say "BENCH_FULL: $N_BIG profiles x 20 events"
    "$GEN" --profiles "$N_BIG" --events 20 |
        "$BIN" import --db "$WORK/big.db" --client $CLIENT --account $ACCOUNT --brand $BRAND - 2>>"$WORK/import.log"
    mktokens "$WORK/big.db" "$WORK/tokens-big.txt"
    serve "$WORK/big.db" pinned
    load "size-$N_BIG.closed.pinned" pinned $PPORT --tokens "$WORK/tokens-big.txt" --profiles "$N_BIG" --scenario traits-user
    load "size-$N_BIG.open.pinned" pinned $PPORT --tokens "$WORK/tokens-big.txt" --profiles "$N_BIG" --scenario traits-user \
        --rate 5000 --connections 16
    unserve
    SIZES="$SIZES $N_BIG"
fi
cp "$RUNS/traits-user.profiled.pinned.json" "$RUNS/size-$N_MAIN.closed.pinned.json" 2>/dev/null || true

# ---- ingest at --sync normal and --sync full, alternating (the writer's
# page cache warms up run after run, so a fixed order would favour the last),
# twice as long as the reads (commits stall now and then); then nginx taking
# the same POSTs. Last, as it adds data to the main database. -------------------
printf '{"success":true}' >"$WORK/body-ingest.json"
DUR_SAVE=$DUR
DUR=$((DUR * 2))
r=1
while [ $r -le "$REPEAT" ]; do
    for sync in normal full; do
        k=ingest
        [ $sync = normal ] || k=ingest-full
        serve "$WORK/main.db" pinned --sync $sync
        load "$k.profiled.pinned.r$r" pinned $PPORT $(args_of ingest)
        unserve
    done
    r=$((r + 1))
done
DUR=$DUR_SAVE
best ingest.profiled.pinned
best ingest-full.profiled.pinned
# The same unpinned (the server on both cores, as it is deployed), on the
# main and the small database, with 64 and 128 connections: group commit
# amortises each commit's page writes over the requests it holds, so
# throughput follows concurrency and the size of the set of profiles written.
DUR=$((DUR * 2))
for db in main small; do
    np=$N_MAIN tf=$WORK/tokens.txt
    [ $db = main ] || np=$N_SMALL tf=$WORK/tokens-small.txt
    for c in 64 128; do
        serve "$WORK/$db.db" unpinned
        load "ingest-$db-c$c.profiled.unpinned" unpinned $PPORT --tokens "$tf" --profiles "$np" --scenario ingest --connections $c
        unserve
    done
done
rm -f "$WORK/small.db"*
DUR=$DUR_SAVE
nginx_start "$WORK/body-ingest.json" pinned
load ingest.nginx.pinned.r1 pinned $NPORT $(args_of ingest) --check status
best ingest.nginx.pinned
nginx_stop

# ---- rate-limit check cost -------------------------------------------------------
say "rate-limit micro-benchmark"
taskset -c 1 $BUILD/bench_ratelimit >"$OUT/ratelimit.txt" 2>&1 || true

# ---- fairness: one tenant floods while another sends one-event batches -----------
say "ingest flood (scripts/ingest-flood.py: 8 sequential shared-email batches, then 8 connections for ${DUR}s)"
{
    echo "sequential batches of 1,000 identifies sharing one email:"
    python3 scripts/ingest-flood.py "$BIN" 2>&1 | sed 's/^/  /'
    echo "8 flood connections for ${DUR}s:"
    python3 scripts/ingest-flood.py "$BIN" --connections 8 --seconds "$DUR" 2>&1 | sed 's/^/  /'
} >"$OUT/flood.txt" || true

# ---- the table ---------------------------------------------------------------------
f2() { awk -v v="${1:-}" -v d="${2:-1}" 'BEGIN { if (v == "") print "n/a"; else printf "%.*f", d, v }'; }
ms() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.2f", v / 1000 }'; }
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# others KEY: cores used by other processes during the run (machine busy
# minus server minus client); "-" when unknown.
others() {
    [ -f "$RUNS/$1.cpu" ] || { echo -; return; }
    awk -v c="$(jnum "$RUNS/$1.json" client_cpu)" '{ o = $1 - $2 - c; if (o < 0) o = 0; printf "%.2f", o }' "$RUNS/$1.cpu"
}
HDR='%-13s %8s %7s %7s %8s %9s %7s %6s %5s %11s\n'
header() { printf "$HDR" scenario "req/s" "p50 ms" "p99 ms" "p99.9 ms" "nginx r/s" "x nginx" "RSS MB" "srv" "others p/n"; }
row() { # KEY LABEL NGINX_KEY [PREFIX: reads_ for the reads of a mix]
    f=$RUNS/$1.json p=${4:-}
    if [ ! -f "$f" ] || skipped "$f"; then
        printf "$HDR" "$2" n/a n/a n/a n/a n/a n/a n/a n/a n/a
        return
    fi
    r=$(jnum "$f" ${p}rps)
    n=""
    [ -f "$RUNS/$3.json" ] && ! skipped "$RUNS/$3.json" && n=$(jnum "$RUNS/$3.json" ${p}rps)
    rss=$(cat "$RUNS/$1.rss" 2>/dev/null || echo "")
    srv=$(awk '{ print $2 }' "$RUNS/$1.cpu" 2>/dev/null || echo "")
    onx="-"
    [ -z "$n" ] || onx=$(others "$3")
    printf "$HDR" "$2" "$(f2 "$r" 0)" "$(ms "$(jnum "$f" ${p}p50_us)")" "$(ms "$(jnum "$f" ${p}p99_us)")" "$(ms "$(jnum "$f" ${p}p999_us)")" \
        "$(f2 "$n" 0)" "$(ratio "$r" "$n")" "$(awk -v k="$rss" 'BEGIN { if (k == "") print "n/a"; else printf "%.0f", k / 1024 }')" \
        "${srv:-n/a}" "$(others "$1")/$onx"
}
{
    echo "profiled benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
    echo "$N_MAIN profiles x 20 events; $CONNS connections, closed loop, ${DUR}s measured after ${WARM}s warm-up, best of $REPEAT alternating runs"
    echo "srv: server CPU in cores; others: cores used by other processes during the profiled/nginx run (noise)"
    echo
    for mode in pinned unpinned; do
        [ -f "$RUNS/traits-user.profiled.$mode.json" ] || continue
        if [ $mode = pinned ]; then
            echo "server pinned to core 0 (--threads 1 --workers 1; nginx 1 worker), client on core 1"
        else
            echo "server unpinned (--threads 2 --workers 2; nginx 2 workers), client unpinned: all share 2 cores"
        fi
        header
        for s in $SCENARIOS; do
            [ -f "$RUNS/$s.profiled.$mode.json" ] || [ -f "$RUNS/$s.profiled.$mode.rss" ] || continue
            row "$s.profiled.$mode" "$s" "$s.nginx.$mode"
            # the mix's reads alone (its ingest on its own connections): the
            # figure the mix's target and its nginx ratio are judged on
            [ $s != mix ] || row "$s.profiled.$mode" "mix-reads" "$s.nginx.$mode" reads_
        done
        echo
    done
    echo "ingest (POST /v1/batch, 100 events a batch, $CONNS connections, pinned):"
    for k in ingest ingest-full; do
        f=$RUNS/$k.profiled.pinned.json
        sync=normal
        [ $k = ingest ] || sync=full
        printf '  --sync %-7s %10s events/s  p50 %s ms  p99 %s ms  RSS %s MB\n' $sync "$(f2 "$(jnum "$f" events_per_s)" 0)" \
            "$(ms "$(jnum "$f" p50_us)")" "$(ms "$(jnum "$f" p99_us)")" \
            "$(awk -v k="$(cat "$RUNS/$k.profiled.pinned.rss" 2>/dev/null)" 'BEGIN { if (k == "") print "n/a"; else printf "%.0f", k / 1024 }')"
    done
    echo "ingest, server unpinned (--threads 2 --workers 2), --sync normal, by profiles written and connections:"
    for db in main small; do
        np=$N_MAIN
        [ $db = main ] || np=$N_SMALL
        for c in 64 128; do
            f=$RUNS/ingest-$db-c$c.profiled.unpinned.json
            [ -f "$f" ] || continue
            printf '  %8s profiles, %3s connections: %10s events/s  p50 %s ms  p99 %s ms  errors %s\n' "$np" $c \
                "$(f2 "$(jnum "$f" events_per_s)" 0)" "$(ms "$(jnum "$f" p50_us)")" "$(ms "$(jnum "$f" p99_us)")" "$(jnum "$f" errors)"
        done
    done
    echo "import: $MSGS messages in ${IMPORT_S}s = $IMPORT_RATE messages/s (profiled import, one file)"
    f1=$RUNS/deep-first.profiled.pinned.json fd=$RUNS/deep-scroll.profiled.pinned.json
    if [ -f "$fd" ] && ! skipped "$fd" && [ "$(jnum "$fd" deep_count)" != 0 ]; then
        p1=$(jnum "$f1" p50_us) pd=$(jnum "$fd" deep_p50_us)
        echo "scroll (100-event pages, 2 connections, --cache-mb 0): page 1 p50 $(ms "$p1") ms (p99 $(ms "$(jnum "$f1" p99_us)")), pages 1000-1010 p50 $(ms "$pd") ms (p99 $(ms "$(jnum "$fd" deep_p99_us)"), n $(jnum "$fd" deep_count)): ratio $(ratio "$pd" "$p1")"
    elif [ -f "$fd" ] && ! skipped "$fd"; then
        echo "scroll page 1 vs 1,000: page 1,000 not reached in $((DUR * 3))s (page 1 p50 $(ms "$(jnum "$f1" p50_us)") ms)"
    else
        echo "scroll page 1 vs 1,000: n/a (events route missing)"
    fi
    fb=$RUNS/batch-traits.profiled.pinned.json ft=$RUNS/traits-user.profiled.pinned.json
    if [ -f "$fb" ] && [ -f "$ft" ]; then
        pb=$(awk -v v="$(jnum "$fb" rps)" 'BEGIN { printf "%.0f", v * 100 }')
        echo "batch lookup (100 userIds a call, pinned): $(f2 "$(jnum "$fb" rps)" 0) calls/s = $pb profiles/s (p99 $(ms "$(jnum "$fb" p99_us)") ms) against $(f2 "$(jnum "$ft" rps)" 0) profiles/s one id a request: ratio $(ratio "$pb" "$(jnum "$ft" rps)")"
    fi
    echo "traits by userId vs database size (pinned; closed loop 64 connections | open loop 5,000 req/s, 16 connections):"
    for n in $SIZES; do
        c=$RUNS/size-$n.closed.pinned.json o=$RUNS/size-$n.open.pinned.json
        printf '  %8s profiles: %8s req/s p50 %s p99 %s ms | at 5k req/s p50 %s p99 %s p99.9 %s ms\n' "$n" \
            "$(f2 "$(jnum "$c" rps)" 0)" "$(ms "$(jnum "$c" p50_us)")" "$(ms "$(jnum "$c" p99_us)")" \
            "$(ms "$(jnum "$o" p50_us)")" "$(ms "$(jnum "$o" p99_us)")" "$(ms "$(jnum "$o" p999_us)")"
    done
    echo "rate-limit check (bench_ratelimit, core 1):"
    sed 's/^/  /' "$OUT/ratelimit.txt"
    echo "ingest flood (one tenant floods /v1/batch; another tenant's one-event batch every 100 ms):"
    sed 's/^/  /' "$OUT/flood.txt"
    echo "client CPU (share of core 1) in the pinned runs: $(for s in $SCENARIOS; do
        f=$RUNS/$s.nginx.pinned.json
        [ -f "$f" ] && ! skipped "$f" && printf '%s nginx %s%%, ' "$s" "$(awk -v c="$(jnum "$f" client_cpu)" 'BEGIN { printf "%.0f", c * 100 }')"
    done)"
} >"$WORK/table.txt"

# ---- latest.json ---------------------------------------------------------------------
{
    printf '{\n  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "commit": "%s", "uncommitted_files": %s,\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git status --porcelain 2>/dev/null | wc -l)"
    printf '  "machine": {"nproc": %s, "cpu": "%s", "kernel": "%s"},\n' "$(nproc)" \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" "$(uname -r)"
    printf '  "settings": {"scale": %s, "profiles": %s, "events_per_profile": 20, "connections": %s, "duration_s": %s, "warmup_s": %s, "repeat": %s, "events_route": %s},\n' \
        "$SCALE" "$N_MAIN" $CONNS "$DUR" "$WARM" "$REPEAT" "$([ $EVENTS_ROUTE = 1 ] && echo true || echo false)"
    printf '  "import": {"messages": %s, "seconds": %s, "messages_per_s": %s},\n' "$MSGS" "$IMPORT_S" "$IMPORT_RATE"
    printf '  "ratelimit": [\n'
    sed 's/\\/\\\\/g; s/"/\\"/g; s/^/    "/; s/$/",/; $ s/,$//' "$OUT/ratelimit.txt"
    printf '  ],\n  "rss_kb": {'
    first=1
    for f in "$RUNS"/*.rss; do
        [ -f "$f" ] || continue
        [ $first = 1 ] || printf ', '
        first=0
        printf '"%s": %s' "$(basename "$f" .rss)" "$(cat "$f")"
    done
    printf '},\n  "table": [\n'
    sed 's/\\/\\\\/g; s/"/\\"/g; s/^/    "/; s/$/",/; $ s/,$//' "$WORK/table.txt"
    printf '  ],\n  "runs": {\n'
    first=1
    for f in "$RUNS"/*.json; do
        [ -f "$f" ] || continue
        [ $first = 1 ] || printf ',\n'
        first=0
        printf '    "%s": ' "$(basename "$f" .json)"
        cat "$f"
    done
    printf '\n  }\n}\n'
} >"$OUT/latest.json"

echo
cat "$WORK/table.txt"
echo
say "raw results: $OUT/latest.json; whole run $(($(date +%s) - T0)) s"
