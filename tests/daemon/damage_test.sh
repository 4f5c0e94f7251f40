#!/usr/bin/env bash
# A bundle that the disk damaged in the store (SQLite keeps no checksum of its
# pages) is never sent or exported as it is: a peer would take it as forged
# and ban the relay, and an export would hand a reader a bundle that does not
# verify. The daemon checks each bundle against its id before it goes out
# (one sent in pieces by a read of its own first), removes a damaged one,
# says so (log, status, the export's error) and fetches it again from a peer
# that holds it.
# usage: damage_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)

json_field() { # json_field NAME FIELD: a top-level member of the daemon's status
    szq status --json --socket "$TMP/$1/control.sock" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
bundle_id() { "$SZ" inspect "$1" | sed -n 's/^id: *//p'; }
# damage NAME BUNDLE: flips bytes of BUNDLE's payload where the stopped
# daemon NAME's store file holds them (found by a 32-byte window of the file).
damage() {
    python3 - "$TMP/$1/store.sqlite" "$2" <<'EOF'
import sys
store, bundle = sys.argv[1], open(sys.argv[2], "rb").read()
data = bytearray(open(store, "rb").read())
for off in range(len(bundle) // 2, len(bundle) - 32, 997):
    at = data.find(bundle[off:off + 32])
    if at >= 0 and data.find(bundle[off:off + 32], at + 1) < 0:
        for i in range(at + 8, at + 16):
            data[i] ^= 0xFF
        open(store, "r+b").write(data)
        sys.exit(0)
sys.exit("the bundle's bytes are not in the store file")
EOF
}

"$SZ" keygen --secret-key "$TMP/p.sk" --public-key "$TMP/p.pk" --no-passphrase >/dev/null ||
    bad "keygen"
echo "$(cat "$TMP/p.pk") The Gazette" >"$TMP/trust"
for i in 1 2 3; do
    { printf -- '---\ntitle: Issue %s\nid: issue-%s\n---\n' "$i" "$i" &&
        head -c 30000 /dev/urandom | base64 -w 76; } >"$TMP/a$i.md"
    "$SZ" pack --secret-key "$TMP/p.sk" --level 1 --sequence "$i" --output "$TMP/b$i.bundle" \
        "$TMP/a$i.md" >/dev/null || bad "pack $i"
done
# Bundle 4 (6 MiB) is larger than what a link queues at once: it goes to a
# peer in pieces, and is checked by a read of its own before the first.
{ printf -- '---\ntitle: Issue 4\nid: issue-4\n---\n' && head -c 6000000 /dev/urandom | base64 -w 76; } \
    >"$TMP/a4.md"
"$SZ" pack --secret-key "$TMP/p.sk" --level 1 --sequence 4 --output "$TMP/b4.bundle" \
    "$TMP/a4.md" >/dev/null || bad "pack 4"
[ "$(stat -c %s "$TMP/b4.bundle")" -gt $((5 << 20)) ] && ok || bad "bundle 4 is not above 5 MiB"
ID2=$(bundle_id "$TMP/b2.bundle")
ID3=$(bundle_id "$TMP/b3.bundle")
ID4=$(bundle_id "$TMP/b4.bundle")

# X holds the three; stopped, its copies of 2 and 3 are damaged on disk.
start_daemon x "${COMMON[@]}" || bad "start x"
"$SZ" import --socket "$TMP/x/control.sock" "$TMP"/b[1234].bundle >/dev/null || bad "import at x"
stop_daemon x || bad "stop x"
check "damage bundle 2 in x's store" damage x "$TMP/b2.bundle"
check "damage bundle 3 in x's store" damage x "$TMP/b3.bundle"
check "damage bundle 4 in x's store" damage x "$TMP/b4.bundle"
start_daemon x "${COMMON[@]}" || bad "restart x"

# 1. Its export fails and says why; the bundle is gone from the list, counted.
expect_status "export of the damaged bundle" 6 "$SZ" export --socket "$TMP/x/control.sock" "$ID2" \
    --output "$TMP/out2.bundle"
expect_stderr "the export says the bundle was damaged" "bundle $ID2 was damaged on this daemon's disk"
[ ! -e "$TMP/out2.bundle" ] && ok || bad "a damaged bundle was written by export"
szq list --socket "$TMP/x/control.sock" | grep -q "$ID2" && bad "x still lists bundle 2" || ok
[ "$(json_field x damaged_removed)" = 1 ] && ok || bad "status: damaged_removed is not 1"
szq status --socket "$TMP/x/control.sock" | grep -q "WARNING: 1 bundle was read back from the store damaged" &&
    ok || bad "status says nothing of the damaged bundle"
grep -q "store: bundle $ID2 was damaged on disk" "$TMP/x.log" && ok || bad "x's log does not name it"

# 2. A reader fetching from x gets bundle 1 and never the damaged 3 (before,
# x sent it as it was, and the reader refused x as a forger).
"$SZ" fetch --peer "127.0.0.1:$(peer_port x)" --trust-file "$TMP/trust" --output "$TMP/lib" \
    >/dev/null 2>"$TMP/fetch.err"
ls "$TMP"/lib/*/issue-1/index.html >/dev/null 2>&1 && ok || bad "the reader got bundle 1: $(cat "$TMP/fetch.err")"
grep -q "fails verification" "$TMP/fetch.err" &&
    bad "x sent the reader a damaged bundle: $(cat "$TMP/fetch.err")" || ok
ls "$TMP"/lib/*/issue-3 >/dev/null 2>&1 && bad "the reader holds issue 3 from a damaged bundle" || ok
ls "$TMP"/lib/*/issue-4 >/dev/null 2>&1 && bad "the reader holds issue 4 from a damaged bundle" || ok
[ "$(json_field x damaged_removed)" = 3 ] && ok || bad "status: damaged_removed is not 3 after the fetch"
grep -q "store: bundle $ID3 was damaged on disk" "$TMP/x.log" && ok || bad "x's log does not name bundle 3"
grep -q "store: bundle $ID4 was damaged on disk" "$TMP/x.log" && ok || bad "x's log does not name bundle 4"

# 3. Linked to a relay that holds them, x fetches both again, whole.
start_daemon z "${COMMON[@]}" || bad "start z"
"$SZ" import --socket "$TMP/z/control.sock" "$TMP"/b[1234].bundle >/dev/null || bad "import at z"
stop_daemon x || bad "stop x"
start_daemon x "${COMMON[@]}" --peer "127.0.0.1:$(peer_port z)" || bad "restart x with a peer"
wait_bundles x 4 20 && ok || bad "x did not fetch the three removed bundles again from z"
check "export of bundle 2 once fetched again" "$SZ" export --socket "$TMP/x/control.sock" "$ID2" \
    --output "$TMP/again2.bundle"
cmp -s "$TMP/b2.bundle" "$TMP/again2.bundle" && ok || bad "bundle 2 fetched again is not the original"
for n in x z; do stop_daemon $n || bad "stop $n"; done
finish
