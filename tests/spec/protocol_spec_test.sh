#!/usr/bin/env bash
# The peer protocol as PROTOCOL.md specifies it, spoken by a second,
# independent implementation (tests/spec/protocol_client.py, written from the
# specification alone) to real samizdatd processes on 127.0.0.1:
# a publisher and a relay linked to it, and a node on a private network.
#
# The client fetches the publisher's bundles from the relay (with every
# feature, with none, and once cut off partway through the large bundle and
# resumed with REQUEST_PART) and each must be byte for byte the bundle that
# `samizdat pack` wrote or the publisher exported, and pass `samizdat verify`.
# Then the negative side: message 1 under a wrong network key gets no byte
# back and a FIN (at once after the prober's FIN, else at the 10 s deadline),
# a message before HELLO or a second HELLO is a protocol violation, and a
# frame with a flipped ciphertext byte makes the node close the link and ban
# the address.
#
# usage: protocol_spec_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR [PYTHON]
# Exits 77 (skipped) when PYTHON (default: python3) lacks PyNaCl.
set -u
SZ=$1
SZD=$2
SRC=$3
PY=${4:-python3}
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
CLIENT=$SRC/tests/spec/protocol_client.py
trap '[ -n "${PROBE:-}" ] && kill $PROBE 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
if ! "$PY" -c 'import nacl.bindings' 2>/dev/null; then
    echo "protocol_spec_test: $PY has no PyNaCl (python3-nacl); skipped"
    exit 77
fi
COMMON=(--expiry-days 0 --batch-window-ms 0 --outbound-target 1)
client() { "$PY" "$CLIENT" "$@"; }
# json FILE EXPRESSION: EXPRESSION (Python, over the object d) holds for FILE.
json() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' "$1" "$2" \
        2>"$TMP/json.err" || { tail -c 600 "$TMP/json.err" >&2; return 1; }
}

# --- The publisher's bundles, whose bytes we know: `samizdat pack` writes them
# into $TMP/expected as ID.bundle, and one more comes from the publishing
# daemon (`samizdat export`).
"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null ||
    bad "keygen"
mkdir -p "$TMP/expected" "$TMP/articles"
pack() { # pack NAME SEQUENCE FILE: packs FILE as NAME's bundle with that sequence
    local id
    id=$("$SZ" pack --secret-key "$TMP/pub.sk" --sequence "$2" --level 3 --output "$TMP/$1.bundle" \
        "$3" </dev/null) || { bad "pack $1"; return; }
    cp "$TMP/$1.bundle" "$TMP/expected/$id.bundle"
}
article() { # article NAME: a small article file
    printf -- '---\ntitle: Article %s\nid: %s\n---\nText of %s.\n' "$1" "$1" "$1" >"$TMP/articles/$1.md"
    echo "$TMP/articles/$1.md"
}
for i in 1 2 3; do pack s$i $i "$(article s$i)"; done
# A large one: 1.5 MiB of random base64 text packs to a bundle of about
# 1.1 MiB, five BUNDLE chunks of 256 KiB (4.1), the size REQUEST_PART serves.
"$PY" -c '
import base64, os, sys
sys.stdout.write("---\ntitle: A large article\nid: large\n---\n")
sys.stdout.write(base64.encodebytes(os.urandom(1152 * 1024)).decode())
' >"$TMP/articles/large.md"
pack large 4 "$TMP/articles/large.md"
# A gap (5 and 6 missing): the summary holds two ranges, REQUEST_SPARSE asks for both.
pack s7 7 "$(article s7)"
[ "$(ls "$TMP/expected" | wc -l)" -eq 5 ] && ok || bad "5 bundles packed"

start_daemon pub "${COMMON[@]}" --publisher-key "$TMP/pub.sk" || bad "start the publisher"
"$SZ" import --socket "$TMP/pub/control.sock" "$TMP"/expected/*.bundle >"$TMP/import.out" ||
    bad "import into the publisher: $(cat "$TMP/import.out")"
# The daemon signs the next sequence (8: it shares the key's record with pack).
id=$("$SZ" publish --socket "$TMP/pub/control.sock" "$(article p8)") || bad "publish"
"$SZ" export --socket "$TMP/pub/control.sock" "$id" --output "$TMP/expected/$id.bundle" ||
    bad "export the published bundle"
NB=$(ls "$TMP/expected" | wc -l)
[ "$NB" -eq 6 ] && ok || bad "6 bundles expected, have $NB"
large=$(for f in "$TMP"/expected/*.bundle; do [ "$(stat -c %s "$f")" -gt 1048576 ] && basename "$f" .bundle; done)
[ -n "$large" ] && ok || bad "the large bundle is over 1 MiB"

start_daemon relay "${COMMON[@]}" --peer "127.0.0.1:$(peer_port pub)" || bad "start the relay"
RELAY=127.0.0.1:$(peer_port relay)
wait_bundles relay "$NB" 30 || bad "the relay holds the publisher's $NB bundles"

# A node on a private network, holding two of the bundles; its key file is
# written as an operator might (upper case, a final newline).
"$PY" -c 'import os; print(os.urandom(32).hex().upper())' >"$TMP/private.key"
chmod 600 "$TMP/private.key"
start_daemon priv "${COMMON[@]}" --network-key "$TMP/private.key" || bad "start the private node"
PRIV=127.0.0.1:$(peer_port priv)
"$SZ" import --socket "$TMP/priv/control.sock" "$TMP/s1.bundle" "$TMP/s7.bundle" >/dev/null ||
    bad "import into the private node"
"$PY" -c 'import os; print(os.urandom(32).hex())' >"$TMP/wrong.key"

# The slow probe (section 2: no FIN from the prober, so the node closes at its
# 10 s handshake deadline) runs meanwhile.
client probe "$PRIV" --extra 300 --timeout 15 >"$TMP/probe-slow.json" 2>&1 &
PROBE=$!
# Meanwhile the node's status counts that connection as connecting, not as a
# linked inbound peer.
for i in $(seq 1 30); do
    szq status --socket "$TMP/priv/control.sock" >"$TMP/priv.status" 2>&1
    grep -q '^peers: 0 inbound, 0 outbound, 1 connecting;' "$TMP/priv.status" && break
    nap 0.1
done
grep -q '^peers: 0 inbound, 0 outbound, 1 connecting;' "$TMP/priv.status" && ok ||
    bad "a connection in its handshake is shown as connecting: $(grep peers: "$TMP/priv.status")"

# same_bundles DIR [COUNT [KEY]]: DIR holds COUNT (default: all) of the
# expected bundles, byte for byte, and each passes samizdat verify under KEY
# (default: the publisher's).
same_bundles() {
    local n f want=$NB key=$TMP/pub.pk
    [ $# -gt 1 ] && want=$2
    [ $# -gt 2 ] && key=$3
    n=$(ls "$1" | wc -l)
    [ "$n" -eq "$want" ] && ok || bad "$1: $n bundles fetched, wanted $want"
    for f in "$1"/*; do
        cmp -s "$f" "$TMP/expected/$(basename "$f")" && ok ||
            bad "$(basename "$f") differs from the publisher's bundle (or is not one)"
    done
    "$SZ" verify -q --trust "$key" "$1"/* >"$TMP/verify.out" 2>&1 && ok ||
        bad "samizdat verify of $1: $(head -c 300 "$TMP/verify.out")"
}

# --- Fetches from the relay.
# Every feature: BUNDLES for the small ones, SUMMARY_PACKED, REQUEST_SPARSE.
client fetch "$RELAY" --publisher "$TMP/pub.pk" --output "$TMP/all" >"$TMP/all.json" 2>"$TMP/all.err" &&
    ok || bad "fetch with every feature: $(cat "$TMP/all.json" "$TMP/all.err")"
same_bundles "$TMP/all"
json "$TMP/all.json" 'd["count"] == 6 and d["links"][0]["features"] == 7 and d["links"][0]["version"] == 1' &&
    ok || bad "every feature agreed, version 1"
json "$TMP/all.json" 'd["summary_form"] == "SUMMARY_PACKED" and d["ranges"][0]["kind"] == "REQUEST_SPARSE"' &&
    ok || bad "SUMMARY_PACKED and REQUEST_SPARSE used"
json "$TMP/all.json" '{b["via"] for b in d["bundles"] if b["size"] <= 262144} == {"BUNDLES"}' &&
    ok || bad "small bundles came in BUNDLES"
json "$TMP/all.json" '[b["via"] for b in d["bundles"] if b["size"] > 1048576] == ["BUNDLE"]' &&
    ok || bad "the large bundle came in BUNDLE chunks"

# No feature: SUMMARY, one REQUEST_RANGE a range, BUNDLE messages only; and
# this reader sends an empty SUMMARY of its own (4.3: it may, or send none).
client fetch "$RELAY" --publisher "$TMP/pub.pk" --output "$TMP/none" --features 0 --send-summary \
    >"$TMP/none.json" 2>"$TMP/none.err" && ok ||
    bad "fetch with no feature: $(cat "$TMP/none.json" "$TMP/none.err")"
same_bundles "$TMP/none"
json "$TMP/none.json" 'd["links"][0]["features"] == 0 and d["summary_form"] == "SUMMARY"' &&
    ok || bad "no feature agreed: plain SUMMARY"
json "$TMP/none.json" 'sorted((r["first"], r["last"], r["sent"]) for r in d["ranges"]) == [(1, 4, 4), (7, 8, 2)]' &&
    ok || bad "two REQUEST_RANGEs, RANGE_DONE counts 4 and 2"
json "$TMP/none.json" '{b["via"] for b in d["bundles"]} == {"BUNDLE"}' && ok || bad "only BUNDLE messages"

# Cut off after 512 KiB of the large bundle, then a new link asks for the rest.
client fetch "$RELAY" --publisher "$TMP/pub.pk" --output "$TMP/resumed" --cut-after 524288 \
    >"$TMP/resumed.json" 2>"$TMP/resumed.err" && ok ||
    bad "fetch with a resumption: $(cat "$TMP/resumed.json" "$TMP/resumed.err")"
same_bundles "$TMP/resumed"
json "$TMP/resumed.json" "len(d['links']) == 2 and d['resumed'] == [{'id': '$large', 'from': 524288, 'total': $(stat -c %s "$TMP/expected/$large.bundle")}]" &&
    ok || bad "the large bundle resumed with REQUEST_PART from byte 524288"

# The private network: its key opens it, and only its key.
client fetch "$PRIV" --network-key "$TMP/private.key" --publisher "$(cat "$TMP/pub.pk")" \
    --output "$TMP/priv-lib" >"$TMP/privfetch.json" 2>&1 && ok ||
    bad "fetch from the private node: $(cat "$TMP/privfetch.json")"
same_bundles "$TMP/priv-lib" 2

# An equivocation (4.3.1): two bundles of one publisher with one sequence,
# imported into the relay. The range answer carries both, RANGE_DONE counts
# the sequence once, and EQUIVOCATION names the pair before the PONG.
"$SZ" keygen --secret-key "$TMP/eq.sk" --public-key "$TMP/eq.pk" --no-passphrase >/dev/null
for n in 1 2; do
    "$SZ" pack --secret-key "$TMP/eq.sk" --sequence 1 --reuse-sequence --output "$TMP/eq$n.bundle" \
        "$(article eq$n)" </dev/null >"$TMP/eq$n.id" 2>/dev/null || bad "pack equivocating bundle $n"
    cp "$TMP/eq$n.bundle" "$TMP/expected/$(cat "$TMP/eq$n.id").bundle"
done
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/eq1.bundle" "$TMP/eq2.bundle" >/dev/null ||
    bad "import the equivocating pair into the relay"
client fetch "$RELAY" --publisher "$TMP/eq.pk" --output "$TMP/eqlib" >"$TMP/eq.json" 2>"$TMP/eq.err" &&
    ok || bad "fetch of an equivocation: $(cat "$TMP/eq.json" "$TMP/eq.err")"
same_bundles "$TMP/eqlib" 2 "$TMP/eq.pk"
json "$TMP/eq.json" "[(r['sent'], r['bundles']) for r in d['ranges']] == [(1, 2)]" && ok ||
    bad "RANGE_DONE counts the shared sequence once"
json "$TMP/eq.json" "[(e['sequence'], sorted(e['ids'])) for e in d['equivocations']] == [(1, sorted(['$(cat "$TMP/eq1.id")', '$(cat "$TMP/eq2.id")']))]" &&
    ok || bad "EQUIVOCATION names the pair"

# --- A prober without the network key learns nothing.
client probe "$PRIV" --half-close --timeout 5 >"$TMP/probe.json" && ok ||
    bad "default key to a private node: $(cat "$TMP/probe.json")"
client probe "$RELAY" --network-key "$TMP/wrong.key" --half-close --timeout 5 >"$TMP/probe2.json" &&
    ok || bad "a wrong key to the relay: $(cat "$TMP/probe2.json")"
json "$TMP/probe2.json" 'd["seconds"] < 2' && ok || bad "closed at once after the prober's FIN"
# The right key gets message 2 (so the probes above failed for the key alone).
client probe "$PRIV" --network-key "$TMP/private.key" --half-close --timeout 5 >"$TMP/probe3.json"
json "$TMP/probe3.json" 'd["bytes_received"] == 112' && ok || bad "the right key gets message 2"
rc=0
wait $PROBE || rc=$?
PROBE=
[ $rc -eq 0 ] && ok || bad "slow probe: $(cat "$TMP/probe-slow.json")"
json "$TMP/probe-slow.json" '9 <= d["seconds"] <= 12' && ok ||
    bad "the node closes a silent prober at its 10 s deadline"

# --- HELLO is the first message each way, and comes once (section 4): a PING
# before it, or a second HELLO, is a protocol violation: GOODBYE 2, closed.
# A node of its own that does not ban, so that both cases meet it.
start_daemon strict "${COMMON[@]}" --ban-seconds 0 || bad "start the node for HELLO's place"
STRICT=127.0.0.1:$(peer_port strict)
for c in ping-first hello-twice; do
    client order "$STRICT" --case $c --timeout 5 >"$TMP/order-$c.json" 2>&1 && ok ||
        bad "$c: not GOODBYE 2 and closed: $(cat "$TMP/order-$c.json")"
done
szq status --socket "$TMP/strict/control.sock" >"$TMP/status-strict"
grep -q ', 2 misbehaviours' "$TMP/status-strict" && ok ||
    bad "both are counted: $(grep peers: "$TMP/status-strict")"
# Its log does not call them banned (ban_seconds 0), and says why not.
[ "$(grep -c 'closed: .*(not banned: ban_seconds is 0)' "$TMP/strict.log")" -eq 2 ] &&
    ! grep -q '(banned)' "$TMP/strict.log" && ok ||
    bad "the log of a node that does not ban: $(grep 'closed:' "$TMP/strict.log")"

# --- A reader's clock (section 2, message 1): off by up to 120 s at random,
# so that its exact offset does not follow it from relay to relay. A listener
# opens message 1 of five fetches, as any holder of the network key can.
cat >"$TMP/clock.py" <<'PYEOF'
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
import protocol_client as pc
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(30)
print(s.getsockname()[1], flush=True)
for _ in range(5):
    c, _ = s.accept()
    m = pc.recv_exact(c, 56)
    c.close()
    st = pc.SymmetricState(pc.DEFAULT_NETWORK_KEY)
    st.mix_hash(m[:32])
    said = struct.unpack("<q", pc.OPEN(pc.KDF(st.ck, b"hs1", m[:32]), 0, st.h, m[32:]))[0]
    print(said - int(time.time()), flush=True)
PYEOF
"$PY" "$TMP/clock.py" "$SRC/tests/spec" >"$TMP/clock.out" 2>"$TMP/clock.err" &
CLOCK=$!
for _ in $(seq 1 50); do [ -s "$TMP/clock.out" ] && break; nap 0.1; done
CPORT=$(head -1 "$TMP/clock.out")
for _ in $(seq 1 10); do
    [ "$(wc -l <"$TMP/clock.out")" -ge 6 ] && break
    "$SZ" fetch --peer "127.0.0.1:$CPORT" --trust "$(cat "$TMP/pub.pk")" --output "$TMP/clock-lib" \
        >/dev/null 2>&1
done
wait $CLOCK
offsets=$(tail -n +2 "$TMP/clock.out" | tr '\n' ' ')
echo "  a reader's clock in message 1, minus the listener's: $offsets"
n=$(tail -n +2 "$TMP/clock.out" | wc -l)
within=$(tail -n +2 "$TMP/clock.out" | awk '$1 >= -121 && $1 <= 121' | wc -l)
exact=$(tail -n +2 "$TMP/clock.out" | awk '$1 >= -2 && $1 <= 2' | wc -l)
[ "$n" -eq 5 ] && [ "$within" -eq 5 ] && [ "$exact" -lt 5 ] && ok ||
    bad "a reader's clock, 5 connections within 120 s, not all exact: $offsets $(cat "$TMP/clock.err")"

# --- A flipped ciphertext byte fails the link (section 3). Last: the node then
# bans 127.0.0.1 for an hour (4.4).
client tamper "$RELAY" --flip body --timeout 5 >"$TMP/tamper.json" && ok ||
    bad "a flipped body byte: $(cat "$TMP/tamper.json")"
json "$TMP/tamper.json" 'd["seconds"] < 2' && ok || bad "closed at once"
client tamper "$PRIV" --network-key "$TMP/private.key" --flip header --timeout 5 \
    >"$TMP/tamper2.json" && ok || bad "a flipped header byte: $(cat "$TMP/tamper2.json")"
client fetch "$RELAY" --publisher "$TMP/pub.pk" --output "$TMP/banned" --timeout 3 \
    >"$TMP/banned.json" 2>&1 && bad "the relay still talks to a peer that sent a bad frame" || ok
szq status --socket "$TMP/relay/control.sock" >"$TMP/status"
grep -q ', 1 misbehaviours' "$TMP/status" && ok || bad "the bad frame is counted: $(grep peers: "$TMP/status")"

finish
