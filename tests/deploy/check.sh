#!/bin/sh
# check.sh -- what of deploy/ can be checked without a container engine:
# YAML lint, `nginx -t` on the balancer configs, `systemd-analyze verify` on
# the unit, the Dockerfile's packages and COPY sources, the keys of the
# PostgreSQL compose file and manifests (pg-keys.py), and a real start of
# profiled with the example config.   usage: check.sh PROFILED_BIN
set -u
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAILED: $1" >&2; }

# 0. every tool these tests run comes from a package the install script names,
#    so a fresh machine has it after `make test` installs what is missing
listed=$(sed -n 's/^PKGS="\(.*\)"$/\1/p; s/.*PKGS="\$PKGS \([a-z0-9.+-]*\)".*/\1/p' "$ROOT/scripts/install-deps.sh" | tr ' ' '\n')
for tool in yamllint nginx systemd-analyze curl openssl sqlite3 node npm chromium; do
    path=$(command -v "$tool") || { bad "$tool is not installed (scripts/install-deps.sh must install it)"; continue; }
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    if [ -n "$pkg" ] && echo "$listed" | grep -qx "$pkg"; then
        ok "$tool comes from $pkg, which scripts/install-deps.sh installs"
    else
        bad "$tool (package '${pkg:-none}') is not installed by scripts/install-deps.sh"
    fi
done

# ... and the YAML module of pg-keys.py (Debian's, as tests/contract uses)
if dpkg -s python3-yaml >/dev/null 2>&1 && grep -qw 'python3-yaml' "$ROOT/scripts/install-deps.sh"; then
    ok "python3-yaml is installed, and scripts/install-deps.sh installs it"
else
    bad "python3-yaml is not installed, or scripts/install-deps.sh does not install it"
fi

# 1. YAML
for f in "$ROOT"/deploy/docker-compose.yml "$ROOT"/deploy/docker-compose.postgres.yml "$ROOT"/deploy/k8s/*.yaml \
         "$ROOT"/deploy/k8s/postgres/*.yaml; do
    if yamllint -d '{extends: default, rules: {line-length: {max: 140}, document-start: disable, comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}' "$f" >"$TMP/yl" 2>&1; then
        ok "yamllint ${f#"$ROOT"/deploy/}"
    else
        bad "yamllint ${f#"$ROOT"/deploy/}"; cat "$TMP/yl" >&2
    fi
done

# 2. nginx: the compose hostnames resolve only inside compose (replica x
#    becomes 127.0.0.1:n, its letter's place in the alphabet)
for conf in nginx.conf nginx.postgres.conf; do
    rm -rf "$TMP/nginx"; mkdir -p "$TMP/nginx/logs"
    sed -e 's/profiled-a:8080/127.0.0.1:1/; s/profiled-b:8080/127.0.0.1:2/; s/profiled-c:8080/127.0.0.1:3/' \
        -e 's/listen 80;/listen 127.0.0.1:1;/' "$ROOT/deploy/$conf" > "$TMP/nginx/nginx.conf"
    if grep -q 'profiled-[a-z]*:' "$TMP/nginx/nginx.conf"; then
        bad "nginx -t $conf: an upstream this test does not map: $(grep -o 'profiled-[a-z]*:[0-9]*' "$TMP/nginx/nginx.conf" | head -1)"
    elif nginx -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e stderr 2>"$TMP/ng"; then
        ok "nginx -t $conf"
    else
        bad "nginx -t $conf"; cat "$TMP/ng" >&2
    fi
done

# 3. systemd unit (with this build's binary in place of the installed one)
sed "s|/usr/local/bin/profiled|$BIN|" "$ROOT/deploy/profiled.service" > "$TMP/profiled.service"
if systemd-analyze verify "$TMP/profiled.service" >"$TMP/sd" 2>&1 && ! grep -qi "unknown\|invalid\|failed" "$TMP/sd"; then
    ok "systemd-analyze verify profiled.service"
else
    bad "systemd-analyze verify"; cat "$TMP/sd" >&2
fi

# 4. Dockerfile: every package it installs exists, every COPY source exists
pkgs=$(sed -n '/apt-get install/,/rm -rf/p' "$ROOT/deploy/Dockerfile" | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
       grep -vE '^(apt-get|install|rm|debian_frontend|update|useradd|system|uid|home-dir|create-home|profiled|var|lib|apt|lists)$' | sort -u)
missing=""
for p in $pkgs; do apt-cache show "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && ok "Dockerfile packages exist ($(echo $pkgs | wc -w))" || bad "Dockerfile packages missing:$missing"
srcs=$(awk '/^COPY/ && !/--from/ {for (i = 2; i < NF; i++) print $i}' "$ROOT/deploy/Dockerfile")
nosrc=""
for s in $srcs; do [ -e "$ROOT/$s" ] || nosrc="$nosrc $s"; done
[ -z "$nosrc" ] && ok "Dockerfile COPY sources exist" || bad "Dockerfile COPY sources missing:$nosrc"
# ... and it copies every folder CMakeLists.txt builds from (fuzz/ aside)
built=$(grep -oE '(GLOB [A-Z_]+ CONFIGURE_DEPENDS|add_executable\([a-z-]+)[^)]*' "$ROOT/CMakeLists.txt" |
        grep -oE '[a-z_]+/[^ )]*' | cut -d/ -f1 | grep -v '^fuzz$' | sort -u)
uncopied=""
for d in $built; do echo "$srcs" | grep -qx "$d" || uncopied="$uncopied $d"; done
[ -z "$uncopied" ] && ok "Dockerfile copies every source folder ($(echo $built | wc -w))" ||
    bad "Dockerfile does not copy:$uncopied"

# 4b. the PostgreSQL compose file and Kubernetes manifests: the keys that
#     make them what the README says (pg-keys.py; Debian's python3-yaml)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$BIN" serve --help > "$TMP/serve-help" 2>&1
if ! "$PY" -c 'import yaml' 2>/dev/null; then
    bad "python3-yaml is missing (scripts/install-deps.sh installs it)"
else
    "$PY" "$ROOT/tests/deploy/pg-keys.py" "$ROOT/deploy" "$TMP/serve-help" >"$TMP/pk" 2>&1
    rc=$?
    while IFS= read -r line; do
        case $line in
        "ok: "*) ok "${line#ok: }" ;;
        "FAILED: "*) bad "${line#FAILED: }" ;;
        *) echo "$line" >&2 ;;
        esac
    done <"$TMP/pk"
    [ "$rc" -eq 0 ] || grep -q '^FAILED: ' "$TMP/pk" || bad "pg-keys.py exited $rc"
fi
"$BIN" migrate --help 2>&1 | grep -q '^usage: profiled migrate' && ok "profiled migrate exists (the Job and the compose service run it)" ||
    bad "profiled migrate --help"

# 5. the example config starts a real server
sed -e 's|^listen = .*|listen = 127.0.0.1:0|' -e "s|^access-log = .*|access-log = $TMP/access.log|" \
    "$ROOT/deploy/profiled.conf.example" > "$TMP/profiled.conf"
"$BIN" serve --config "$TMP/profiled.conf" --db "$TMP/p.db" >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out" && break; sleep 0.05; done
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/out")
if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then ok "profiled starts with profiled.conf.example"; else bad "example config"; cat "$TMP/err" >&2; fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q '"route":"/readyz"' "$TMP/access.log" 2>/dev/null && ok "example config's access log written" || bad "access log"

# 6. TLS, and HTTP/2 only when asked for
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
tls_proto() { # $1: extra serve flags; prints the HTTP version curl negotiated
    "$BIN" serve --listen 127.0.0.1:0 --db "$TMP/p.db" --access-log off --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" $1 \
        >"$TMP/tout" 2>"$TMP/terr" &
    tpid=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$TMP/tout" && break; sleep 0.05; done
    tport=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/tout")
    curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$tport/healthz"
    kill "$tpid"; wait "$tpid" 2>/dev/null
}
v=$(tls_proto "")
[ "$v" = "1.1 200" ] && ok "TLS serves HTTP/1.1 by default" || bad "TLS default: got '$v'"
v=$(tls_proto "--http2")
[ "$v" = "2 200" ] && ok "TLS with --http2 negotiates h2" || bad "TLS --http2: got '$v'"
"$BIN" serve --listen 127.0.0.1:0 --db "$TMP/p.db" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/nothing.pem" >/dev/null 2>"$TMP/terr"
grep -q "tls-key" "$TMP/terr" && ok "a bad tls-key stops startup, naming it" || bad "bad tls-key: $(cat "$TMP/terr")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
