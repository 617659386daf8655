#!/bin/sh
# run.sh -- the Postman collection (docs/profiled.postman_collection.json
# with docs/profiled.postman_environment.json) run by newman (pinned in
# tools/npm; `npm ci` on the first run) against a server on the demo data of
# `make run` (deploy/demo: import with its definitions, the static audience),
# on an ephemeral port with a temp database and the API reference built by
# scripts/build-docs.sh. The environment's values are overridden on the
# command line: a read-only token, an ingest-only write key, a delete token.
# Fails when any request's tests fail or a request is not run; and shows
# that it can fail: the reads with an unknown token must fail.
# usage: run.sh PROFILED_BIN
set -eu
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NPM="$ROOT/tools/npm"
COLLECTION="$ROOT/docs/profiled.postman_collection.json"
ENVIRONMENT="$ROOT/docs/profiled.postman_environment.json"
for tool in node npm curl; do
    command -v "$tool" >/dev/null || { echo "postman test: $tool is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
sh "$NPM/install.sh"
TMP=$(mktemp -d)
PID=
STEP="start"
cleanup() {
    rc=$?
    [ "$rc" -ne 0 ] && echo "postman test: exited with status $rc at: $STEP" >&2
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "postman test: FAILED: $*" >&2
    echo "postman test: server log:" >&2
    tail -30 "$TMP/err" >&2
    exit 1
}

STEP="demo data"
C=intilery A=marketing B=MARKETING
DB=$(sh "$ROOT/tests/support/test-db.sh" "$TMP" p)
"$BIN" import --db "$DB" --client $C --account $A --brand $B --definitions "$ROOT/deploy/demo/definitions.json" \
    "$ROOT/deploy/demo/sample.ndjson" 2> "$TMP/import.log" || { cat "$TMP/import.log" >&2; fail "import"; }
"$BIN" audience import --db "$DB" --client $C --account $A --brand $B --name audience_board \
    "$ROOT/deploy/demo/audience_board.csv" 2>> "$TMP/import.log" || { cat "$TMP/import.log" >&2; fail "audience import"; }
READ=$("$BIN" token create --db "$DB" --client $C --account $A --brand $B --name postman-read --permissions read)
WRITE=$("$BIN" token create --db "$DB" --client $C --account $A --brand $B --name postman-write --permissions ingest)
DELETE=$("$BIN" token create --db "$DB" --client $C --account $A --brand $B --name postman-delete --permissions delete)

STEP="build-docs"
sh "$ROOT/scripts/build-docs.sh" "$TMP/docs"

STEP="serve"
"$BIN" serve --listen 127.0.0.1:0 --db "$DB" --threads 2 --workers 2 --access-log off \
    --definitions "$ROOT/deploy/demo/definitions.json" --docs-dir "$TMP/docs" > "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/out")
[ -n "$PORT" ] || fail "profiled did not start"

newman() {
    "$NPM/node_modules/.bin/newman" run "$COLLECTION" -e "$ENVIRONMENT" \
        --env-var "baseUrl=http://127.0.0.1:$PORT" --env-var "clientId=$C" --env-var "accountId=$A" --env-var "brandId=$B" \
        --env-var "writeKey=$WRITE" --env-var "deleteToken=$DELETE" --env-var docsBuilt=1 \
        --timeout-request 30000 --disable-unicode --color off "$@"
}

STEP="newman"
newman --env-var "token=$READ" --reporters cli,json --reporter-json-export "$TMP/report.json" > "$TMP/newman.out" 2>&1 || {
    cat "$TMP/newman.out" >&2
    fail "newman: a request's tests failed"
}
tail -25 "$TMP/newman.out"
# every request ran (the scroll's repeats beyond), every one with tests
node - "$TMP/report.json" "$COLLECTION" <<'JS' || fail "newman report"
const fs = require('fs');
const [report, collection] = process.argv.slice(2);
const run = JSON.parse(fs.readFileSync(report, 'utf8')).run;
const requests = [];
const walk = (items) => items.forEach((i) => (i.item ? walk(i.item) : requests.push(i.name)));
walk(JSON.parse(fs.readFileSync(collection, 'utf8')).item);
const ran = run.executions.map((e) => e.item.name);
const missing = requests.filter((n) => !ran.includes(n));
if (missing.length) { console.error('not run: ' + missing.join(', ')); process.exit(1); }
const untested = run.executions.filter((e) => !(e.assertions || []).length).map((e) => e.item.name);
if (untested.length) { console.error('no tests ran in: ' + untested.join(', ')); process.exit(1); }
const pages = ran.filter((n) => n === 'Scroll: next page').length;
if (pages < 2) { console.error('the scroll did not loop: ' + pages + ' next pages'); process.exit(1); }
const s = run.stats;
if (s.assertions.failed !== 0 || s.requests.failed !== 0) { console.error('failures in the report'); process.exit(1); }
console.log(`postman test: ok: ${requests.length} requests (${ran.length} runs, the scroll took ${pages} next pages), ` +
    `${s.assertions.total} assertions, 0 failed`);
JS

# the same reads with a token the server does not know: newman must fail
STEP="newman, unknown token"
if newman --env-var "token=pd_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" --folder "Reading profiles" \
    --reporters cli > "$TMP/bad.out" 2>&1; then
    cat "$TMP/bad.out" >&2
    fail "newman passed with an unknown token"
fi
grep -q "status is 200" "$TMP/bad.out" || fail "the failed run does not name the failed status test"
echo "postman test: ok: with an unknown token the reads fail and newman exits non-zero"
echo "postman test: 2 passed, 0 failed"
