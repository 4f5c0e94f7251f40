#!/usr/bin/env bash
# Command 2: builds samizdat and runs the whole test suite three times over:
#   1. the normal build (gcc, warnings are errors): every unit, integration
#      and browser test, the fuzz corpus replays and the lint checks;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. a clang libFuzzer build: a short fuzz run of every harness.
# Exits non-zero when any test fails. Keep it under 15 minutes on 2 cores.
#
# Most integration tests wait on daemons and leave the CPU idle much of the
# time: the sanitizer and libFuzzer builds compile while the normal suite
# runs, and the fuzz runs go beside the sanitizer suite, both at the lowest
# CPU priority (nice 19), so that they take only what the tests leave.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash scripts/deps.sh || { echo "test: cannot install the dependencies" >&2; exit 1; }

JOBS=$(nproc)
# Most integration tests wait on daemons: ctest runs two per core, and a test
# that keeps a core busy takes two of these slots (PROCESSORS 2,
# tests/CMakeLists.txt). The fuzz runs each keep a core busy: one per core.
SLOTS=$((JOBS * 2))
# Seconds of fuzzing per harness: the harnesses run two at a time beside the
# sanitizer suite (which takes longer), at a priority that yields to it.
FUZZ_SECONDS=15
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
STATUS=0
# What failed, said again just above the summary line: a long log is often
# read from its end, or cut short in the middle.
FAILED_REPORT=()
# Checks left out inside tests that ran (the machine cannot run them), said
# above the summary line too: a test that passed without them is not all it
# could be.
PARTIAL_REPORT=()

# build NAME DIR CMAKE_ARGS...: configures and builds DIR (logs beside it).
build() {
    local name=$1 dir=$2
    shift 2
    echo "== $name: configure and build ($dir)"
    if ! cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1; then
        cat "$dir.configure.log"
        echo "== $name: configure FAILED"
        return 1
    fi
    if ! cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1; then
        grep -E 'error|warning' "$dir.build.log" | head -50
        echo "== $name: build FAILED (full log: $dir.build.log)"
        return 1
    fi
}

# build_failed NAME: a build that failed counts as a failed test.
build_failed() {
    STATUS=1
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    FAILED_REPORT+=("$1: the build (its errors are above)")
}

# lowest_priority: the calling subshell and what it starts yield the CPU to
# everything else.
lowest_priority() {
    renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
}

# tally NAME DIR RC: counts the results of the ctest run whose output is in
# DIR.ctest.log and which exited with RC.
tally() {
    local name=$1 dir=$2 rc=$3 line
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
    if [ "$rc" -ne 0 ]; then
        STATUS=1
        local t n=0
        while IFS= read -r t; do
            FAILED_REPORT+=("$name: $t")
            n=$((n + 1))
        done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*(Failed|Timeout|Exception)|^FAIL: |^\[  (FAILED|ERROR) +\] [a-z]' \
            "$dir.ctest.log" | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: //' | cut -c1-300 | head -40)
        [ "$n" -gt 0 ] || FAILED_REPORT+=("$name: ctest exited $rc (its output is above)")
    fi
}

# partial_skips NAME DIR: the checks that tests which ran left out because this
# machine cannot run them (their lines start "SKIP: "), from the output of
# every test that DIR's ctest kept in DIR.junit.xml.
partial_skips() {
    local name=$1 dir=$2 line
    [ -r "$dir.junit.xml" ] || return 0
    while IFS= read -r line; do
        PARTIAL_REPORT+=("$name: $line")
    done < <(python3 - "$dir.junit.xml" <<'PY' 2>/dev/null
import html, re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
for case in re.split(r"<testcase ", text)[1:]:
    if "<skipped" in case:
        continue  # skipped whole: ctest counted it
    m = re.match(r'name="([^"]*)"', case)
    out = re.search(r"<system-out>(.*?)</system-out>", case, re.S)
    if m is None or out is None:
        continue
    seen = set()
    for line in html.unescape(out.group(1)).splitlines():
        line = line.strip()
        if line.startswith("SKIP: ") and line not in seen:
            seen.add(line)
            print("%s: %s" % (html.unescape(m.group(1)), line[6:][:240]))
PY
    )
}

# run_ctest NAME DIR SLOTS CTEST_ARGS: runs DIR's tests, its output shown as it comes.
run_ctest() {
    local name=$1 dir=$2 slots=$3 ctest_args=$4
    echo "== $name: ctest"
    # The output of the tests that pass is kept too (in the JUnit file), for
    # the checks they skipped.
    # shellcheck disable=SC2086
    ctest --test-dir "$dir" --output-on-failure -j"$slots" --output-junit "$PWD/$dir.junit.xml" \
        --test-output-size-passed 4000000 $ctest_args 2>&1 | tee "$dir.ctest.log"
    tally "$name" "$dir" "${PIPESTATUS[0]}"
    partial_skips "$name" "$dir"
}

NORMAL="normal build"
ASAN="ASan+UBSan build"
FUZZ="libFuzzer build"
rm -f build-asan.built build-fuzz.built build.junit.xml build-asan.junit.xml

normal_built=0
build "$NORMAL" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSZ_WERROR=ON && normal_built=1

# The other two builds, meanwhile (their output waits in builds.log).
(
    lowest_priority
    build "$ASAN" build-asan -DCMAKE_BUILD_TYPE=Debug -DSZ_SANITIZE=ON -DSZ_WERROR=ON &&
        touch build-asan.built
    build "$FUZZ" build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSZ_FUZZ=ON -DSZ_WERROR=ON \
        -DCMAKE_C_COMPILER=clang -DSZ_FUZZ_SECONDS="$FUZZ_SECONDS" &&
        touch build-fuzz.built
) >builds.log 2>&1 &
BUILDS=$!

if [ "$normal_built" -eq 1 ]; then
    run_ctest "$NORMAL" build "$SLOTS" ""
else
    build_failed "$NORMAL"
fi

wait "$BUILDS"
cat builds.log
[ -e build-asan.built ] || build_failed "$ASAN"
[ -e build-fuzz.built ] || build_failed "$FUZZ"

# The fuzz runs, beside the sanitizer suite (their output is shown after it).
FUZZ_RUN=""
if [ -e build-fuzz.built ]; then
    (
        lowest_priority
        ctest --test-dir build-fuzz --output-on-failure -j"$JOBS" -L fuzz >build-fuzz.ctest.log 2>&1
        echo $? >build-fuzz.ctest.rc
    ) &
    FUZZ_RUN=$!
fi
[ -e build-asan.built ] && run_ctest "$ASAN" build-asan "$SLOTS" "-LE nosan"
if [ -n "$FUZZ_RUN" ]; then
    wait "$FUZZ_RUN"
    echo "== $FUZZ: ctest (${FUZZ_SECONDS} s of fuzzing per harness, beside the $ASAN's tests)"
    cat build-fuzz.ctest.log
    tally "$FUZZ" build-fuzz "$(cat build-fuzz.ctest.rc 2>/dev/null || echo 1)"
fi

echo
if [ "${#PARTIAL_REPORT[@]}" -gt 0 ]; then
    echo "checks skipped inside tests that ran (this machine cannot run them):"
    printf '  %s\n' "${PARTIAL_REPORT[@]}"
fi
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
