#!/bin/sh
# install.sh -- installs the pinned npm tools of tools/npm (`npm ci`: exactly
# what package-lock.json pins) into tools/npm/node_modules, once: again only
# when package-lock.json changed since. Tests that need them call it first;
# flock keeps two tests started at once by `ctest -j` from installing over
# each other.  usage: install.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null && command -v npm >/dev/null || {
    echo "tools/npm: node and npm are required (scripts/install-deps.sh installs them)" >&2
    exit 1
}
STAMP="$HERE/node_modules/.profiled-lock"
exec 9>"$HERE/.install.lock"
flock 9
if [ ! -f "$STAMP" ] || ! cmp -s "$STAMP" "$HERE/package-lock.json"; then
    (cd "$HERE" && timeout 600 npm ci --no-audit --no-fund --silent)
    cp "$HERE/package-lock.json" "$STAMP"
fi
