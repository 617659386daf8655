#!/bin/sh
# run.sh -- the contract test: builds the demo database (as scripts/demo.sh
# does) in a temporary dir, makes tokens of every kind the cases need, starts
# three `profiled serve` on ephemeral 127.0.0.1 ports over it -- "main" (the
# demo settings, --cors-origins https://shop.example, --trait-history-days
# 36500 so the 2020 demo history is kept and answered, as scripts/demo.sh),
# "tight" (burst 1 on reads and ingest, so a second request is 429;
# --drain-delay so its /readyz answers 503 after SIGTERM) and "nohist"
# (--trait-history-days 0: no trait history, so traits?at= and
# traits/history answer 404) -- and runs contract.py, which checks every
# operation of docs/openapi.yaml against their answers. Every server shares
# the database, so none runs with a retention that would sweep the 2020
# history (the default 90 days would): tight keeps 36500 days too, nohist
# keeps none and sweeps nothing.
# usage: run.sh PROFILED_BIN [contract.py options, e.g. --run-pending edge]
set -eu
BIN=$1
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Debian's python3 with python3-yaml and python3-jsonschema (scripts/install-deps.sh)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import yaml, jsonschema' 2>/dev/null || {
    echo "contract test: python3-yaml and python3-jsonschema are required (scripts/install-deps.sh installs them)" >&2
    exit 1
}
TMP=$(mktemp -d)
MAIN= TIGHT= NOHIST=
cleanup() {
    rc=$?
    set +e
    [ -n "$MAIN" ] && kill "$MAIN" 2>/dev/null && wait "$MAIN" 2>/dev/null
    [ -n "$NOHIST" ] && kill "$NOHIST" 2>/dev/null && wait "$NOHIST" 2>/dev/null
    # the tight server is draining (contract.py sent SIGTERM): no need to wait out --drain-delay
    [ -n "$TIGHT" ] && kill -KILL "$TIGHT" 2>/dev/null && wait "$TIGHT" 2>/dev/null
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
DB=$(sh "$ROOT/tests/support/test-db.sh" "$TMP" demo)
C=intilery A=marketing B=MARKETING
"$BIN" import --db "$DB" --client $C --account $A --brand $B --definitions "$ROOT/deploy/demo/definitions.json" \
    "$ROOT/deploy/demo/sample.ndjson" 2> "$TMP/import.err" || { cat "$TMP/import.err" >&2; exit 1; }
"$BIN" audience import --db "$DB" --client $C --account $A --brand $B --name audience_board "$ROOT/deploy/demo/audience_board.csv" 2>> "$TMP/import.err"
tok() { "$BIN" token create --db "$DB" "$@"; }
{
    echo "full=$(tok --client $C --account $A --brand $B --name full --permissions read,ingest,delete)"
    echo "read=$(tok --client $C --account $A --brand $B --name read --permissions read)"
    echo "ingest=$(tok --client $C --account $A --brand $B --name ingest --permissions ingest)"
    echo "account=$(tok --client $C --account $A --name account-wide --permissions read,ingest,delete)"
    echo "other=$(tok --client other --account acct --brand OTHER --name other-tenant --permissions read,ingest,delete)"
} > "$TMP/tokens"

serve() { # name, flags...
    name=$1
    shift
    "$BIN" serve --listen 127.0.0.1:0 --db "$DB" --threads 2 --workers 2 --access-log off \
        --definitions "$ROOT/deploy/demo/definitions.json" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
}
port() {
    for _ in $(seq 1 200); do grep -q "listening on" "$TMP/$1.out" 2>/dev/null && break; sleep 0.05; done
    p=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/$1.out")
    [ -n "$p" ] || { cat "$TMP/$1.err" >&2; exit 1; }
    echo "$p"
}
# the API reference for main's /docs and /openapi.json (the others have none: 404)
sh "$ROOT/scripts/build-docs.sh" "$TMP/docs" 2> "$TMP/docs.err" || { cat "$TMP/docs.err" >&2; exit 1; }
mkdir "$TMP/nodocs"
serve main --cors-origins https://shop.example --trait-history-days 36500 --docs-dir "$TMP/docs"
MAIN=$!
serve tight --cors-origins https://shop.example --rate 0.001 --burst 1 --ingest-rate 0.001 --ingest-burst 1 --drain-delay 60 \
    --trait-history-days 36500
TIGHT=$!
serve nohist --trait-history-days 0 --docs-dir "$TMP/nodocs"
NOHIST=$!
PMAIN=$(port main)
PTIGHT=$(port tight)
PNOHIST=$(port nohist)
"$PY" "$ROOT/tests/contract/contract.py" --doc "$ROOT/docs/openapi.yaml" --tokens "$TMP/tokens" \
    --main "http://127.0.0.1:$PMAIN" --tight "http://127.0.0.1:$PTIGHT" \
    --nohist "http://127.0.0.1:$PNOHIST" --tight-pid "$TIGHT" "$@" || {
    echo "contract test: server log (main):" >&2
    tail -30 "$TMP/main.err" >&2
    exit 1
}
