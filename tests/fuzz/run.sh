#!/bin/sh
# run.sh -- the libFuzzer targets of fuzz/ (docs: README "Fuzzing").
#
#   tests/fuzz/run.sh [--build DIR]                  regression: each target once
#                                                    over its corpus (-runs=0)
#   tests/fuzz/run.sh --seconds N [--work DIR] [TARGET...]
#                                                    fuzz each target N seconds;
#                                                    new inputs and crashes go
#                                                    to DIR (default a scratch
#                                                    dir), never into the repo
#
# Configures and builds DIR (default build-fuzz) with clang and
# -DPROFILED_FUZZ=ON when needed. Exits non-zero when any target fails.
set -e
cd "$(dirname "$0")/../.."
build=build-fuzz
seconds=0
work=""
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done

cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ]; then
    echo "fuzz: clang not found (scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
    exit 1
fi
if ! grep -q '^PROFILED_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROFILED_FUZZ=ON >/dev/null
fi
cmake --build "$build" --target fuzz_all -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

targets="$*"
if [ -z "$targets" ]; then
    for src in fuzz/fuzz_*.c; do
        n=${src#fuzz/fuzz_}
        targets="$targets ${n%.c}"
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
scratch=$(mktemp -d "${TMPDIR:-/tmp}/profiled-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
if [ "$seconds" -gt 0 ] && [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/profiled-fuzz.XXXXXX")
fi
for t in $targets; do
    bin=$build/fuzz_$t
    corpus=fuzz/corpus/$t
    if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
        echo "fuzz: $t: no binary $bin or no corpus $corpus" >&2
        failed=$((failed + 1))
        continue
    fi
    if [ "$seconds" -gt 0 ]; then
        mkdir -p "$work/$t" "$work/artifacts-$t"
        log=$work/$t.log
        echo "fuzz: $t for ${seconds}s (inputs in $work/$t, log $log)"
        if "$bin" -max_total_time="$seconds" -timeout=20 -print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" \
            "$work/$t" "$corpus" >"$log" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            echo "fuzz: $t FAILED: a crash, in $work/artifacts-$t/ (copy it to $corpus/crash-<what> with the fix):" >&2
            grep -E 'ERROR|runtime error|assertion failed|SUMMARY' "$log" | head -n 5 >&2
        fi
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $t: ${execs:-?} execs, corpus $(ls "$work/$t" | wc -l) new + $(ls "$corpus" | wc -l) seeds"
    else
        log=$scratch/$t.log
        if "$bin" -runs=0 -artifact_prefix="$scratch/" "$corpus" >"$log" 2>&1; then
            passed=$((passed + 1))
            echo "fuzz: $t: $(ls "$corpus" | wc -l) inputs ok"
        else
            failed=$((failed + 1))
            echo "fuzz: $t FAILED over $corpus:" >&2
            grep -E 'ERROR|runtime error|assertion failed|SUMMARY|Test unit' "$log" | head -n 8 >&2
        fi
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
