#!/bin/sh
# check-layout.sh -- the layout rules of docs/ARCHITECTURE.md, checked on
# every `#include "..."` of the tree (make test runs it; tests/layout/run.sh
# shows that it fails when a rule is broken):
#   1. a unit (folder or subfolder, table below) includes only the units its
#      row names: a top-level name stands for that folder's public header
#      (<folder>/<folder>.h), a subfolder name for its internal headers;
#   2. every other header of a top-level folder is internal: no other
#      top-level folder includes it (tests/<folder>/ may: it tests that
#      folder; so may fuzz/, whose targets drive internal parsers);
#   3. the table has no circle, and its top-level rows are the CMake edges:
#      the pd_<folder> libraries (cli: the profiled executable) link exactly
#      the libraries of the folders their row names;
#   4. no source file outside tests/ and fuzz/ passes 800 lines;
#   5. headers: a top-level folder has its public <folder>.h and at most
#      <folder>_internal.h beside it; a subfolder has one, <sub>/<sub>.h
#      (bench/, tests/, fuzz/ and the exceptions below excepted).
# usage: scripts/check-layout.sh [ROOT]   (ROOT: the checkout, default ..)
# env:   LAYOUT_TABLE=FILE replaces the table (its test uses it).
set -eu
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
MAX_LINES=800

# unit                may include
TABLE='
base                  -
ratelimit             -
segment               base
definitions           base
storage               base segment definitions
storage/db            base segment definitions
storage/computed      storage/db base segment definitions
storage/write         storage/computed storage/db base segment definitions
storage/read          storage/computed storage/db base segment definitions
auth                  storage base
server                server/api server/jobs server/http server/ops server/config auth ratelimit storage segment definitions base
server/api            server/jobs server/http server/ops server/config auth ratelimit storage segment definitions base
server/jobs           server/http server/ops server/config auth ratelimit storage segment definitions base
server/http           server/ops server/config auth ratelimit storage segment definitions base
server/ops            storage base
server/config         storage base
cli                   server storage auth definitions base
bench                 -
tests                 *
fuzz                  *
'
if [ -n "${LAYOUT_TABLE:-}" ]; then
    TABLE=$(cat "$LAYOUT_TABLE")
fi

# Headers allowed past rule 5, with the reason.
EXTRA_HEADERS='
server/jobs/fairq.h   the fair queue alone, so tests/server compiles it without h2o
'

TOPS="base ratelimit segment definitions storage auth server cli bench tests fuzz"
FILES=$(find $TOPS -type f \( -name '*.c' -o -name '*.h' \) \
    -not -path '*/node_modules/*' -not -path 'fuzz/corpus/*' 2>/dev/null | LC_ALL=C sort)

# One line per include: FILE<TAB>LINE<TAB>NAME
# shellcheck disable=SC2086
INCLUDES=$(awk '/^[ \t]*#[ \t]*include[ \t]*"/ {
    s = $0; sub(/^[^"]*"/, "", s); sub(/".*$/, "", s); printf "%s\t%d\t%s\n", FILENAME, FNR, s }' $FILES)

# Line counts of non-test sources: FILE<TAB>LINES
# shellcheck disable=SC2086
SIZES=$(awk 'FNR == 1 && NR > 1 { print f "\t" n } { f = FILENAME; n = FNR } END { if (NR) print f "\t" n }' \
    $(printf '%s\n' $FILES | grep -v -e '^tests/' -e '^fuzz/'))

# CMake edges: pd_<lib> (or the profiled executable) -> pd_<lib> it links.
CMAKE_EDGES=$(awk '
    /target_link_libraries\(/ { buf = ""; on = 1 }
    on { buf = buf " " $0; if ($0 ~ /\)/) { on = 0; print buf } }' CMakeLists.txt |
    awk '{ gsub(/[()]/, " "); t = $2; if (t == "profiled") t = "pd_cli"; if (t !~ /^pd_/ || t == "pd_testsupport") next;
           for (i = 3; i <= NF; i++) if ($i ~ /^pd_/ && $i != "pd_testsupport") print substr(t, 4), substr($i, 4) }' | sort -u)

printf '%s\n' "$TABLE" | awk -v files="$FILES" -v max="$MAX_LINES" -v includes="$INCLUDES" -v sizes="$SIZES" \
    -v cmake="$CMAKE_EDGES" -v tops="$TOPS" -v extra="$EXTRA_HEADERS" '
function top(p) { sub(/\/.*/, "", p); return p }
function dir(p) { if (p !~ /\//) return "."; sub(/\/[^\/]*$/, "", p); return p }
# the longest unit of the table that holds path p
function unit_of(p,    u, best) {
    best = ""
    for (u in allow) if ((index(p, u "/") == 1) && length(u) > length(best)) best = u
    return best
}
# path with ./ and x/../ taken out
function norm(p,    n, i, k, part, out) {
    n = split(p, part, "/"); k = 0
    for (i = 1; i <= n; i++) {
        if (part[i] == "." || part[i] == "") continue
        if (part[i] == ".." && k > 0 && stack[k] != "..") { k--; continue }
        stack[++k] = part[i]
    }
    out = ""
    for (i = 1; i <= k; i++) out = out (i > 1 ? "/" : "") stack[i]
    return out
}
function resolve(from, name,    c, t) {
    c = norm(dir(from) "/" name)
    if (c in exists) return c
    for (t in topset) { c = norm(t "/" name); if (c in exists) return c }
    if (index(from, "tests/") == 1) { c = norm("tests/support/" name); if (c in exists) return c }
    return ""
}
function public_header(p,    t) { t = top(p); return p == t "/" t ".h" }
function fail(msg) { print "layout: " msg; bad++ }
function visit(u,    i, n, d, v) {
    if (state[u] == 1) { fail("the table has a circle through " u); return }
    if (state[u] == 2) return
    state[u] = 1
    n = split(allow[u], d, " ")
    for (i = 1; i <= n; i++) if (d[i] in allow) visit(d[i])
    state[u] = 2
}
BEGIN { bad = 0 }
NF >= 2 && $1 !~ /^#/ { allow[$1] = ""; for (i = 2; i <= NF; i++) if ($i != "-") allow[$1] = allow[$1] " " $i }
END {
    n = split(tops, tl, " "); for (i = 1; i <= n; i++) topset[tl[i]] = 1
    n = split(files, fl, "\n"); for (i = 1; i <= n; i++) exists[fl[i]] = 1
    # 3: no circle (wildcard rows do not count: nothing includes tests or fuzz)
    for (u in allow) if (allow[u] !~ /\*/) visit(u)
    # 1 and 2
    n = split(includes, il, "\n")
    for (i = 1; i <= n; i++) {
        if (il[i] == "") continue
        split(il[i], f, "\t"); src = f[1]; line = f[2]; name = f[3]
        tgt = resolve(src, name)
        if (tgt == "") { fail(src ":" line ": includes \"" name "\", which is no file of the tree"); continue }
        su = unit_of(src); tu = unit_of(tgt)
        if (su == "") { fail(src ": in no unit of the table"); continue }
        if (tu == "") { fail(tgt ": in no unit of the table"); continue }
        if (su == tu) continue
        st = top(src); tt = top(tgt)
        if (allow[su] ~ /\*/) {
            # tests and fuzz: any public header; internals of the folder a
            # test mirrors (tests/<folder>/), anything for fuzz/ and for the
            # tests helpers of tests/support/
            if (public_header(tgt) || st == "fuzz" || tt == "tests") continue
            split(src, sp, "/")
            if (st == "tests" && sp[2] == tt) continue
            fail(src ":" line ": includes " tgt ", internal to " tt "/ (a test under tests/" tt "/ may include it)")
            continue
        }
        if (st == tt) {
            if (public_header(tgt)) continue
            need = tu
        } else {
            if (!public_header(tgt)) {
                fail(src ":" line ": includes " tgt ", internal to " tt "/ (only " tt "/ may include it)")
                continue
            }
            need = tt
        }
        if ((" " allow[su] " ") !~ (" " need " "))
            fail(src ":" line ": includes " tgt ": " su " may not use " need " (scripts/check-layout.sh table)")
    }
    # 3: CMake link edges = the top-level rows (tests, bench, fuzz excepted)
    n = split(cmake, cl, "\n")
    for (i = 1; i <= n; i++) if (cl[i] != "") { split(cl[i], e, " "); linked[e[1] " " e[2]] = 1; haslib[e[1]] = 1 }
    for (u in allow) {
        if (u ~ /\// || allow[u] ~ /\*/ || u == "bench") continue
        m = split(allow[u], d, " ")
        for (j = 1; j <= m; j++) if (d[j] !~ /\//) {
            want[u " " d[j]] = 1
            if (!((u " " d[j]) in linked)) fail("CMakeLists.txt: pd_" u " does not link pd_" d[j] ", which the table lets " u " use")
        }
    }
    for (k in linked) if (!(k in want)) { split(k, e, " "); fail("CMakeLists.txt: pd_" e[1] " links pd_" e[2] ", which the table does not let " e[1] " use") }
    # 5
    n = split(extra, xl, "\n"); for (i = 1; i <= n; i++) { split(xl[i], x, " "); if (x[1] != "") extra_ok[x[1]] = 1 }
    n = split(files, fl, "\n")
    for (i = 1; i <= n; i++) {
        h = fl[i]
        if (h !~ /\.h$/ || h ~ /^(bench|tests|fuzz)\// || (h in extra_ok)) continue
        hd = dir(h); base = h; sub(/.*\//, "", base); t = top(h)
        if (hd == t) { if (base != t ".h" && base != t "_internal.h") fail(h ": a header of " t "/ is " t ".h (public) or " t "_internal.h") }
        else { sb = hd; sub(/.*\//, "", sb); if (base != sb ".h") fail(h ": the header of " hd "/ is " sb ".h") }
    }
    # 4
    n = split(sizes, sl, "\n")
    for (i = 1; i <= n; i++) if (sl[i] != "") { split(sl[i], s, "\t"); if (s[2] + 0 > max) fail(s[1] ": " s[2] " lines, more than " max) }
    if (bad > 0) { printf "layout: %d problem(s)\n", bad; exit 1 }
    print "layout: ok"
}'
