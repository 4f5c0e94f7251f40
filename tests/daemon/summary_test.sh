#!/usr/bin/env bash
# A relay holding more publishers than its SUMMARY to a fetch client carries
# (16 parts of 1024, PROTOCOL.md 4.3; anyone can bring this about by giving a
# relay bundles of many made-up keys): a reader (samizdat fetch, which does
# not follow announcements) still gets the bundles of a publisher
#  - whose key sorts in the first part, or in a later one: the relay sends
#    the parts one after the other as the link has room for them;
#  - whose key sorts past the 16th part, which says more = 0 all the same:
#    the reader asks the relay for the publisher's sequences directly;
# and of a trusted publisher past the 16th part that the relay does not hold,
# the fetch learns so by asking, and says it is complete. A publisher that
# signed two bundles with one sequence at the relay (reported by it between
# the parts) costs the fetch no wait: each fetch ends within 20 s. On a slow
# link, where a part takes longer than the reader's 5 s wait between parts,
# such a report does not make the reader take the summary for ended: it
# waits for the parts while their bytes come.
# usage: summary_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PROXIES=()
trap 'kill "${PROXIES[@]}" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT

N=16500
tiny_corpus "$TMP/corpus"
# One bundle each of N publishers (keys from seeds 1..N), in one process:
# lines "KEY-HEX SEED" in $TMP/keys.
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/bundles" --bundles 1 --articles 1 --level 1 \
    --seed 1 --publishers $N >/dev/null || bad "generating $N publishers"
cp "$TMP/bundles/pub.hex" "$TMP/keys"
check "relay starts" start_daemon relay --expiry-days 0
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/bundles/"*.bundle >"$TMP/import.out" 2>&1
[ "$(grep -c '^stored ' "$TMP/import.out")" -eq $N ] && ok ||
    bad "import of $N publishers' bundles: $(grep -vc '^stored ' "$TMP/import.out") not stored"
RELAY=127.0.0.1:$(peer_port relay)
sort "$TMP/keys" >"$TMP/sorted"
# The publishers whose keys sort first, 8000th (in the 8th part) and last
# (past the 16th part, which ends with the 16,384th key).
FIRST=$(head -1 "$TMP/sorted")
MIDDLE=$(sed -n 8000p "$TMP/sorted")
LAST=$(tail -1 "$TMP/sorted")
CUT=$(sed -n 16384p "$TMP/sorted")
CUT=${CUT%% *}
# A publisher the relay does not hold, whose key sorts past the 16th part: of
# 1000 more keys, about seven do.
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/more" --bundles 1 --articles 1 --level 1 \
    --seed $((N + 1)) --publishers 1000 >/dev/null || bad "generating 1000 more publishers"
ABSENT=$(sort "$TMP/more/pub.hex" | awk -v cut="$CUT" '$1 > cut { print; exit }')
[ -n "$ABSENT" ] || bad "none of 1000 more keys sorts past the 16th part (the test's premise)"

# pub_of LINE DIR [BUNDLES]: DIR/pub.pk, the public key of the publisher of
# line "KEY-HEX SEED", and BUNDLES (1) bundles of it (sequences 1 on) in DIR.
pub_of() {
    "$GEN" gen --corpus "$TMP/corpus" --out "$2" --bundles "${3:-1}" --articles 1 --level 1 \
        --seed "${1#* }" >/dev/null || bad "generating the bundles of seed ${1#* }"
}
# The last publisher has two more bundles at the relay: sequences 1 to 3.
pub_of "$LAST" "$TMP/kLAST" 3
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/kLAST/00002.bundle" "$TMP/kLAST/00003.bundle" \
    >/dev/null ||
    bad "import of the last publisher's sequences 2 and 3"
# The middle one signed another sequence 1 (made alone, its bundle differs
# from the one made among many) and a sequence 2: three bundles at the relay.
pub_of "$MIDDLE" "$TMP/kMIDDLE" 2
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/kMIDDLE/"0000[12].bundle >"$TMP/import-m.out" ||
    bad "import of the middle publisher's second sequence 1 and sequence 2"
grep -q EQUIVOCATION "$TMP/import-m.out" && ok ||
    bad "the middle publisher's second sequence 1 equivocates (the test's premise): $(cat "$TMP/import-m.out")"

# fetch_one WHICH: a fetch trusting the publisher of line $WHICH only, from the relay.
fetch_one() {
    local which=$1
    echo "$(cat "$TMP/k$which/pub.pk") Publisher $which" >"$TMP/trust-$which"
    rc=0
    T0=$SECONDS
    timeout 60 "$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-$which" \
        --output "$TMP/lib-$which" --json >"$TMP/fetch-$which.json" 2>"$TMP/fetch-$which.err" ||
        rc=$?
    [ $((SECONDS - T0)) -le 20 ] && ok || bad "the fetch of $which took $((SECONDS - T0)) s"
}
for which in FIRST MIDDLE LAST; do
    line=${!which}
    hex=${line%% *}
    want=1
    [ $which = FIRST ] || want=3
    [ -e "$TMP/k$which/pub.pk" ] || pub_of "$line" "$TMP/k$which"
    fetch_one $which
    [ $rc -eq 0 ] && ok || bad "fetch of the publisher sorting $which: exit $rc: $(tail -2 "$TMP/fetch-$which.err")"
    grep -q "\"bundles\":$want," "$TMP/fetch-$which.json" && ok ||
        bad "the publisher sorting $which (key $hex): not its $want bundles fetched: $(head -c 300 "$TMP/fetch-$which.json")"
    n_pages=$(find "$TMP/lib-$which/$hex" -mindepth 2 -name index.html 2>/dev/null | wc -l)
    [ "$n_pages" -ge 1 ] && ok || bad "no page of the publisher sorting $which in the library"
    grep -q '"complete":true' "$TMP/fetch-$which.json" && ok ||
        bad "the fetch of the publisher sorting $which does not say it is complete: $(head -c 200 "$TMP/fetch-$which.json")"
done
grep -q "EQUIVOCATION" "$TMP/fetch-MIDDLE.err" && ok ||
    bad "the fetch of the middle publisher warns of its equivocation: $(cat "$TMP/fetch-MIDDLE.err")"

# The publisher the relay does not hold: nothing to fetch, and the fetch knows
# it (the relay answered for it), so it is complete and exits 0.
if [ -n "$ABSENT" ]; then
    pub_of "$ABSENT" "$TMP/kABSENT"
    fetch_one ABSENT
    [ $rc -eq 0 ] && ok || bad "fetch of a publisher the relay lacks: exit $rc: $(tail -2 "$TMP/fetch-ABSENT.err")"
    grep -q '"complete":true' "$TMP/fetch-ABSENT.json" && grep -q '"bundles":0' "$TMP/fetch-ABSENT.json" &&
        ok || bad "the fetch of a publisher the relay lacks: $(head -c 300 "$TMP/fetch-ABSENT.json")"
    grep -q "not known" "$TMP/fetch-ABSENT.err" && bad "it says the relay's holding is not known: $(cat "$TMP/fetch-ABSENT.err")" || ok
fi
stop_daemon relay

# A slow link: relay S holds 2048 publishers (two parts of about 37 KB), one
# of which, sorting in the second part, signed two bundles with sequence 1.
# S reports it after the first part; through a proxy passing 5,000 bytes a
# second, the second part then takes about 7 s to come. The reader waits for
# it while its bytes come (no "stopped" line) and gets both bundles.
check "relay S starts" start_daemon slow --expiry-days 0
files=()
for ((k = 1; k <= 2048; k++)); do files+=("$TMP/bundles/$k-00001.bundle"); done
"$SZ" import --socket "$TMP/slow/control.sock" "${files[@]}" >"$TMP/import-s.out" 2>&1
[ "$(grep -c '^stored ' "$TMP/import-s.out")" -eq 2048 ] && ok ||
    bad "import of 2048 publishers into S: $(grep -vc '^stored ' "$TMP/import-s.out") not stored"
SLOW=$(awk '$2 <= 2048' "$TMP/keys" | sort | sed -n 1500p)
# The same article at another zstd level: another bundle of sequence 1.
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/kSLOW" --bundles 1 --articles 1 --level 2 \
    --seed "${SLOW#* }" >/dev/null || bad "generating the second sequence 1 of seed ${SLOW#* }"
"$SZ" import --socket "$TMP/slow/control.sock" "$TMP/kSLOW/00001.bundle" >"$TMP/import-s2.out" 2>&1
grep -q EQUIVOCATION "$TMP/import-s2.out" && ok ||
    bad "S holds two bundles of sequence 1 of one publisher (the test's premise): $(cat "$TMP/import-s2.out")"
echo "$(cat "$TMP/kSLOW/pub.pk") Publisher SLOW" >"$TMP/trust-SLOW"
start_proxy rate:5000 slow
rc=0
timeout 60 "$SZ" fetch --proxy "$PROXY" --peer "127.0.0.1:$(peer_port slow)" \
    --trust-file "$TMP/trust-SLOW" --output "$TMP/lib-SLOW" --json >"$TMP/fetch-SLOW.json" \
    2>"$TMP/fetch-SLOW.err" || rc=$?
[ $rc -eq 0 ] && ok || bad "fetch through the slow link: exit $rc: $(tail -2 "$TMP/fetch-SLOW.err")"
grep -q '"complete":true' "$TMP/fetch-SLOW.json" && grep -q '"bundles":2,' "$TMP/fetch-SLOW.json" &&
    ok || bad "the fetch through the slow link did not get both bundles: $(head -c 300 "$TMP/fetch-SLOW.json")"
grep -q "EQUIVOCATION" "$TMP/fetch-SLOW.err" && ok ||
    bad "the fetch through the slow link warns of the equivocation: $(cat "$TMP/fetch-SLOW.err")"
grep -q "summary stopped" "$TMP/fetch-SLOW.err" &&
    bad "the reader took S's summary for ended while its second part came: $(cat "$TMP/fetch-SLOW.err")" || ok
stop_daemon slow
finish
