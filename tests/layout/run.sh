#!/bin/sh
# tests/layout/run.sh -- scripts/check-layout.sh passes on this tree and
# fails, naming the rule, on copies of it with one rule broken each.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=$SRC/scripts/check-layout.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
fails=0

sh "$CHECK" "$SRC" >"$TMP/out" 2>&1 || { cat "$TMP/out"; echo "FAIL: the tree itself breaks the layout"; exit 1; }
echo "ok: the tree passes"

# A fresh copy of the sources and CMakeLists.txt in $TMP/t.
copy() {
    rm -rf "$TMP/t"
    mkdir -p "$TMP/t"
    (cd "$SRC" && find base ratelimit segment definitions storage auth server cli bench tests fuzz \
        -type f \( -name '*.c' -o -name '*.h' \) -not -path '*/node_modules/*' -not -path 'fuzz/corpus/*' |
        tar cf - -T -) | (cd "$TMP/t" && tar xf -)
    cp "$SRC/CMakeLists.txt" "$TMP/t/"
}

# expect_fail WHAT PATTERN: the check fails on $TMP/t and says PATTERN.
expect_fail() {
    if sh "$CHECK" "$TMP/t" >"$TMP/out" 2>&1; then
        echo "FAIL: $1: the check passed"
        fails=$((fails + 1))
    elif ! grep -q -- "$2" "$TMP/out"; then
        cat "$TMP/out"
        echo "FAIL: $1: no line says '$2'"
        fails=$((fails + 1))
    else
        echo "ok: $1: $(grep -- "$2" "$TMP/out" | head -n 1)"
    fi
}
expect_pass() {
    if sh "$CHECK" "$TMP/t" >"$TMP/out" 2>&1; then
        echo "ok: $1"
    else
        cat "$TMP/out"
        echo "FAIL: $1: the check failed"
        fails=$((fails + 1))
    fi
}

copy
echo '#include "storage.h"' >>"$TMP/t/base/text.c"
expect_fail "a folder includes a folder it may not" "base/text.c:.*base may not use storage"

copy
echo '#include "server.h"' >>"$TMP/t/storage/read/views.c"
expect_fail "an arrow the wrong way" "storage/read/views.c:.*storage/read may not use server"

copy
echo '#include "db/db.h"' >>"$TMP/t/auth/scope.c"
expect_fail "another folder's internal header" "auth/scope.c:.*internal to storage/"

copy
echo '#include "../read/read.h"' >>"$TMP/t/storage/db/schema.c"
expect_fail "a subfolder includes one it may not" "storage/db/schema.c:.*storage/db may not use storage/read"

copy
mkdir -p "$TMP/t/tests/http" "$TMP/t/tests/storage"
echo '#include "db/db.h"' >"$TMP/t/tests/http/probe.c"
expect_fail "a test includes internals of a folder it does not mirror" "tests/http/probe.c:.*internal to storage/"
rm "$TMP/t/tests/http/probe.c"
echo '#include "db/db.h"' >"$TMP/t/tests/storage/probe.c"
expect_pass "a test under tests/storage/ may include storage's internals"

copy
awk 'BEGIN { for (i = 0; i < 801; i++) print "/* line */" }' >"$TMP/t/segment/long.c"
expect_fail "a source file over 800 lines" "segment/long.c: 801 lines, more than 800"
mkdir -p "$TMP/t/tests/storage"
mv "$TMP/t/segment/long.c" "$TMP/t/tests/storage/long.c"
expect_pass "a test file may be longer"

copy
: >"$TMP/t/storage/read/extra.h"
expect_fail "a second header in a subfolder" "storage/read/extra.h: the header of storage/read/ is read.h"

copy
echo '#include "no_such_header.h"' >>"$TMP/t/segment/batch.c"
expect_fail "an include of no file" "no_such_header.h\", which is no file"

copy
sed 's/^target_link_libraries(pd_segment PUBLIC pd_base/target_link_libraries(pd_segment PUBLIC pd_storage pd_base/' \
    "$SRC/CMakeLists.txt" >"$TMP/t/CMakeLists.txt"
expect_fail "a CMake edge the table does not have" "pd_segment links pd_storage"

copy
printf 'base segment\nsegment base\nstorage base\n' >"$TMP/table"
export LAYOUT_TABLE="$TMP/table"
expect_fail "a circle in the table" "circle"
unset LAYOUT_TABLE

[ "$fails" -eq 0 ] || { echo "layout test: $fails failed"; exit 1; }
echo "layout test: all passed"
