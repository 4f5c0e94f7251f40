#!/usr/bin/env bash
# Command 2: builds samizdat and runs the whole test suite three times over:
#   1. the normal build (gcc, warnings are errors): every unit, integration
#      and browser test, the fuzz corpus replays and the lint checks;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. a clang libFuzzer build: a short fuzz run of every harness.
# Exits non-zero when any test fails. Keep it under 15 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash scripts/deps.sh || { echo "test: cannot install the dependencies" >&2; exit 1; }

JOBS=$(nproc)
# Most integration tests wait on daemons: ctest runs two per core, and a test
# that keeps a core busy takes two of these slots (PROCESSORS 2,
# tests/CMakeLists.txt). The fuzz runs each keep a core busy: one per core.
SLOTS=$((JOBS * 2))
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
STATUS=0
# What failed, said again just above the summary line: a long log is often
# read from its end, or cut short in the middle.
FAILED_REPORT=()

# run_suite NAME BUILD_DIR CTEST_SLOTS CTEST_ARGS -- CMAKE_ARGS...
run_suite() {
    local name=$1 dir=$2 slots=$3 ctest_args=$4
    shift 5
    echo "== $name: configure and build ($dir)"
    if ! cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1; then
        cat "$dir.configure.log"
        echo "== $name: configure FAILED"
        STATUS=1
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        return
    fi
    if ! cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1; then
        grep -E 'error|warning' "$dir.build.log" | head -50
        echo "== $name: build FAILED (full log: $dir.build.log)"
        STATUS=1
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        return
    fi
    echo "== $name: ctest"
    # shellcheck disable=SC2086
    ctest --test-dir "$dir" --output-on-failure -j"$slots" $ctest_args 2>&1 | tee "$dir.ctest.log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$dir.ctest.log" | tail -1)
    if [ -n "$line" ]; then
        local failed total skipped
        failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
        skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$dir.ctest.log")
        TOTAL_PASS=$((TOTAL_PASS + total - failed - skipped))
        TOTAL_SKIP=$((TOTAL_SKIP + skipped))
        TOTAL_FAIL=$((TOTAL_FAIL + failed))
    elif [ "$rc" -ne 0 ]; then
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    fi
    [ "$rc" -eq 0 ] || STATUS=1
    if [ "$rc" -ne 0 ]; then
        local t
        while IFS= read -r t; do
            FAILED_REPORT+=("$name: $t")
        done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*(Failed|Timeout|Exception)|^FAIL: |^\[  (FAILED|ERROR) +\] [a-z]' \
            "$dir.ctest.log" | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: //' | cut -c1-300 | head -40)
    fi
}

run_suite "normal build" build "$SLOTS" "" -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSZ_WERROR=ON
run_suite "ASan+UBSan build" build-asan "$SLOTS" "-LE nosan" -- -DCMAKE_BUILD_TYPE=Debug -DSZ_SANITIZE=ON -DSZ_WERROR=ON
# 10 s of fuzzing per harness here (12 by default): 15 harnesses, two at a
# time, keep the whole suite within its 15 minutes on a slow run.
run_suite "libFuzzer build" build-fuzz "$JOBS" "-L fuzz" -- -DCMAKE_BUILD_TYPE=Debug -DSZ_FUZZ=ON -DSZ_WERROR=ON \
    -DCMAKE_C_COMPILER=clang -DSZ_FUZZ_SECONDS=10

echo
if [ "${#FAILED_REPORT[@]}" -gt 0 ]; then
    echo "what failed (the full output of each test is above):"
    printf '  %s\n' "${FAILED_REPORT[@]}"
fi
if [ "$TOTAL_SKIP" -gt 0 ]; then
    echo "suite: $TOTAL_PASS passed, $TOTAL_SKIP skipped (each says why above), $TOTAL_FAIL failed"
else
    echo "suite: $TOTAL_PASS passed, $TOTAL_FAIL failed"
fi
exit $STATUS
