#!/usr/bin/env bash
# A relay that catches up from several peers holding the same bundles takes
# each bundle once (a range asked of one peer is not asked of another while
# that peer sends it), and a peer that was asked first but withholds or stalls
# holds nothing back for long: what it did not send is asked of the others.
# usage: catchup_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR ADVERSARY BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
ADV=$4
GEN=$5
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PROXIES=()
EVILS=()
trap 'kill "${PROXIES[@]}" "${EVILS[@]}" 2>/dev/null; cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT

# links_in NAME: "bundles bytes" received over all of the daemon's links.
links_in() {
    szq status --json --socket "$TMP/$1/control.sock" | python3 -c '
import json, sys
links = json.load(sys.stdin)["peers"]
print(sum(l["bundles_in"] for l in links), sum(l["bytes_in"] for l in links))'
}
# start_evil NAME MODE [ARGS...]: a malicious relay holding the bundles of
# $TMP/g, on $EVIL_HOST (127.0.0.1 unless set); sets EVIL to its address.
start_evil() {
    local name=$1 mode=$2 port=
    shift 2
    "$ADV" serve-evil "$mode" --listen "${EVIL_HOST:-127.0.0.1}:0" --bundles "$TMP/g" "$@" \
        >"$TMP/evil.$name.log" 2>&1 &
    EVILS+=($!)
    for _ in $(seq 1 50); do
        port=$(grep -m1 -x '[0-9][0-9]*' "$TMP/evil.$name.log" 2>/dev/null)
        [ -n "$port" ] && break
        nap 0.1
    done
    EVIL=${EVIL_HOST:-127.0.0.1}:$port
}
# evil_first NAME MODE [ARGS...]: daemon NAME starts linked only to a new
# malicious relay in MODE (its log $TMP/evil.MODE.log), and asks it for a range.
evil_first() {
    local name=$1 mode=$2
    shift 2
    start_evil "$mode" "$mode" "$@"
    check "relay $name starts" start_daemon "$name" --expiry-days 0 --peer "$EVIL"
    wait_log "$TMP/evil.$mode.log" "REQUEST_RANGE" 10 ||
        note "the $mode relay logged no REQUEST_RANGE: $(tail -3 "$TMP/evil.$mode.log")"
}
# relink RELAY NAME: relay RELAY restarts, linked to daemon NAME (so its
# SUMMARY comes after that of NAME's first peer).
relink() {
    stop_daemon "$1"
    check "relay $1 restarts, linked to $2" start_daemon "$1" --expiry-days 0 \
        --peer "127.0.0.1:$(peer_port "$2")"
}
# per_link NAME: the bundles received on each of the daemon's links.
per_link() {
    szq status --json --socket "$TMP/$1/control.sock" |
        python3 -c 'import json,sys; print(*(l["bundles_in"] for l in json.load(sys.stdin)["peers"]))'
}
# since T0: whole seconds since T0 (date +%s).
since() { echo $(($(date +%s) - $1)); }
note() { echo "$*"; }

# A corpus of 12 documents of 20 KB of random text (it compresses little):
# bundles of 10 of them are about 150 KB.
mkdir -p "$TMP/corpus"
printf 'file\tbytes\tlanguage\tsource_package\toriginal_path\tlicence\tgenre\n' >"$TMP/corpus/MANIFEST.tsv"
for i in $(seq 1 12); do
    head -c 15000 /dev/urandom | base64 -w 76 >"$TMP/corpus/d$i.txt"
    printf 'd%s.txt\t%s\ten\ttest\td%s\tnone\ttest\n' $i "$(stat -c %s "$TMP/corpus/d$i.txt")" $i \
        >>"$TMP/corpus/MANIFEST.tsv"
done
N=40
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/g" --bundles $N --articles 10 \
    --level 1 --seed 11 >"$TMP/gen.out" 2>&1 || {
    bad "generating $N bundles: $(tail -2 "$TMP/gen.out")"
    finish
    exit
}
TOTAL=$(cat "$TMP/g/"*.bundle | wc -c)
note "$N bundles of one publisher, $TOTAL bytes"

for r in a b f; do
    check "relay $r starts" start_daemon $r --expiry-days 0
    "$SZ" import --socket "$TMP/$r/control.sock" "$TMP/g/"*.bundle >"$TMP/import.$r" 2>&1
    [ "$(grep -c '^stored ' "$TMP/import.$r")" -eq $N ] && ok || bad "import into $r"
done

# 3 (started first: it takes the longest). E asks a relay first that sends one
# byte at a time (a stalled link that stays open); relay f links to E
# meanwhile. E gets every bundle from f within a minute.
t3=$(date +%s)
evil_first e slowloris --rate 0.2
relink f e
# When E has them all, noted meanwhile (the sections below run in between).
(
    for _ in $(seq 1 180); do
        [ "$(count_bundles e)" -ge $N ] && date +%s >"$TMP/e.done" && exit
        nap 0.5
    done
) &
E_WATCH=$!

# 1. C links to a and b through a slow proxy (1 MB/s a link): both offer all
# N in their SUMMARY at once; C takes each bundle once.
start_proxy rate:1000000 slow
t0=$(date +%s)
check "relay c starts" start_daemon c --expiry-days 0 --proxy "$PROXY" \
    --peer "127.0.0.1:$(peer_port a)" --peer "127.0.0.1:$(peer_port b)"
wait_bundles c $N 60 && ok || bad "c did not get the $N bundles"
sleep 1
read -r n_in bytes_in < <(links_in c)
note "1: c holds $(count_bundles c) after $(since "$t0") s; received $n_in bundles, $bytes_in bytes over its 2 links"
[ "$n_in" -le $((N + N / 20)) ] && ok ||
    bad "c received $n_in bundles for the $N it lacked (each once expected, at most 5 % more)"
[ "$bytes_in" -le $((TOTAL + TOTAL / 20)) ] && ok ||
    bad "c received $bytes_in bytes for $TOTAL bytes of bundles"
stop_daemon c && ok || bad "c stops cleanly: $(tail -3 "$TMP/c.log")"

# 2. D asks a withholding relay first (it answers every range with RANGE_DONE
# and no bundle, after 4 s); relay a links to D meanwhile. D gets every bundle
# from a once the withholder's answer came.
t0=$(date +%s)
evil_first d withhold --answer-delay 4
relink a d
wait_bundles d $N 30 && ok || bad "d did not get the bundles the withholder kept back, from a"
read -r n_in bytes_in < <(links_in d)
note "2: d holds $(count_bundles d) after $(since "$t0") s; received $n_in bundles"
[ "$n_in" -le $((N + N / 20)) ] && ok || bad "d received $n_in bundles for the $N it lacked"
stop_daemon d && ok || bad "d stops cleanly: $(tail -3 "$TMP/d.log")"

# 2b. Q asks a relay first that answers with the bundles' headers changed to
# declare 1 GiB of articles, more than Q keeps (their signatures fail): Q bans
# it rather than taking it at its word and skipping those sequences (which it
# did, and then never asked anyone for them), and gets them all from a. (The
# relay listens on 127.0.0.2: a ban is of an address.)
EVIL_HOST=127.0.0.2 evil_first q bighdr
wait_log "$TMP/q.log" "signed header is invalid\|fails verification\|invalid bundle" 10 ||
    bad "q did not refuse the relay that made up large headers: $(grep -i 'peer' "$TMP/q.log" | tail -3)"
relink a q
wait_bundles q $N 30 && ok || bad "q did not get the $N bundles from a (holds $(count_bundles q))"
stop_daemon q && ok || bad "q stops cleanly: $(tail -3 "$TMP/q.log")"

# 4. Bundles of 24 publishers (24 ranges, more than go out to one peer at
# once): G, linked to a and b through the slow proxy, takes each once, and
# both links carry a share of them.
mkdir -p "$TMP/g4"
for i in $(seq 1 24); do
    "$GEN" gen --corpus "$TMP/corpus" --out "$TMP/g4/$i" --bundles 1 --articles 10 --level 1 \
        --seed $((100 + i)) >/dev/null 2>&1 || bad "generating publisher $i"
    mv "$TMP/g4/$i/00001.bundle" "$TMP/g4/$i.bundle"
done
for r in a b; do
    "$SZ" import --socket "$TMP/$r/control.sock" "$TMP/g4/"*.bundle >"$TMP/import4.$r" 2>&1
    [ "$(grep -c '^stored ' "$TMP/import4.$r")" -eq 24 ] && ok || bad "import of 24 publishers into $r"
done
t0=$(date +%s)
check "relay g starts" start_daemon g --expiry-days 0 --proxy "$PROXY" \
    --peer "127.0.0.1:$(peer_port a)" --peer "127.0.0.1:$(peer_port b)"
wait_bundles g $((N + 24)) 60 && ok || bad "g did not get the $((N + 24)) bundles"
sleep 1
per_link=$(per_link g)
note "4: g holds $(count_bundles g) after $(since "$t0") s; bundles received on its links: $per_link"
read -r l1 l2 <<<"$per_link"
[ $((${l1:-0} + ${l2:-0})) -le $((N + 24 + (N + 24) / 20)) ] && ok ||
    bad "g received $per_link bundles on its links for the $((N + 24)) it lacked"
# A peer is asked for 4 ranges at first (16 once it keeps up): the other takes
# over what stays queued (before, 16 went to the first at once: 9 and 55).
[ "${l1:-0}" -ge 16 ] && [ "${l2:-0}" -ge 16 ] && ok ||
    bad "g's two links did not share the catch-up (a quarter each at least): $per_link bundles"
stop_daemon g && ok || bad "g stops cleanly: $(tail -3 "$TMP/g.log")"

# 5. H receives an 8 MiB bundle by announcement through the slow proxy (8 s);
# meanwhile relay y, which holds it, links to H and offers it in its SUMMARY.
# H takes it once: from the link it is coming in on.
"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
mkdir -p "$TMP/in"
{
    printf '\x89PNG\r\n\x1a\n'
    head -c $((8 << 20)) /dev/urandom
} >"$TMP/in/scan.png"
printf -- '---\ntitle: A scan\nid: scan\nattachments: [scan.png]\n---\nSee the scan.\n' >"$TMP/in/scan.md"
check "publisher starts" start_daemon pub --expiry-days 0 --batch-window-ms 0 --level 1 \
    --publisher-key "$TMP/pub.sk"
check "relay y starts" start_daemon y --expiry-days 0 --peer "127.0.0.1:$(peer_port pub)"
check "relay h starts" start_daemon h --expiry-days 0 --proxy "$PROXY" --peer "127.0.0.1:$(peer_port pub)"
wait_log "$TMP/h.log" "link open" 10 || bad "h did not link to the publisher"
check "publish an 8 MiB article" "$SZ" publish --socket "$TMP/pub/control.sock" "$TMP/in/scan.md"
wait_bundles y 1 20 && ok || bad "y did not get the 8 MiB bundle"
# The bundle is coming in on h's slow link, its first chunk (and so its signed
# header) in: only then is its sequence left out of what h asks of others. On
# a loaded machine y could link before that, and h would rightly ask y too.
for _ in $(seq 1 100); do
    read -r _ h_bytes < <(links_in h)
    [ "${h_bytes:-0}" -ge $((512 << 10)) ] && break
    nap 0.1
done
relink y h
t0=$(date +%s)
wait_bundles h 1 40 && ok || bad "h did not get the 8 MiB bundle"
sleep 1
read -r n_in bytes_in < <(links_in h)
SIZE=$(szq list --socket "$TMP/pub/control.sock" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["size"])')
note "5: h holds $(count_bundles h) ($(since "$t0") s after y linked to it); received $n_in bundles, $bytes_in bytes for $SIZE"
[ "$n_in" -eq 1 ] && [ "$bytes_in" -le $((SIZE + SIZE / 20)) ] && ok ||
    bad "h received $n_in bundles, $bytes_in bytes, for one bundle of $SIZE bytes"
for r in h y pub; do
    stop_daemon $r && ok || bad "$r stops cleanly: $(tail -3 "$TMP/$r.log")"
done

# 6. A reader (samizdat fetch) with two peers, through another slow proxy, and
# 320 bundles of one publisher (5 claims of 64 sequences): the idle peer takes
# over claims queued for the other. Both links carry a share; each bundle
# comes once.
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/g6" --bundles 320 --articles 1 --level 1 \
    --seed 66 >/dev/null 2>&1 || bad "generating 320 bundles"
TOTAL6=$(cat "$TMP/g6/"*.bundle | wc -c)
for r in a b; do
    "$SZ" import --socket "$TMP/$r/control.sock" "$TMP/g6/"*.bundle >"$TMP/import6.$r" 2>&1
    [ "$(grep -c '^stored ' "$TMP/import6.$r")" -eq 320 ] && ok || bad "import of 320 bundles into $r"
done
echo "$(cat "$TMP/g6/pub.pk") The Daily" >"$TMP/trust6"
start_proxy rate:1000000 reader
t0=$(date +%s)
rc=0
timeout 60 "$SZ" fetch --proxy "$PROXY" --peer "127.0.0.1:$(peer_port a)" \
    --peer "127.0.0.1:$(peer_port b)" --trust-file "$TMP/trust6" --output "$TMP/lib6" --json \
    >"$TMP/fetch6.json" 2>"$TMP/fetch6.err" || rc=$?
[ $rc -eq 0 ] && ok || bad "the reader's fetch from a and b: exit $rc: $(tail -2 "$TMP/fetch6.err")"
for _ in $(seq 1 50); do
    [ "$(grep -c '^CLOSED ' "$TMP/proxy.reader.log")" -ge 2 ] && break
    nap 0.1
done
downs=$(sed -n 's/^CLOSED .* down \([0-9]*\)$/\1/p' "$TMP/proxy.reader.log" | sort -n | tr '\n' ' ')
note "6: the reader fetched $(grep -o '"bundles":[0-9]*' "$TMP/fetch6.json") in $(since "$t0") s; bytes per link: $downs for $TOTAL6 of bundles"
read -r d1 d2 <<<"$downs"
grep -q '"bundles":320,' "$TMP/fetch6.json" && ok || bad "the reader did not fetch the 320 bundles"
[ $((${d1:-0} + ${d2:-0})) -le $((TOTAL6 + TOTAL6 / 10)) ] && ok ||
    bad "the reader's links carried $downs bytes for $TOTAL6 bytes of bundles"
[ "${d1:-0}" -ge $((TOTAL6 / 8)) ] && ok ||
    bad "the reader took nearly all from one peer: $downs bytes per link"

# 7. 3,000 small bundles of one publisher: more than the 16 ranges of 128
# sequences that go out to one peer at once. K, linked to a and b through the
# slow proxy, takes each once and both links carry a share.
tiny_corpus "$TMP/tiny"
"$GEN" gen --corpus "$TMP/tiny" --out "$TMP/g7" --bundles 3000 --articles 1 --level 1 \
    --seed 77 >/dev/null 2>&1 || bad "generating 3000 bundles"
for r in a b; do
    "$SZ" import --socket "$TMP/$r/control.sock" "$TMP/g7/"*.bundle >"$TMP/import7.$r" 2>&1
    [ "$(grep -c '^stored ' "$TMP/import7.$r")" -eq 3000 ] && ok || bad "import of 3000 bundles into $r"
done
HELD=$(count_bundles a)
t0=$(date +%s)
check "relay k starts" start_daemon k --expiry-days 0 --proxy "$PROXY" \
    --peer "127.0.0.1:$(peer_port a)" --peer "127.0.0.1:$(peer_port b)"
wait_bundles k "$HELD" 60 && ok || bad "k did not get the $HELD bundles a holds"
sleep 1
per_link=$(per_link k)
note "7: k holds $(count_bundles k) of $HELD after $(since "$t0") s; bundles received on its links: $per_link"
read -r l1 l2 <<<"$per_link"
[ $((${l1:-0} + ${l2:-0})) -le $((HELD + HELD / 20)) ] && ok ||
    bad "k received $per_link bundles on its links for the $HELD it lacked"
[ "${l1:-0}" -ge 256 ] && [ "${l2:-0}" -ge 256 ] && ok ||
    bad "k's two links did not share the catch-up of 3000 bundles: $per_link bundles"
stop_daemon k && ok || bad "k stops cleanly: $(tail -3 "$TMP/k.log")"

# 8. M holds the odd sequences of those 3,000 and links to a: the 1,500
# single gaps are more ranges than one comparison queues (1,024), so the
# catch-up goes on in a second round (PROTOCOL.md 4.3). Scattered gaps cost
# a few bytes each beyond the bundles (SUMMARY_PACKED, REQUEST_SPARSE), not
# the 190 of a range each (about 290 KB here before them).
check "relay m starts" start_daemon m --expiry-days 0
"$SZ" import --socket "$TMP/m/control.sock" "$TMP/g7/"*[13579].bundle >"$TMP/import8" 2>&1
[ "$(grep -c '^stored ' "$TMP/import8")" -eq 1500 ] && ok || bad "import of the 1500 odd sequences into m"
store_bytes() { szq status --json --socket "$TMP/$1/control.sock" | python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes"])'; }
before8=$(store_bytes m)
stop_daemon m
t0=$(date +%s)
check "relay m restarts, linked to a" start_daemon m --expiry-days 0 --peer "127.0.0.1:$(peer_port a)"
wait_bundles m "$HELD" 60 && ok || bad "m did not get the 1500 even sequences (and the rest a holds)"
note "8: m holds $(count_bundles m) of $HELD after $(since "$t0") s"
# What came: the store's growth (nothing expires or is evicted here). Beside
# the 1,500 gaps, m lacks what a holds of the other sections' publishers
# (whole ranges, a few hundred bytes each): 16 KB are allowed for those.
got8=$(($(store_bytes m) - ${before8:-0}))
wire8=$(szq status --json --socket "$TMP/m/control.sock" | python3 -c '
import json, sys
links = json.load(sys.stdin)["peers"]
print(sum(l["bytes_in"] + l["bytes_out"] for l in links))')
note "8: m's link carried ${wire8:-?} B both ways for $got8 B of bundles"
[ -n "$wire8" ] && [ $((wire8 - got8)) -le $((1500 * 16 + 16384)) ] && ok ||
    bad "m's catch-up of 1500 single gaps cost $((${wire8:-0} - got8)) B beyond the bundles (more than 16 B a gap)"
stop_daemon m && ok || bad "m stops cleanly: $(tail -3 "$TMP/m.log")"

wait "$E_WATCH"
t3_done=$(cat "$TMP/e.done" 2>/dev/null || echo never)
note "3: e held all $N bundles $([ "$t3_done" = never ] && echo never || echo "after $((t3_done - t3)) s")"
[ "$t3_done" != never ] && [ $((t3_done - t3)) -le 60 ] && ok ||
    bad "e did not get, from f, the bundles a stalled relay was asked for, within 60 s ($(count_bundles e) of $N)"
for r in e a b f; do
    stop_daemon $r && ok || bad "$r stops cleanly: $(tail -3 "$TMP/$r.log")"
done
finish
