#!/bin/sh
# run.sh -- the API reference test: builds api.html and openapi.json from
# docs/openapi.yaml with scripts/build-docs.sh (npm tools of tools/npm, `npm
# ci` on the first run) into a temp dir, starts profiled on an ephemeral
# port with --docs-dir there, and checks without a token: GET /docs (HTML,
# request id, caching headers, CSP, 304 on its ETag), GET /openapi.json
# (equal to the YAML's content), the page in headless Chromium (the
# rendered text shows the document's title, every path and summary; its
# net log shows no request to another host); then a server whose docs
# directory is empty answers both with 404 not_found.
# usage: run.sh PROFILED_BIN
set -eu
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
for tool in node npm chromium curl; do
    command -v "$tool" >/dev/null || { echo "docs test: $tool is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
TMP=$(mktemp -d)
PID= PID2=
STEP="start"
cleanup() {
    rc=$?
    [ "$rc" -ne 0 ] && echo "docs test: exited with status $rc at: $STEP" >&2
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "$PID2" ] && kill "$PID2" 2>/dev/null && wait "$PID2" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "docs test: FAILED: $*" >&2
    tail -20 "$TMP/err" >&2 2>/dev/null || true
    exit 1
}
check() { node "$HERE/check.js" "$@" || fail "check.js $1"; }
# start DOCS_DIR OUT_PREFIX: a server on an ephemeral port; sets PORT, SPID
start() {
    "$BIN" serve --listen 127.0.0.1:0 --db "$TMP/d.db" --threads 1 --workers 1 --access-log off --docs-dir "$1" \
        > "$TMP/$2.out" 2> "$TMP/$2.err" &
    SPID=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$TMP/$2.out" 2>/dev/null && break; sleep 0.05; done
    PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/$2.out")
    [ -n "$PORT" ] || { cat "$TMP/$2.err" >&2; fail "profiled did not start"; }
}
# header NAME FILE: a field's value from curl -D output
header() { sed -n "s/^$1: *//Ip" "$2" | tr -d '\r' | head -1; }

STEP="build-docs"
sh "$ROOT/scripts/build-docs.sh" "$TMP/docs"
STEP="serve"
start "$TMP/docs" s
PID=$SPID
API="http://127.0.0.1:$PORT"
grep -q "docs: serving /docs and /openapi.json from $TMP/docs" "$TMP/s.err" || fail "no start line naming the docs directory"

STEP="GET /docs"
code=$(curl -s -D "$TMP/h" -o "$TMP/page.html" -w '%{http_code}' "$API/docs")
[ "$code" = 200 ] || fail "/docs: $code"
[ "$(header content-type "$TMP/h")" = "text/html; charset=utf-8" ] || fail "/docs content-type: $(header content-type "$TMP/h")"
[ -n "$(header x-amzn-RequestId "$TMP/h")" ] || fail "/docs: no x-amzn-RequestId"
[ "$(header cache-control "$TMP/h")" = "no-cache" ] || fail "/docs cache-control: $(header cache-control "$TMP/h")"
header content-security-policy "$TMP/h" | grep -q "^default-src 'none'" || fail "/docs: no content-security-policy"
cmp -s "$TMP/page.html" "$TMP/docs/api.html" || fail "/docs is not the built page"
check page "$TMP/page.html"
etag=$(header etag "$TMP/h")
[ -n "$etag" ] || fail "/docs: no ETag"
code=$(curl -s -D "$TMP/h304" -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$API/docs")
[ "$code" = 304 ] || fail "/docs with If-None-Match: $code"
[ -n "$(header x-amzn-RequestId "$TMP/h304")" ] || fail "/docs 304: no x-amzn-RequestId"
code=$(curl -s -o /dev/null -w '%{http_code}' --compressed "$API/docs")
[ "$code" = 200 ] || fail "/docs gzipped: $code"
echo "docs test: ok: /docs: 200 text/html with request id, no-cache, CSP and ETag; 304 on the tag; no token"

STEP="GET /openapi.json"
code=$(curl -s -D "$TMP/h" -o "$TMP/openapi.json" -w '%{http_code}' "$API/openapi.json")
[ "$code" = 200 ] || fail "/openapi.json: $code"
[ "$(header content-type "$TMP/h")" = "application/json; charset=utf-8" ] || fail "/openapi.json content-type"
[ -n "$(header x-amzn-RequestId "$TMP/h")" ] || fail "/openapi.json: no x-amzn-RequestId"
[ "$(header cache-control "$TMP/h")" = "no-cache" ] || fail "/openapi.json cache-control"
[ -n "$(header etag "$TMP/h")" ] || fail "/openapi.json: no ETag"
check json "$ROOT/docs/openapi.yaml" "$TMP/openapi.json"

# The page in a browser that resolves nothing but 127.0.0.1, with its own
# services turned off as far as flags go; the net log lists every request.
STEP="chromium"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --disable-extensions --disable-background-networking --disable-component-update --disable-sync \
    --disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter --no-pings \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --user-data-dir="$TMP/chrome" \
    --log-net-log="$TMP/net.json" --enable-logging=stderr --v=0 \
    --virtual-time-budget=15000 --dump-dom "$API/docs" > "$TMP/dom.html" 2> "$TMP/chrome.log" || true
[ -s "$TMP/dom.html" ] || { tail -20 "$TMP/chrome.log" >&2; fail "chromium dumped no DOM"; }
# the page's inline script ran under its CSP (a refused script or style is logged)
if grep -E "Refused to|Content Security Policy" "$TMP/chrome.log" >&2; then fail "the browser refused part of the page"; fi
# ... and without an uncaught error: a broken or missing inline Redoc is
# one (Redoc 2.5.3's own hydration mismatch, React #418/#423, after which
# React renders the page on the client, is expected and let through)
if grep 'CONSOLE' "$TMP/chrome.log" | grep 'Uncaught' | grep -vE 'Minified React error #(418|423);' >&2; then
    fail "the page's script failed"
fi
check dom "$ROOT/docs/openapi.yaml" "$TMP/dom.html"
check netlog "$TMP/net.json" "$API"

STEP="no docs"
mkdir "$TMP/empty"
start "$TMP/empty" e
PID2=$SPID
for route in /docs /openapi.json; do
    code=$(curl -s -D "$TMP/h" -o "$TMP/nf.json" -w '%{http_code}' "http://127.0.0.1:$PORT$route")
    [ "$code" = 404 ] || fail "$route without docs: $code"
    [ "$(header content-type "$TMP/h")" = "application/json; charset=utf-8" ] || fail "$route 404 content-type"
    [ -n "$(header x-amzn-RequestId "$TMP/h")" ] || fail "$route 404: no x-amzn-RequestId"
    node -e '
        const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        if (j.error.code !== "not_found" || !/not built/.test(j.error.message) || !/build-docs\.sh/.test(j.error.message)) process.exit(1);
    ' "$TMP/nf.json" || fail "$route 404 body: $(cat "$TMP/nf.json")"
done
grep -q "api.html: No such file or directory: /docs answers 404" "$TMP/e.err" || fail "no start line about the missing page"
echo "docs test: ok: without the files /docs and /openapi.json answer 404 not_found saying how to build them"
echo "docs test: 5 passed, 0 failed"
