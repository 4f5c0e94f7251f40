#!/usr/bin/env bash
# samizdat fetch keeps what came of a large bundle when its link is lost, and
# a later fetch asks only for the rest (REQUEST_PART, PROTOCOL.md 4.1.1): a
# reader on a poor connection does not download an 8 MiB bundle again for
# every cut. The link is cut by a stand-in SOCKS5 proxy (tests/daemon/socks5.py
# cut:N) after N bytes from the relay.
# usage: resume_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PROXIES=()
trap 'kill "${PROXIES[@]}" 2>/dev/null; cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
MIB=$((1 << 20))

# down_bytes LABEL: bytes the proxy sent back on its last connection, once closed.
down_bytes() {
    for _ in $(seq 1 50); do
        grep -q "^CLOSED " "$TMP/proxy.$1.log" 2>/dev/null && break
        sleep 0.1
    done
    sed -n 's/^CLOSED .* down \([0-9]*\)$/\1/p' "$TMP/proxy.$1.log" | tail -1
}
part_files() { find "$1/.samizdat/partial" -name '*.part' 2>/dev/null; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# An article with an 8 MiB attachment that does not compress: one 8 MiB bundle.
"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Heavy Gazette" >"$TMP/trust"
mkdir -p "$TMP/in"
{
    printf '\x89PNG\r\n\x1a\n'
    head -c $((8 * MIB)) /dev/urandom
} >"$TMP/in/big.png"
printf -- '---\ntitle: A large report\nid: large\nattachments: [big.png]\n---\nSee the scan.\n' \
    >"$TMP/in/large.md"
start_daemon pub --expiry-days 0 --batch-window-ms 0 --level 1 --publisher-key "$TMP/pub.sk" ||
    bad "start pub"
PORT=$(peer_port pub)
"$SZ" publish --socket "$TMP/pub/control.sock" "$TMP/in/large.md" >/dev/null || bad "publish"
SIZE=$("$SZ" list --socket "$TMP/pub/control.sock" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["size"])')
[ "$SIZE" -gt $((8 * MIB)) ] && ok || bad "one bundle of over 8 MiB (got '$SIZE')"

# 1. The link is cut after 3 MiB: the fetch fails, and keeps what came.
start_proxy cut:$((3 * MIB)) cut
CUT_PROXY=$PROXY
expect_status "a fetch whose link is cut" 7 "$SZ" fetch --proxy "$PROXY" \
    --peer "127.0.0.1:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib" --connect-timeout 5
PART=$(part_files "$TMP/lib")
KEPT=$(stat -c %s "$PART" 2>/dev/null || echo 0)
[ -n "$PART" ] && [ "$KEPT" -gt $((2 * MIB)) ] && [ "$KEPT" -le $((3 * MIB)) ] && ok ||
    bad "the part that came is kept (file '$PART', $KEPT bytes)"
[ "$(stat -c %a "$PART" 2>/dev/null)" = 600 ] && ok || bad "the part is the reader's only (0600)"
ls "$TMP"/lib/*/large/index.html >/dev/null 2>&1 && bad "a part was unpacked" || ok
cp "$PART" "$TMP/saved.part"
ID=$(basename "$PART" .part)

# 2. The next fetch asks for the rest only, and the article is whole.
start_proxy ok ok
out=$("$SZ" fetch --proxy "$PROXY" --peer "127.0.0.1:$PORT" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "the second fetch (rc $rc: $(cat "$TMP/err"))"
[ "$(json_field "$out" resumed)" = 1 ] && [ "$(json_field "$out" resumed_bytes)" = "$KEPT" ] && ok ||
    bad "--json: 1 bundle resumed from $KEPT bytes ($out)"
DOWN=$(down_bytes ok)
[ -n "$DOWN" ] && [ "$DOWN" -lt $((SIZE - KEPT + 256 * 1024)) ] && ok ||
    bad "only the rest came: $DOWN bytes through the proxy for $SIZE - $KEPT"
cmp -s "$TMP/in/big.png" "$(ls "$TMP"/lib/*/large/big.png 2>/dev/null | head -1)" && ok ||
    bad "the attachment is whole and byte-identical"
[ -z "$(part_files "$TMP/lib")" ] && ok || bad "the part is deleted once the bundle is in"

# 3. A kept part damaged on disk: the finished bundle fails its check, the
# reader says so and fetches it all again, without blaming the peer.
expect_status "a second cut fetch" 7 "$SZ" fetch --proxy "$CUT_PROXY" --peer "127.0.0.1:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib2" --connect-timeout 5
PART=$(part_files "$TMP/lib2")
[ -n "$PART" ] && ok || bad "a part kept in lib2"
printf 'damaged!' | dd of="$PART" bs=1 seek=$MIB conv=notrunc 2>/dev/null
out=$("$SZ" fetch --proxy "$PROXY" --peer "127.0.0.1:$PORT" --trust-file "$TMP/trust" \
    --output "$TMP/lib2" --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "the fetch after a damaged part (rc $rc: $(cat "$TMP/err"))"
grep -q "does not check out" "$TMP/err" && ok || bad "the damaged part is said: $(cat "$TMP/err")"
[ "$(json_field "$out" bundles)" = 1 ] && [ "$(json_field "$out" resumed)" = 0 ] &&
    [ "$(json_field "$out" peers_failed)" = 0 ] && ok ||
    bad "--json: the bundle fetched whole, the peer not blamed ($out)"
cmp -s "$TMP/in/big.png" "$(ls "$TMP"/lib2/*/large/big.png 2>/dev/null | head -1)" && ok ||
    bad "the attachment is whole after the damaged part"
[ -z "$(part_files "$TMP/lib2")" ] && ok || bad "the damaged part is deleted"

# 4. The answer stalls (a censor throttling to nothing once the link is up): the
# fetch names the stall and ends, and the part stays kept.
expect_status "a third cut fetch" 7 "$SZ" fetch --proxy "$CUT_PROXY" --peer "127.0.0.1:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib3" --connect-timeout 5
PART=$(part_files "$TMP/lib3")
KEPT=$(stat -c %s "$PART" 2>/dev/null || echo 0)
start_proxy stall:4096 stall
T0=$(date +%s)
expect_status "a fetch whose rest stalls" 7 timeout 120 "$SZ" fetch --proxy "$PROXY" \
    --peer "127.0.0.1:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib3" --connect-timeout 5
T1=$(date +%s)
expect_stderr "the stall named" "peer 127.0.0.1:$PORT: stalled"
[ $((T1 - T0)) -le 45 ] && ok || bad "the stalled fetch ended within 45 s (took $((T1 - T0)) s)"
STILL=$(stat -c %s "$(part_files "$TMP/lib3")" 2>/dev/null || echo 0)
[ "$STILL" = "$KEPT" ] && ok || bad "the part is still kept ($KEPT -> $STILL bytes)"

# 5. What a fetch finds in the partial folder at its start: a part older than 30
# days, a write a crash cut short, a part under another bundle's name and one
# that is not a bundle are deleted, not used.
mkdir -p "$TMP/lib4/.samizdat/partial"
P4=$TMP/lib4/.samizdat/partial
cp "$TMP/saved.part" "$P4/$ID.part"
touch -d '40 days ago' "$P4/$ID.part"
cp "$TMP/saved.part" "$P4/$ID.tmp"
cp "$TMP/saved.part" "$P4/$(printf 'a%.0s' $(seq 1 64)).part"
head -c 5000 /dev/urandom >"$P4/$(printf 'b%.0s' $(seq 1 64)).part"
out=$("$SZ" fetch --peer "127.0.0.1:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4" \
    --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && [ "$(json_field "$out" resumed)" = 0 ] && ok ||
    bad "a fetch over stale parts: whole, none resumed (rc $rc: $out $(cat "$TMP/err"))"
[ -z "$(ls -A "$P4")" ] && ok || bad "the stale parts are deleted: $(ls "$P4")"
finish
