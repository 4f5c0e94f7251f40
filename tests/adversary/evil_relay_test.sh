#!/usr/bin/env bash
# A malicious relay against `samizdat fetch` (tests/adversary/adversary.c,
# serve-evil). A publisher and an honest relay run as real samizdatd processes
# on 127.0.0.1; the reader's library already holds the first articles. For each
# MODE the publisher publishes one more article, then the evil relay serves:
#
#   tampered      the new bundle with an article altered under its signed header
#                 (a valid zstd frame of the same length: only its hash tells)
#   tampered-sig  the new bundle with one signature byte flipped
#   old-as-new    claims sequences up to newest + 100, answers with sequence 1;
#                 once more claiming every sequence up to 2^64 - 2
#   truncated     half of the new bundle, then closes the stream
#   flood         endless ANNOUNCEs of random ids as fast as it can, serves nothing
#   flood-slow    endless ANNOUNCEs, 200 ids a second (under fetch's flood
#                 limit of 32768 per 10 s), serves nothing
#   withhold      offers the new bundle, answers the request for it with
#                 RANGE_DONE alone (as a relay that evicted it meanwhile does)
#
# fetch runs with the evil relay and the honest one: --parallel 1 until it has
# tried each first; --parallel 2 with the honest relay behind a proxy that holds
# its answers back 1 s (so the evil relay is asked first), the evil one
# attacking at once, or 2 s late (after the honest SUMMARY came) and with the
# batch feature (bundles in BUNDLES messages); --parallel 2 straight. Each time fetch must name the evil peer if it asked it for anything
# ("peer 127.0.0.1:PORT: ..."), exit 0 having fetched the new article (once)
# from the honest relay, leave a library identical to the one a fetch from the
# honest relay alone makes (never a byte of the evil bundles), and finish in
# under 30 s (flood-slow: 50 s, as a peer asked for ranges that sends fewer
# than 4 KB/s of bundles over 30 s is dropped). With the evil relay alone:
# exit 7, and not one byte of the library changes. flood-slow makes one run of
# each kind, at once: it is a slow part of the test (about 30 s).
#
# Then relays that wear the reader down or lie by omission or by number, each
# against the library before one more article: pingflood (never reads, PINGs
# as fast as it can: the reader's peak memory stays near an honest fetch's),
# parts (SUMMARY in parts, the publisher in the last: fetched), omit (SUMMARY
# naming no publisher: other peers are still tried; alone, a warning), honest
# (offering only sequences 1-2 to a library without fetch.state: a rollback
# warning, and "0 new"; the honest relay then: "1 new"), manyranges (a 1 MiB
# SUMMARY of single-sequence ranges, each withheld: little CPU, one line),
# cut and cut-past (a SUMMARY that stops short before or past the publisher:
# asked for it directly and fetched, or not carried), cut-close (cut, and
# the link closed when asked: not known, incomplete), slow-parts (its last part
# written slowly: waited for, fetched), repeat (BUNDLES full of copies:
# named, little CPU), unasked (a bundle's first byte with nothing asked:
# named) and slowloris (one byte every 5 s: named and dropped after 30 s
# while the honest relay serves; it runs in the background meanwhile).
#
# usage: evil_relay_test.sh SAMIZDAT SAMIZDATD ADVERSARY SOURCE_DIR
set -u
SZ=$1
SZD=$2
ADV=$3
SRC=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# The client keeps its leak check under AddressSanitizer (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
PIDS=() # the evil relays and the delaying proxy
trap 'kill "${PIDS[@]}" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0 --level 1)
MAX_RUN_S=30    # a fetch against a fast evil relay ends within this
MAX_SLOW_S=50   # and against flood-slow (fetch: under 4 KB/s of bundles for 30 s is too slow)
MAX_ATTEMPTS=24 # --parallel 1 runs to see each peer tried first (miss: 2^-23 per
                # mode; with 12, one of a suite's 14 cases (7 modes, 2 builds) missed once)
FETCH=(--trust-file "$TMP/trust" --connect-timeout 3 --timeout 100)
ERRF=$TMP/err # fetch_into's stderr

article() {
    printf -- '---\ntitle: Article %s\nid: %s\n---\nText of %s.\n' "$1" "$1" "$1" >"$TMP/$1.md"
    echo "$TMP/$1.md"
}
note() { echo "  $*"; }

# sums DIR: the sha256 of every file in DIR, by relative path.
sums() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

# content DIR: what must not depend on which peers served the honest bundles:
# every file but index.html and the private state, then the bundle, article
# and name records of library.idx and the held ranges (fetch.state). The
# index page and the rest of the state carry the time of the fetch.
content() {
    (cd "$1" && find . -type f ! -path ./index.html ! -path './.samizdat/*' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$1/.samizdat" && find bundles -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    grep -E '^[NBA] ' "$1/.samizdat/library.idx" | LC_ALL=C sort
    LC_ALL=C sort "$1/.samizdat/fetch.state"
}

# start_evil NAME MODE BUNDLE_DIR [ARGS...]: starts an evil relay; its log is
# $TMP/evil.NAME.log, its address ${ADDR[NAME]}.
declare -A ADDR
start_evil() {
    local name=$1 mode=$2 dir=$3 port=
    shift 3
    "$ADV" serve-evil "$mode" --listen 127.0.0.1:0 --bundles "$dir" "$@" \
        >"$TMP/evil.$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do
        port=$(head -1 "$TMP/evil.$name.log" 2>/dev/null)
        [ -n "$port" ] && break
        nap 0.1
    done
    case $port in
    '' | *[!0-9]*)
        bad "serve-evil $mode did not start: $(cat "$TMP/evil.$name.log")"
        return 1
        ;;
    esac
    ADDR[$name]=127.0.0.1:$port
}

# evil_asked NAME: how many ranges fetch asked that evil relay for, once every
# session it accepted has ended (fetch has exited: that takes moments).
evil_asked() {
    for _ in $(seq 1 50); do
        [ "$(grep -c ': accepted$' "$TMP/evil.$1.log")" -eq \
            "$(grep -c ': ended' "$TMP/evil.$1.log")" ] && break
        nap 0.1
    done
    grep -c ': REQUEST_RANGE ' "$TMP/evil.$1.log"
}

# fetch_into LIB ARGS...: runs fetch into LIB; sets RC and SECS, stderr in $ERRF.
fetch_into() {
    local lib=$1 t0=$EPOCHREALTIME
    shift
    RC=0 CPU= HWM=
    timeout -k 10 150 "$SZ" fetch "${FETCH[@]}" "$@" --output "$lib" >"$TMP/out" 2>"$ERRF" || RC=$?
    SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}
# fresh LIB: a copy of the library as it was before the new article.
fresh() {
    rm -rf "$1"
    cp -a "$TMP/base" "$1"
}
# faster WHAT SECS BOUND
faster() {
    awk -v s="$2" -v m="$3" 'BEGIN { exit !(s < m) }' && ok || bad "$1: took $2 s (bound $3 s)"
}

# no_evil_bytes WHAT LIB MODE NAME: no file in LIB has the sha256 of what the
# evil relay NAME served (old-as-new serves a genuine old bundle: skipped).
no_evil_bytes() {
    [ "$3" = old-as-new ] && return 0
    local s found=
    for s in $(sed -n 's/.*: served: .* sha256 \([0-9a-f]*\)$/\1/p' "$TMP/evil.$4.log" | sort -u); do
        sums "$2" | grep -q "^$s " && found="$found $s"
    done
    [ -z "$found" ] && ok || bad "$1: the library holds bytes the evil relay served:$found"
}

declare -A REASON=(
    [tampered]='fails verification \(payload does not match the hash'
    [tampered-sig]='fails verification'
    [old-as-new]='not asked for|older|rollback'
    [truncated]='closed the connection'
    [flood]='flood'
    [flood-slow]='stall|flood|too slow'
    [withhold]='did not send all'
)

# check_run WHAT MODE NAME HONEST LIB ASKED_BEFORE BOUND: a fetch into LIB from
# the evil relay NAME and the honest relay at HONEST, stderr in $ERRF.
check_run() {
    local what=$1 mode=$2 name=$3 honest=$4 lib=$5 before=$6 bound=$7 asked
    asked=$(($(evil_asked "$name") - before))
    note "$what: exit $RC in $SECS s; the evil relay was asked for $asked range(s)"
    sed 's/^/      /' "$ERRF"
    [ "$RC" -eq 0 ] && ok || bad "$what: exit $RC, wanted 0: $(cat "$ERRF")"
    faster "$what" "$SECS" "$bound"
    if [ "$asked" -gt 0 ]; then
        grep -Eq "peer ${ADDR[$name]}: .*(${REASON[$mode]})" "$ERRF" && ok ||
            bad "$what: the evil peer ${ADDR[$name]} is not named for ${REASON[$mode]}: $(cat "$ERRF")"
    fi
    if ! grep -q "peer $honest:" "$ERRF"; then ok; else
        bad "$what: the honest relay was blamed: $(cat "$ERRF")"
    fi
    # The one new bundle, fetched once (not again from another peer after a failure).
    grep -q "The Evil Test Gazette: 1 new, highest sequence $SEQ, " "$ERRF" && ok ||
        bad "$what: wanted '1 new, highest sequence $SEQ': $(cat "$ERRF")"
    if diff <(content "$TMP/ref") <(content "$lib") >"$TMP/diff"; then ok; else
        bad "$what: the library differs from a fetch from the honest relay alone:
$(head -20 "$TMP/diff")"
    fi
    no_evil_bytes "$what" "$lib" "$mode" "$name"
}

# check_alone WHAT MODE NAME LIB BOUND: a fetch into LIB from the evil relay
# NAME alone, stderr in $ERRF.
check_alone() {
    local what=$1 mode=$2 name=$3 lib=$4 bound=$5
    note "$what: exit $RC in $SECS s"
    sed 's/^/      /' "$ERRF"
    [ "$RC" -eq 7 ] && ok || bad "$what: exit $RC, wanted 7: $(cat "$ERRF")"
    grep -Eq "peer ${ADDR[$name]}: .*(${REASON[$mode]})" "$ERRF" && ok ||
        bad "$what: not named for ${REASON[$mode]}: $(cat "$ERRF")"
    # Its last word: what went wrong in all, and what to do.
    [ "$(tail -1 "$ERRF")" = "samizdat: no peer gave what it offered (see above): try other peers" ] &&
        ok || bad "$what: the fetch does not end saying no peer gave what it offered: $(cat "$ERRF")"
    faster "$what" "$SECS" "$bound"
    if diff <(content "$TMP/base") <(content "$lib") >"$TMP/diff"; then ok; else
        bad "$what: the library's content changed:
$(head -20 "$TMP/diff")"
    fi
    # Not even the record of the fetch (index.html, .samizdat/publishers.idx):
    # no peer answered honestly, so this was no fetch.
    if diff <(sums "$TMP/base") <(sums "$lib") >"$TMP/diff"; then ok; else
        bad "$what: files changed (a fetch that reached only a hostile peer was recorded):
$(head -20 "$TMP/diff")"
    fi
    no_evil_bytes "$what" "$lib" "$mode" "$name"
}

# ---- the honest network and the reader's library ----

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Evil Test Gazette" >"$TMP/trust"
start_daemon pub "${COMMON[@]}" --publisher-key "$TMP/pub.sk" || bad "start pub"
start_daemon relay "${COMMON[@]}" --peer "127.0.0.1:$(peer_port pub)" || bad "start relay"
RELAY=127.0.0.1:$(peer_port relay)
SEQ=0
publish() { # publish NAME: one more article, on the relay within 20 s
    "$SZ" publish --socket "$TMP/pub/control.sock" "$(article "$1")" >/dev/null || bad "publish $1"
    SEQ=$((SEQ + 1))
    wait_bundles relay "$SEQ" 20 || bad "the relay gets $1"
}
# export_seq N FILE: the honest bundle of sequence N, from the relay.
export_seq() {
    local id
    id=$(szq list --socket "$TMP/relay/control.sock" | awk -v s="$1" '$3 == s { print $1 }')
    "$SZ" export --socket "$TMP/relay/control.sock" "$id" --output "$2" >/dev/null 2>&1 ||
        bad "export sequence $1"
}
# SLOW_RELAY: the honest relay through a TCP proxy that holds back what the
# relay sends on each connection for 1 s: its SUMMARY comes after the evil one.
python3 -c '
import socket, sys, threading, time
up = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
def pipe(a, b, delay):
    time.sleep(delay)
    try:
        while True:
            x = a.recv(65536)
            if not x:
                break
            b.sendall(x)
    except OSError:
        pass
    for f in (lambda: b.shutdown(socket.SHUT_WR), a.close):
        try:
            f()
        except OSError:
            pass
while True:
    c, _ = s.accept()
    try:
        u = socket.create_connection(("127.0.0.1", up))
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, u, 0), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, 1.0), daemon=True).start()
' "${RELAY#*:}" >"$TMP/proxy.port" 2>"$TMP/proxy.err" &
PIDS+=($!)
for _ in $(seq 1 50); do
    [ -s "$TMP/proxy.port" ] && break
    nap 0.1
done
SLOW_RELAY=127.0.0.1:$(head -1 "$TMP/proxy.port")

for a in a1 a2 a3; do publish "$a"; done
fetch_into "$TMP/base" --peer "$RELAY"
[ "$RC" -eq 0 ] && ok || bad "first fetch from the honest relay: exit $RC: $(cat "$TMP/err")"
mkdir -p "$TMP/old"
export_seq 1 "$TMP/old/1.bundle"

# ---- each evil mode ----

for mode in tampered tampered-sig old-as-new truncated flood withhold flood-slow; do
    echo "mode $mode"
    publish "$mode"
    rm -rf "$TMP/new" "$TMP/ref"
    mkdir -p "$TMP/new"
    export_seq "$SEQ" "$TMP/new/$SEQ.bundle"
    # The reference: the library after a fetch from the honest relay alone.
    cp -a "$TMP/base" "$TMP/ref"
    fetch_into "$TMP/ref" --peer "$RELAY"
    [ "$RC" -eq 0 ] && ok || bad "$mode: reference fetch: exit $RC: $(cat "$ERRF")"
    ls "$TMP"/ref/*/"$mode"/index.html >/dev/null 2>&1 && ok || bad "$mode: reference lacks the article"
    id=$(awk -v s="$SEQ" '$1 == "B" && $4 == s { print $2 }' "$TMP/ref/.samizdat/library.idx")
    cmp -s "$TMP/new/$SEQ.bundle" "$TMP/ref/.samizdat/bundles/$id.bundle" && ok ||
        bad "$mode: the reference holds the honest bundle $SEQ"
    n_pids=${#PIDS[@]}

    if [ "$mode" = flood-slow ]; then
        # Each run waits out the 60 s stall: two at once, each against its
        # own evil relay. The mixed one with the honest relay delayed: the evil
        # one is asked first and holds the range while it drips ANNOUNCEs.
        start_evil "$mode" flood "$TMP/new" --rate 200 || continue
        start_evil "$mode.alone" flood "$TMP/new" --rate 200 || continue
        fresh "$TMP/lib"
        fresh "$TMP/lib.alone"
        (
            ERRF=$TMP/err.alone
            fetch_into "$TMP/lib.alone" --peer "${ADDR[$mode.alone]}"
            echo "$RC $SECS" >"$TMP/alone.rc"
        ) &
        alone=$!
        fetch_into "$TMP/lib" --peer "${ADDR[$mode]}" --peer "$SLOW_RELAY" --parallel 2
        wait $alone
        check_run "$mode --parallel 2, honest relay delayed" "$mode" "$mode" "$SLOW_RELAY" \
            "$TMP/lib" 0 $MAX_SLOW_S
        [ "$(evil_asked "$mode")" -gt 0 ] && ok || bad "$mode: the evil relay was not asked first"
        read -r RC SECS <"$TMP/alone.rc"
        ERRF=$TMP/err.alone check_alone "$mode, evil relay alone" "$mode" "$mode.alone" \
            "$TMP/lib.alone" $MAX_SLOW_S
    else
        dir=$TMP/new
        [ "$mode" = old-as-new ] && dir=$TMP/old
        start_evil "$mode" "$mode" "$dir" || continue
        # The same, but holding the asked range 2 s before the attack, and
        # sending whole bundles in BUNDLES (the batch feature) where it can.
        start_evil "$mode.late" "$mode" "$dir" --answer-delay 2 --batch || continue

        # --parallel 1: peers are tried one by one in random order; run until
        # each was tried first (the evil one first: it fails, then the honest one).
        evil_first=0 relay_first=0
        for _ in $(seq 1 $MAX_ATTEMPTS); do
            fresh "$TMP/lib"
            before=$(evil_asked "$mode")
            fetch_into "$TMP/lib" --peer "${ADDR[$mode]}" --peer "$RELAY" --parallel 1
            if [ "$(evil_asked "$mode")" -gt "$before" ]; then
                [ $evil_first -eq 1 ] && continue
                evil_first=1
                check_run "$mode --parallel 1, evil relay first" "$mode" "$mode" "$RELAY" \
                    "$TMP/lib" "$before" $MAX_RUN_S
            else
                [ $relay_first -eq 1 ] && continue
                relay_first=1
                check_run "$mode --parallel 1, honest relay first" "$mode" "$mode" "$RELAY" \
                    "$TMP/lib" "$before" $MAX_RUN_S
            fi
            [ $evil_first -eq 1 ] && [ $relay_first -eq 1 ] && break
        done
        [ $evil_first -eq 1 ] && ok || bad "$mode: fetch never tried the evil relay first"
        [ $relay_first -eq 1 ] && ok || bad "$mode: fetch never tried the honest relay first"

        # --parallel 2: both at once; whoever sends SUMMARY first is asked.
        # With the honest relay delayed 1 s the evil one is asked first and
        # attacks before the honest SUMMARY (evil at once) or after it (evil
        # late: the honest relay, idle, must stay to take over). Then straight.
        for run in "$mode $SLOW_RELAY at once, honest relay delayed" \
            "$mode.late $SLOW_RELAY late in BUNDLES, honest relay delayed" "$mode $RELAY straight"; do
            read -r name honest how <<<"$run"
            fresh "$TMP/lib"
            before=$(evil_asked "$name")
            fetch_into "$TMP/lib" --peer "${ADDR[$name]}" --peer "$honest" --parallel 2
            check_run "$mode --parallel 2, evil relay $how" "$mode" "$name" "$honest" "$TMP/lib" \
                "$before" $MAX_RUN_S
            if [ "$honest" = "$SLOW_RELAY" ]; then
                [ "$(evil_asked "$name")" -gt "$before" ] && ok ||
                    bad "$mode --parallel 2, evil relay $how: the evil relay was not asked first"
            fi
        done
        # A SUMMARY claiming every sequence there is: fetch plans a bounded
        # part of it, and is not held up.
        if [ "$mode" = old-as-new ]; then
            start_evil huge old-as-new "$dir" --claim-last 18446744073709551614 || continue
            fresh "$TMP/lib"
            before=$(evil_asked huge)
            fetch_into "$TMP/lib" --peer "${ADDR[huge]}" --peer "$SLOW_RELAY" --parallel 2
            check_run "$mode claiming sequences up to 2^64 - 2, honest relay delayed" "$mode" \
                huge "$SLOW_RELAY" "$TMP/lib" "$before" $MAX_RUN_S
            [ "$(evil_asked huge)" -gt "$before" ] && ok ||
                bad "$mode claiming up to 2^64 - 2: the evil relay was not asked first"
        fi

        # The evil relay alone: exit 7, the library untouched.
        fresh "$TMP/lib"
        fetch_into "$TMP/lib" --peer "${ADDR[$mode]}"
        check_alone "$mode, evil relay alone" "$mode" "$mode" "$TMP/lib" $MAX_RUN_S
        # --follow: a relay caught cheating is tried again only after the
        # longest wait (30-60 s), not after the second of a peer that merely
        # went away.
        if [ "$mode" = tampered ]; then
            start_evil "$mode.follow" "$mode" "$dir" || continue
            fresh "$TMP/lib.follow"
            timeout 8 "$SZ" fetch "${FETCH[@]}" --peer "${ADDR[$mode.follow]}" --follow \
                --output "$TMP/lib.follow" >/dev/null 2>"$TMP/err.follow"
            n=$(grep -c ': accepted$' "$TMP/evil.$mode.follow.log")
            [ "$n" -eq 1 ] && ok ||
                bad "$mode --follow: $n links to the cheating relay in 8 s, wanted 1: $(cat "$TMP/err.follow")"
        fi
    fi
    kill "${PIDS[@]:$n_pids}" 2>/dev/null
    wait "${PIDS[@]:$n_pids}" 2>/dev/null
    note "evil relay log:"
    grep -Ev ': (summary: |accepted$|ended$)|^[0-9]*$' "$TMP/evil.$mode.log" | cut -c1-160 |
        sed 's/^/      /'
    # The next mode starts from the honest result.
    rm -rf "$TMP/base"
    mv "$TMP/ref" "$TMP/base"
done

# ---- relays that wear the reader down, lie by omission or by number ----
#
# One more article, then each case against the library as it was before it.
# The slow relay's case waits out a 30 s rate window: it runs in the
# background while the others run.
echo "wearing-down and lying relays"
publish wear
rm -rf "$TMP/new" "$TMP/ref" "$TMP/low"
mkdir -p "$TMP/new" "$TMP/low"
export_seq "$SEQ" "$TMP/new/$SEQ.bundle"
export_seq 1 "$TMP/low/1.bundle"
export_seq 2 "$TMP/low/2.bundle"
cp -a "$TMP/base" "$TMP/ref"
fetch_into "$TMP/ref" --peer "$RELAY"
[ "$RC" -eq 0 ] && ok || bad "wear: reference fetch: exit $RC: $(cat "$ERRF")"
n_pids=${#PIDS[@]}
GAZ="The Evil Test Gazette"

# cpu_fetch LIB ARGS...: fetch_into, with the CPU seconds it took (user + system) in CPU.
cpu_fetch() {
    local TIMEFORMAT='%3U %3S' u s
    { time fetch_into "$@"; } 2>"$TMP/time"
    read -r u s <"$TMP/time"
    CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}
# mem_fetch LIB ARGS...: fetch_into without the timeout wrapper, with the
# fetch's peak resident memory (KiB, from getrusage: exact however short the
# fetch, where sampling /proc missed a fetch done in 0.1 s) in HWM.
mem_fetch() {
    local lib=$1 t0=$EPOCHREALTIME
    shift
    CPU=
    read -r RC HWM < <(python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
        "$ERRF" "$SZ" fetch "${FETCH[@]}" "$@" --output "$lib")
    SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}
# named NAME REGEX WHAT: the fetch named the evil relay NAME for REGEX.
named() {
    grep -Eq "peer ${ADDR[$1]}: .*($2)" "$ERRF" && ok ||
        bad "$3: the relay ${ADDR[$1]} is not named for '$2': $(head -c 1500 "$ERRF")"
}
# got_new WHAT N: the fetch said the library got N new bundles.
got_new() {
    grep -q "$GAZ: $2 new, " "$ERRF" && ok || bad "$1: wanted '$2 new': $(head -c 1500 "$ERRF")"
}
same_as_ref() {
    if diff <(content "$TMP/ref") <(content "$2") >"$TMP/diff"; then ok; else
        bad "$1: the library differs from a fetch from the honest relay alone:
$(head -20 "$TMP/diff")"
    fi
}
show() {
    note "$1: exit $RC in $SECS s${CPU:+, $CPU s CPU}${HWM:+, peak memory $HWM KiB}"
    sed 's/^/      /' "$ERRF" | head -20
}

# A relay that answers the range asked of it one byte every 5 s, with the
# honest relay (delayed 1 s, so the slow one is asked first) next to it: the
# slow one is named and dropped at the end of its 30 s window, the honest one
# serves the bundle, well before --timeout (60 s).
start_evil slow slowloris "$TMP/new"
fresh "$TMP/lib.slow"
(
    ERRF=$TMP/err.slow
    fetch_into "$TMP/lib.slow" --peer "${ADDR[slow]}" --peer "$SLOW_RELAY" --parallel 2 \
        --timeout 60
    echo "$RC $SECS" >"$TMP/slow.rc"
) &
slow_job=$!

# A relay that never reads and sends PINGs as fast as it can (and a byte of
# the bundle every 20 s): the reader's memory stays near that of an honest
# fetch (it grew by about 10 MB a second when every PING got a PONG queued).
start_evil ping pingflood "$TMP/new"
fresh "$TMP/lib"
mem_fetch "$TMP/lib" --peer "$RELAY"
ref_hwm=$HWM
show "honest fetch, for its memory"
[ "$RC" -eq 0 ] && ok || bad "wear: honest fetch: exit $RC"
fresh "$TMP/lib"
mem_fetch "$TMP/lib" --peer "${ADDR[ping]}" --timeout 8
hwm=$HWM
show "pingflood alone, --timeout 8"
[ "$RC" -eq 7 ] && ok || bad "pingflood: exit $RC, wanted 7"
faster pingflood "$SECS" 12
[ "$hwm" -gt 0 ] && [ "$hwm" -lt $((ref_hwm + 16384)) ] && ok ||
    bad "pingflood: the fetch's peak memory was $hwm KiB (an honest fetch: $ref_hwm KiB)"

# The publisher only in the third part of the SUMMARY (more = 1 on the first two,
# of 1024 other publishers each): fetched.
start_evil parts parts "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[parts]}"
show "summary in parts"
[ "$RC" -eq 0 ] && ok || bad "parts: exit $RC, wanted 0"
got_new parts 1
same_as_ref parts "$TMP/lib"

# A relay whose SUMMARY stops short: one part of 1024 made-up publishers keyed
# below the Gazette's, saying more will follow, then no further part. Alone:
# named, and what it holds of the Gazette is asked of it directly (a range
# past what the library holds): the bundle fetched, complete. Beside the
# honest relay: the bundle fetched. cut-past, its made-up keys above the
# Gazette's, went past it without naming it: it does not carry it (complete,
# the omit warning).
start_evil cut cut "$TMP/new"
start_evil cutpast cut-past "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[cut]}" --json
show "a summary cut short, alone"
[ "$RC" -eq 0 ] && ok || bad "cut alone: exit $RC, wanted 0"
grep -q "peer ${ADDR[cut]}: its summary stopped after 1 part that said more would follow" \
    "$ERRF" && ok || bad "cut alone: the relay is not named for its summary: $(cat "$ERRF")"
grep -q "no peer offers $GAZ" "$ERRF" && bad "cut alone: told that no peer offers the Gazette" ||
    ok
grep -q '"complete":true' "$TMP/out" && grep -q '"unknown":false' "$TMP/out" && ok ||
    bad "cut alone: --json does not say complete and known: $(cat "$TMP/out")"
got_new "cut alone" 1
same_as_ref "cut alone" "$TMP/lib"
# cut-close: the same summary, and the link closed when the reader asks for
# the Gazette. What it holds of the Gazette is not known: named, not complete
# (exit 7, "unknown" in --json), the library unchanged.
start_evil cutclose cut-close "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[cutclose]}" --json
show "a summary cut short, the link closed when asked"
[ "$RC" -eq 7 ] && ok || bad "cut-close: exit $RC, wanted 7"
grep -q "no peer's summary said what it holds of $GAZ (each ended before it), and none answered" \
    "$ERRF" && ok || bad "cut-close: no word that the Gazette's state is not known: $(cat "$ERRF")"
grep -q '"complete":false' "$TMP/out" && grep -q '"unknown":true' "$TMP/out" && ok ||
    bad "cut-close: --json does not say incomplete and unknown: $(cat "$TMP/out")"
if diff <(content "$TMP/base") <(content "$TMP/lib") >"$TMP/diff"; then ok; else
    bad "cut-close: the library's content changed: $(head -20 "$TMP/diff")"
fi
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[cut]}" --peer "$RELAY" --parallel 2 --json
show "a summary cut short, beside the honest relay"
[ "$RC" -eq 0 ] && ok || bad "cut with the honest relay: exit $RC, wanted 0"
grep -q '"complete":true' "$TMP/out" && grep -q '"unknown":false' "$TMP/out" && ok ||
    bad "cut with the honest relay: --json: $(cat "$TMP/out")"
got_new "cut with the honest relay" 1
same_as_ref "cut with the honest relay" "$TMP/lib"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[cutpast]}" --json
show "a summary cut short past the publisher, alone"
[ "$RC" -eq 0 ] && ok || bad "cut-past alone: exit $RC, wanted 0"
grep -q "no peer offers $GAZ, of which this library holds sequences up to $((SEQ - 1))" \
    "$ERRF" && ok || bad "cut-past alone: no warning that no peer offers the Gazette: $(cat "$ERRF")"
grep -q '"unknown":false' "$TMP/out" && ok || bad "cut-past alone: --json: $(cat "$TMP/out")"

# slow-parts: after cut's part, a last part of the Gazette and 1000 made-up
# publishers (about 51 KB) written at 6 KB/s, some 9 s: a slow link, not a
# relay stopping short. The reader waits while its bytes come, and fetches.
start_evil slowparts slow-parts "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[slowparts]}" --json
show "a summary's last part on a slow link"
[ "$RC" -eq 0 ] && ok || bad "slow-parts: exit $RC, wanted 0"
grep -q "its summary stopped after" "$ERRF" &&
    bad "slow-parts: taken as stopping short: $(cat "$ERRF")" || ok
got_new slow-parts 1
same_as_ref slow-parts "$TMP/lib"

# Relays whose SUMMARY names no publisher: not a peer that answered for it.
# With --parallel 1 and five of them listed before the honest relay (in random
# order), the honest one is still tried, and the bundle fetched (twice, as the
# honest one may come first by chance).
omits=()
for k in 1 2 3 4 5; do
    start_evil "omit$k" omit "$TMP/new"
    omits+=(--peer "${ADDR[omit$k]}")
done
for run in 1 2; do
    fresh "$TMP/lib"
    fetch_into "$TMP/lib" "${omits[@]}" --peer "$RELAY" --parallel 1
    show "five omitting relays and the honest one, --parallel 1 (run $run)"
    [ "$RC" -eq 0 ] && ok || bad "omit, run $run: exit $RC, wanted 0"
    got_new "omit, run $run" 1
    same_as_ref "omit, run $run" "$TMP/lib"
done
# Alone, one of them: the library holds the publisher and no peer offers it: warned.
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[omit1]}"
show "an omitting relay alone"
grep -q "no peer offers $GAZ, of which this library holds sequences up to $((SEQ - 1))" \
    "$ERRF" && ok || bad "omit alone: no warning that no peer offers the publisher: $(cat "$ERRF")"

# The library without its fetch.state (a fetch killed between library.idx and
# fetch.state, or a library made by unpack): a relay offering only sequences
# 1-2 is a rollback, and what the library had is not "new" (nor asked for: the
# library's own index says what it holds); nor is anything a fetch of the
# honest relay brings again but the new bundle.
start_evil low honest "$TMP/low"
cp -a "$TMP/base" "$TMP/lib.nostate"
rm -f "$TMP/lib.nostate/.samizdat/fetch.state"
rm -rf "$TMP/lib"
cp -a "$TMP/lib.nostate" "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[low]}"
show "no fetch.state, a relay offering sequences 1-2"
grep -q "peer ${ADDR[low]} offers $GAZ only up to sequence 2, older than the $((SEQ - 1)) this" \
    "$ERRF" && ok || bad "no fetch.state: no rollback warning for a relay offering 1-2: $(cat "$ERRF")"
got_new "no fetch.state, sequences 1-2 again" 0
asked=$(evil_asked low)
[ "$asked" = 0 ] && ok ||
    bad "no fetch.state: the reader asked for $asked ranges of sequences its library holds"
rm -rf "$TMP/lib"
cp -a "$TMP/lib.nostate" "$TMP/lib"
fetch_into "$TMP/lib" --peer "$RELAY"
show "no fetch.state, the honest relay"
[ "$RC" -eq 0 ] && ok || bad "no fetch.state, honest relay: exit $RC, wanted 0"
got_new "no fetch.state, every bundle again" 1
same_as_ref "no fetch.state, honest relay" "$TMP/lib"

# A 1 MiB SUMMARY of 63 x 1024 single-sequence ranges, each asked range answered
# by RANGE_DONE alone, next to the honest relay (delayed): little CPU, one line
# about the ranges withheld (and one with their count), the bundle from the
# honest relay. Exit 7: what the relay offered was not fetched.
start_evil many manyranges "$TMP/new"
fresh "$TMP/lib"
cpu_fetch "$TMP/lib" --peer "${ADDR[many]}" --peer "$SLOW_RELAY" --parallel 2 --timeout 30
show "manyranges and the honest relay"
[ "$RC" -eq 7 ] && ok || bad "manyranges: exit $RC, wanted 7"
faster "manyranges (CPU)" "$CPU" 5
faster manyranges "$SECS" 25
got_new manyranges 1
same_as_ref manyranges "$TMP/lib"
[ "$(grep -c 'did not send all' "$ERRF")" -eq 1 ] && ok ||
    bad "manyranges: wanted one 'did not send all' line: $(grep -c 'did not send all' "$ERRF")"
[ "$(wc -l <"$ERRF")" -lt 20 ] && ok || bad "manyranges: $(wc -l <"$ERRF") lines on stderr"

# The same relay with the sparse feature: the reader asks for its single
# sequences up to 64 in a REQUEST_SPARSE (PROTOCOL.md 4.3.2), and still names
# the first withheld one and then their count, each sequence counted.
start_evil manys manyranges "$TMP/new" --sparse
fresh "$TMP/lib"
cpu_fetch "$TMP/lib" --peer "${ADDR[manys]}" --peer "$SLOW_RELAY" --parallel 2 --timeout 30
show "manyranges (sparse) and the honest relay"
[ "$RC" -eq 7 ] && ok || bad "manyranges (sparse): exit $RC, wanted 7"
faster "manyranges (sparse, CPU)" "$CPU" 5
faster "manyranges (sparse)" "$SECS" 25
got_new "manyranges (sparse)" 1
same_as_ref "manyranges (sparse)" "$TMP/lib"
[ "$(grep -c 'did not send all' "$ERRF")" -eq 1 ] && ok ||
    bad "manyranges (sparse): wanted one 'did not send all' line: $(grep -c 'did not send all' "$ERRF")"
sparse=$(grep -o '[0-9]* REQUEST_SPARSE)' "$TMP/evil.manys.log" | awk '{ s += $1 } END { print s + 0 }')
withheld=$(sed -n 's/.*: in all, \([0-9]*\) ranges it offered came without all their bundles.*/\1/p' "$ERRF")
echo "evil_relay_test: manyranges (sparse): $sparse REQUEST_SPARSE, ${withheld:-?} ranges withheld"
[ "$sparse" -gt 0 ] && [ "${withheld:-0}" -ge $((32 * sparse)) ] && ok ||
    bad "manyranges (sparse): $sparse REQUEST_SPARSE for ${withheld:-?} withheld ranges (wanted many ranges a request)"

# BUNDLES messages full of copies of the asked bundle, next to the honest relay
# (delayed): the copies are not verified one by one, the relay is named and
# dropped, the bundle is in the library once.
start_evil rep repeat "$TMP/new" --batch
fresh "$TMP/lib"
cpu_fetch "$TMP/lib" --peer "${ADDR[rep]}" --peer "$SLOW_RELAY" --parallel 2 --timeout 30
show "repeat and the honest relay"
[ "$RC" -eq 0 ] && ok || bad "repeat: exit $RC, wanted 0"
named rep 'already had' repeat
faster "repeat (CPU)" "$CPU" 5
got_new repeat 1
same_as_ref repeat "$TMP/lib"

# A bundle's first byte with nothing asked (its SUMMARY offered nothing):
# misbehaviour, named; the reader did not make room for 8 MiB.
start_evil una unasked "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[una]}"
show "a bundle nobody asked for"
[ "$RC" -eq 7 ] && ok || bad "unasked: exit $RC, wanted 7"
named una 'not asked for' unasked

# A relay that serves honestly but claims an equivocation it cannot back (two
# made-up ids for its newest sequence): the reader asks it for both, gets
# neither, and says the claim is not proven (not "X signed two bundles");
# index.html shows it as a peer's report until a fetch in which no peer
# reports it.
start_evil feq fakeeq "$TMP/new"
fresh "$TMP/lib"
fetch_into "$TMP/lib" --peer "${ADDR[feq]}"
show "a made-up equivocation"
[ "$RC" -eq 0 ] && ok || bad "fakeeq: exit $RC, wanted 0"
grep -q "a peer reports that $GAZ signed two different bundles with one sequence number, but did not send both: not proven" \
    "$ERRF" && ok || bad "fakeeq: the claim is not called unproven: $(head -c 1500 "$ERRF")"
grep -q "WARNING: $GAZ signed two different" "$ERRF" && bad "fakeeq: the claim is stated as fact" || ok
grep -q "A peer reported during the fetch" "$TMP/lib/index.html" && ok ||
    bad "fakeeq: index.html does not show the report"
fetch_into "$TMP/lib" --peer "$RELAY"
show "then the honest relay"
grep -q "A peer reported during the fetch" "$TMP/lib/index.html" &&
    bad "fakeeq: the report stays after a fetch in which no peer made it" || ok

wait $slow_job
read -r RC SECS <"$TMP/slow.rc"
CPU= HWM=
ERRF=$TMP/err.slow show "slowloris and the honest relay (delayed), --timeout 60"
ERRF=$TMP/err.slow
[ "$RC" -eq 0 ] && ok || bad "slowloris: exit $RC, wanted 0"
faster slowloris "$SECS" 45
named slow 'too slow|stalled' slowloris
got_new slowloris 1
same_as_ref slowloris "$TMP/lib.slow"
ERRF=$TMP/err
kill "${PIDS[@]:$n_pids}" 2>/dev/null
wait "${PIDS[@]:$n_pids}" 2>/dev/null
finish
