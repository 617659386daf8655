#!/bin/sh
# install-deps.sh -- install the Debian packages profiled needs to build and test.
# Installs only what is missing; needs root (or sudo) the first time.
set -e
PKGS="build-essential cmake pkg-config libh2o-evloop-dev libsqlite3-dev libpq-dev postgresql-15 libjson-c-dev libevent-dev check libssl-dev zlib1g-dev sqlite3 curl nginx yamllint systemd openssl"
# the API contract test (tests/contract/contract.py) validates answers against docs/openapi.yaml
PKGS="$PKGS python3 python3-yaml python3-jsonschema"
[ -n "$PROFILED_EXTRA_PKGS" ] && PKGS="$PKGS $PROFILED_EXTRA_PKGS"
# the libFuzzer targets of fuzz/ (make fuzz, make test-fuzz): clang and its fuzzer runtime
PKGS="$PKGS clang-14 libclang-rt-14-dev"
# the real-client ingestion test runs @segment/analytics-node under Node.js
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# the browser-source test runs @segment/analytics-next in headless Chromium
PKGS="$PKGS chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# packaged services (nginx) must not start on install: tests run their own.
# systemd is there for `systemd-analyze verify` on deploy/profiled.service (tests/deploy).
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    guard=1
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
exit 0
