#!/usr/bin/env bash
# samizdat fetch against real daemons on 127.0.0.1: a fetch through a relay,
# dead and silent peers named and skipped, resume, --follow, rollback and
# staleness warnings, --json, equivocation, comments in peers and trust files,
# the default port, --follow across a relay restart, --follow of two relays
# that announce each bundle at once.
# usage: fetch_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# The client keeps its leak check under AddressSanitizer (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
trap '[ -n "${SILENT:-}" ] && kill $SILENT 2>/dev/null
[ -n "${SLOTS:-}" ] && kill $SLOTS 2>/dev/null
[ -n "${DUMP:-}" ] && kill $DUMP 2>/dev/null
for p in ${FOLLOWERS:-}; do kill -KILL $p 2>/dev/null; done
cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)
# wait_page LIB ID: true once article ID's page is in LIB (within 30 s).
wait_page() {
    for _ in $(seq 1 300); do
        ls "$1"/*/"$2"/index.html >/dev/null 2>&1 && return 0
        nap 0.1
    done
    return 1
}
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
# Its port, once it has printed it (python3 alone may take over a second to
# start on a loaded machine: a fixed wait of 0.5 s once gave an empty port).
for _ in $(seq 1 100); do
    [ -s "$TMP/silent.port" ] && break
    nap 0.1
done
SILENT_PEER=127.0.0.1:$(head -1 "$TMP/silent.port")
[ "$SILENT_PEER" != 127.0.0.1: ] && ok || bad "the silent peer did not start within 10 s"
# A dead peer: a port that was free a moment ago (nothing listens there).
DEAD_PEER=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

out=$("$SZ" fetch --peer "$DEAD_PEER" --peer "$SILENT_PEER" --peer "$RELAY" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --connect-timeout 2 --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch through the relay (rc $rc: $(cat "$TMP/err"))"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==3, s' \
    "$out" && ok || bad "--json: 3 bundles, complete ($out)"
grep -q "peer $DEAD_PEER: cannot connect" "$TMP/err" && ok || bad "dead peer named: $(cat "$TMP/err")"
grep -q "peer $SILENT_PEER: connected, but no answer" "$TMP/err" && ok || bad "silent peer named: $(cat "$TMP/err")"
grep -q "The Fetch Gazette" "$TMP/lib/index.html" && ok || bad "trust-file name in the library"
for i in 1 2 3; do
    ls "$TMP"/lib/*/a$i/index.html >/dev/null 2>&1 && ok || bad "article a$i unpacked"
done

# The fetched library opens from file:// and makes no network request. Not
# again under AddressSanitizer: the library is the same, and Chromium's time
# (half a minute of both cores) is all that run would add.
if LC_ALL=C grep -q -a __asan_init "$SZ"; then
    echo "fetch_test: the browser check runs in the build without sanitizers"
elif command -v chromium >/dev/null; then
    bash "$SRC/tests/browser/no_network_test.sh" "$TMP/lib" "$TMP/shots" >"$TMP/browser.log" 2>&1 &&
        ok || bad "browser check of the fetched library: $(tail -5 "$TMP/browser.log")"
else
    echo "SKIP: chromium is not installed: the browser check of the fetched library is not run"
fi

# Resume: only what is new is fetched.
"$SZ" publish --socket "$TMP/pub/control.sock" "$(article a4)" >/dev/null
wait_bundles relay 4 60 || bad "relay gets the 4th"
# The relay given twice (as when --peer repeats a line of --peers-file) is
# one peer: one link, one slot of --parallel (it was two).
out=$("$SZ" fetch --peer "$RELAY" --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/lib" \
    --json 2>/dev/null)
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["bundles"]==1, s' "$out" && ok ||
    bad "second fetch brings only the new bundle ($out)"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["peers_tried"]==1, s' "$out" && ok ||
    bad "a peer given twice was tried twice ($out)"

# --json stays JSON when the library's folder name is not UTF-8 (a name made
# in another encoding): the byte is shown as U+FFFD.
LATIN1=$TMP/lib-$(printf 'caf\351')
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$LATIN1" --json >"$TMP/latin1.json" \
    2>"$TMP/err" || bad "fetch into a folder whose name is not UTF-8: $(cat "$TMP/err")"
python3 -c 'import json,sys; s=json.loads(open(sys.argv[1],"rb").read()); assert s["bundles"]==4 and s["library"].endswith("/lib-caf\ufffd"), s' \
    "$TMP/latin1.json" && ok || bad "--json is valid UTF-8 JSON: $(od -c "$TMP/latin1.json" | head -5)"

# On a terminal, progress names bundles, bytes, rate and the peer (script(1)
# gives fetch a terminal); piped, as everywhere above, it stays quiet.
if command -v script >/dev/null; then
    script -qec "'$SZ' fetch --peer $RELAY --trust-file '$TMP/trust' --output '$TMP/ttylib'" \
        /dev/null >"$TMP/tty.out" 2>&1 </dev/null
    grep -aq "fetched 4 bundles, .* MB/s, from $RELAY" "$TMP/tty.out" && ok ||
        bad "no progress line naming the peer on a terminal: $(cat -v "$TMP/tty.out")"
else
    echo "SKIP: script(1) is missing: the terminal progress check is not run"
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
# (.samizdat makes the folder a library: fetch refuses to write into any other
# folder that already holds files.)
mkdir -p "$TMP/blocked/$PUBDIR" "$TMP/blocked/.samizdat"
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

# Staleness warning: a publisher whose newest bundle was signed 3 hours ago.
"$SZ" keygen --secret-key "$TMP/old.sk" --public-key "$TMP/old.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/old.pk") The Old Courier" >"$TMP/trust-old"
printf -- '---\ntitle: Three hours ago\n---\nWritten a while ago.\n' >"$TMP/old.md"
"$SZ" pack --secret-key "$TMP/old.sk" --created "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" \
    --output "$TMP/old.bundle" "$TMP/old.md" >/dev/null || bad "pack a bundle signed 3 hours ago"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/old.bundle" >/dev/null ||
    bad "import a bundle signed 3 hours ago"
stale_fetch() { # stale_fetch [OPTION...]: fetches it into lib-old, stderr in $TMP/err
    "$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-old" --output "$TMP/lib-old" "$@" \
        >/dev/null 2>"$TMP/err"
}
stale_fetch --stale-after 2 || bad "fetch of a stale publisher: exit $? ($(cat "$TMP/err"))"
grep -q "WARNING: the newest bundle of The Old Courier is older than 2 hours" "$TMP/err" && ok ||
    bad "staleness warning after 2 hours: $(cat "$TMP/err")"
# The age of the newest bundle, per publisher (3 hours, not rounded to 0).
grep -q "The Old Courier: 1 new, highest sequence 1, newest signed .* (3 h ago)" "$TMP/err" && ok ||
    bad "the newest bundle's age is not said: $(cat "$TMP/err")"
grep -q 'class="warn"' "$TMP/lib-old/index.html" && ok ||
    bad "index.html shows no staleness warning after 2 hours"
stale_fetch
grep -q "WARNING" "$TMP/err" && bad "staleness warning after the default 48 hours: $(cat "$TMP/err")" ||
    ok
stale_fetch --stale-after 1
grep -q "older than 1 hour:" "$TMP/err" && ok || bad "staleness warning after 1 hour: $(cat "$TMP/err")"
stale_fetch --stale-after 0
grep -q "WARNING" "$TMP/err" && bad "--stale-after 0 still warns: $(cat "$TMP/err")" || ok
# --json says the same per publisher, for scripts: stale after 2 hours, not
# after 48; a trusted publisher of which nothing is held is stale too.
json_pub() { # json_pub JSON PYTHON-ASSERTIONS: p is the first publisher's record
    python3 -c 'import json, sys, time
s = json.loads(sys.argv[1]); p = s["publishers"][0]; now = time.time()
exec(sys.argv[2])' "$1" "$2"
}
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-old" --output "$TMP/lib-old" \
    --stale-after 2 --json 2>/dev/null)
json_pub "$out" 'assert p["name"] == "The Old Courier" and p["sequence"] == 1, p
assert abs(now - 3 * 3600 - p["newest_created"]) < 600, p
assert p["stale"] is True and p["rollback_seen"] is False and p["equivocation"] is False, p' &&
    ok || bad "--json of a publisher stale after 2 hours: $out"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-old" --output "$TMP/lib-old" --json \
    2>/dev/null)
json_pub "$out" 'assert p["stale"] is False, p' && ok ||
    bad "--json of a publisher 3 hours old, stale after the default 48: $out"
"$SZ" keygen --secret-key "$TMP/none.sk" --public-key "$TMP/none.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/none.pk") The Silent Herald" >"$TMP/trust-none"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-none" --output "$TMP/lib-none" --json \
    2>/dev/null)
json_pub "$out" 'assert p["name"] == "The Silent Herald" and p["sequence"] == 0, p
assert p["newest_created"] == 0 and p["stale"] is True, p' && ok ||
    bad "--json of a trusted publisher with nothing held: $out"
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-none" --output "$TMP/lib-none" --json \
    --stale-after 0 2>/dev/null)
json_pub "$out" 'assert p["stale"] is True, p' && ok ||
    bad "--json of a publisher with nothing held, --stale-after 0 (no age is too old): $out"
grep -q 'class="warn"' "$TMP/lib-old/index.html" &&
    bad "--stale-after 0: index.html still shows a staleness warning" || ok

# Rollback: a relay that holds only old bundles is reported.
start_daemon old "${COMMON[@]}" --max-inbound 4 || bad "start old relay"
first=$(szq list --socket "$TMP/relay/control.sock" --publisher "$TMP/pub.pk" |
    awk '$3==1{print $1}')
"$SZ" export --socket "$TMP/relay/control.sock" "$first" --output "$TMP/first.bundle"
"$SZ" import --socket "$TMP/old/control.sock" "$TMP/first.bundle" >/dev/null
"$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/trust" --output "$TMP/lib" \
    >/dev/null 2>"$TMP/err"
grep -q "rollback" "$TMP/err" && ok || bad "rollback reported: $(cat "$TMP/err")"
# Withholding only the newest bundle is a rollback too: the relay now holds
# every sequence but the last.
newest=$(szq list --socket "$TMP/relay/control.sock" --publisher "$TMP/pub.pk" |
    awk '$3>n{n=$3} END{print n}')
[ "${newest:-0}" -ge 3 ] || bad "the relay holds sequences up to $newest, wanted 3 or more"
for id in $(szq list --socket "$TMP/relay/control.sock" --publisher "$TMP/pub.pk" |
    awk -v n="$newest" '$3>1 && $3<n{print $1}'); do
    "$SZ" export --socket "$TMP/relay/control.sock" "$id" --output "$TMP/behind.bundle" &&
        "$SZ" import --socket "$TMP/old/control.sock" "$TMP/behind.bundle" >/dev/null ||
        bad "copy bundle $id to the old relay"
done
out=$("$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --json 2>"$TMP/err")
grep -q "only up to sequence $((newest - 1)), older than the $newest this library holds" \
    "$TMP/err" && ok || bad "a relay one sequence behind is reported: $(cat "$TMP/err")"
python3 -c 'import json, sys
p = json.loads(sys.argv[1])["publishers"][0]
assert p["rollback_seen"] is True and p["sequence"] == int(sys.argv[2]), p' "$out" "$newest" &&
    ok || bad "--json of a relay one sequence behind says no rollback: $out"
# Its 4 inbound slots held by 4 addresses that never start the handshake:
# after 3 s silent they give way to a reader (they locked readers out).
python3 - "$(peer_port old)" >"$TMP/silent.out" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for i in range(2, 6):
    s = socket.socket()
    s.bind(("127.0.0.%d" % i, 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    held.append(s)
print("held", flush=True)
time.sleep(8)
EOF
SLOTS=$!
# From when all 4 are connected (python may start slowly on a loaded machine).
for _ in $(seq 1 100); do
    grep -q held "$TMP/silent.out" 2>/dev/null && break
    nap 0.1
done
sleep 4
rc=0
timeout 20 "$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/trust" \
    --output "$TMP/lib" >/dev/null 2>"$TMP/err" || rc=$?
grep -q "rollback" "$TMP/err" && ok ||
    bad "a reader behind 4 silent connections on 4 slots (rc $rc): $(cat "$TMP/err" "$TMP/silent.out")"
kill "$SLOTS" 2>/dev/null
wait "$SLOTS" 2>/dev/null

# Equivocation: a relay holds two bundles that one key signed with one
# sequence. Both reach the library, the fetch warns (a warning: the exit status
# stays 0) and index.html shows the alarm.
# equivocating_pair NAME: key NAME.sk and bundles NAME1, NAME2 that it signed
# with one sequence (articles NAME1, NAME2).
equivocating_pair() {
    "$SZ" keygen --secret-key "$TMP/$1.sk" --public-key "$TMP/$1.pk" --no-passphrase >/dev/null
    for n in 1 2; do
        "$SZ" pack --secret-key "$TMP/$1.sk" --sequence 1 --reuse-sequence \
            --output "$TMP/$1$n.bundle" "$(article "$1$n")" </dev/null >/dev/null 2>&1 ||
            bad "pack equivocating bundle $1$n"
    done
}
equivocating_pair eq
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/eq1.bundle" "$TMP/eq2.bundle" >/dev/null ||
    bad "import the equivocating bundles"
echo "$(cat "$TMP/eq.pk") Two Faced Times" >"$TMP/eqtrust"
rc=0
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/eqtrust" --output "$TMP/eqlib" --json \
    2>"$TMP/err") || rc=$?
[ $rc -eq 0 ] && ok || bad "fetch of an equivocation: exit $rc, wanted 0 ($(cat "$TMP/err"))"
grep -q "WARNING: Two Faced Times signed two different bundles with one sequence number" \
    "$TMP/err" && ok || bad "no equivocation warning: $(cat "$TMP/err")"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); p=s["publishers"][0]; assert p["equivocation"] and p["fetched"]==2, s' \
    "$out" && ok || bad "--json: both bundles fetched, equivocation true ($out)"
grep -q "signed two different bundles with the same sequence number (#1)" "$TMP/eqlib/index.html" &&
    ok || bad "index.html shows no equivocation alarm"
ls "$TMP"/eqlib/*/eq1/index.html "$TMP"/eqlib/*/eq2/index.html >/dev/null 2>&1 && ok ||
    bad "the articles of both equivocating bundles are kept"

# A library that holds one bundle of such a pair gets the other when a relay
# reports the equivocation (a relay that sends EQUIVOCATION messages): the
# reader asks for both, so the library proves it instead of noting a report.
"$SZ" import --socket "$TMP/old/control.sock" "$TMP/eq1.bundle" >/dev/null || bad "import eq1 alone"
"$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/eqtrust" --output "$TMP/eqlib2" \
    >/dev/null 2>"$TMP/err" || bad "fetch one bundle of the pair: $(cat "$TMP/err")"
# The reader stays until the relay answers a PING sent after its SUMMARY, so
# the reports that follow the SUMMARY are always heard.
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/eqtrust" --output "$TMP/eqlib2" >/dev/null \
    2>"$TMP/err"
grep -q "peer $RELAY reports an EQUIVOCATION: publisher Two Faced Times signed two bundles with sequence 1" \
    "$TMP/err" && ok || bad "the relay's equivocation report is not heard: $(cat "$TMP/err")"
grep -q "signed two different bundles with the same sequence number (#1)" \
    "$TMP/eqlib2/index.html" && ls "$TMP"/eqlib2/*/eq2/index.html >/dev/null 2>&1 && ok ||
    bad "a reported equivocation is not fetched and proven: $(cat "$TMP/err")"

# The warning and --json name the publishers whose equivocation this fetch
# found: a pair of another publisher the library proved before is no news (it
# stays on index.html).
equivocating_pair eqb
"$SZ" import --socket "$TMP/old/control.sock" "$TMP/eqb1.bundle" "$TMP/eqb2.bundle" >/dev/null ||
    bad "import the second pair"
{ cat "$TMP/eqtrust"; echo "$(cat "$TMP/eqb.pk") Second Face"; } >"$TMP/eqtrust2"
out=$("$SZ" fetch --peer "127.0.0.1:$(peer_port old)" --trust-file "$TMP/eqtrust2" --output "$TMP/eqlib" \
    --json 2>"$TMP/err") || bad "fetch the second pair: $(cat "$TMP/err")"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); p=s["publishers"]; assert not p[0]["equivocation"] and p[1]["equivocation"] and p[1]["fetched"]==2, s' \
    "$out" && ok || bad "--json: equivocation only for the second publisher ($out)"
grep -q "EQUIVOCATION: Second Face signed two different bundles" "$TMP/err" &&
    ! grep -q "Two Faced Times signed" "$TMP/err" && ok ||
    bad "the warning names the second publisher only: $(cat "$TMP/err")"
grep -q "signed two different bundles with the same sequence number (#1)" "$TMP/eqlib/index.html" &&
    ok || bad "index.html still shows the first alarm"

# Comments: '#' at the start of a line or after white space, in peers and trust files;
# a '#' inside a word stays.
printf '# relays\n%s  # relay 1\n\n' "$RELAY" >"$TMP/peers.txt"
printf '# mine\n%s The C# Gazette # the main one\n' "$(cat "$TMP/pub.pk")" >"$TMP/trust.comments"
out=$("$SZ" fetch --peers-file "$TMP/peers.txt" --trust-file "$TMP/trust.comments" \
    --output "$TMP/commentlib" --json 2>"$TMP/err")
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["publishers"][0]["name"]=="The C# Gazette", s' \
    "$out" && ok || bad "comments in peers and trust files: $out $(cat "$TMP/err")"

# An address without a port means 7447, as for the daemon (IPv6 in brackets).
if python3 -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", 7447)) == 0)'; then
    expect_status "peers without port" 7 "$SZ" fetch --peer 127.0.0.1 --peer "[::1]" \
        --trust-file "$TMP/trust" --output "$TMP/portlib" --connect-timeout 2
    expect_stderr "127.0.0.1 means port 7447" "peer 127\.0\.0\.1:7447: "
    expect_stderr "[::1] means port 7447" "peer \[::1\]:7447: "
else
    echo "SKIP: something listens on 127.0.0.1:7447: the default port check is not run"
fi

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
for _ in $(seq 1 50); do [ -s "$TMP/http.port" ] && break; nap 0.1; done
rc=0
"$SZ" fetch --peer "127.0.0.1:$(peer_port otherkey)" --peer "127.0.0.1:$(head -1 "$TMP/http.port")" \
    --parallel 2 --connect-timeout 15 --trust-file "$TMP/trust" --output "$TMP/strangers" \
    >/dev/null 2>"$TMP/err" || rc=$?
wait $HTTPD
[ $rc -eq 7 ] && ok || bad "fetch from strangers only: exit $rc, wanted 7"
grep -q "peer 127.0.0.1:$(peer_port otherkey): closed the connection during the handshake without a word: .* another network key (see --network-key)" "$TMP/err" &&
    ok || bad "a node with another network key is not named for it: $(cat "$TMP/err")"
grep -q "peer 127.0.0.1:$(head -1 "$TMP/http.port"): is not a samizdat node: it answered in text (\"HTTP/1.1 403 Forbidden\")" "$TMP/err" &&
    ok || bad "a web server is not named for it: $(cat "$TMP/err")"
grep -q "no peer could be reached" "$TMP/err" && ok || bad "no summary line: $(cat "$TMP/err")"
# Given up on before that node's deadline: the reason names --network-key too.
"$SZ" fetch --peer "127.0.0.1:$(peer_port otherkey)" --connect-timeout 2 --trust-file "$TMP/trust" \
    --output "$TMP/strangers" >/dev/null 2>"$TMP/err"
grep -q "peer 127.0.0.1:$(peer_port otherkey): connected, but no answer to the handshake within 2 s (a node of another network says nothing: see --network-key" "$TMP/err" &&
    ok || bad "a silent node of another network is not named for it: $(cat "$TMP/err")"
# That node logs the reader it turned away under a label, not its address
# (readers' addresses appear only at --log-level debug).
grep -q "peer inbound#[0-9]*: rejected a connection that did not prove the network key" \
    "$TMP/otherkey.log" && ok || bad "the rejected reader is not logged as inbound#N: $(cat "$TMP/otherkey.log")"
! grep "peer 127\.0\.0\.1:" "$TMP/otherkey.log" && ok || bad "a reader's address is in a log at the default level"

# --follow: a bundle published after the fetch started arrives, by its
# announcement (published once the first catch-up is in the library).
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/followlib" --follow \
    >/dev/null 2>"$TMP/follow.err" &
FPID=$!
wait_page "$TMP/followlib" a4 || bad "--follow: the first catch-up did not come"
sleep 1
"$SZ" publish --socket "$TMP/pub/control.sock" "$(article followed)" >/dev/null
got=0
wait_page "$TMP/followlib" followed && got=1
kill -INT $FPID
wait $FPID
[ $got -eq 1 ] && ok || bad "--follow receives a bundle published after it started: $(cat "$TMP/follow.err")"

# Ctrl-C stops a fetch once what came is written (exit 7, said); a second
# Ctrl-C before it is done stops it at once (killed by SIGINT: 130).
"$SZ" fetch --peer "$SILENT_PEER" --trust-file "$TMP/trust" --output "$TMP/intlib" \
    --connect-timeout 30 >/dev/null 2>"$TMP/int1.err" &
IPID=$!
# Once fetch catches SIGINT (SigCgt bit 1): before that, Ctrl-C ends any program.
for _ in $(seq 1 100); do
    cgt=$(awk '/^SigCgt:/ { print $2 }' "/proc/$IPID/status" 2>/dev/null)
    [ -n "$cgt" ] && [ $((0x$cgt & 2)) -ne 0 ] && break
    nap 0.1
done
nap 0.2
kill -INT $IPID
rc=0
wait $IPID || rc=$?
[ $rc -eq 7 ] && grep -q "stopping: interrupted" "$TMP/int1.err" && ok ||
    bad "one Ctrl-C: exit $rc, wanted 7: $(cat "$TMP/int1.err")"
# Here the library is locked by another writer (held by the test), so the
# fetch cannot finish writing what came.
mkdir -p "$TMP/intlib2/.samizdat"
: >"$TMP/intlib2/.samizdat/lock"
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(30)
' "$TMP/intlib2/.samizdat/lock" >"$TMP/holder.out" &
HOLDER=$!
for _ in $(seq 1 50); do [ -s "$TMP/holder.out" ] && break; nap 0.1; done
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/intlib2" >/dev/null \
    2>"$TMP/int2.err" &
IPID=$!
# Once it waits for the lock (it says so), however long the fetch took.
for _ in $(seq 1 200); do
    grep -q "waiting for another program" "$TMP/int2.err" && break
    nap 0.1
done
T0=$(date +%s)
kill -INT $IPID
nap 0.5
kill -INT $IPID
rc=0
wait $IPID || rc=$?
T1=$(date +%s)
kill $HOLDER 2>/dev/null
[ $rc -eq 130 ] && [ $((T1 - T0)) -le 5 ] && ok ||
    bad "two Ctrl-C: exit $rc after $((T1 - T0)) s, wanted 130 (killed by SIGINT) at once: $(cat "$TMP/int2.err")"
grep -q "waiting for another program that is writing the library $TMP/intlib2" "$TMP/int2.err" &&
    ok || bad "the wait for the library's lock is said: $(cat "$TMP/int2.err")"

# --follow started before its peer carries the publisher at all (its SUMMARY
# lists nothing of it): what arrives later is offered, not withheld, and the
# reader is not told at the end that no peer offers it.
"$SZ" keygen --secret-key "$TMP/late.sk" --public-key "$TMP/late.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/late.pk") The Late Gazette" >"$TMP/trust-late"
"$SZ" pack --secret-key "$TMP/late.sk" --output "$TMP/late.bundle" "$(article latecomer)" \
    </dev/null >/dev/null || bad "pack latecomer"
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-late" --output "$TMP/latelib" --follow \
    >/dev/null 2>"$TMP/late.err" &
FPID=$!
sleep 2
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/late.bundle" >/dev/null || bad "import latecomer"
got=0
wait_page "$TMP/latelib" latecomer && got=1
kill -INT $FPID
rc=0
wait $FPID || rc=$?
[ $got -eq 1 ] && [ $rc -eq 0 ] && ok ||
    bad "--follow gets a publisher its peer did not carry yet (exit $rc): $(cat "$TMP/late.err")"
grep -q "no peer offers\|rollback" "$TMP/late.err" &&
    bad "--follow warns of withholding for bundles it received: $(cat "$TMP/late.err")" || ok

# --follow survives a relay restart and gets what the relay receives after it;
# a peer unreachable from the start does not end it and is named once, not at
# each retry; on a terminal each bundle added gets a line.
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$TMP/restartlib" --follow --json \
    >"$TMP/restart.out" 2>"$TMP/restart.err" &
RPID=$!
"$SZ" fetch --peer "$DEAD_PEER" --trust-file "$TMP/trust" --output "$TMP/deadlib" --follow \
    >/dev/null 2>"$TMP/dead.err" &
DPID=$!
FOLLOWERS="$RPID $DPID"
TPID=
if command -v script >/dev/null; then
    script -qec "echo \$\$ >'$TMP/tty.pid'; exec '$SZ' fetch --peer $RELAY --trust-file '$TMP/trust' --output '$TMP/ttyfollow' --follow" \
        /dev/null >"$TMP/ttyfollow.out" 2>&1 </dev/null &
    TPID=$!
    FOLLOWERS="$FOLLOWERS $TPID"
fi
for _ in $(seq 1 100); do
    ls "$TMP"/restartlib/*/followed/index.html >/dev/null 2>&1 &&
        { [ -z "$TPID" ] || ls "$TMP"/ttyfollow/*/followed/index.html >/dev/null 2>&1; } && break
    nap 0.1
done
RPORT=$(peer_port relay)
stop_daemon relay || bad "relay stops"
start_daemon relay "${COMMON[@]}" --peer "127.0.0.1:$(peer_port pub)" --listen "127.0.0.1:$RPORT" ||
    bad "relay restarts on port $RPORT"
"$SZ" publish --socket "$TMP/pub/control.sock" "$(article afterrestart)" >/dev/null
got=0
for _ in $(seq 1 200); do
    if ls "$TMP"/restartlib/*/afterrestart/index.html >/dev/null 2>&1 &&
        { [ -z "$TPID" ] || grep -aq "Article afterrestart" "$TMP/ttyfollow.out"; }; then
        got=1
        break
    fi
    nap 0.1
done
alive=0
kill -0 $RPID 2>/dev/null && alive=1
kill -INT $RPID
rc=0
wait $RPID || rc=$?
[ $got -eq 1 ] && [ $alive -eq 1 ] && ok ||
    bad "--follow survives a relay restart (running: $alive): $(cat "$TMP/restart.err")"
[ $rc -eq 0 ] && ok || bad "--follow interrupted: exit $rc, wanted 0 ($(cat "$TMP/restart.err"))"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["complete"], s' \
    "$TMP/restart.out" && ok || bad "--follow --json summary: $(cat "$TMP/restart.out")"
# The relay came back: it is ok, not failed too (it was counted as both).
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))
assert (s["peers_tried"], s["peers_ok"], s["peers_failed"]) == (1, 1, 0), s' \
    "$TMP/restart.out" && ok || bad "--follow --json peer counts after a restart: $(cat "$TMP/restart.out")"
kill -0 $DPID 2>/dev/null && ok || bad "--follow ended on a peer unreachable from the start: $(cat "$TMP/dead.err")"
kill -INT $DPID
wait $DPID
n=$(grep -c "peer $DEAD_PEER" "$TMP/dead.err")
[ "$n" -eq 1 ] && ok || bad "an unreachable peer is named $n times, wanted once: $(cat "$TMP/dead.err")"
if [ -n "$TPID" ]; then
    kill -INT "$(cat "$TMP/tty.pid")"
    wait $TPID
    grep -aq "added from The Fetch Gazette: sequence [0-9]*, 1 article: \"Article afterrestart\"" \
        "$TMP/ttyfollow.out" && ok || bad "no line per bundle added on a terminal: $(cat -v "$TMP/ttyfollow.out")"
fi
FOLLOWERS=

# A bundle signed "later" than the reader's clock (relays take up to 24 h
# ahead): the reader is told its clock or the publisher's is wrong, not that
# the bundle is some negative number of hours old.
"$SZ" keygen --secret-key "$TMP/ahead.sk" --public-key "$TMP/ahead.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/ahead.pk") The Early Edition" >"$TMP/trust-ahead"
"$SZ" pack --secret-key "$TMP/ahead.sk" --output "$TMP/ahead.bundle" \
    --created "$(date -u -d '+20 hours 30 minutes' +%Y-%m-%dT%H:%M:%SZ)" "$(article early)" \
    </dev/null >/dev/null || bad "pack a bundle dated 20 h ahead"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/ahead.bundle" >/dev/null || bad "import early"
"$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-ahead" --output "$TMP/aheadlib" >/dev/null \
    2>"$TMP/ahead.err" || bad "fetch a bundle dated ahead: $(cat "$TMP/ahead.err")"
grep -q "The Early Edition: 1 new, highest sequence 1, newest signed .*, 20 h ahead of this computer's clock: check its date and time" \
    "$TMP/ahead.err" && ok || bad "a bundle dated ahead is not named so: $(cat "$TMP/ahead.err")"

# Writers at once: three fetches and an unpack into one library. The library's
# lock takes them in turn: each bundle is added once, and the library holds
# every one of them and nothing twice.
"$SZ" keygen --secret-key "$TMP/many.sk" --public-key "$TMP/many.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/many.pk") The Crowded Courier" >"$TMP/trust-many"
for k in $(seq 1 40); do
    "$SZ" pack --secret-key "$TMP/many.sk" --output "$TMP/many$k.bundle" "$(article crowd$k)" \
        </dev/null >/dev/null || bad "pack crowd$k"
done
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/many*.bundle >/dev/null || bad "import crowd"
PIDS=()
for k in 1 2 3; do
    "$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-many" --output "$TMP/crowdlib" --json \
        >"$TMP/crowd$k.json" 2>"$TMP/crowd$k.err" &
    PIDS+=($!)
done
"$SZ" unpack --trust-file "$TMP/trust-many" --output "$TMP/crowdlib" "$TMP/many7.bundle" \
    "$TMP/many33.bundle" >/dev/null 2>"$TMP/crowdu.err" &
PIDS+=($!)
rcs=
for p in "${PIDS[@]}"; do
    rc=0
    wait "$p" || rc=$?
    rcs="$rcs$rc"
done
[ "$rcs" = 0000 ] && ok || bad "writers at once: exits $rcs: $(cat "$TMP"/crowd*.err)"
added=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["bundles"] for f in sys.argv[1:]))' \
    "$TMP"/crowd[123].json)
unpacked=$(sed -n 's/^samizdat: \([0-9]*\) bundles\{0,1\} added.*/\1/p' "$TMP/crowdu.err")
[ $((added + ${unpacked:-0})) -eq 40 ] && ok ||
    bad "writers at once added $added + ${unpacked:-?} bundles, wanted 40 in all"
[ "$(grep -c '^B ' "$TMP/crowdlib/.samizdat/library.idx")" -eq 40 ] &&
    [ "$(grep -c '^A ' "$TMP/crowdlib/.samizdat/library.idx")" -eq 40 ] &&
    [ "$(find "$TMP/crowdlib/.samizdat/bundles" -name '*.bundle' | wc -l)" -eq 40 ] &&
    [ "$(grep -o 'href="[0-9a-f]*/crowd[0-9]*/index.html"' "$TMP/crowdlib/index.html" | sort -u | wc -l)" -eq 40 ] &&
    [ "$(grep -o 'href="[0-9a-f]*/crowd[0-9]*/index.html"' "$TMP/crowdlib/index.html" | wc -l)" -eq 40 ] &&
    ok || bad "writers at once: the library does not hold each of the 40 bundles once"
# Scattered holes (PROTOCOL.md 4.3.2): a library that holds the odd sequences
# of 200 asks for the 100 even ones in a few REQUEST_SPARSE messages, not one
# REQUEST_RANGE each (about 85 bytes on the wire a hole, a round trip for
# every 4): what the reader sends stays under 20 bytes a hole.
"$SZ" keygen --secret-key "$TMP/holes.sk" --public-key "$TMP/holes.pk" --no-passphrase >/dev/null
mkdir -p "$TMP/holes" "$TMP/dump"
for k in $(seq 1 200); do
    "$SZ" pack --secret-key "$TMP/holes.sk" --sequence "$k" --output "$TMP/holes/$k.bundle" \
        "$(article hole$k)" </dev/null >/dev/null || bad "pack hole$k"
done
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/holes/*.bundle >/dev/null || bad "import holes"
"$SZ" unpack --trust "$TMP/holes.pk" --output "$TMP/holelib" "$TMP"/holes/*[13579].bundle \
    >/dev/null 2>"$TMP/holes.err" || bad "unpack the odd sequences: $(cat "$TMP/holes.err")"
python3 "$SRC/tests/adversary/dumpproxy.py" "$(peer_port relay)" "$TMP/dump" &
DUMP=$!
for _ in $(seq 1 50); do [ -s "$TMP/dump/port" ] && break; nap 0.1; done
out=$("$SZ" fetch --peer "127.0.0.1:$(cat "$TMP/dump/port")" --trust "$TMP/holes.pk" \
    --output "$TMP/holelib" --json 2>"$TMP/holes.err")
rc=$?
kill $DUMP 2>/dev/null
wait $DUMP 2>/dev/null
DUMP=
[ $rc -eq 0 ] && python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==100, s' \
    "$out" && ok || bad "a fetch of 100 scattered holes (rc $rc: $out $(cat "$TMP/holes.err"))"
[ "$(grep -c '^B ' "$TMP/holelib/.samizdat/library.idx")" -eq 200 ] &&
    [ "$(ls -d "$TMP"/holelib/*/hole*/ | wc -l)" -eq 200 ] && ok ||
    bad "the library does not hold all 200 bundles after the holes were fetched"
sent=$(cat "$TMP"/dump/conn-*.c2s | wc -c)
echo "fetch_test: the reader sent $sent bytes for 100 scattered holes"
[ "$sent" -gt 0 ] && [ "$sent" -le 2000 ] && ok ||
    bad "the reader sent $sent bytes to fetch 100 scattered holes (at most 2,000 expected)"
# Bundles above --max-size (here 1 MiB): one of 1.5 MiB of text (small on the
# wire), one with a 1.3 MiB photo (large on the wire). The relay sent what was
# asked: the fetch names each bundle and what to raise, takes the others, does
# not blame the relay, and exits 7; with the limit raised it takes the two.
"$SZ" keygen --secret-key "$TMP/big.sk" --public-key "$TMP/big.pk" --no-passphrase >/dev/null
mkdir -p "$TMP/bigin" "$TMP/bigb"
{
    printf -- '---\ntitle: Long\nid: long\n---\n'
    yes 'A long line of a long report, said again and again.' | head -c $((1536 << 10))
} >"$TMP/bigin/long.md"
{
    printf '\x89PNG\r\n\x1a\n'
    head -c $((1300 << 10)) /dev/urandom
} >"$TMP/bigin/scan.png"
printf -- '---\ntitle: Scan\nid: scan\nattachments: [scan.png]\n---\nThe scan.\n' >"$TMP/bigin/scan.md"
for a in small1:"$(article small1)" long:"$TMP/bigin/long.md" small3:"$(article small3)" \
    scan:"$TMP/bigin/scan.md"; do
    "$SZ" pack --secret-key "$TMP/big.sk" --level 1 --output "$TMP/bigb/${a%%:*}.bundle" "${a#*:}" \
        </dev/null >/dev/null 2>"$TMP/big.err" || bad "pack ${a%%:*}: $(cat "$TMP/big.err")"
done
# A --follow reader started before the relay has them gets them announced.
"$SZ" fetch --peer "$RELAY" --trust "$TMP/big.pk" --output "$TMP/bigfollow" --max-size 1 --follow \
    >/dev/null 2>"$TMP/bigfollow.err" &
BIGF=$!
FOLLOWERS="${FOLLOWERS:-} $BIGF"
sleep 1
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/bigb/*.bundle >/dev/null || bad "import big"
for _ in $(seq 1 100); do
    [ "$(grep -c 'MiB of articles, more than --max-size 1' "$TMP/bigfollow.err")" -ge 2 ] &&
        ls -d "$TMP"/bigfollow/*/small3 >/dev/null 2>&1 && break
    nap 0.1
done
kill -TERM $BIGF 2>/dev/null
wait $BIGF
[ "$(grep -c 'MiB of articles, more than --max-size 1' "$TMP/bigfollow.err")" -eq 2 ] &&
    ls -d "$TMP"/bigfollow/*/small1 "$TMP"/bigfollow/*/small3 >/dev/null 2>&1 && ok ||
    bad "--follow --max-size 1: the announced bundles above it are not named once each: $(cat "$TMP/bigfollow.err")"
out=$("$SZ" fetch --peer "$RELAY" --trust "$TMP/big.pk" --output "$TMP/biglib" --max-size 1 \
    --json 2>"$TMP/big.err")
rc=$?
[ $rc -eq 7 ] && ok || bad "a fetch with bundles above --max-size exits $rc, not 7: $(cat "$TMP/big.err")"
grep -q 'bundle 2 holds 2 MiB of articles, more than --max-size 1 allows.*--max-size 2' "$TMP/big.err" &&
    grep -q 'bundle 4 holds 2 MiB of articles, more than --max-size 1 allows' "$TMP/big.err" &&
    ok || bad "the bundles above --max-size are not named with the size to give: $(cat "$TMP/big.err")"
grep -q 'fails verification\|not asked\|out of order\|too large' "$TMP/big.err" &&
    bad "the relay that sent bundles as asked is blamed: $(cat "$TMP/big.err")" || ok
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); p=s["publishers"][0]
assert s["bundles"]==2 and not s["complete"] and p["too_large"]==2, s' "$out" && ok ||
    bad "--json after bundles above --max-size: $out"
ls -d "$TMP"/biglib/*/small1 "$TMP"/biglib/*/small3 >/dev/null 2>&1 &&
    ! ls -d "$TMP"/biglib/*/long "$TMP"/biglib/*/scan >/dev/null 2>&1 && ok ||
    bad "the library after --max-size 1: $(ls "$TMP"/biglib/*/)"
"$SZ" fetch --peer "$RELAY" --trust "$TMP/big.pk" --output "$TMP/biglib" --max-size 2 \
    >/dev/null 2>"$TMP/big.err" && ls -d "$TMP"/biglib/*/long "$TMP"/biglib/*/scan >/dev/null 2>&1 &&
    ok || bad "a fetch with --max-size 2 did not get the two large bundles: $(cat "$TMP/big.err")"
"$SZ" fetch --peer "$RELAY" --trust "$TMP/big.pk" --output "$TMP/biglib" --max-size 0 \
    >/dev/null 2>"$TMP/big.err"
[ $? -eq 2 ] && grep -q -- '--max-size takes MiB from 1 to 1024' "$TMP/big.err" && ok ||
    bad "--max-size 0 is not a usage error: $(cat "$TMP/big.err")"
# --follow with two relays that both get each new bundle at once: both announce
# it, and it is asked of one of them only. Before, the reader asked both for
# about half of the bundles, downloaded those twice and, after 16 such copies,
# dropped an honest relay as one that "sent bundles this fetch already had".
"$SZ" keygen --secret-key "$TMP/twin.sk" --public-key "$TMP/twin.pk" --no-passphrase >/dev/null
start_daemon twinpub "${COMMON[@]}" --level 1 --publisher-key "$TMP/twin.sk" || bad "start twinpub"
start_daemon twin1 "${COMMON[@]}" --outbound-target 1 --peer "127.0.0.1:$(peer_port twinpub)" ||
    bad "start twin1"
start_daemon twin2 "${COMMON[@]}" --outbound-target 1 --peer "127.0.0.1:$(peer_port twinpub)" ||
    bad "start twin2"
"$SZ" fetch --peer "127.0.0.1:$(peer_port twin1)" --peer "127.0.0.1:$(peer_port twin2)" \
    --trust "$TMP/twin.pk" --output "$TMP/twinlib" --follow >/dev/null 2>"$TMP/twin.err" &
TWINF=$!
FOLLOWERS="${FOLLOWERS:-} $TWINF"
sleep 1
for i in $(seq 1 20); do
    { printf -- '---\ntitle: Twin %s\nid: twin%s\n---\n' "$i" "$i"
      head -c 1000000 /dev/urandom | base64 -w 76; } >"$TMP/twin.md"
    "$SZ" publish --socket "$TMP/twinpub/control.sock" "$TMP/twin.md" >/dev/null ||
        bad "publish twin$i"
done
wait_bundles twin1 20 30 && wait_bundles twin2 20 30 || bad "the twin relays get 20 bundles"
wait_page "$TMP/twinlib" twin20 || bad "--follow of two relays gets the last bundle"
sleep 1
sent=0
for n in twin1 twin2; do
    k=$(szq status --socket "$TMP/$n/control.sock" --json | python3 -c '
import json, sys
print(sum(p["bundles_out"] for p in json.load(sys.stdin)["peers"] if p["direction"] == "inbound"))')
    sent=$((sent + k))
done
kill -TERM $TWINF 2>/dev/null
wait $TWINF
[ "$(ls "$TMP"/twinlib/.samizdat/bundles | wc -l)" -eq 20 ] && ok ||
    bad "--follow of two relays: $(ls "$TMP"/twinlib/.samizdat/bundles | wc -l) bundles, wanted 20"
[ "$sent" -eq 20 ] && ok ||
    bad "--follow of two relays announcing each bundle: $sent bundles sent for 20: $(cat "$TMP/twin.err")"
for n in twinpub twin1 twin2; do stop_daemon $n; done
finish
