#!/bin/sh
# build-docs.sh -- renders docs/openapi.yaml into OUT_DIR/api.html (the API
# reference `GET /docs` serves: one self-contained page, Redoc's script
# inlined, no fonts, scripts or images from other hosts) and
# OUT_DIR/openapi.json (the document as JSON, `GET /openapi.json`), with
# the npm tools pinned in tools/npm (`npm ci` on the first run). Nothing it
# writes is committed; the C build never needs it.
#   usage: build-docs.sh [--optional] OUT_DIR
# --optional: without Node.js/npm (or when npm ci fails) say so and exit 0,
# so `make build` still works; the server then answers /docs with 404.
set -eu
OPTIONAL=0
[ "${1:-}" = "--optional" ] && { OPTIONAL=1; shift; }
OUT=${1:?usage: build-docs.sh [--optional] OUT_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC="$HERE/docs/openapi.yaml"
NPM="$HERE/tools/npm"

skip() {
    echo "build-docs: $*; /docs and /openapi.json will answer 404 until it is built (scripts/build-docs.sh $OUT)" >&2
    [ "$OPTIONAL" = 1 ] && exit 0
    exit 1
}
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || skip "Node.js and npm are needed (scripts/install-deps.sh installs them)"
sh "$NPM/install.sh" || skip "npm ci in tools/npm failed"
mkdir -p "$OUT"
# up to date: both outputs newer than the document, the pinned tools and this script
if [ -f "$OUT/api.html" ] && [ -f "$OUT/openapi.json" ] &&
    [ -z "$(find "$SRC" "$NPM/package-lock.json" "$0" -newer "$OUT/api.html" 2>/dev/null)" ] &&
    [ -z "$(find "$SRC" "$NPM/package-lock.json" "$0" -newer "$OUT/openapi.json" 2>/dev/null)" ]; then
    exit 0
fi
TMP=$(mktemp -d "$OUT/.build-docs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$NPM/node_modules/.bin/redocly" bundle "$SRC" --ext json -o "$TMP/openapi.json" >"$TMP/log" 2>&1 || {
    cat "$TMP/log" >&2
    skip "redocly bundle failed"
}
"$NPM/node_modules/.bin/redocly" build-docs "$SRC" --disableGoogleFont -o "$TMP/redoc.html" >"$TMP/log" 2>&1 || {
    cat "$TMP/log" >&2
    skip "redocly build-docs failed"
}
# build-docs loads Redoc from cdn.redocly.com: put the pinned copy of that
# script (tools/npm/node_modules/redoc) into the page instead, and give the
# sidebar's "API docs by Redocly" logo (cdn.redoc.ly) an inline image. Then
# refuse the page if any src/href still names another host.
node - "$TMP/redoc.html" "$NPM/node_modules/redoc/bundles/redoc.standalone.js" "$TMP/api.html" <<'JS'
const fs = require('fs');
const [page, lib, out] = process.argv.slice(2);
let html = fs.readFileSync(page, 'utf8');
const script = fs.readFileSync(lib, 'utf8').replace(/<\/script/gi, '<\\/script');
const cdn = /<script src="https:\/\/cdn\.redocly\.com\/redoc\/[^"]*\/redoc\.standalone\.js"><\/script>/;
if (!cdn.test(html)) { console.error('build-docs: the CDN script tag of redocly build-docs was not found'); process.exit(1); }
html = html.replace(cdn, () => '<script>' + script + '</script>');
const logo = 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 width=%221%22 height=%221%22/%3E';
html = html.split('https://cdn.redoc.ly/redoc/logo-mini.svg').join(logo);
// what a browser fetches by itself: src=, <link href=>, CSS url(), @import
// (an <a href> to another site is a link, fetched only when followed)
const loads = [].concat(html.match(/\bsrc\s*=\s*["']?(?:https?:)?\/\/[^"'\s>]+/gi) || [],
    html.match(/<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^"'\s>]+/gi) || [],
    html.match(/url\(\s*["']?(?:https?:)?\/\/[^)"']+/gi) || [], html.match(/@import\s+["'](?:https?:)?\/\/[^"']+/gi) || []);
const bad = loads.filter((u) => !/\/\/(127\.0\.0\.1|localhost)[:/]/.test(u));
if (bad.length) { console.error('build-docs: the page still loads from other hosts: ' + bad.join(' ')); process.exit(1); }
fs.writeFileSync(out, html);
JS
mv -f "$TMP/openapi.json" "$OUT/openapi.json"
mv -f "$TMP/api.html" "$OUT/api.html"
echo "build-docs: $OUT/api.html and $OUT/openapi.json from docs/openapi.yaml" >&2
