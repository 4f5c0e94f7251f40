# Shared helpers for the shell integration tests: assertions and a tally.
# Each test script sources this, calls `check` / `expect_*`, then `finish`.
PASS=0
FAIL=0
FAILURES=()

# Polling loops run hundreds of times a test, on machines where starting a
# process costs milliseconds: their helpers start as few as they can.
#
# nap SECONDS: sleeps without starting a process (a read that times out on a
# pipe whose write end this shell holds too, so it never ends sooner).
exec {SZ_NAP_FD}<> <(:)
nap() {
    read -r -t "$1" -u "$SZ_NAP_FD" _ 2>/dev/null
    return 0
}
# poll SECONDS CMD...: runs CMD until it succeeds (returns 0) or SECONDS of
# wall-clock time have passed (returns 1; CMD ran once more at the end).
# Between tries it naps 0.05 s, then half as long again each time up to
# 0.4 s: a condition met at once costs little delay, and one that takes
# seconds costs a few tries a second rather than ten, each of which may
# start processes that cost 0.1 s of CPU under the sanitizers.
poll() {
    local limit=$1 ms=50 start now
    shift
    start=${EPOCHREALTIME//[.,]/}
    while :; do
        "$@" && return 0
        now=${EPOCHREALTIME//[.,]/}
        ((now - start >= limit * 1000000)) && return 1
        nap "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
        ((ms = ms * 3 / 2, ms > 400 && (ms = 400)))
    done
}
# The system's python3, where deps.sh installs what the tests import, rather
# than a version manager's shim that may come first on PATH (it starts a
# dozen processes a call). Not a shell function: "python3 ... &" must leave
# in $! the pid of python itself, which the tests kill.
if [ -x /usr/bin/python3 ]; then
    PATH=/usr/bin:$PATH
fi

ok() { PASS=$((PASS + 1)); }
bad() {
    FAIL=$((FAIL + 1))
    FAILURES+=("$(head -c 400 <<<"$*")")
    echo "FAIL: $*" >&2
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
    local what=$1
    shift
    if "$@" >"$TMP/check.out" 2>&1; then ok; else bad "$what: $(head -c 300 "$TMP/check.out")"; fi
}

# expect_fail DESCRIPTION STATUS COMMAND...: the command must exit with STATUS.
expect_status() {
    local what=$1 want=$2
    shift 2
    local got=0
    "$@" >/dev/null 2>"$TMP/stderr" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        bad "$what: exit $got, wanted $want ($(head -c 300 "$TMP/stderr"))"
    fi
}

# expect_stderr DESCRIPTION REGEX: the last expect_status's stderr matches.
expect_stderr() {
    if grep -Eq -- "$2" "$TMP/stderr"; then ok; else
        bad "$1: stderr '$(head -c 300 "$TMP/stderr")' does not match /$2/"
    fi
}

# finish: the tally, and each failure again at the end, where a log cut
# short in the middle (a CI page) still shows what went wrong.
finish() {
    local f
    for f in "${FAILURES[@]}"; do echo "failed: $f"; done
    echo "$(basename "$0"): $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
