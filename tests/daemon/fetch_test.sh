#!/usr/bin/env bash
# samizdat fetch against real daemons on 127.0.0.1: a fetch through a relay,
# dead and silent peers named and skipped, resume, --follow, rollback and
# staleness warnings, --json.
# usage: fetch_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap '[ -n "${SILENT:-}" ] && kill $SILENT 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)
article() {
    printf -- '---\ntitle: Article %s\nid: %s\n---\nText of %s.\n' "$1" "$1" "$1" >"$TMP/$1.md"
    echo "$TMP/$1.md"
}

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Fetch Gazette" >"$TMP/trust"
start_daemon pub "${COMMON[@]}" --publisher-key "$TMP/pub.sk" || bad "start pub"
start_daemon relay "${COMMON[@]}" --peer "127.0.0.1:$(peer_port pub)" || bad "start relay"
RELAY=127.0.0.1:$(peer_port relay)
for i in 1 2 3; do "$SZ" publish --socket "$TMP/pub/control.sock" "$(article a$i)" >/dev/null; done
wait_bundles relay 3 60 || bad "relay gets 3 bundles"

# A silent peer: accepts TCP and never answers (the handshake must time out).
python3 -c '
import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' >"$TMP/silent.port" &
SILENT=$!
sleep 0.5
SILENT_PEER=127.0.0.1:$(head -1 "$TMP/silent.port")
# A dead peer: a port that was free a moment ago (nothing listens there).
DEAD_PEER=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

out=$("$SZ" fetch --peer "$DEAD_PEER" --peer "$SILENT_PEER" --peer "$RELAY" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --connect-timeout 2 --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch through the relay (rc $rc: $(cat "$TMP/err"))"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==3, s' \
    "$out" && ok || bad "--json: 3 bundles, complete ($out)"
grep -q "peer $DEAD_PEER: cannot connect" "$TMP/err" && ok || bad "dead peer named: $(cat "$TMP/err")"
grep -q "peer $SILENT_PEER: no answer" "$TMP/err" && ok || bad "silent peer named: $(cat "$TMP/err")"
grep -q "The Fetch Gazette" "$TMP/lib/index.html" && ok || bad "trust-file name in the library"
for i in 1 2 3; do
    ls "$TMP"/lib/*/a$i/index.html >/dev/null 2>&1 && ok || bad "article a$i unpacked"
done

# The fetched library opens from file:// and makes no network request.
if command -v chromium >/dev/null; then
    bash "$SRC/tests/browser/no_network_test.sh" "$TMP/lib" "$TMP/shots" >"$TMP/browser.log" 2>&1 &&
        ok || bad "browser check of the fetched library: $(tail -5 "$TMP/browser.log")"
else
    echo "fetch_test: chromium is not installed; the browser check of the fetched library is skipped"
fi

# Resume: only what is new is fetched.
"$SZ" publish --socket "$TMP/pub/control.sock" "$(article a4)" >/dev/null
wait_bundles relay 4 60 || bad "relay gets the 4th"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/lib" --json 2>/dev/null)
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["bundles"]==1, s' "$out" && ok ||
    bad "second fetch brings only the new bundle ($out)"

# On a terminal, progress names bundles, bytes, rate and the peer (script(1)
# gives fetch a terminal); piped, as everywhere above, it stays quiet.
if command -v script >/dev/null; then
    script -qec "'$SZ' fetch --peer $RELAY --trust-file '$TMP/trust' --output '$TMP/ttylib'" \
        /dev/null >"$TMP/tty.out" 2>&1 </dev/null
    grep -aq "fetched 4 bundles, .* MB/s, from $RELAY" "$TMP/tty.out" && ok ||
        bad "no progress line naming the peer on a terminal: $(cat -v "$TMP/tty.out")"
else
    echo "fetch_test: script(1) is missing; the terminal progress check is skipped"
fi
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/pipedlib" >/dev/null \
    2>"$TMP/piped.err"
grep -q "fetched" "$TMP/piped.err" && bad "progress printed when not a terminal" || ok

# No reachable peer: exit 7 and a clear message.
expect_status "no peer reachable" 7 "$SZ" fetch --peer "$DEAD_PEER" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --connect-timeout 2
expect_stderr "no peer message" "no peer could be reached"

# A fetch trusting another publisher keeps the first one's progress: fetching
# the first again downloads nothing.
"$SZ" keygen --secret-key "$TMP/pub2.sk" --public-key "$TMP/pub2.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub2.pk") The Other Paper" >"$TMP/trust2"
"$SZ" pack --secret-key "$TMP/pub2.sk" --output "$TMP/b1.bundle" "$(article b1)" </dev/null \
    >/dev/null 2>&1 || bad "pack the second publisher's bundle"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/b1.bundle" >/dev/null || bad "import b1"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust2" --output "$TMP/lib" --json 2>/dev/null)
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["bundles"]==1, s' "$out" && ok ||
    bad "fetch of the second publisher ($out)"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/lib" --json 2>/dev/null)
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==0, s' \
    "$out" && ok || bad "the first publisher's progress survives a fetch of another ($out)"

# A bundle the library cannot take (here a file stands where its article's
# folder goes) is named, and does not hold back the others of its batch.
PUBDIR=$(basename "$(dirname "$(ls -d "$TMP"/lib/*/a1)")")
mkdir -p "$TMP/blocked/$PUBDIR"
echo "not a folder" >"$TMP/blocked/$PUBDIR/a2"
rc=0
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/blocked" >/dev/null \
    2>"$TMP/err" || rc=$?
[ $rc -eq 5 ] && ok || bad "a bundle that cannot be written: exit $rc, wanted 5 ($(cat "$TMP/err"))"
grep -q "a2" "$TMP/err" && ok || bad "the failing article is named: $(cat "$TMP/err")"
for i in 1 3 4; do
    [ -f "$TMP/blocked/$PUBDIR/a$i/index.html" ] && ok || bad "a$i written despite a2 ($(cat "$TMP/err"))"
done
rm "$TMP/blocked/$PUBDIR/a2"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/blocked" --json 2>/dev/null)
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==1, s' \
    "$out" && ok || bad "then only the missing bundle is fetched ($out)"

# Staleness warning.
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/lib" --stale-after 0 \
    >/dev/null 2>"$TMP/err"
sleep 1
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/lib" --stale-after 0 \
    >/dev/null 2>"$TMP/err"
grep -q "WARNING: the newest bundle of The Fetch Gazette is older" "$TMP/err" && ok ||
    bad "staleness warning: $(cat "$TMP/err")"

# Rollback: a relay that holds only old bundles is reported.
start_daemon old "${COMMON[@]}" --max-inbound 4 || bad "start old relay"
first=$("$SZ" list --socket "$TMP/relay/control.sock" --publisher "$TMP/pub.pk" |
    awk '$3==1{print $1}')
"$SZ" export --socket "$TMP/relay/control.sock" "$first" --output "$TMP/first.bundle"
"$SZ" import --socket "$TMP/old/control.sock" "$TMP/first.bundle" >/dev/null
"$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/trust" --output "$TMP/lib" \
    >/dev/null 2>"$TMP/err"
grep -q "rollback" "$TMP/err" && ok || bad "rollback reported: $(cat "$TMP/err")"

# Peers that are no samizdat node for this reader, each named with the reason:
# a node with another network key (it says nothing and closes at its handshake deadline),
# and a web server (or a filter answering in its place).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/other.netkey"
start_daemon otherkey "${COMMON[@]}" --network-key "$TMP/other.netkey" || bad "start otherkey"
python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(4096)
c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
c.close()
' >"$TMP/http.port" &
HTTPD=$!
for _ in $(seq 1 50); do [ -s "$TMP/http.port" ] && break; sleep 0.1; done
rc=0
"$SZ" fetch --peer "127.0.0.1:$(peer_port otherkey)" --peer "127.0.0.1:$(head -1 "$TMP/http.port")" \
    --parallel 2 --connect-timeout 15 --trust-file "$TMP/trust" --output "$TMP/strangers" \
    >/dev/null 2>"$TMP/err" || rc=$?
wait $HTTPD
[ $rc -eq 7 ] && ok || bad "fetch from strangers only: exit $rc, wanted 7"
grep -q "peer 127.0.0.1:$(peer_port otherkey): closed the connection during the handshake without a word: a node with another network key" "$TMP/err" &&
    ok || bad "a node with another network key is not named for it: $(cat "$TMP/err")"
grep -q "peer 127.0.0.1:$(head -1 "$TMP/http.port"): is not a samizdat node: it answered in text (\"HTTP/1.1 403 Forbidden\")" "$TMP/err" &&
    ok || bad "a web server is not named for it: $(cat "$TMP/err")"
grep -q "no peer could be reached" "$TMP/err" && ok || bad "no summary line: $(cat "$TMP/err")"

# --follow: a bundle published after the fetch started arrives.
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/followlib" --follow \
    >/dev/null 2>"$TMP/follow.err" &
FPID=$!
sleep 2
"$SZ" publish --socket "$TMP/pub/control.sock" "$(article followed)" >/dev/null
got=0
for _ in $(seq 1 300); do
    if ls "$TMP"/followlib/*/followed/index.html >/dev/null 2>&1; then
        got=1
        break
    fi
    sleep 0.1
done
kill -INT $FPID
wait $FPID
[ $got -eq 1 ] && ok || bad "--follow receives a bundle published after it started: $(cat "$TMP/follow.err")"
finish
