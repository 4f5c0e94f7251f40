#!/usr/bin/env bash
# Crash safety: publish and import in a loop, kill samizdatd with SIGKILL at a
# random moment, restart; at least 20 rounds. After each restart the store
# opens, every bundle whose id was reported to a client is present and
# verifies, and no sequence number was used twice.
# usage: crash_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR [ROUNDS]
set -u
SZ=$1
SZD=$2
SRC=$3
ROUNDS=${4:-20}
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT
EX=$SRC/examples/articles
SOCK=$TMP/node/control.sock
"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
"$SZ" keygen --secret-key "$TMP/oth.sk" --public-key "$TMP/oth.pk" --no-passphrase >/dev/null
: >"$TMP/reported"

# A client loop: publish one article, or import a fresh bundle of another
# publisher, and record every id the daemon reports.
client_loop() {
    local n=$1 i=0
    while :; do
        i=$((i + 1))
        local art=$TMP/art-$n-$i.md
        printf -- '---\ntitle: Crash round %s item %s\nid: r%s-i%s\n---\nBody %s %s\n' \
            "$n" "$i" "$n" "$i" "$n" "$RANDOM" >"$art"
        if [ $((i % 2)) -eq 0 ]; then
            id=$("$SZ" publish --socket "$SOCK" "$art" 2>/dev/null) && echo "$id" >>"$TMP/reported"
        else
            "$SZ" pack --secret-key "$TMP/oth.sk" --level 1 --output "$TMP/b-$n-$i" "$art" \
                >/dev/null 2>&1 || continue
            out=$("$SZ" import --socket "$SOCK" "$TMP/b-$n-$i" 2>/dev/null) &&
                awk '$1=="stored"||$1=="present"{print $2}' <<<"$out" >>"$TMP/reported"
        fi
    done
}

# ROUNDS rounds, and more (up to 3 x ROUNDS) while fewer than 20 bundles were
# reported: a slow machine (the sanitizers, a loaded CI) gets fewer in each.
round=0
while :; do
    round=$((round + 1))
    if [ "$round" -gt "$ROUNDS" ]; then
        [ "$(sort -u "$TMP/reported" | wc -l)" -lt 20 ] && [ "$round" -le $((3 * ROUNDS)) ] ||
            break
    fi
    if ! start_daemon node --publisher-key "$TMP/pub.sk" --batch-window-ms 0; then
        bad "round $round: daemon does not start after a crash"
        break
    fi
    ok
    # Everything reported so far is there and verifies.
    szq list --socket "$SOCK" --json >"$TMP/list.json" || bad "round $round: list"
    grep -o '"id":"[0-9a-f]*"' "$TMP/list.json" | cut -d'"' -f4 | sort -u >"$TMP/held"
    missing=$(sort -u "$TMP/reported" | grep -v '^$' | comm -23 - "$TMP/held" | wc -l)
    [ $missing -eq 0 ] && ok || bad "round $round: $missing reported bundle(s) missing after SIGKILL"
    # No sequence used twice by this publisher.
    dups=$(szq list --socket "$SOCK" --publisher "$TMP/pub.pk" | awk '{print $3}' | sort | uniq -d)
    [ -z "$dups" ] && ok || bad "round $round: sequence(s) used twice: $dups"
    client_loop "$round" &
    cpid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill_daemon node
    kill "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
done

# Finally, export and verify a sample of what was reported.
start_daemon node --publisher-key "$TMP/pub.sk" || bad "final start"
n=0
for id in $(sort -u "$TMP/reported" | shuf -n 20 --random-source=<(yes)); do
    "$SZ" export --socket "$SOCK" "$id" --output "$TMP/x.bundle" &&
        "$SZ" verify -q --trust "$TMP/pub.pk" --trust "$TMP/oth.pk" "$TMP/x.bundle" && ok ||
        bad "reported bundle $id exports and verifies"
    n=$((n + 1))
done
[ "$(sort -u "$TMP/reported" | wc -l)" -ge 20 ] && ok ||
    bad "too few bundles reported over the rounds ($(sort -u "$TMP/reported" | wc -l))"
stop_daemon node
finish
