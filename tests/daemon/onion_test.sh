#!/usr/bin/env bash
# samizdatd --onion-listen: the port a Tor onion service forwards to. Every
# connection there comes from the local Tor (127.0.0.1), so a peer that
# misbehaves through it must not get 127.0.0.1 banned: every other reader and
# relay that comes through Tor would be shut out. Its peers are not passed on
# to others as addresses (127.0.0.1 means nothing to them). A peer that
# misbehaves on the ordinary port still gets its address banned.
# usage: onion_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR ADVERSARY
set -u
SZ=$1
SZD=$2
SRC=$3
ADV=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT

# A publisher key and one article, and a bundle of a stranger's key for the
# adversary to offer with a bad signature.
for k in pub evil; do
    "$SZ" keygen --secret-key "$TMP/$k.sk" --public-key "$TMP/$k.pk" --no-passphrase >/dev/null ||
        bad "keygen $k"
done
echo "$(cat "$TMP/pub.pk") The Onion Courier" >"$TMP/trust"
printf -- '---\ntitle: Through Tor\nid: via-tor\n---\nRead through an onion service.\n' \
    >"$TMP/a.md"
printf -- '---\ntitle: Bait\nid: bait\n---\nNot signed as it says.\n' >"$TMP/bait.md"
"$SZ" pack --secret-key "$TMP/evil.sk" --level 1 --output "$TMP/bait.bundle" "$TMP/bait.md" \
    >/dev/null || bad "pack bait"

# At debug level: only there does t name by address the peers it did not open.
start_daemon t --log-level debug --onion-listen 127.0.0.1:0 --publisher-key "$TMP/pub.sk" \
    --batch-window-ms 0 || bad "start t"
TPORT=$(peer_port t)
OPORT=$(sed -n "s/.*listening for the onion service's connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p" \
    "$TMP/t.log" | tail -1)
[ -n "$OPORT" ] && [ "$OPORT" != "$TPORT" ] && ok ||
    bad "t says where it listens for the onion service ($(grep listening "$TMP/t.log"))"
"$SZ" publish --socket "$TMP/t/control.sock" "$TMP/a.md" >/dev/null || bad "publish"

fetch_from() { # fetch_from LABEL PORT: a reader's fetch from t's port into its own library
    "$SZ" fetch --peer "127.0.0.1:$2" --trust-file "$TMP/trust" --output "$TMP/lib-$1" \
        --connect-timeout 5 >"$TMP/fetch-$1.out" 2>&1
}
article_in() { ls "$TMP"/lib-"$1"/*/via-tor/index.html >/dev/null 2>&1; }

# 1. A peer that misbehaves through the onion service (a bundle with a bad
# signature) is closed, and its node key banned ...
"$ADV" bad-signature "127.0.0.1:$OPORT" "$TMP/bait.bundle" >"$TMP/adv1.out" 2>&1
grep -q "peer onion#[0-9]*: closed: .*(banned)" "$TMP/t.log" && ok ||
    bad "t closed the onion peer that sent a bad bundle: $(grep -h 'closed' "$TMP/t.log" | tail -3)"
# ... but 127.0.0.1 is not banned: the next reader through Tor gets the article.
fetch_from onion1 "$OPORT" && article_in onion1 && ok ||
    bad "a reader through the onion service after the ban: $(cat "$TMP/fetch-onion1.out")"

# 2. A relay that comes in through the onion service is shown as such, and is not
# passed on to other peers as an address; one on the ordinary port is.
# One link only (to t): it must not reach other relays itself, or they would
# rightly pass its address on.
start_daemon ronion --peer "127.0.0.1:$OPORT" --outbound-target 1 || bad "start ronion"
start_daemon rplain --peer "127.0.0.1:$TPORT" || bad "start rplain"
RONION=$(peer_port ronion)
RPLAIN=$(peer_port rplain)
for _ in $(seq 1 100); do
    [ "$(szq status --socket "$TMP/t/control.sock" 2>/dev/null | grep -c 'up [0-9]*s')" -ge 2 ] &&
        break
    nap 0.1
done
szq status --socket "$TMP/t/control.sock" >"$TMP/status.txt" 2>&1
grep -q "onion#[0-9]* inbound (through the onion service)" "$TMP/status.txt" && ok ||
    bad "status shows the onion peer: $(cat "$TMP/status.txt")"
grep -q "inbound links from the onion service on port $OPORT" "$TMP/status.txt" && ok ||
    bad "status shows the onion service's port: $(cat "$TMP/status.txt")"
start_daemon s --peer "127.0.0.1:$TPORT" --outbound-target 4 || bad "start s"
wait_log "$TMP/s.log" "peer 127.0.0.1:$RPLAIN: link open (outbound)" 10
grep -q "peer 127.0.0.1:$RPLAIN: link open (outbound)" "$TMP/s.log" && ok ||
    bad "s learned the relay on t's ordinary port from t (the test's premise)"
sleep 2
grep -q "127.0.0.1:$RONION" "$TMP/s.log" &&
    bad "t passed on the onion service's relay as an address: $(grep "$RONION" "$TMP/s.log")" || ok

# 3. The same misbehaviour on the ordinary port bans the address: a reader from
# 127.0.0.1 there is then refused, while one through the onion service is not.
"$ADV" bad-signature "127.0.0.1:$TPORT" "$TMP/bait.bundle" >"$TMP/adv2.out" 2>&1
grep -q "peer 127.0.0.1:[0-9]*: closed: .*(banned)" "$TMP/t.log" && ok ||
    bad "t banned the address that sent a bad bundle on its ordinary port"
fetch_from plain "$TPORT" && bad "a reader from the banned address was served" || ok
fetch_from onion2 "$OPORT" && article_in onion2 && ok ||
    bad "a reader through the onion service while 127.0.0.1 is banned: $(cat "$TMP/fetch-onion2.out")"
stop_daemon t && ok || bad "t stops cleanly"

# 4. Links through the onion service count as one address when the inbound
# links are full: one Tor client holding them all (a node key per link)
# cannot keep a reader on the ordinary port out (it did: each onion link
# counted as an address of its own, none ever two ahead).
start_daemon u --log-level debug --onion-listen 127.0.0.1:0 --max-inbound 4 \
    --peer "127.0.0.1:$TPORT" || bad "start u"
UPORT=$(peer_port u)
UOPORT=$(sed -n "s/.*listening for the onion service's connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p" \
    "$TMP/u.log" | tail -1)
"$ADV" hold-links "127.0.0.1:$UOPORT" 4 --hold 40 >"$TMP/hold.out" 2>&1 &
HOLD=$!
for _ in $(seq 1 300); do
    [ "$(grep -c 'handshake from .* done' "$TMP/hold.out" 2>/dev/null)" -ge 4 ] && break
    nap 0.1
done
[ "$(grep -c 'handshake from .* done' "$TMP/hold.out")" -ge 4 ] && ok ||
    bad "the Tor client did not open its 4 links within 30 s: $(cat "$TMP/hold.out")"
"$SZ" fetch --peer "127.0.0.1:$UPORT" --trust-file "$TMP/trust" --output "$TMP/lib-u" \
    --connect-timeout 5 >"$TMP/fetch-u.out" 2>&1 && ok ||
    bad "a reader on the ordinary port while one Tor client holds every inbound link: $(cat "$TMP/fetch-u.out")"
grep -q "peer onion#[0-9]*: closed to make room for a peer from another address" "$TMP/u.log" && ok ||
    bad "u closed no onion link to make room: $(grep -h 'refused\|room' "$TMP/u.log" | tail -3)"
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
stop_daemon u && ok || bad "u stops cleanly"
finish
