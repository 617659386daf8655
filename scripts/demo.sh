#!/bin/sh
# demo.sh -- `make run`: builds a demo database from deploy/demo/sample.ndjson
# (first run only) with the computed traits of deploy/demo/definitions.json
# and a static audience, makes a demo token, prints a working curl command,
# then runs the server in the foreground.
#   usage: demo.sh PROFILED_BIN DB LISTEN prepare|serve
set -e
BIN=$1 DB=$2 LISTEN=$3 MODE=$4
CLIENT=intilery ACCOUNT=marketing BRAND=MARKETING
TOKEN_FILE="$DB.token"
HERE=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$DB" ]; then
    echo "demo: importing deploy/demo/sample.ndjson into $DB" >&2
    "$BIN" import --db "$DB" --client $CLIENT --account $ACCOUNT --brand $BRAND \
        --definitions "$HERE/deploy/demo/definitions.json" "$HERE/deploy/demo/sample.ndjson"
    "$BIN" audience import --db "$DB" --client $CLIENT --account $ACCOUNT --brand $BRAND --name audience_board \
        "$HERE/deploy/demo/audience_board.csv"
    rm -f "$TOKEN_FILE"
fi
if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077 && "$BIN" token create --db "$DB" --client $CLIENT --account $ACCOUNT --brand $BRAND --name demo > "$TOKEN_FILE")
fi
TOKEN=$(cat "$TOKEN_FILE")
PORT=${LISTEN##*:}
cat <<EOT

  profiled demo: tenant $CLIENT/$ACCOUNT/$BRAND, database $DB
  demo token (also in $TOKEN_FILE): $TOKEN

  try, from another terminal:
    curl -s -H "auth-token: $TOKEN" http://127.0.0.1:$PORT/track/$CLIENT/$ACCOUNT/$BRAND/v1/profiles/userId:joe.bloggs/traits

  the API reference: http://127.0.0.1:$PORT/docs (the document: /openapi.json);
  Postman: import docs/profiled.postman_collection.json and
  docs/profiled.postman_environment.json, set token to the demo token

EOT
[ "$MODE" = serve ] || exit 0
# The demo data dates from 2020: keep its trait history (traits/history,
# traits?at=) visible past the default 90 days.
exec "$BIN" serve --listen "$LISTEN" --db "$DB" --definitions "$HERE/deploy/demo/definitions.json" --trait-history-days 36500
