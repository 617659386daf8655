# bench-lib.sh -- what scripts/bench.sh and scripts/bench-pg.sh share
# (sourced, not run).

# wait_http URL: until it answers, up to 30 s; 1 when it never does
wait_http() {
    i=0
    until curl -s -m 1 -o /dev/null "$1"; do
        i=$((i + 1))
        [ $i -le 150 ] || return 1
        sleep 0.2
    done
}

# jnum FILE KEY: the number of "KEY": in a profiled-load JSON result
jnum() { awk -v k="\"$2\":" '$1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$1" 2>/dev/null; }
