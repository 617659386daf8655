#!/bin/sh
# run.sh -- the real-client test: installs @segment/analytics-node releases
# from npm (first run; `npm ci`, so exactly what package-lock.json pins),
# starts profiled on an ephemeral port with a temporary database, and runs
# send.js against it.  usage: run.sh PROFILED_BIN
set -e
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null && command -v npm >/dev/null || { echo "segment client test: node and npm are required (scripts/install-deps.sh installs them)" >&2; exit 1; }
if [ ! -d "$HERE/node_modules/analytics-node-3.1" ]; then
    (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --silent)
fi
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
DB=$(sh "$HERE/../support/test-db.sh" "$TMP" seg)
TOKEN=$("$BIN" token create --db "$DB" --client seg --account acct --brand BRAND --name segment-test)
"$BIN" serve --listen 127.0.0.1:0 --db "$DB" --threads 2 --workers 2 > "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/out")
[ -n "$PORT" ] || { cat "$TMP/err" >&2; exit 1; }
node "$HERE/send.js" "http://127.0.0.1:$PORT" "$TOKEN" /track/seg/acct/BRAND/v1 1000 || {
    echo "segment client test: server log:" >&2
    tail -60 "$TMP/err" >&2
    grep -v '"status":200' "$TMP/out" | tail -20 >&2
    exit 1
}
