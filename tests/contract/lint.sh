#!/bin/sh
# lint.sh -- `redocly lint` (@redocly/cli, pinned in tools/npm) on
# docs/openapi.yaml with the rules of redocly.yaml: fails on any error or
# warning that .redocly.lint-ignore.yaml does not list.  usage: lint.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
sh "$ROOT/tools/npm/install.sh"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
# no telemetry, no update check: the test talks to no other host
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
rc=0
(cd "$ROOT" && node tools/npm/node_modules/@redocly/cli/bin/cli.js lint docs/openapi.yaml --config redocly.yaml --format=stylish) > "$OUT" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || grep -q -i 'warning' "$OUT"; then
    cat "$OUT" >&2
    echo "contract lint: docs/openapi.yaml has problems (exit $rc)" >&2
    exit 1
fi
grep -i -E 'valid|ignored' "$OUT" || true
