#!/usr/bin/env bash
# The serving side of the peer protocol as PROTOCOL.md specifies it: an
# independent relay (tests/spec/protocol_relay.py, written from the
# specification alone) serves bundles packed by the real CLI, and the real
# programs take them from it, on 127.0.0.1.
#
# (a) `samizdat fetch` gets every article from it, with each feature subset
#     the relay offers (none, batch, part, sparse, all; and all but with
#     BUNDLE chunks only): the library's body files are the packed ones byte
#     for byte, its bundles the served ones, and --json counts them; a relay
#     of versions 1..3 is taken at 1, one of 2 only is not; a private network
#     key opens it and only it; a large bundle cut off partway is resumed
#     with REQUEST_PART on the next run, which the relay serves from there.
# (b) a real samizdatd given the relay as its peer catches up every bundle
#     (samizdat list, export byte-compared), with every feature and with
#     none, and after a cut asks for the rest with REQUEST_PART.
# (c) negatives: a bundle with a flipped byte is refused by fetch (the
#     library as it was, the peer named, exit 7) and by samizdatd (not
#     stored, GOODBYE 3, banned: not linked to again); a BUNDLE nobody asked
#     for, chunks with a hole, and RANGE_DONE before a bundle's last chunk
#     are refused by fetch and get GOODBYE 2 and a ban from samizdatd;
#     sequences claimed and not sent leave the fetch incomplete (exit 7). A
#     PING between chunks and a 400 KiB bundle in BUNDLES are taken; a
#     REQUEST_RANGE with first > last is a violation. Last, the independent
#     client of the same text fetches from the relay.
#
# usage: relay_spec_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR [PYTHON]
# Exits 77 (skipped) when PYTHON (default: python3) lacks PyNaCl.
set -u
SZ=$1
SZD=$2
SRC=$3
PY=${4:-python3}
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
RELAY_PY=$SRC/tests/spec/protocol_relay.py
RELAYS=()
stop_relays() {
    local p
    for p in "${RELAYS[@]}"; do kill "$p" 2>/dev/null; done
    RELAYS=()
}
trap 'stop_relays; cleanup_daemons; rm -rf "$TMP"' EXIT
if ! "$PY" -c 'import nacl.bindings' 2>/dev/null; then
    echo "relay_spec_test: $PY has no PyNaCl (python3-nacl); skipped"
    exit 77
fi
COMMON=(--expiry-days 0 --batch-window-ms 0 --outbound-target 1)
# json FILE EXPRESSION: EXPRESSION (Python, over the object d) holds for FILE.
json() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval("(" + sys.argv[2] + ")"), d' "$1" "$2" \
        2>"$TMP/json.err" || { tail -c 600 "$TMP/json.err" >&2; return 1; }
}
# events NAME EXPRESSION: EXPRESSION (Python, over the list e of the relay's
# event objects) holds for relay NAME's log.
events() {
    "$PY" -c 'import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
assert eval("(" + sys.argv[2] + ")"), [x for x in e if x["event"] not in ("listen",)][:60]' \
        "$TMP/$1.relay.log" "$2" 2>"$TMP/events.err" || { tail -c 1500 "$TMP/events.err" >&2; return 1; }
}

# start_relay NAME ARGS...: the Python relay on a free port, logging to
# $TMP/NAME.relay.log; sets PORT.
start_relay() {
    local name=$1 i
    shift
    PORT=
    "$PY" "$RELAY_PY" --log "$TMP/$name.relay.log" "$@" >"$TMP/$name.port" 2>"$TMP/$name.relay.err" &
    RELAYS+=($!)
    for i in $(seq 1 100); do
        PORT=$(head -1 "$TMP/$name.port" 2>/dev/null)
        [ -n "$PORT" ] && return 0
        kill -0 "$!" 2>/dev/null || break
        nap 0.05
    done
    bad "relay $name did not start: $(cat "$TMP/$name.relay.err")"
    return 1
}

# --- Bundles packed by the real CLI, as ID.bundle in $TMP/served: publisher
# A with 1, 2, 3, a large one (4, over 1 MiB: five BUNDLE chunks), a gap, 7;
# B with 1, 2 and a medium one (3, about 400 KiB: two chunks, too large for
# BUNDLES); C with two bundles of sequence 5 (an equivocation) and 6.
mkdir -p "$TMP/served" "$TMP/art" "$TMP/body"
for p in A B C; do
    "$SZ" keygen --secret-key "$TMP/$p.sk" --public-key "$TMP/$p.pk" --no-passphrase >/dev/null ||
        bad "keygen $p"
done
pubhex() { "$PY" -c '
import base64, sys
t = open(sys.argv[1]).read().split()[0]
print(base64.b32decode(t[5:].upper() + "======")[:32].hex())' "$1"; }
for p in A B C; do eval "HEX_$p=$(pubhex "$TMP/$p.pk")"; done
# article P NAME: writes the body $TMP/body/P-NAME and the article file
# $TMP/art/P-NAME.md around it; prints the article file's path.
article() {
    printf 'Text of %s by %s.\nA second line.\n' "$2" "$1" >"$TMP/body/$1-$2"
    { printf -- '---\ntitle: Article %s\nid: %s\n---\n' "$2" "$2"; cat "$TMP/body/$1-$2"; } \
        >"$TMP/art/$1-$2.md"
    echo "$TMP/art/$1-$2.md"
}
# big P NAME KIB: an article of KIB KiB of random base64 text (it packs to
# about three quarters of that).
big() {
    "$PY" -c 'import base64, os, sys; sys.stdout.write(base64.encodebytes(os.urandom(int(sys.argv[1]) * 768)).decode())' \
        "$3" >"$TMP/body/$1-$2"
    { printf -- '---\ntitle: Article %s\nid: %s\n---\n' "$2" "$2"; cat "$TMP/body/$1-$2"; } \
        >"$TMP/art/$1-$2.md"
    echo "$TMP/art/$1-$2.md"
}
# pack P SEQUENCE ARTICLE...: packs into $TMP/served; the
# id goes to $TMP/id.P.SEQUENCE (and to $TMP/id.P.SEQUENCE.2 for a second
# bundle of that sequence).
pack() {
    local p=$1 seq=$2 id out=$TMP/id.$1.$2
    shift 2
    [ -e "$out" ] && out=$out.2
    id=$("$SZ" pack --secret-key "$TMP/$p.sk" --sequence "$seq" --reuse-sequence --level 3 \
        --output "$TMP/pack.tmp" "$@" </dev/null 2>"$TMP/pack.err") || { bad "pack $p $seq: $(cat "$TMP/pack.err")"; return; }
    mv "$TMP/pack.tmp" "$TMP/served/$id.bundle"
    echo "$id" >"$out"
}
pack A 1 "$(article A a1)"
pack A 2 "$(article A a2)" "$(article A a2b)"
pack A 3 "$(article A a3)"
pack A 4 "$(big A large 1600)"
pack A 7 "$(article A a7)"
pack B 1 "$(article B b1)"
pack B 2 "$(article B b2)"
pack B 3 "$(big B medium 520)"
pack C 5 "$(article C c5)"
pack C 5 "$(article C c5x)"
pack C 6 "$(article C c6)"
NB=$(ls "$TMP/served" | wc -l)
NART=$(ls "$TMP/body" | wc -l)
[ "$NB" -eq 11 ] && [ "$NART" -eq 12 ] && ok || bad "11 bundles of 12 articles packed, have $NB, $NART"
LARGE=$(cat "$TMP/id.A.4")
MEDIUM=$(cat "$TMP/id.B.3")
LSIZE=$(stat -c %s "$TMP/served/$LARGE.bundle")
MSIZE=$(stat -c %s "$TMP/served/$MEDIUM.bundle")
[ "$LSIZE" -gt 1048576 ] && [ "$MSIZE" -gt 262144 ] && [ "$MSIZE" -lt 524288 ] && ok ||
    bad "sizes: large $LSIZE (> 1 MiB), medium $MSIZE (256..512 KiB)"
TRUST=(--trust "$TMP/A.pk" --trust "$TMP/B.pk" --trust "$TMP/C.pk")

# same_library DIR [N]: DIR's article body files are the packed bodies, byte
# for byte, all NART of them; its .samizdat/bundles are N (default NB) of the
# served bundles, byte for byte.
same_library() {
    local dir=$1 want=${2:-$NB} f p name got=0 n hex
    for f in "$TMP"/body/*; do
        p=$(basename "$f")
        name=${p#*-}
        p=${p%%-*}
        eval "hex=\$HEX_$p"
        if cmp -s "$f" "$dir/$hex/$name/body.md"; then got=$((got + 1)); else
            bad "$dir: article $name of $p differs from its packed body (or is missing)"
        fi
    done
    [ "$got" -eq "$NART" ] && ok || bad "$dir: $got of $NART articles are their packed bodies"
    n=0
    for f in "$dir"/.samizdat/bundles/*.bundle; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        cmp -s "$f" "$TMP/served/$(basename "$f")" || bad "$dir: $(basename "$f") is not a served bundle"
    done
    [ "$n" -eq "$want" ] && ok || bad "$dir: $n bundles in the library, wanted $want"
}

# --- (a) samizdat fetch from the relay, with each feature subset offered.
for feats in 0 1 2 4 7; do
    start_relay f$feats --bundles "$TMP/served" --features $feats || continue
    "$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/lib$feats" --json --timeout 20 \
        --stale-after 0 >"$TMP/lib$feats.json" 2>"$TMP/lib$feats.err" && ok ||
        bad "fetch with features $feats: $(cat "$TMP/lib$feats.err")"
    same_library "$TMP/lib$feats"
    json "$TMP/lib$feats.json" "d['complete'] and d['bundles'] == $NB and d['peers_ok'] == 1 and d['resumed'] == 0" &&
        ok || bad "features $feats: --json counts"
    json "$TMP/lib$feats.json" "sorted(p['fetched'] for p in d['publishers']) == [3, 3, 5] and
        [p['equivocation'] for p in d['publishers'] if p['fetched'] == 3 and p['sequence'] == 6] == [True]" &&
        ok || bad "features $feats: per publisher counts and C's equivocation"
    events f$feats "[x['features'] for x in e if x['event'] == 'handshake'] == [$feats]" && ok ||
        bad "features $feats agreed"
    if [ $((feats & 4)) -ne 0 ]; then
        events f$feats "{x['form'] for x in e if x['event'] == 'sent' and 'parts' in x} == {'SUMMARY_PACKED'} and
            any(x.get('msg') == 'REQUEST_SPARSE' for x in e)" && ok || bad "features $feats: packed summary, REQUEST_SPARSE"
    else
        events f$feats "{x['form'] for x in e if x['event'] == 'sent' and 'parts' in x} == {'SUMMARY'} and
            not any(x.get('msg') == 'REQUEST_SPARSE' for x in e)" && ok || bad "features $feats: plain summary only"
    fi
    if [ $((feats & 1)) -ne 0 ]; then
        events f$feats "any(x.get('form') == 'BUNDLES' for x in e)" && ok || bad "features $feats: BUNDLES used"
    else
        events f$feats "not any(x.get('form') == 'BUNDLES' for x in e)" && ok || bad "features $feats: no BUNDLES"
    fi
done
# Both bundles of C's sequence 5 came in one range, counted once by RANGE_DONE.
events f0 "[(x['sent'], x['bundles']) for x in e if x['event'] == 'range_done' and x['first'] <= 5 <= x['last']
    and x['publisher'] == '$HEX_C'] == [(2, 3)]" && ok || bad "RANGE_DONE counts C's sequence 5 once"

# With every feature agreed, a relay may still send every bundle in BUNDLE
# chunks (4.1: BUNDLES is the sender's choice).
start_relay nobatch --bundles "$TMP/served" --no-batch-send
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libnb" --json --timeout 20 \
    --stale-after 0 >"$TMP/libnb.json" 2>"$TMP/libnb.err" && ok || bad "fetch, no BUNDLES: $(cat "$TMP/libnb.err")"
same_library "$TMP/libnb"
events nobatch "not any(x.get('form') == 'BUNDLES' for x in e) and
    [x['features'] for x in e if x['event'] == 'handshake'] == [7]" && ok || bad "no BUNDLES, all features"

# A relay offering versions 1 to 3 is taken at version 1; one offering only
# 2 is not (no common version), named, nothing fetched.
start_relay v13 --bundles "$TMP/served" --version-max 3 &&
    "$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libv13" --json --timeout 20 \
        --stale-after 0 >"$TMP/libv13.json" 2>"$TMP/libv13.err" && ok || bad "fetch from a 1..3 relay"
events v13 "[x['version'] for x in e if x['event'] == 'handshake'] == [1]" && ok || bad "version 1 chosen"
start_relay v2 --bundles "$TMP/served" --version-min 2 --version-max 2
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libv2" --json --timeout 10 \
    --stale-after 0 >"$TMP/libv2.json" 2>"$TMP/libv2.err" || rc=$?
[ $rc -eq 7 ] && grep -q "127.0.0.1:$PORT" "$TMP/libv2.err" && ok ||
    bad "a relay of version 2 only: exit $rc (wanted 7, peer named): $(cat "$TMP/libv2.err")"
events v2 "not any(x['event'] == 'handshake' for x in e) and any(x['event'] == 'handshake_failed' for x in e)" &&
    ok || bad "the reader closes after message 2 (no common version)"

# A private network: the reader with the relay's key fetches; without, the
# relay sends nothing at all.
"$PY" -c 'import os; print(os.urandom(32).hex())' >"$TMP/net.key"
start_relay priv --bundles "$TMP/served" --network-key "$TMP/net.key"
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libnokey" --timeout 10 --connect-timeout 1 \
    --stale-after 0 >/dev/null 2>"$TMP/libnokey.err" || rc=$?
[ $rc -eq 7 ] && ok || bad "the default key to a private relay: exit $rc, wanted 7"
events priv "[x['reason'] for x in e if x['event'] == 'refused'] == ['message 1 tag']" && ok ||
    bad "the relay refused message 1"
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libkey" --network-key "$TMP/net.key" \
    --timeout 20 --stale-after 0 >/dev/null 2>"$TMP/libkey.err" && ok ||
    bad "fetch with the network key: $(cat "$TMP/libkey.err")"
same_library "$TMP/libkey"

# REQUEST_PART (4.1.1): the first link is cut after 512 KiB of the large
# bundle; the reader keeps the part, and the next fetch asks only for the rest.
start_relay cut --bundles "$TMP/served" --misbehave "cut:$LARGE:524288"
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libcut" --json --timeout 20 \
    --stale-after 0 >"$TMP/libcut1.json" 2>"$TMP/libcut1.err" || rc=$?
events cut "[x['sent'] for x in e if x['event'] == 'cut'] == [524288]" && ok || bad "the link was cut"
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libcut" --json --timeout 20 \
    --stale-after 0 >"$TMP/libcut2.json" 2>"$TMP/libcut2.err" && ok ||
    bad "the fetch after the cut: $(cat "$TMP/libcut2.err")"
same_library "$TMP/libcut"
events cut "[(x['id'], x['offset']) for x in e if x.get('msg') == 'REQUEST_PART'] == [('$LARGE', 524288)]
    and [x['start'] for x in e if x['event'] == 'sent' and x.get('id') == '$LARGE'][-1] == 524288" &&
    ok || bad "REQUEST_PART from 524288, served from there"
json "$TMP/libcut2.json" "d['resumed'] == 1 and d['resumed_bytes'] == 524288" && ok ||
    bad "--json counts the resumption: $(cat "$TMP/libcut2.json")"

# A resumption cut again (a relay that restarts, a link a censor resets) when
# nothing else is asked: the peer is named and counted as failed, and what
# came is kept for the next try.
mkdir -p "$TMP/servedl"
cp "$TMP/served/$LARGE.bundle" "$TMP/servedl/"
start_relay cuta --bundles "$TMP/servedl" --misbehave "cut:$LARGE:262144"
"$SZ" fetch --peer "127.0.0.1:$PORT" --trust "$TMP/A.pk" --output "$TMP/libcut3" --timeout 20 \
    --stale-after 0 >/dev/null 2>"$TMP/libcut3a.err"
start_relay cutb --bundles "$TMP/servedl" --misbehave "cut:$LARGE:524288"
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" --trust "$TMP/A.pk" --output "$TMP/libcut3" --json --timeout 20 \
    --stale-after 0 >"$TMP/libcut3b.json" 2>"$TMP/libcut3b.err" || rc=$?
events cutb "[(x['id'], x['offset']) for x in e if x.get('msg') == 'REQUEST_PART'] == [('$LARGE', 262144)]
    and [x['sent'] for x in e if x['event'] == 'cut'] == [524288]" && ok ||
    bad "the resumption from 262144 was cut at 524288"
[ "$rc" = 7 ] && grep -q "peer 127.0.0.1:$PORT: closed the connection" "$TMP/libcut3b.err" && ok ||
    bad "the peer that cut the resumption is named (rc $rc): $(cat "$TMP/libcut3b.err")"
json "$TMP/libcut3b.json" "d['complete'] is False and d['peers_failed'] == 1 and d['peers_ok'] == 0" &&
    ok || bad "--json counts the peer as failed: $(cat "$TMP/libcut3b.json")"
"$SZ" fetch --peer "127.0.0.1:$PORT" --trust "$TMP/A.pk" --output "$TMP/libcut3" --json --timeout 20 \
    --stale-after 0 >"$TMP/libcut3c.json" 2>"$TMP/libcut3c.err" && ok ||
    bad "the fetch after the second cut: $(cat "$TMP/libcut3c.err")"
json "$TMP/libcut3c.json" "d['resumed'] == 1 and d['resumed_bytes'] == 524288" && ok ||
    bad "the second cut's part is kept and resumed: $(cat "$TMP/libcut3c.json")"
cmp -s "$TMP/servedl/$LARGE.bundle" "$TMP/libcut3/.samizdat/bundles/$LARGE.bundle" && ok ||
    bad "the resumed bundle is the served one"

# --- (b) a real samizdatd whose peer is the relay catches up every bundle,
# with every feature offered and with none.
# same_store NAME: daemon NAME holds exactly the served bundles, byte for byte.
same_store() {
    local id n=0
    szq list --socket "$TMP/$1/control.sock" >"$TMP/$1.list" 2>&1 || bad "list $1"
    for id in $(ls "$TMP/served" | sed 's/\.bundle$//'); do
        grep -q "$id" "$TMP/$1.list" || { bad "$1 lacks $id"; continue; }
        "$SZ" export --socket "$TMP/$1/control.sock" "$id" --output "$TMP/$1.export" 2>"$TMP/export.err" &&
            cmp -s "$TMP/$1.export" "$TMP/served/$id.bundle" && n=$((n + 1)) ||
            bad "$1: $id exported differs from the served bundle: $(cat "$TMP/export.err")"
    done
    [ "$n" -eq "$NB" ] && [ "$(wc -l <"$TMP/$1.list")" -eq "$NB" ] && ok ||
        bad "$1 holds $(wc -l <"$TMP/$1.list") bundles, $n of them the served ones; wanted $NB"
}
for feats in 7 0; do
    start_relay d$feats --bundles "$TMP/served" --features $feats || continue
    start_daemon node$feats "${COMMON[@]}" --peer "127.0.0.1:$PORT" || { bad "start node$feats"; continue; }
    wait_bundles node$feats "$NB" 30 && ok || bad "node$feats caught up"
    same_store node$feats
    szq status --socket "$TMP/node$feats/control.sock" >"$TMP/node$feats.status"
done

# A link cut after 512 KiB of the large bundle: the node keeps the part
# (4.1.1), links again and asks only for the rest, which the relay serves.
start_relay dcut --bundles "$TMP/served" --misbehave "cut:$LARGE:524288"
start_daemon nodecut "${COMMON[@]}" --peer "127.0.0.1:$PORT" || bad "start nodecut"
wait_bundles nodecut "$NB" 30 && ok || bad "nodecut caught up after the cut"
same_store nodecut
events dcut "[(x['conn'], x['id'], x['offset']) for x in e if x.get('msg') == 'REQUEST_PART'] == [(2, '$LARGE', 524288)]" &&
    ok || bad "the node asked for the rest with REQUEST_PART on its next link"

# --- (c) negatives.
A2=$(cat "$TMP/id.A.2")
# A bundle with a flipped byte (its id unchanged, the payload hash wrong),
# fetched into a library that holds the others: refused, the peer named,
# exit 7 (nothing could be fetched), the library as it was.
mkdir -p "$TMP/onlyB" "$TMP/tamperA2"
for s in 1 2 3; do
    cp "$TMP/served/$(cat "$TMP/id.B.$s").bundle" "$TMP/onlyB/"
    cp "$TMP/served/$(cat "$TMP/id.B.$s").bundle" "$TMP/tamperA2/"
done
cp "$TMP/served/$A2.bundle" "$TMP/tamperA2/"
start_relay onlyB --bundles "$TMP/onlyB"
"$SZ" fetch --peer "127.0.0.1:$PORT" --trust "$TMP/A.pk" --trust "$TMP/B.pk" --output "$TMP/libt" \
    --timeout 20 --stale-after 0 >/dev/null 2>"$TMP/libt0.err" && ok || bad "fetch B's bundles: $(cat "$TMP/libt0.err")"
# snap DIR: every file of the library but its lock and fetch state, hashed.
snap() {
    (cd "$1" && find . -type f ! -name '*.lock' ! -name lock ! -name fetch.state -print0 | sort -z |
        xargs -0 sha256sum)
}
snap "$TMP/libt" >"$TMP/libt.before"
grep -q "/body.md" "$TMP/libt.before" && ok || bad "B's articles are in the library"
start_relay tamper1 --bundles "$TMP/tamperA2" --misbehave "tamper:$A2"
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" --trust "$TMP/A.pk" --trust "$TMP/B.pk" --output "$TMP/libt" --json \
    --timeout 20 --stale-after 0 >"$TMP/libt.json" 2>"$TMP/libt.err" || rc=$?
[ $rc -eq 7 ] && ok || bad "a tampered bundle: fetch exits $rc, wanted 7: $(cat "$TMP/libt.err")"
grep -q "127.0.0.1:$PORT.*fails verification" "$TMP/libt.err" && ok ||
    bad "the peer that sent it is named: $(cat "$TMP/libt.err")"
snap "$TMP/libt" | cmp -s - "$TMP/libt.before" && ok || bad "the library changed"
json "$TMP/libt.json" "not d['complete'] and d['bundles'] == 0 and d['peers_failed'] == 1" && ok ||
    bad "--json: nothing new, the peer failed"
events tamper1 "[(x['first'], x['last'], x['sent']) for x in e if x['event'] == 'range_done'] == [(2, 2, 1)]" &&
    ok || bad "the tampered bundle was asked for and sent"
# Among all the bundles, in one BUNDLES batch: the flipped one is not taken.
start_relay tamper2 --bundles "$TMP/served" --misbehave "tamper:$A2"
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libt2" --json --timeout 20 \
    --stale-after 0 >"$TMP/libt2.json" 2>"$TMP/libt2.err" || rc=$?
[ $rc -eq 7 ] && [ ! -e "$TMP/libt2/.samizdat/bundles/$A2.bundle" ] && [ ! -e "$TMP/libt2/$HEX_A/a2" ] && ok ||
    bad "tampered among others: exit $rc, wanted 7, and the bundle not in the library"
for f in "$TMP"/libt2/.samizdat/bundles/*; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$TMP/served/$(basename "$f")" && ok || bad "libt2: $(basename "$f") is not a served bundle"
done

# Fetch and misbehaving relays: a BUNDLE nobody asked for (sent right after
# HELLO); BUNDLE chunks with a hole (4.1: offsets from 0 without gaps);
# RANGE_DONE before the last chunk of the range's last bundle (the rest then
# comes unasked). Each is refused: the peer named, exit 7, nothing of the
# broken bundle kept.
B1=$(cat "$TMP/id.B.1")
start_relay unasked --bundles "$TMP/served" --misbehave "unasked:$B1"
start_relay gap --bundles "$TMP/served" --misbehave "gap:$LARGE"
start_relay early --bundles "$TMP/served" --misbehave early-done --features 0
for r in unasked gap early; do
    rc=0
    "$SZ" fetch --peer "127.0.0.1:$(head -1 "$TMP/$r.port")" "${TRUST[@]}" --output "$TMP/lib-$r" --json \
        --timeout 20 --stale-after 0 >"$TMP/lib-$r.json" 2>"$TMP/lib-$r.err" || rc=$?
    [ $rc -eq 7 ] && grep -q "127.0.0.1:$(head -1 "$TMP/$r.port")" "$TMP/lib-$r.err" && ok ||
        bad "fetch from the $r relay: exit $rc, wanted 7 and the peer named: $(cat "$TMP/lib-$r.err")"
    json "$TMP/lib-$r.json" "not d['complete'] and d['peers_failed'] == 1" && ok || bad "$r: --json"
done
grep -q "not asked for" "$TMP/lib-unasked.err" && ok || bad "fetch names the unasked bundle"
# The handshake succeeded: fetch does not call the peer unreachable.
grep -q "no peer served this fetch as a samizdat node should" "$TMP/lib-unasked.err" &&
    ! grep -q "could be reached" "$TMP/lib-unasked.err" && ok ||
    bad "fetch calls a peer that completed the handshake unreachable: $(cat "$TMP/lib-unasked.err")"
json "$TMP/lib-unasked.json" "d['bundles'] == 0" && ok || bad "fetch took the unasked bundle"
[ ! -e "$TMP/lib-gap/.samizdat/bundles/$LARGE.bundle" ] && [ ! -e "$TMP/lib-early/.samizdat/bundles/$LARGE.bundle" ] &&
    ok || bad "fetch kept a large bundle sent with a hole or after RANGE_DONE"

# The same to nodes, each its own relay: a flipped byte in a bundle of BUNDLE
# chunks (GOODBYE 3, invalid bundle), and the three above (GOODBYE 2,
# protocol violation). Each closes the link, bans the relay, counts it, and
# does not store the bundle (4.4).
start_relay dtamper --bundles "$TMP/served" --misbehave "tamper:$MEDIUM"
for r in dtamper unasked gap early; do
    start_daemon "n$r" "${COMMON[@]}" --peer "127.0.0.1:$(head -1 "$TMP/$r.port")" || bad "start n$r"
done
for r in dtamper unasked gap early; do
    wait_log "$TMP/n$r.log" "(banned)" 10 && ok || bad "n$r banned the $r relay: $(tail -3 "$TMP/n$r.log")"
done
# A node links again within about a second to a peer that merely closed
# (the dcut relay above): 3 s without a second link to these is the ban.
sleep 3
for r in dtamper unasked gap early; do
    # the node's link is the relay's first, or its second after the fetch above
    want=2 first=2
    [ $r = dtamper ] && want=3 first=1
    events $r "[x['reason'] for x in e if x.get('msg') == 'GOODBYE' and x['conn'] == $first] == [$want]" && ok ||
        bad "n$r sent GOODBYE $want to the $r relay"
    events $r "sum(1 for x in e if x['event'] == 'accept') == $first" && ok ||
        bad "n$r linked to the banned $r relay again"
    szq status --socket "$TMP/n$r/control.sock" >"$TMP/n$r.status" 2>&1
    grep -q ', 1 misbehaviours' "$TMP/n$r.status" && ok ||
        bad "n$r counts the misbehaviour: $(grep misbeh "$TMP/n$r.status")"
    szq list --socket "$TMP/n$r/control.sock" >"$TMP/n$r.list" 2>&1
done
grep -q "$MEDIUM" "$TMP/ndtamper.list" && bad "ndtamper stored the tampered bundle" || ok
grep -q 'refused 1$' "$TMP/ndtamper.status" && ok || bad "ndtamper counts the refused bundle"
[ ! -s "$TMP/nunasked.list" ] && ok || bad "nunasked stored the bundle nobody asked for"
grep -q "$LARGE" "$TMP/ngap.list" "$TMP/nearly.list" && bad "a node stored the large bundle sent broken" || ok

# A PING between two chunks of a bundle is fine (4.1: messages of other types
# may interleave), and so is a bundle over 256 KiB in BUNDLES (a sender's
# limit: readers take any that fits a frame).
start_relay ping --bundles "$TMP/served" --misbehave "ping-between:$LARGE"
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/lib-ping" --json --timeout 20 \
    --stale-after 0 >"$TMP/lib-ping.json" 2>"$TMP/lib-ping.err" && ok ||
    bad "fetch with a PING between chunks: $(cat "$TMP/lib-ping.err")"
same_library "$TMP/lib-ping"
events ping "any(x.get('msg') == 'PONG' and x['nonce'] == 77 for x in e)" && ok || bad "the PING was answered"
start_relay batchlarge --bundles "$TMP/served" --misbehave batch-large
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/lib-bl" --json --timeout 20 \
    --stale-after 0 >"$TMP/lib-bl.json" 2>"$TMP/lib-bl.err" && ok ||
    bad "fetch with a 400 KiB bundle in BUNDLES: $(cat "$TMP/lib-bl.err")"
same_library "$TMP/lib-bl"

# Sequences claimed in the SUMMARY and not sent: RANGE_DONE says so; fetch
# takes the rest, names the peer, exits 7.
start_relay phantom --bundles "$TMP/served" --misbehave phantom:3
rc=0
"$SZ" fetch --peer "127.0.0.1:$PORT" "${TRUST[@]}" --output "$TMP/libp" --json --timeout 20 \
    --stale-after 0 >"$TMP/libp.json" 2>"$TMP/libp.err" || rc=$?
[ $rc -eq 7 ] && grep -q "127.0.0.1:$PORT.*did not send all of sequences" "$TMP/libp.err" && ok ||
    bad "claimed and not sent: exit $rc, wanted 7, the peer named: $(cat "$TMP/libp.err")"
same_library "$TMP/libp"
json "$TMP/libp.json" "not d['complete'] and d['bundles'] == $NB" && ok || bad "--json: all but the claimed"

# REQUEST_RANGE with first > last is a protocol violation (section 4), asked
# of a node by the initiator's half (protocol_client.py's primitives).
start_daemon nrange "${COMMON[@]}" || bad "start nrange"
"$PY" - "$SRC/tests/spec" "$(peer_port nrange)" "$HEX_A" >"$TMP/nrange.out" 2>&1 <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
from protocol_client import *
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5)
link = Link(sock, Handshake(DEFAULT_NETWORK_KEY, keypair(), 0).run(sock))
link.send(msg_hello(0, ROLE_FETCH))
link.send(msg_request_range(bytes.fromhex(sys.argv[3]), 5, 3))
try:
    while True:
        body = link.recv()
        if body[0] == GOODBYE:
            print("GOODBYE", body[1])
except (LinkClosed, OSError):
    print("closed")
PY
[ "$(tr '\n' ' ' <"$TMP/nrange.out")" = "GOODBYE 2 closed " ] && ok ||
    bad "REQUEST_RANGE 5..3: wanted GOODBYE 2 and a close: $(cat "$TMP/nrange.out")"

# The other independent half: the client written from the same text fetches
# from this relay.
start_relay pyclient --bundles "$TMP/served"
"$PY" "$SRC/tests/spec/protocol_client.py" fetch "127.0.0.1:$PORT" --publisher "$TMP/A.pk" \
    --publisher "$TMP/B.pk" --publisher "$TMP/C.pk" --output "$TMP/pylib" >"$TMP/pylib.json" 2>&1 && ok ||
    bad "protocol_client.py from this relay: $(cat "$TMP/pylib.json")"
for f in "$TMP"/served/*; do
    cmp -s "$f" "$TMP/pylib/$(basename "$f")" || bad "protocol_client.py: $(basename "$f") differs"
done

stop_relays
finish
