#!/usr/bin/env bash
# A store whose SQLite pages a failing disk damaged (its index of bundles, a
# page of bundle bytes, bytes inside a bundle) is rebuilt by `samizdatd
# --recover-store` from what can still be read: every bundle that verifies is
# kept, the sequence counters too, the damaged store is kept as a copy, and
# what was lost comes back from a peer. A swap cut short is finished at the
# next start.
# usage: recover_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# Daemons started without start_daemon keep the leak check (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)

bundle_id() { "$SZ" inspect "$1" | sed -n 's/^id: *//p'; }
listed() { szq list --socket "$TMP/x/control.sock"; }
# damage STORE BUNDLE...: in the stopped daemon's STORE, fills the page of
# table `bundles` (every bundle's metadata) with junk, fills the page that
# holds the first bytes of the first BUNDLE (its row of bundle bytes), and
# flips 8 bytes of the second BUNDLE where its last bytes are.
damage() {
    python3 - "$@" <<'PY'
import sqlite3, sys
store, whole, inside = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
db = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
(root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'bundles'").fetchone()
(psize,) = db.execute("PRAGMA page_size").fetchone()
db.close()
data = bytearray(open(store, "rb").read())
def page_of(chunk):
    at = data.find(chunk)
    if at < 0 or data.find(chunk, at + 1) >= 0:
        sys.exit("a bundle's bytes are not in the store file once")
    return at
lost = page_of(whole[:48]) // psize
flip = page_of(inside[-200:-168])
data[(root - 1) * psize:root * psize] = b"\x5a" * psize
data[lost * psize:(lost + 1) * psize] = b"\x5a" * psize
for i in range(flip + 8, flip + 16):
    data[i] ^= 0xFF
open(store, "r+b").write(data)
PY
}

"$SZ" keygen --secret-key "$TMP/p.sk" --public-key "$TMP/p.pk" --no-passphrase >/dev/null ||
    bad "keygen p"
"$SZ" keygen --secret-key "$TMP/q.sk" --public-key "$TMP/q.pk" --no-passphrase >/dev/null ||
    bad "keygen q"
echo "$(cat "$TMP/p.pk") The Gazette" >"$TMP/trust"
# 40 bundles of p of some 6 KB each: each row of bytes fills a page of its own.
for i in $(seq 1 40); do
    { printf -- '---\ntitle: Issue %s\nid: issue-%s\n---\n' "$i" "$i" &&
        head -c 6000 /dev/urandom | base64 -w 76; } >"$TMP/a$i.md"
    "$SZ" pack --secret-key "$TMP/p.sk" --level 1 --sequence "$i" --output "$TMP/b$i.bundle" \
        "$TMP/a$i.md" >/dev/null || bad "pack $i"
done
ID7=$(bundle_id "$TMP/b7.bundle")
ID20=$(bundle_id "$TMP/b20.bundle")

# X publishes 3 articles as q (sequences 1 to 3) and holds p's 40.
start_daemon x "${COMMON[@]}" --publisher-key "$TMP/q.sk" || bad "start x"
for i in 1 2 3; do
    printf -- '---\ntitle: Note %s\n---\nText %s.\n' "$i" "$i" >"$TMP/n$i.md"
    "$SZ" publish --socket "$TMP/x/control.sock" "$TMP/n$i.md" >/dev/null || bad "publish $i"
done
"$SZ" import --socket "$TMP/x/control.sock" "$TMP"/b*.bundle >/dev/null || bad "import at x"
[ "$(listed | wc -l)" = 43 ] && ok || bad "x holds $(listed | wc -l) bundles, not 43"
stop_daemon x || bad "stop x"
check "damage x's store" damage "$TMP/x/store.sqlite" "$TMP/b20.bundle" "$TMP/b7.bundle"
cp "$TMP/x/store.sqlite" "$TMP/damaged.sqlite"

# 1. The daemon runs on it, but cannot list; the error says what to run.
start_daemon x "${COMMON[@]}" --publisher-key "$TMP/q.sk" || bad "start x on the damaged store"
expect_status "list on the damaged store" 6 szq list --socket "$TMP/x/control.sock"
expect_stderr "the list's error names the recovery" "malformed.*samizdatd --recover-store"
szq status --socket "$TMP/x/control.sock" >"$TMP/status.out" 2>&1
grep -q "WARNING: .* SQLite found the store's file damaged .*samizdatd --recover-store" \
    "$TMP/status.out" && ok || bad "status says nothing of the damage: $(cat "$TMP/status.out")"
szq status --json --socket "$TMP/x/control.sock" |
    python3 -c 'import json,sys; d=json.load(sys.stdin)["store_damaged"]; sys.exit(d is None)' &&
    ok || bad "status --json: store_damaged is null on a damaged store"
# 2. Not while it runs: refused, nothing changed.
expect_status "recovery while samizdatd runs" 1 "$SZD" --data-dir "$TMP/x" --recover-store
expect_stderr "the refusal says why" "in use by another samizdatd"
ls "$TMP"/x/store-damaged-* >/dev/null 2>&1 && bad "a refused recovery left a copy" || ok
stop_daemon x || bad "stop x"

# 3. Stopped, the store is rebuilt: p's 7 (its bytes changed) and 20 (its page
# is gone) are lost, the 41 others kept, and the damaged store kept aside.
"$SZD" --data-dir "$TMP/x" --recover-store >"$TMP/recover.out" 2>&1 && ok ||
    bad "recovery failed: $(cat "$TMP/recover.out")"
grep -Eq "bundles kept: +41 of the 43" "$TMP/recover.out" && ok ||
    bad "recovery did not say 41 of 43 kept: $(cat "$TMP/recover.out")"
grep -Eq "bundles damaged: +1 " "$TMP/recover.out" && ok || bad "recovery did not count bundle 7"
grep -Eq "sequence counters kept: +1$" "$TMP/recover.out" && ok || bad "recovery lost q's counter"
copy=$(ls "$TMP"/x/store-damaged-*.sqlite 2>/dev/null | head -1)
[ -n "$copy" ] && cmp -s "$copy" "$TMP/damaged.sqlite" && ok ||
    bad "the damaged store was not kept as it was: '$copy'"
[ -n "$copy" ] && [ "$(stat -c %a "$copy")" = 600 ] && ok || bad "the copy is not mode 600"
ls "$TMP"/x/store-recover* >/dev/null 2>&1 && bad "recovery left its working files" || ok

# 4. The daemon runs on the new store: 41 bundles, neither lost one, a reader
# gets p's 38 verified, and q's next bundle is sequence 4 (none reused).
start_daemon x "${COMMON[@]}" --publisher-key "$TMP/q.sk" || bad "start x on the rebuilt store"
[ "$(listed | wc -l)" = 41 ] && ok || bad "x lists $(listed | wc -l) bundles, not 41"
listed | grep -q -e "$ID7" -e "$ID20" && bad "x lists a lost bundle" || ok
szq status --json --socket "$TMP/x/control.sock" |
    python3 -c 'import json,sys; d=json.load(sys.stdin)["store_damaged"]; sys.exit(d is not None)' &&
    ok || bad "status --json: store_damaged is not null on the rebuilt store"
"$SZ" fetch --peer "127.0.0.1:$(peer_port x)" --trust-file "$TMP/trust" --output "$TMP/lib" \
    >/dev/null 2>"$TMP/fetch.err"
n=$(ls -d "$TMP"/lib/*/issue-*/ 2>/dev/null | wc -l)
[ "$n" = 38 ] && ok || bad "the reader got $n of p's articles, not 38: $(head -c 300 "$TMP/fetch.err")"
printf -- '---\ntitle: Note 4\n---\nText 4.\n' >"$TMP/n4.md"
check "publish after recovery" "$SZ" publish --socket "$TMP/x/control.sock" "$TMP/n4.md"
szq list --socket "$TMP/x/control.sock" --publisher "$(cat "$TMP/q.pk")" |
    awk '{print $3}' | sort -n | tr '\n' ' ' >"$TMP/qseq"
[ "$(cat "$TMP/qseq")" = "1 2 3 4 " ] && ok || bad "q's sequences are '$(cat "$TMP/qseq")', not 1 2 3 4"

# 5. Linked to a relay that holds p's 40, x fetches the two lost again.
start_daemon z "${COMMON[@]}" || bad "start z"
"$SZ" import --socket "$TMP/z/control.sock" "$TMP"/b*.bundle >/dev/null || bad "import at z"
stop_daemon x || bad "stop x"
start_daemon x "${COMMON[@]}" --publisher-key "$TMP/q.sk" --peer "127.0.0.1:$(peer_port z)" ||
    bad "restart x with a peer"
wait_bundles x 44 20 && ok || bad "x did not fetch the two lost bundles again from z"
stop_daemon x || bad "stop x"
stop_daemon z || bad "stop z"

# 6. A swap cut short (the new store complete, the old one and its WAL still
# in place) is finished by the next start.
cp "$TMP/x/store.sqlite" "$TMP/x/store-recovered.sqlite"
cp "$TMP/damaged.sqlite" "$TMP/x/store.sqlite"
head -c 8192 /dev/urandom >"$TMP/x/store.sqlite-wal"
start_daemon x "${COMMON[@]}" --publisher-key "$TMP/q.sk" || bad "start x after a swap cut short"
[ "$(listed | wc -l)" = 44 ] && ok || bad "after the swap x lists $(listed | wc -l), not 44"
[ ! -e "$TMP/x/store-recovered.sqlite" ] && ok || bad "the recovered store was left beside"
stop_daemon x || bad "stop x"

# 7. A damaged page above the rows of bundle bytes (its B-tree's root) hides
# every row from SQLite's searches: the file's pages are read one by one
# instead. Y holds 16 bundles of p of some 76 KB each (each over many
# overflow pages) under a quota that evicted the oldest; the evicted ones do
# not come back (their pages are freed, their ids remembered; Debian's
# SQLite also zeroes freed pages).
for i in $(seq 101 116); do
    { printf -- '---\ntitle: Issue %s\nid: issue-%s\n---\n' "$i" "$i" &&
        head -c 75000 /dev/urandom | base64 -w 76; } >"$TMP/a$i.md"
    "$SZ" pack --secret-key "$TMP/p.sk" --level 1 --sequence "$i" --output "$TMP/big$i.bundle" \
        "$TMP/a$i.md" >/dev/null || bad "pack $i"
done
# All 16 stored, then a restart under the quota evicts the oldest: the pages
# they leave free still hold them.
start_daemon y "${COMMON[@]}" || bad "start y"
"$SZ" import --socket "$TMP/y/control.sock" "$TMP"/big*.bundle >/dev/null || bad "import at y"
stop_daemon y || bad "stop y"
start_daemon y "${COMMON[@]}" --max-bytes 1M || bad "start y under a quota"
for i in $(seq 1 100); do
    [ "$(count_bundles y)" -lt 16 ] && break
    nap 0.1
done
szq list --socket "$TMP/y/control.sock" | awk '{print $1}' | sort >"$TMP/y.held"
held=$(wc -l <"$TMP/y.held")
[ "$held" -gt 8 ] && [ "$held" -lt 16 ] && ok || bad "y holds $held bundles, not 9 to 15"
stop_daemon y || bad "stop y"
cp "$TMP/y/store.sqlite" "$TMP/y.sqlite"
python3 - "$TMP/y/store.sqlite" <<'PY' || bad "damage y's store"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
(root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'bundle_bytes'").fetchone()
(psize,) = db.execute("PRAGMA page_size").fetchone()
(kind,) = db.execute("SELECT pagetype FROM dbstat WHERE pageno = ?", (root,)).fetchone()
db.close()
if kind != "internal":
    sys.exit("the root of bundle_bytes is a %s page" % kind)
with open(sys.argv[1], "r+b") as f:
    f.seek((root - 1) * psize)
    f.write(b"\x5a" * psize)
PY
"$SZD" --data-dir "$TMP/y" --recover-store >"$TMP/recover-y.out" 2>&1 && ok ||
    bad "recovery of y failed: $(cat "$TMP/recover-y.out")"
grep -Eq "bundles kept: +$held of the $held " "$TMP/recover-y.out" && ok ||
    bad "y's recovery did not keep its $held: $(cat "$TMP/recover-y.out")"
grep -Eq "found page by page: +$held " "$TMP/recover-y.out" && ok ||
    bad "y's recovery did not find them page by page"
start_daemon y "${COMMON[@]}" --max-bytes 1M || bad "start y on its rebuilt store"
szq list --socket "$TMP/y/control.sock" | awk '{print $1}' | sort >"$TMP/y.after"
cmp -s "$TMP/y.held" "$TMP/y.after" && ok ||
    bad "y holds other bundles after recovery: $(diff "$TMP/y.held" "$TMP/y.after" | head -5)"
stop_daemon y || bad "stop y"

# 8. Its first page damaged too (SQLite cannot open it at all): the pages
# still give every bundle it held; the tables it cannot read are named.
rm -f "$TMP"/y/store*
cp "$TMP/y.sqlite" "$TMP/y/store.sqlite"
python3 - "$TMP/y/store.sqlite" <<'PY' || bad "damage y's store again"
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(b"\x5a" * 4096)
PY
"$SZD" --data-dir "$TMP/y" --recover-store >"$TMP/recover-y.out" 2>&1 && ok ||
    bad "recovery of y without its first page failed: $(cat "$TMP/recover-y.out")"
grep -q "could not be read whole: the publishing sequence counters" "$TMP/recover-y.out" && ok ||
    bad "y's recovery does not say the counters were lost"
start_daemon y "${COMMON[@]}" --max-bytes 1M || bad "start y on its second rebuilt store"
szq list --socket "$TMP/y/control.sock" | awk '{print $1}' | sort >"$TMP/y.after"
[ -z "$(comm -23 "$TMP/y.held" "$TMP/y.after")" ] && ok ||
    bad "y lost bundles it held: $(comm -23 "$TMP/y.held" "$TMP/y.after" | head -3)"
stop_daemon y || bad "stop y"

# 9. Nothing to recover: said, status 1.
mkdir -m 700 "$TMP/empty"
expect_status "recovery of a folder without a store" 1 "$SZD" --data-dir "$TMP/empty" --recover-store
expect_stderr "it says there is no store" "there is no store"
expect_status "recovery of a missing folder" 1 "$SZD" --data-dir "$TMP/none" --recover-store
expect_stderr "it says there is no data folder" "there is no data folder"
[ ! -e "$TMP/none" ] && ok || bad "recovery created the missing data folder"
finish
