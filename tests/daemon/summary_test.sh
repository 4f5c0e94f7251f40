#!/usr/bin/env bash
# A relay holding more publishers than two SUMMARY messages carry (1024
# each): a reader (samizdat fetch, which does not follow announcements) still
# gets the bundles of a publisher whose key sorts after the first 2048,
# because the relay sends a fetch client its SUMMARY in parts (PROTOCOL.md
# 4.3), one after the other as the link has room for them.
# usage: summary_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT

N=2100
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
# The publishers whose keys sort first and last: the last is past the first part.
LAST=$(sort "$TMP/keys" | tail -1)
FIRST=$(sort "$TMP/keys" | head -1)
for which in FIRST LAST; do
    line=${!which}
    hex=${line%% *}
    n=${line#* }
    "$GEN" gen --corpus "$TMP/corpus" --out "$TMP/k$which" --bundles 1 --articles 1 --level 1 \
        --seed "$n" >/dev/null
    echo "$(cat "$TMP/k$which/pub.pk") Publisher $which" >"$TMP/trust-$which"
    rc=0
    timeout 60 "$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-$which" \
        --output "$TMP/lib-$which" --json >"$TMP/fetch-$which.json" 2>"$TMP/fetch-$which.err" ||
        rc=$?
    [ $rc -eq 0 ] && ok || bad "fetch of the publisher sorting $which: exit $rc: $(tail -2 "$TMP/fetch-$which.err")"
    n_pages=$(find "$TMP/lib-$which/$hex" -mindepth 2 -name index.html 2>/dev/null | wc -l)
    [ "$n_pages" -ge 1 ] && ok ||
        bad "the publisher sorting $which (key $hex) was not fetched: $(head -c 300 "$TMP/fetch-$which.json")"
done
stop_daemon relay
finish
