#!/usr/bin/env bash
# Gossip between real samizdatd processes on 127.0.0.1: a line of 5 and a
# ring of 8, a middle node restarted while publishing goes on, a node started
# after 200 bundles were published, two halves that publish apart and then
# join, and an equivocation detected on every node.
# usage: gossip_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT
EX=$SRC/examples/articles
# --outbound-target 1: no links beyond the ones each test draws (peer exchange stays off).
COMMON=(--expiry-days 0 --batch-window-ms 0 --outbound-target 1)

"$SZ" keygen --secret-key "$TMP/p1.sk" --public-key "$TMP/p1.pk" --no-passphrase >/dev/null
"$SZ" keygen --secret-key "$TMP/p2.sk" --public-key "$TMP/p2.pk" --no-passphrase >/dev/null
"$SZ" keygen --secret-key "$TMP/x.sk" --public-key "$TMP/x.pk" --no-passphrase >/dev/null

article() { # article NAME: a small article file with a unique id
    printf -- '---\ntitle: Article %s\nid: %s\n---\nText of %s, %s.\n' "$1" "$1" "$1" "$RANDOM" \
        >"$TMP/$1.md"
    echo "$TMP/$1.md"
}
publish() { "$SZ" publish --socket "$TMP/$1/control.sock" "$(article "$2")" >/dev/null; }

# --- a line of 5: n1 (publisher) - n2 - n3 - n4 - n5
start_daemon n1 "${COMMON[@]}" --publisher-key "$TMP/p1.sk" || bad "start n1"
prev=n1
for n in n2 n3 n4 n5; do
    start_daemon $n "${COMMON[@]}" --peer "127.0.0.1:$(peer_port $prev)" || bad "start $n"
    prev=$n
done
sleep 1
for i in 1 2 3; do publish n1 "line-$i"; done
check "line of 5: the far end gets every bundle" wait_bundles n5 3 20
szq status --socket "$TMP/n3/control.sock" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert len(s["peers"]) == 2, s["peers"]
assert all(p["misbehaviour"] == 0 for p in s["peers"])
' && ok || bad "status --json lists a middle node's two peers"

# --- restart a middle node while publishing continues
stop_daemon n3
publish n1 line-4
publish n1 line-5
check "n2 still gets new bundles" wait_bundles n2 5 10
[ "$(count_bundles n5)" -eq 3 ] && ok || bad "n5 cut off while n3 is down"
start_daemon n3 "${COMMON[@]}" --listen 127.0.0.1:0 --peer "127.0.0.1:$(peer_port n2)" \
    --peer "127.0.0.1:$(peer_port n4)" || bad "restart n3"
publish n1 line-6
check "after the restart the far end catches up" wait_bundles n5 6 30

# --- a node started after 200 bundles were published
# 200 bundles of one publisher, made in one process.
tiny_corpus "$TMP/corpus"
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/late" --bundles 200 --articles 1 --level 1 \
    --seed 2 >/dev/null || bad "make 200 bundles"
"$SZ" import --socket "$TMP/n5/control.sock" "$TMP"/late/*.bundle >/dev/null || bad "import 200"
start_daemon n6 "${COMMON[@]}" --peer "127.0.0.1:$(peer_port n5)" || bad "start n6"
check "a late node gets all 200 (and the 6 before)" wait_bundles n6 206 60
check "the 200 reach the line's other end" wait_bundles n1 206 60
for n in n1 n2 n3 n4 n5 n6; do stop_daemon $n; done

# --- a ring of 8, publisher at r1
start_daemon r1 "${COMMON[@]}" --publisher-key "$TMP/p1.sk" || bad "start r1"
for i in 2 3 4 5 6 7; do
    start_daemon r$i "${COMMON[@]}" --peer "127.0.0.1:$(peer_port r$((i - 1)))" || bad "start r$i"
done
start_daemon r8 "${COMMON[@]}" --peer "127.0.0.1:$(peer_port r7)" \
    --peer "127.0.0.1:$(peer_port r1)" || bad "start r8"
sleep 1
publish r1 ring-1
publish r1 ring-2
all=1
for i in 1 2 3 4 5 6 7 8; do
    wait_bundles r$i 2 20 || all=0
done
[ $all -eq 1 ] && ok || bad "ring of 8: every node gets every bundle"
for i in 1 2 3 4 5 6 7 8; do stop_daemon r$i; done

# --- two halves publish apart, then join
start_daemon h1 "${COMMON[@]}" --publisher-key "$TMP/p1.sk" || bad "start h1"
start_daemon h1b "${COMMON[@]}" --peer "127.0.0.1:$(peer_port h1)" || bad "start h1b"
start_daemon h2 "${COMMON[@]}" --publisher-key "$TMP/p2.sk" || bad "start h2"
start_daemon h2b "${COMMON[@]}" --peer "127.0.0.1:$(peer_port h2)" || bad "start h2b"
for i in 1 2 3; do publish h1 "half1-$i"; publish h2 "half2-$i"; done
wait_bundles h1b 3 10 || bad "half 1 spreads"
wait_bundles h2b 3 10 || bad "half 2 spreads"
# Join: a bridge connects the two halves.
start_daemon bridge "${COMMON[@]}" --peer "127.0.0.1:$(peer_port h1b)" \
    --peer "127.0.0.1:$(peer_port h2b)" || bad "start bridge"
conv=1
for n in h1 h1b h2 h2b bridge; do wait_bundles $n 6 30 || conv=0; done
[ $conv -eq 1 ] && ok || bad "both halves converge after joining"

# --- equivocation: one key, one sequence, two different bundles
"$SZ" pack --secret-key "$TMP/x.sk" --sequence 7 --output "$TMP/eq-a.bundle" \
    "$(article eq-a)" >/dev/null
"$SZ" pack --secret-key "$TMP/x.sk" --sequence 7 --reuse-sequence --output "$TMP/eq-b.bundle" \
    "$(article eq-b)" >/dev/null
"$SZ" import --socket "$TMP/h1/control.sock" "$TMP/eq-a.bundle" >/dev/null
"$SZ" import --socket "$TMP/h2/control.sock" "$TMP/eq-b.bundle" >/dev/null
eq=1
for n in h1 h1b h2 h2b bridge; do
    wait_bundles $n 8 30 || eq=0
    szq status --socket "$TMP/$n/control.sock" | grep -q "EQUIVOCATION: publisher $(cat "$TMP/x.pk")" ||
        eq=0
done
[ $eq -eq 1 ] && ok || bad "the equivocation is held and reported on every node"
grep -q EQUIVOCATION "$TMP/bridge.log" && ok || bad "the equivocation is logged"
# ... and so is one that an import makes (a node without peers).
start_daemon imp "${COMMON[@]}" || bad "start imp"
"$SZ" import --socket "$TMP/imp/control.sock" "$TMP/eq-a.bundle" "$TMP/eq-b.bundle" >/dev/null
grep -q "WARN EQUIVOCATION: publisher $(cat "$TMP/x.pk") signed two different bundles with sequence 7 (one is [0-9a-f]*, imported)" \
    "$TMP/imp.log" && ok || bad "an equivocation made by an import is not logged: $(tail -3 "$TMP/imp.log")"
stop_daemon imp || bad "stop imp"
# A node that stores the second bundle of the pair tells its peers ...
grep -q "reports an EQUIVOCATION by publisher $(cat "$TMP/x.pk") at sequence 7" \
    "$TMP"/h1.log "$TMP"/h1b.log "$TMP"/h2.log "$TMP"/h2b.log "$TMP"/bridge.log && ok ||
    bad "a node that stored the pair sent EQUIVOCATION to its peers"
# ... and a node that links up later hears of it when the link opens.
start_daemon late "${COMMON[@]}" --peer "127.0.0.1:$(peer_port bridge)" || bad "start late"
for i in $(seq 1 100); do
    grep -q "reports an EQUIVOCATION" "$TMP/late.log" && break
    nap 0.1
done
grep -q "peer 127.0.0.1:$(peer_port bridge) reports an EQUIVOCATION by publisher $(cat "$TMP/x.pk") at sequence 7" \
    "$TMP/late.log" && ok || bad "a new peer is told of the equivocation: $(grep -c . "$TMP/late.log") log lines"
for n in h1 h1b h2 h2b bridge late; do stop_daemon $n; done
# A pair imported through the control socket is told to the peers too, even to
# one that does not carry the publisher (it only logs it).
start_daemon eqs "${COMMON[@]}" --carry list --publishers "$(cat "$TMP/p1.pk")" || bad "start eqs"
start_daemon eqr "${COMMON[@]}" --peer "127.0.0.1:$(peer_port eqs)" || bad "start eqr"
for v in c d; do
    "$SZ" pack --secret-key "$TMP/x.sk" --sequence 9 --reuse-sequence --output "$TMP/eq-$v.bundle" \
        "$(article eq-$v)" >/dev/null
done
for i in $(seq 1 50); do
    grep -q "link open (outbound)" "$TMP/eqr.log" && break
    nap 0.1
done
"$SZ" import --socket "$TMP/eqr/control.sock" "$TMP/eq-c.bundle" >/dev/null
"$SZ" import --socket "$TMP/eqr/control.sock" "$TMP/eq-d.bundle" >/dev/null
for i in $(seq 1 50); do
    grep -q "reports an EQUIVOCATION" "$TMP/eqs.log" && break
    nap 0.1
done
grep -q "reports an EQUIVOCATION by publisher $(cat "$TMP/x.pk") at sequence 9" "$TMP/eqs.log" &&
    ok || bad "an imported pair is told to the peers"
for n in eqs eqr; do stop_daemon $n; done

# --- a node with a carry list asks its peers only for the publishers it
# carries: not one bundle of another crosses the link (before, it fetched and
# verified them, then dropped them, at every comparison).
"$SZ" keygen --secret-key "$TMP/c1.sk" --public-key "$TMP/c1.pk" --no-passphrase >/dev/null
"$SZ" keygen --secret-key "$TMP/c2.sk" --public-key "$TMP/c2.pk" --no-passphrase >/dev/null
start_daemon cr "${COMMON[@]}" || bad "start cr"
"$SZ" pack --secret-key "$TMP/c1.sk" --output "$TMP/c1-1.bundle" "$(article c1-1)" >/dev/null 2>&1
"$SZ" import --socket "$TMP/cr/control.sock" "$TMP/c1-1.bundle" >/dev/null || bad "import c1-1"
for i in 1 2 3; do
    "$SZ" pack --secret-key "$TMP/c2.sk" --output "$TMP/c2-$i.bundle" "$(article c2-$i)" \
        >/dev/null 2>&1
    "$SZ" import --socket "$TMP/cr/control.sock" "$TMP/c2-$i.bundle" >/dev/null ||
        bad "import c2-$i"
done
start_daemon cl "${COMMON[@]}" --carry list --publishers "$(cat "$TMP/c1.pk")" \
    --peer "127.0.0.1:$(peer_port cr)" --log-level debug || bad "start cl"
check "the carry-list node gets its publisher's bundle" wait_bundles cl 1 20
sleep 2
szq status --socket "$TMP/cr/control.sock" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert len(s["peers"]) == 1 and s["peers"][0]["bundles_out"] == 1, s["peers"]
' && ok || bad "a carry-list node was sent bundles of a publisher it does not carry: $(
    szq status --socket "$TMP/cr/control.sock")"
grep -q "a bundle of a publisher no longer carried" "$TMP/cl.log" &&
    bad "a carry-list node fetched bundles it then dropped: $(grep -c "no longer carried" "$TMP/cl.log")" ||
    ok
for n in cr cl; do stop_daemon $n; done

# --- a relay keeping smaller bundles than its peers: a bundle declaring more
# than its max_bundle_bytes once unpacked (long: small on the wire), or larger
# than that on the wire (noise), is dropped, and the peer is not banned. Nor
# is either asked of any peer again while max_bundle_bytes stays as it is:
# when a second peer holding both links up, the comparison asks it only for
# what the relay can keep (before: both again, from every peer, every 5
# minutes).
"$SZ" keygen --secret-key "$TMP/s.sk" --public-key "$TMP/s.pk" --no-passphrase >/dev/null
{ printf -- '---\ntitle: Long\nid: long\n---\n'
  for i in $(seq 1 40000); do echo "The same line of a long and very repetitive report, $((i % 7))."; done
} >"$TMP/long.md"
{ printf -- '---\ntitle: Noise\nid: noise\n---\n'
  head -c 1600000 /dev/urandom | base64 -w 76
} >"$TMP/noise.md"
"$SZ" pack --secret-key "$TMP/s.sk" --output "$TMP/long.bundle" "$TMP/long.md" >/dev/null &&
    "$SZ" pack --secret-key "$TMP/s.sk" --level 1 --output "$TMP/noise.bundle" "$TMP/noise.md" \
        >/dev/null &&
    "$SZ" pack --secret-key "$TMP/s.sk" --output "$TMP/fresh.bundle" "$(article fresh)" >/dev/null ||
    bad "pack long, noise and fresh"
start_daemon big "${COMMON[@]}" --publisher-key "$TMP/p2.sk" || bad "start big"
"$SZ" import --socket "$TMP/big/control.sock" "$TMP/long.bundle" "$TMP/noise.bundle" >/dev/null ||
    bad "import long and noise into big"
start_daemon small "${COMMON[@]}" --max-bundle-bytes 1M --peer "127.0.0.1:$(peer_port big)" ||
    bad "start small"
publish big after-long
wait_bundles small 1 20 || bad "the small relay takes the next bundle"
! grep -q "(banned)" "$TMP/small.log" && ok ||
    bad "a bundle above max_bundle_bytes got its sender banned: $(grep banned "$TMP/small.log")"
[ "$(count_bundles small)" -eq 1 ] && ok || bad "the small relay holds only the small bundle"
drops=$(grep -c "max_bundle_bytes.*: dropped" "$TMP/small.log")
[ "$drops" -eq 2 ] && ok || bad "small dropped $drops bundles as too large, wanted 2: $(grep dropped "$TMP/small.log")"
start_daemon big2 "${COMMON[@]}" || bad "start big2"
"$SZ" import --socket "$TMP/big2/control.sock" "$TMP/long.bundle" "$TMP/noise.bundle" \
    "$TMP/fresh.bundle" >/dev/null || bad "import long, noise and fresh into big2"
stop_daemon big2
start_daemon big2 "${COMMON[@]}" --peer "127.0.0.1:$(peer_port small)" || bad "restart big2"
wait_bundles small 2 30 || bad "the small relay takes fresh from big2"
sleep 1
drops=$(grep -c "max_bundle_bytes.*: dropped" "$TMP/small.log")
[ "$drops" -eq 2 ] && ok ||
    bad "small downloaded bundles it cannot keep again from big2: $drops dropped in all, wanted 2"
for n in big big2 small; do stop_daemon $n; done

# --- peer exchange: x3 knows only x1, and learns x2, x4 and x5 (which x1
# knows) from it; with --outbound-target 2 it opens one link to them, not three.
start_daemon x1 --expiry-days 0 || bad "start x1"
for n in x2 x4 x5; do
    start_daemon $n --expiry-days 0 --outbound-target 1 --peer "127.0.0.1:$(peer_port x1)" ||
        bad "start $n"
done
sleep 1
start_daemon x3 --expiry-days 0 --outbound-target 2 --peer "127.0.0.1:$(peer_port x1)" ||
    bad "start x3"
outbound_of() {
    szq status --socket "$TMP/$1/control.sock" --json | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin)["peers"] if p["direction"] == "outbound"))'
}
pex=0
for _ in $(seq 1 100); do
    if [ "$(outbound_of x3)" -ge 2 ]; then
        pex=1
        break
    fi
    nap 0.2
done
[ $pex -eq 1 ] && ok || bad "peer exchange: x3 links to a peer learned from x1"
sleep 3
n=$(outbound_of x3)
opened=$(grep -c "link open (outbound)" "$TMP/x3.log")
[ "$n" -eq 2 ] && [ "$opened" -eq 2 ] && ok ||
    bad "x3 (--outbound-target 2) has $n outbound links, opened $opened: wanted 2"
# Its status counts the addresses it learned, and the one it linked to.
learned=$(szq status --socket "$TMP/x3/control.sock" --json |
    python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["learned"], s["learned_linked"])')
[ "${learned#* }" = 1 ] && [ "${learned% *}" -ge 1 ] && ok ||
    bad "x3's status: learned addresses, linked ones: $learned (wanted at least 1, and 1)"
szq status --socket "$TMP/x3/control.sock" | grep -Eq "^addresses learned from peers: [1-9][0-9]*, 1 of them with a link$" &&
    ok || bad "x3's status text names the learned addresses: $(szq status --socket "$TMP/x3/control.sock" | grep -i learned)"
for n in x1 x2 x3 x4 x5; do stop_daemon $n; done

# --- a private network: nodes with its key link up; a node with the default key cannot
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/net.key"
start_daemon k1 --expiry-days 0 --network-key "$TMP/net.key" || bad "start k1"
start_daemon k2 --expiry-days 0 --network-key "$TMP/net.key" --peer "127.0.0.1:$(peer_port k1)" ||
    bad "start k2"
start_daemon k3 --expiry-days 0 --peer "127.0.0.1:$(peer_port k1)" || bad "start k3"
peers_of() {
    szq status --socket "$TMP/$1/control.sock" --json |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))'
}
linked=0
for _ in $(seq 1 50); do
    [ "$(peers_of k2)" -ge 1 ] && linked=1 && break
    nap 0.2
done
[ $linked -eq 1 ] && ok || bad "two nodes with one private network key link up"
sleep 2
[ "$(peers_of k3)" -eq 0 ] && grep -q "did not prove the network key" "$TMP/k1.log" && ok ||
    bad "a node with another network key gets no link, and the probe is logged"
printf 'not a key\n' >"$TMP/bad.key"
"$SZD" --data-dir "$TMP/kbad" --network-key "$TMP/bad.key" --listen 127.0.0.1:0 >"$TMP/kbad.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "64 hex digits" "$TMP/kbad.log" && ok ||
    bad "a malformed network key is refused cleanly (rc $rc)"
# The key, then anything at all past the first 256 bytes: refused too, not
# half read (as fetch refuses it).
{ cat "$TMP/net.key"; echo; head -c 300 /dev/zero | tr '\0' ' '; echo "NOT A KEY"; } >"$TMP/long.key"
"$SZD" --data-dir "$TMP/klong" --network-key "$TMP/long.key" --listen 127.0.0.1:0 \
    >"$TMP/klong.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "64 hex digits" "$TMP/klong.log" && ok ||
    bad "a network key file with text after the key is refused (rc $rc)"
for n in k1 k2 k3; do stop_daemon $n; done
finish
