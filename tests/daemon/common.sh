# Helpers for tests that run real samizdatd processes in temporary folders.
# Needs: SZ (client), SZD (daemon), TMP (a temporary folder) set by the caller,
# and tests/cli/lib.sh (nap) sourced.

# Under AddressSanitizer the leak check at a process's exit costs about 60 ms
# on a slow machine, more than most of the client commands these tests run
# by the hundred. Daemons started by start_daemon keep it; the client keeps
# it in its own tests (cli_offline) and, with every other process, in those
# that source this file with SZ_LEAK_CHECK_ALL=1 (the control client, fetch,
# and tests that start daemons by hand); elsewhere it is off.
SZ_DAEMON_ASAN=${ASAN_OPTIONS:-}
if [ "${SZ_LEAK_CHECK_ALL:-0}" != 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

# szq ARGS...: the client for a query that polls (status, list): under
# AddressSanitizer without the leak check at exit, which costs more than the
# query on a slow machine and would only repeat, hundreds of times a test,
# what the control and client tests check with it.
szq() {
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SZ" "$@"
}

# start_daemon NAME ARGS...: starts samizdatd with data folder $TMP/NAME,
# logging to $TMP/NAME.log, and waits until its control socket answers.
start_daemon() {
    local name=$1
    shift
    mkdir -p "$TMP/$name"
    ASAN_OPTIONS=$SZ_DAEMON_ASAN "$SZD" --data-dir "$TMP/$name" --listen 127.0.0.1:0 "$@" \
        >>"$TMP/$name.log" 2>&1 &
    eval "PID_$name=$!"
    local i pid
    pid=$(eval echo "\$PID_$name")
    for ((i = 0; i < 100; i++)); do
        if [ -S "$TMP/$name/control.sock" ] &&
            szq status --socket "$TMP/$name/control.sock" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "samizdatd $name exited during start-up:" >&2
            tail -5 "$TMP/$name.log" >&2
            return 1
        fi
        nap 0.1
    done
    echo "samizdatd $name did not become ready in 10 s" >&2
    return 1
}

# stop_daemon NAME: SIGTERM, then wait; returns the daemon's exit status.
stop_daemon() {
    local pid
    pid=$(eval echo "\$PID_$1")
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    local rc=0
    wait "$pid" || rc=$?
    eval "PID_$1="
    return $rc
}

# kill_daemon NAME: SIGKILL, no cleanup.
kill_daemon() {
    local pid
    pid=$(eval echo "\$PID_$1")
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    eval "PID_$1="
}

# Kills every daemon this test started (for the EXIT trap).
cleanup_daemons() {
    local v
    for v in $(compgen -v PID_); do
        [ -n "${!v}" ] && kill -KILL "${!v}" 2>/dev/null
    done
    wait 2>/dev/null
}

# peer_port NAME: the TCP port a daemon started with --listen 127.0.0.1:0 got.
peer_port() {
    sed -n 's/.*listening for peers on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$1.log" | tail -1
}

# count_bundles NAME: how many bundles the daemon holds.
count_bundles() {
    szq list --socket "$TMP/$1/control.sock" 2>/dev/null | wc -l
}

# holds_bundles NAME N: whether the daemon holds at least N bundles.
holds_bundles() { [ "$(count_bundles "$1")" -ge "$2" ]; }

# wait_bundles NAME N SECONDS: waits until the daemon holds at least N bundles.
wait_bundles() {
    poll "$3" holds_bundles "$1" "$2" && return 0
    echo "$1 holds $(count_bundles "$1") bundles, wanted $2 within $3 s" >&2
    return 1
}

# wait_log FILE PATTERN SECONDS: waits until a line of FILE matches PATTERN
# (grep); returns 1 when none did in time.
wait_log() {
    poll "$3" grep -q -- "$2" "$1" 2>/dev/null
}

# start_proxy MODE [LABEL [NAME=ADDRESS...]]: a stand-in SOCKS5 proxy
# (tests/daemon/socks5.py MODE, which knows NAME as ADDRESS); sets PROXY to its
# address and adds its pid to PROXIES, logging to $TMP/proxy.LABEL.log (LABEL:
# MODE when not given).
start_proxy() {
    local mode=$1 label=${2:-$1} port= i
    shift $(($# < 2 ? $# : 2))
    python3 "$SRC/tests/daemon/socks5.py" "$mode" "$TMP/proxy.$label.log" "$@" \
        >"$TMP/proxy.$label.port" 2>&1 &
    PROXIES+=($!)
    for ((i = 0; i < 50; i++)); do
        port=$(head -1 "$TMP/proxy.$label.port" 2>/dev/null)
        [ -n "$port" ] && break
        nap 0.1
    done
    PROXY=127.0.0.1:$port
}

# words_corpus DIR SEED: a corpus of one document of 1 MiB of random words (it
# compresses about five times), for bench_fetch_gen to make bundles whose
# articles take much more memory than their bytes on the wire.
words_corpus() {
    mkdir -p "$1"
    printf 'file\tbytes\tlanguage\tsource_package\toriginal_path\tlicence\tgenre\n' \
        >"$1/MANIFEST.tsv"
    python3 - "$1/a.txt" "$2" <<'PY'
import random, sys
random.seed(int(sys.argv[2]))
words = "press freedom report city council water the of and news censor relay reader".split()
out, size = [], 0
while size < (1 << 20) - 400:
    para = " ".join(random.choice(words) for _ in range(60)) + ".\n\n"
    out.append(para)
    size += len(para)
open(sys.argv[1], "w").write("".join(out))
PY
    printf 'a.txt\t%s\ten\ttest\ta\tnone\ttest\n' "$(stat -c %s "$1/a.txt")" >>"$1/MANIFEST.tsv"
}

# random_corpus DIR BYTES: a corpus of one document of about BYTES random
# bytes in base64 (it hardly compresses), named a.txt.
random_corpus() {
    mkdir -p "$1"
    printf 'file\tbytes\tlanguage\tsource_package\toriginal_path\tlicence\tgenre\n' \
        >"$1/MANIFEST.tsv"
    head -c "$2" /dev/urandom | base64 -w 76 >"$1/a.txt"
    printf 'a.txt\t%s\ten\ttest\ta\tnone\ttest\n' "$(stat -c %s "$1/a.txt")" >>"$1/MANIFEST.tsv"
}

# tiny_corpus DIR: a corpus of one short document, for bench_fetch_gen to make
# many small bundles from (MANIFEST.tsv as the benchmark corpus has it).
tiny_corpus() {
    mkdir -p "$1"
    printf 'file\tbytes\tlanguage\tsource_package\toriginal_path\tlicence\tgenre\n' >"$1/MANIFEST.tsv"
    printf 'a.txt\t6\ten\ttest\ta\tnone\ttest\n' >>"$1/MANIFEST.tsv"
    echo hello >"$1/a.txt"
}
