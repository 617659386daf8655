#!/bin/sh
# run.sh -- the real browser client test: installs @segment/analytics-next
# from npm (first run; `npm ci`, so exactly what package-lock.json pins),
# starts profiled on an ephemeral port with a temporary database and nginx
# on another loopback port serving page.html and the library (so every call
# is cross-origin, with CORS preflights), loads the page in headless
# Chromium once per delivery strategy (standard: /v1/i, /v1/t, /v1/p;
# batching: /v1/b), and reads the events back through the read API.
# Nothing is fetched from other hosts (Chromium resolves only 127.0.0.1).
# usage: run.sh PROFILED_BIN
set -eu
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in node npm nginx chromium curl; do
    command -v "$tool" >/dev/null || { echo "browser test: $tool is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
if [ ! -f "$HERE/node_modules/@segment/analytics-next/dist/umd/index.js" ]; then
    (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --silent)
fi
TMP=$(mktemp -d)
PID= NGINX=
STEP="start"
cleanup() {
    rc=$?
    [ "$rc" -ne 0 ] && echo "browser test: exited with status $rc at: $STEP" >&2
    [ -n "$NGINX" ] && kill -QUIT "$NGINX" 2>/dev/null && wait "$NGINX" 2>/dev/null
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "browser test: FAILED: $*" >&2
    echo "browser test: server log:" >&2
    tail -40 "$TMP/err" >&2
    tail -40 "$TMP/access.log" >&2 2>/dev/null || true
    exit 1
}

TENANT=browser/web/SHOP
# The write key the page carries.
# The page's key may only send events (a write key anyone can see); the
# test reads back with a read-only key.
STEP="token create"
DB=$(sh "$HERE/../support/test-db.sh" "$TMP" b)
KEY=$("$BIN" token create --db "$DB" --client browser --account web --brand SHOP --name page --permissions ingest)
READ=$("$BIN" token create --db "$DB" --client browser --account web --brand SHOP --name reader --permissions read)
"$BIN" serve --listen 127.0.0.1:0 --db "$DB" --threads 2 --workers 2 --access-log "$TMP/access.log" > "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/out")
[ -n "$PORT" ] || fail "profiled did not start"
API="http://127.0.0.1:$PORT"

# nginx serves the page and the library's UMD bundles (the path the library
# loads its lazy chunks from: {cdnURL}/analytics-next/bundles/)
STEP="nginx"
mkdir -p "$TMP/nginx/logs"
USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
WEB=
for try in $(seq 1 20); do
    WPORT=$(( (($$ + try * 7919) % 30000) + 20000 ))
    [ "$WPORT" = "$PORT" ] && continue
    cat > "$TMP/nginx/nginx.conf" <<CONF
$USER_LINE
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  types { text/html html; application/javascript js; }
  client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy; fastcgi_temp_path $TMP/nginx/fcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$WPORT;
    location = /page.html { root $HERE; }
    location /analytics-next/bundles/ { alias $HERE/node_modules/@segment/analytics-next/dist/umd/; }
  }
}
CONF
    nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e stderr 2>"$TMP/nginx/stderr" &
    NGINX=$!
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$WPORT/page.html" 2>/dev/null && { WEB="http://127.0.0.1:$WPORT"; break; }
        kill -0 "$NGINX" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$WEB" ] && break
    # the port was taken (or nginx failed): try another
    cat "$TMP/nginx/stderr" >&2
    kill -QUIT "$NGINX" 2>/dev/null || true
    wait "$NGINX" 2>/dev/null || true
    NGINX=
done
[ -n "$WEB" ] || { cat "$TMP/nginx/stderr" >&2; fail "nginx did not start"; }

# api: jq-free JSON checks with node
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);process.stdout.write(String($1))})"; }

for mode in standard batching; do
    STEP="chromium, $mode"
    user="browser-$mode"
    url="$WEB/page.html?mode=$mode&user=$user&key=$KEY&api=127.0.0.1:$PORT/v1&tenant=$TENANT"
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --disable-extensions --disable-background-networking --disable-component-update --disable-sync \
        --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --user-data-dir="$TMP/chrome-$mode" \
        --virtual-time-budget=30000 --dump-dom "$url" > "$TMP/dom-$mode" 2> "$TMP/chrome-$mode.log" || true
    result=$(sed -n 's/.*RESULT \(.*\)<\/pre>.*/\1/p' "$TMP/dom-$mode" | sed 's/&quot;/"/g; s/&amp;/\&/g')
    [ -n "$result" ] || { tail -20 "$TMP/chrome-$mode.log" >&2; head -c 2000 "$TMP/dom-$mode" >&2; fail "$mode: the page did not finish"; }
    echo "browser test: $mode: $result"
    [ "$(echo "$result" | json 'j.errors.length + ":" + j.failed.length')" = "0:0" ] || fail "$mode: delivery errors: $result"
    [ "$(echo "$result" | json 'j.read')" = "blocked" ] || fail "$mode: the browser could read with the write key: $result"

    # read back with the read key (the server acknowledged after commit, but
    # the page may finish before the last answer reached it: poll, bounded)
    STEP="read back, $mode"
    got=""
    for _ in $(seq 1 100); do
        got=$(curl -s -H "auth-token: $READ" "$API/track/$TENANT/v1/profiles/userId:$user/events?limit=10" |
              json '(j.data||[]).map(e=>e.rawData.type+":"+(e.rawData.event||e.rawData.name||"")).sort().join(",")' 2>/dev/null || true)
        [ "$got" = "page:Browser Page $mode,track:Browser Clicked" ] && break
        sleep 0.1
    done
    [ "$got" = "page:Browser Page $mode,track:Browser Clicked" ] || fail "$mode: events of $user: '$got'"
    traits=$(curl -s -H "auth-token: $READ" "$API/track/$TENANT/v1/profiles/userId:$user/traits" | json 'j.plan')
    [ "$traits" = "browser-$mode" ] || fail "$mode: identify's traits of $user: '$traits'"
    echo "browser test: ok: $mode: identify, track and page arrived from $WEB"
done

# the calls really were cross-origin: preflights, then the library's routes
for route in /v1/i /v1/t /v1/p /v1/b; do
    grep -q "\"method\":\"OPTIONS\",\"route\":\"$route\",.*\"status\":204" "$TMP/access.log" || fail "no preflight of $route"
    grep -q "\"method\":\"POST\",\"route\":\"$route\",.*\"status\":200" "$TMP/access.log" || fail "no POST to $route"
done
echo "browser test: ok: preflights and posts on /v1/i /v1/t /v1/p /v1/b"

# The page's key reads nothing, from curl either (the page itself tried and
# was refused, above), with the header or as Basic:
STEP="write key on read routes"
for path in profiles profiles/userId:browser-standard/traits profiles/userId:browser-standard/metadata \
            profiles/userId:browser-standard/meta profiles/userId:browser-standard/audiences \
            profiles/userId:browser-standard/external_ids profiles/userId:browser-standard/events; do
    code=$(curl -s -o "$TMP/refused.json" -w '%{http_code}' -H "auth-token: $KEY" "$API/track/$TENANT/v1/$path")
    [ "$code" = 403 ] || fail "the write key read $path: $code"
    grep -q '"authentication_error"' "$TMP/refused.json" || fail "$path: no authentication_error body"
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" "$API/track/$TENANT/v1/$path")
    [ "$code" = 403 ] || fail "the write key read $path as Basic: $code"
done
echo "browser test: 3 passed, 0 failed"
