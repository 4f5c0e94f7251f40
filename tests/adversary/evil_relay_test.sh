#!/usr/bin/env bash
# A malicious relay against `samizdat fetch` (tests/adversary/adversary.c,
# serve-evil). A publisher and an honest relay run as real samizdatd processes
# on 127.0.0.1; the reader's library already holds the first articles. For each
# MODE the publisher publishes one more article, then the evil relay serves:
#
#   tampered      the new bundle with one payload byte flipped
#   tampered-sig  the new bundle with one signature byte flipped
#   old-as-new    claims sequences up to newest + 100, answers with sequence 1;
#                 once more claiming every sequence up to 2^64 - 2
#   truncated     half of the new bundle, then closes the stream
#   flood         endless ANNOUNCEs of random ids as fast as it can, serves nothing
#   flood-slow    endless ANNOUNCEs, 200 ids a second (under fetch's flood
#                 limit of 4096 per 10 s), serves nothing
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
# under 30 s (flood-slow: 80 s, as a peer that sends no bundle byte for 60 s is
# stalled). With the evil relay alone: exit 7, and not one byte of the library
# changes. flood-slow makes one run of each kind, at once: it is the slow part
# of the test (about a minute).
#
# usage: evil_relay_test.sh SAMIZDAT SAMIZDATD ADVERSARY SOURCE_DIR
set -u
SZ=$1
SZD=$2
ADV=$3
SRC=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PIDS=() # the evil relays and the delaying proxy
trap 'kill "${PIDS[@]}" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0 --level 1)
MAX_RUN_S=30    # a fetch against a fast evil relay ends within this
MAX_SLOW_S=80   # and against flood-slow (fetch: a peer silent for 60 s is stalled)
MAX_ATTEMPTS=12 # --parallel 1 runs to see each peer tried first (miss: 2^-12)
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
        sleep 0.1
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
        sleep 0.1
    done
    grep -c ': REQUEST_RANGE ' "$TMP/evil.$1.log"
}

# fetch_into LIB ARGS...: runs fetch into LIB; sets RC and SECS, stderr in $ERRF.
fetch_into() {
    local lib=$1 t0=$EPOCHREALTIME
    shift
    RC=0
    timeout -k 10 150 "$SZ" fetch "${FETCH[@]}" "$@" --output "$lib" >/dev/null 2>"$ERRF" || RC=$?
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
    [tampered]='fails verification'
    [tampered-sig]='fails verification'
    [old-as-new]='not asked for|older|rollback'
    [truncated]='closed the connection'
    [flood]='flood'
    [flood-slow]='stall|flood'
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
    id=$("$SZ" list --socket "$TMP/relay/control.sock" | awk -v s="$1" '$3 == s { print $1 }')
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
    sleep 0.1
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
finish
