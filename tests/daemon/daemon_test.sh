#!/usr/bin/env bash
# Integration tests of samizdatd with real processes in temporary folders:
# publish, list, export, verify/unpack, import of every test vector, restart
# with the sequence continuing, the data-folder lock, bad control input and
# bad configuration.
# usage: daemon_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# The client keeps its leak check under AddressSanitizer (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; umount "$TMP/small" 2>/dev/null; rm -rf "$TMP"' EXIT
EX=$SRC/examples/articles
VEC=$SRC/tests/vectors
ARTICLES=()
for f in "$EX"/*.md "$EX"/*.html "$EX"/*.txt; do
    [ "$(basename "$f")" = README.md ] || ARTICLES+=("$f")
done
SOCK=$TMP/pub/control.sock

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
check "daemon --help lists options" bash -c "'$SZD' --help | grep -q -- '--publisher-key'"
check "daemon starts" start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 0 \
    --expiry-days 0
[ "$(stat -c %a "$SOCK")" = 600 ] && ok || bad "control socket mode 0600"
# Listening on port 0 (any), the ready line names the port it got, not 0.
grep -q "ready: .* listen 127.0.0.1:$(peer_port pub)\$" "$TMP/pub.log" && [ -n "$(peer_port pub)" ] &&
    ok || bad "the ready line does not name the port: $(grep ready: "$TMP/pub.log")"

# --- publish, list, export, verify, unpack
ID=$("$SZ" publish --socket "$SOCK" "${ARTICLES[@]}")
[[ $ID =~ ^[0-9a-f]{64}$ ]] && ok || bad "publish prints the bundle id ($ID)"
"$SZ" list --socket "$SOCK" | grep -q "^$ID " && ok || bad "list shows the published bundle"
"$SZ" list --socket "$SOCK" --json | grep -q "\"id\":\"$ID\"" && ok || bad "list --json"
"$SZ" list --socket "$SOCK" --publisher "$TMP/pub.pk" --since-sequence 1 | grep -q "$ID" && ok ||
    bad "list --publisher --since-sequence"
check "export" "$SZ" export --socket "$SOCK" "$ID" --output "$TMP/exported.bundle"
check "exported bundle verifies" "$SZ" verify --trust "$TMP/pub.pk" "$TMP/exported.bundle"
"$SZ" unpack --trust "$TMP/pub.pk" --output "$TMP/lib" "$TMP/exported.bundle" >/dev/null &&
    grep -q "Рынок труда" "$TMP/lib/index.html" && ok || bad "exported bundle unpacks"
"$SZ" status --socket "$SOCK" | grep -q "publisher key: $(cat "$TMP/pub.pk")" && ok ||
    bad "status shows the publisher key"
"$SZ" status --socket "$SOCK" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["bundles"] == 1 and s["publishers"][0]["bundles"] == 1, s
' && ok || bad "status --json parses and counts one bundle"
st=$("$SZ" status --socket "$SOCK")
# The default quotas, 1 GiB and 256 MiB, in the units a person reads.
grep -Eq "^stored: 1 bundle, [0-9.]+ (bytes?|KiB|MiB) \(quota 1\.0 GiB, 256\.0 MiB per publisher\)$" <<<"$st" &&
    grep -Eq "^  $(cat "$TMP/pub.pk")  1 bundle, [0-9.]+ (bytes?|KiB|MiB|GiB|TiB), newest sequence 1$" <<<"$st" &&
    ok || bad "status says '1 bundle', not '1 bundles': $st"
# Where peers reach it (a port that takes a connection) and the free disk
# space where the data folder is, as df sees it (other writers may move it a little).
"$SZ" status --socket "$SOCK" --json | python3 -c '
import json, socket, sys
s = json.load(sys.stdin)
host, port = s["listen"].rsplit(":", 1)
socket.create_connection((host, int(port)), timeout=5).close()
df = int(sys.argv[1])
assert abs(s["disk_free_bytes"] - df) <= max(df // 10, 64 << 20), (s["disk_free_bytes"], df)
' "$(df --output=avail -B1 "$TMP/pub" | tail -1)" && ok ||
    bad "status --json: no listen address that takes a connection, or disk_free_bytes unlike df's"
grep -q "^listening for peers on 127.0.0.1:$(peer_port pub)$" <<<"$st" &&
    grep -Eq "^disk: [0-9.]+ (bytes?|KiB|MiB|GiB|TiB) free where the data folder is$" <<<"$st" && ok ||
    bad "status does not say where it listens and the free disk space: $st"
# An invalid article is refused with its reason; nothing is published.
printf -- '---\ntitle: t\n---\n' >"$TMP/empty.md"
expect_status "publish of an invalid article" 3 "$SZ" publish --socket "$SOCK" "$TMP/empty.md"
expect_stderr "invalid article reason" "empty.md: the article has no body"
[ "$("$SZ" list --socket "$SOCK" | wc -l)" -eq 1 ] && ok || bad "nothing published by a refused article"
# Exporting an unknown id is a clear error.
expect_status "export of an unknown id" 6 "$SZ" export --socket "$SOCK" \
    0000000000000000000000000000000000000000000000000000000000000000 --output "$TMP/x"
expect_stderr "unknown id message" "no bundle"

# --- import: valid vectors stored, invalid ones refused with their reasons
if [ -f "$VEC/expected.tsv" ]; then
    while IFS=$'\t' read -r file expect _rest; do
        case "$file" in "" | \#* | file) continue ;; esac
        out=$("$SZ" import --socket "$SOCK" "$VEC/$file" 2>&1)
        rc=$?
        if [ "$expect" = ok ]; then
            [ $rc -eq 0 ] && grep -Eq "^(stored|present) " <<<"$out" && ok ||
                bad "import of $file: $out"
        elif [[ $file == *other-key* ]]; then
            # Validly signed by another key: a relay with carry = any stores it.
            [ $rc -eq 0 ] && ok || bad "import of $file (other key, carry any): $out"
        else
            [ $rc -eq 1 ] && grep -Eq "^refused ([0-9a-f]{64} .*: refused: .+|- .*: not a bundle this daemon can read \(refused: .+\))" <<<"$out" && ok ||
                bad "import of $file refused with a reason: $out"
        fi
    done <"$VEC/expected.tsv"
else
    bad "tests/vectors/expected.tsv is missing"
fi
out=$("$SZ" import --socket "$SOCK" "$TMP/exported.bundle")
grep -q "^present $ID" <<<"$out" && ok || bad "importing a held bundle says present: $out"

# --- the data folder lock: a second daemon on the same folder refuses
"$SZD" --data-dir "$TMP/pub" --socket "$TMP/other.sock" --listen 127.0.0.1:0 >"$TMP/second.log" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "in use" "$TMP/second.log" && ok ||
    bad "second daemon on one data folder refused (rc $rc: $(cat "$TMP/second.log"))"
# A data folder that cannot be made: named whole, with what to do.
: >"$TMP/afile"
rc=0
timeout 20 "$SZD" --data-dir "$TMP/afile/data" --listen 127.0.0.1:0 >"$TMP/nodir.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "cannot create the data folder $TMP/afile/data (at .*): .*--data-dir" \
    "$TMP/nodir.log" && ok || bad "a data folder that cannot be made (rc $rc): $(cat "$TMP/nodir.log")"

# --- bad control input: the daemon drops the client and keeps serving
python3 - "$SOCK" <<'PY' && ok || bad "bad control input"
import socket, struct, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(5)
    return s
# Garbage: a frame with an unknown version gets an error reply or a close.
s = conn(); s.sendall(struct.pack("<I", 5) + b"\x63garb"); r = s.recv(4096); s.close()
# Oversized announced length: refused before any allocation.
s = conn(); s.sendall(struct.pack("<I", 0xFFFFFFF0)); r = s.recv(4096); s.close()
# Half a request, then disconnect.
s = conn(); s.sendall(struct.pack("<I", 1000) + b"\x01\x01abc"); s.close()
# Random bytes.
import os
for _ in range(20):
    s = conn(); s.sendall(os.urandom(64)); s.close()
PY
"$SZ" status --socket "$SOCK" >/dev/null && ok || bad "daemon still serves after bad input"

# --- restart: everything is still there and the sequence continues
check "clean stop exits 0" stop_daemon pub
grep -q "stopped" "$TMP/pub.log" && ok || bad "daemon logs its stop"
[ ! -e "$SOCK" ] && ok || bad "socket removed on stop"
check "daemon restarts" start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 0
"$SZ" list --socket "$SOCK" | grep -q "^$ID " && ok || bad "bundle survives a restart"
ID2=$("$SZ" publish --socket "$SOCK" "${ARTICLES[0]}")
seqs=$("$SZ" list --socket "$SOCK" --publisher "$TMP/pub.pk" | awk '{print $3}' | tr '\n' ' ')
[ "$seqs" = "1 2 " ] && ok || bad "sequence continues after restart (got: $seqs)"
# Batching: two publishes within the window become one bundle.
stop_daemon pub
start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 1500 || bad "restart with window"
"$SZ" publish --socket "$SOCK" "${ARTICLES[1]}" >"$TMP/b1" &
p1=$!
nap 0.3
"$SZ" publish --socket "$SOCK" "${ARTICLES[2]}" >"$TMP/b2"
wait $p1
[ -s "$TMP/b1" ] && cmp -s "$TMP/b1" "$TMP/b2" && ok || bad "two publishes in one window share a bundle"
check "stop" stop_daemon pub

# Two articles that each fit a bundle but not together go out as two bundles.
python3 -c '
import random, sys
random.seed(int(sys.argv[2]))
words = [random.choice("abcdefghijklmnopqrstuvwxyz") * random.randint(1, 9) for _ in range(40)]
body = " ".join(random.choice(words) + str(random.randint(0, 99999)) for _ in range(3500))
open(sys.argv[1], "w").write("---\ntitle: Big %s\n---\n%s\n" % (sys.argv[2], body))
' "$TMP/big1.md" 1
python3 -c '
import random, sys
random.seed(int(sys.argv[2]))
body = " ".join(str(random.randint(0, 10**9)) for _ in range(3800))
open(sys.argv[1], "w").write("---\ntitle: Big %s\n---\n%s\n" % (sys.argv[2], body))
' "$TMP/big2.md" 2
start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 1500 --max-bundle-bytes 64K ||
    bad "restart with a small bundle cap"
"$SZ" publish --socket "$SOCK" "$TMP/big1.md" >"$TMP/big1.id" 2>"$TMP/big1.err" &
p1=$!
nap 0.3
"$SZ" publish --socket "$SOCK" "$TMP/big2.md" >"$TMP/big2.id" 2>"$TMP/big2.err"
r2=$?
wait $p1
r1=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && ! cmp -s "$TMP/big1.id" "$TMP/big2.id" && ok ||
    bad "articles too big to share a bundle get one each ($(cat "$TMP/big1.err" "$TMP/big2.err"))"
printf -- '---\ntitle: Wide\nid: wide\n---\n' >"$TMP/wide.md"
head -c 100000 /dev/zero | tr '\0' 'w' >>"$TMP/wide.md"
# One article above the cap by itself: what to change is the article or the cap.
expect_status "publish of one article above max_bundle_bytes" 6 "$SZ" publish --socket "$SOCK" \
    "$TMP/wide.md"
expect_stderr "what to change" "the article is larger \(10[0-9]* bytes\) than one bundle may hold here \(65536\): shorten it .*--max-bundle-bytes"
# A valid bundle above the cap is refused for its size, with what to change
# (not as a file the daemon cannot read); the log says the cap was lowered
# when a quota is below it.
"$SZ" pack --secret-key "$TMP/pub.sk" --output "$TMP/wide.bundle" "$TMP/wide.md" >/dev/null ||
    bad "pack a bundle of 100 KB of articles"
expect_status "import of a bundle above max_bundle_bytes" 1 "$SZ" import --socket "$SOCK" \
    "$TMP/wide.bundle"
"$SZ" import --socket "$SOCK" "$TMP/wide.bundle" 2>&1 | grep -q \
    "^refused [0-9a-f]\{64\} .*wide.bundle: refused: it holds 10[0-9]* bytes of articles, more than this daemon's max_bundle_bytes (65536): raise it" &&
    ok || bad "import of a bundle above max_bundle_bytes: $("$SZ" import --socket "$SOCK" "$TMP/wide.bundle" 2>&1)"
check "stop" stop_daemon pub
start_daemon pub --publisher-key "$TMP/pub.sk" --max-bytes 1M || bad "restart with a 1 MiB quota"
grep -q "max_bundle_bytes is 1048576 bytes here, not 67108864: no bundle can be larger than the quota" \
    "$TMP/pub.log" && ok || bad "the lowered max_bundle_bytes is not in the log"
check "stop" stop_daemon pub

# --- shutdown while a client leaves a large reply unread: the daemon waits 10 s
# for it, then closes the connection and exits (it used to wait for the client).
{ printf -- '---\ntitle: Big\nid: big-export\n---\n' && head -c 600000 /dev/urandom | base64; } \
    >"$TMP/big-export.md"
"$SZ" pack --secret-key "$TMP/pub.sk" --level 1 --sequence 1000 --output "$TMP/big-export.bundle" \
    "$TMP/big-export.md" >"$TMP/big-export.id" || bad "pack a 600 KB bundle"
start_daemon grace || bad "start grace"
"$SZ" import --socket "$TMP/grace/control.sock" "$TMP/big-export.bundle" >/dev/null ||
    bad "import the 600 KB bundle"
python3 -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
body = bytes([1, 5]) + bytes.fromhex(sys.argv[2])
s.sendall(struct.pack("<I", len(body)) + body)
print("sent", flush=True)
time.sleep(40)  # never reads the reply
' "$TMP/grace/control.sock" "$(head -c 64 "$TMP/big-export.id")" >"$TMP/lazy.out" 2>&1 &
LAZY=$!
for _ in $(seq 1 50); do grep -q sent "$TMP/lazy.out" && break; nap 0.1; done
nap 0.5
t0=$EPOCHREALTIME
stop_daemon grace
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
kill $LAZY 2>/dev/null
wait $LAZY 2>/dev/null
awk -v s="$secs" 'BEGIN { exit !(s >= 9 && s < 15) }' && ok ||
    bad "shutdown with an unread reply took $secs s (wanted 10 s grace, under 15 s)"
grep -q "ERROR" "$TMP/grace.log" && bad "shutdown with an unread reply: $(grep ERROR "$TMP/grace.log")" || ok

# --- bundle dates against the daemon's clock, and the node's own bundles under
# the total quota. Anyone can make keys and sign bundles dated 2100: they are
# refused on import, with both dates named. Other publishers' bundles dated as
# far ahead as is accepted (20 h) fill the 1M total quota: they evict one
# another, never the node's own bundle, and publishing still works.
for k in x1 x2; do
    "$SZ" keygen --secret-key "$TMP/$k.sk" --public-key "$TMP/$k.pk" --no-passphrase >/dev/null
done
# flood_bundle KEY SEQUENCE CREATED NAME: a bundle of about 225 KB (random
# base64 hardly compresses) at $TMP/NAME.bundle.
flood_bundle() {
    { printf -- '---\ntitle: Flood %s %s\nid: flood-%s\n---\n' "$1" "$2" "$2" &&
        head -c 220000 /dev/urandom | base64 -w 76; } >"$TMP/flood.md"
    "$SZ" pack --secret-key "$TMP/$1.sk" --level 1 --sequence "$2" --reuse-sequence --created "$3" \
        --output "$TMP/$4.bundle" "$TMP/flood.md" >/dev/null || bad "pack $4"
}
# The "soon" ones are dated 20 h ahead, a minute apart: x1's first, then x2's.
SOON=$(($(date +%s) + 20 * 3600))
n=0
for k in x1 x2; do
    for i in 1 2 3 4; do
        n=$((n + 1))
        flood_bundle $k $i 2100-01-01T00:00:00Z "$k-$i-2100"
        flood_bundle $k $((i + 10)) "$(date -u -d "@$((SOON + n * 60))" +%Y-%m-%dT%H:%M:%SZ)" \
            "$k-$i-soon"
    done
done
QSOCK=$TMP/quota/control.sock
check "start a publisher with 1M quotas" start_daemon quota --publisher-key "$TMP/pub.sk" \
    --batch-window-ms 0 --max-bytes 1M --publisher-max-bytes 1M
OWN=$("$SZ" publish --socket "$QSOCK" "${ARTICLES[0]}")
[[ $OWN =~ ^[0-9a-f]{64}$ ]] && ok || bad "publish at the quota daemon ($OWN)"
out=$("$SZ" import --socket "$QSOCK" "$TMP/x1-1-2100.bundle" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "^not-stored [0-9a-f]\{64\} .*x1-1-2100.bundle: not stored: it is dated \
2100-01-01T00:00:00Z, more than 24 hours ahead of this machine's clock (20[0-9-]*T[0-9:]*Z); \
check the clock of its publisher, and this machine's" <<<"$out" && ok ||
    bad "import of a bundle dated 2100 refused, naming both dates (rc $rc): $out"
"$SZ" import --socket "$QSOCK" "$TMP"/x1-[234]-2100.bundle "$TMP"/x2-?-2100.bundle >"$TMP/imp" 2>&1
rc=$?
[ $rc -eq 1 ] && [ "$(grep -c "^not-stored .*: not stored: it is dated 2100" "$TMP/imp")" -eq 7 ] &&
    ok || bad "every bundle dated 2100 refused (rc $rc): $(cat "$TMP/imp")"
[ "$(count_bundles quota)" -eq 1 ] && ok || bad "bundles dated 2100 stored: $("$SZ" list --socket "$QSOCK")"
"$SZ" status --socket "$QSOCK" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["refused_future"] == 8, s
' && ok || bad "status --json counts 8 bundles refused as dated ahead"
"$SZ" status --socket "$QSOCK" | grep -q "bundles refused as dated more than 24 hours ahead of this clock: 8$" &&
    ok || bad "status counts bundles refused as dated ahead: $("$SZ" status --socket "$QSOCK")"
for k in x1 x2; do
    for i in 1 2 3 4; do
        "$SZ" import --socket "$QSOCK" "$TMP/$k-$i-soon.bundle" >>"$TMP/imp-soon" 2>&1 ||
            bad "import of $k-$i-soon: $(tail -1 "$TMP/imp-soon")"
    done
done
"$SZ" list --socket "$QSOCK" >"$TMP/quota.list"
grep -q "^$OWN " "$TMP/quota.list" && ok ||
    bad "the node's own bundle survives other publishers' bundles filling the total quota: $(cat "$TMP/quota.list")"
[ "$("$SZ" list --socket "$QSOCK" --publisher "$TMP/x1.pk" | wc -l)" -eq 0 ] &&
    [ "$("$SZ" list --socket "$QSOCK" --publisher "$TMP/x2.pk" | wc -l)" -eq 4 ] && ok ||
    bad "other publishers' bundles evict one another, oldest first: $(cat "$TMP/quota.list")"
ID3=$("$SZ" publish --socket "$QSOCK" "${ARTICLES[1]}" 2>"$TMP/pub3.err")
rc=$?
[ $rc -eq 0 ] && [ "$("$SZ" list --socket "$QSOCK" --publisher "$TMP/pub.pk" | wc -l)" -eq 2 ] &&
    ok || bad "publishing with the total quota full of others' bundles (rc $rc): $(cat "$TMP/pub3.err")"
"$SZ" list --socket "$QSOCK" | grep -q "^$ID3 " && ok || bad "the new own bundle is held"
check "stop" stop_daemon quota

# --- a publishing node's store moved aside (as the damaged-store advice says):
# the next sequence still follows the last one signed, never 1 again.
check "start seqpub" start_daemon seqpub --publisher-key "$TMP/pub.sk" --batch-window-ms 0
"$SZ" publish --socket "$TMP/seqpub/control.sock" "${ARTICLES[0]}" >/dev/null
"$SZ" publish --socket "$TMP/seqpub/control.sock" "${ARTICLES[1]}" >/dev/null
before=$("$SZ" list --socket "$TMP/seqpub/control.sock" | awk '{print $3}' | sort -n | tail -1)
check "stop seqpub" stop_daemon seqpub
mkdir "$TMP/moved" && mv "$TMP"/seqpub/store.sqlite* "$TMP/moved/"
check "restart seqpub with an empty store" start_daemon seqpub --publisher-key "$TMP/pub.sk" \
    --batch-window-ms 0
"$SZ" publish --socket "$TMP/seqpub/control.sock" "${ARTICLES[2]}" >/dev/null
after=$("$SZ" list --socket "$TMP/seqpub/control.sock" | awk '{print $3}')
[ -n "$before" ] && [ "$after" = $((before + 1)) ] && ok ||
    bad "sequence after the store was moved aside: $after, wanted $((before + 1))"
[ "$(stat -c %a "$TMP/seqpub/publisher.seq")" = 600 ] && ok || bad "publisher.seq mode"
# The same key used by hand with `samizdat pack` (its SK.seq) and by the node:
# neither ever signs a number the other used.
"$SZ" pack --secret-key "$TMP/pub.sk" --level 1 --output "$TMP/byhand.bundle" "${ARTICLES[0]}" \
    >/dev/null 2>"$TMP/byhand.err" || bad "pack with the node's key: $(cat "$TMP/byhand.err")"
byhand=$("$SZ" inspect "$TMP/byhand.bundle" | awk '/^sequence:/ {print $2}')
[ -n "$after" ] && [ "$byhand" = $((after + 1)) ] && ok ||
    bad "pack after the node signed $after used sequence $byhand, wanted $((after + 1))"
"$SZ" publish --socket "$TMP/seqpub/control.sock" "${ARTICLES[1]}" >/dev/null
node=$("$SZ" list --socket "$TMP/seqpub/control.sock" | awk '{print $3}' | sort -n | tail -1)
[ -n "$byhand" ] && [ "$node" = $((byhand + 1)) ] && ok ||
    bad "the node published sequence $node after pack used $byhand, wanted $((byhand + 1))"
echo "garbage" >"$TMP/seqpub/publisher.seq"
rc=0
"$SZ" publish --socket "$TMP/seqpub/control.sock" "${ARTICLES[0]}" >/dev/null 2>"$TMP/seq.err" ||
    rc=$?
[ $rc -ne 0 ] && grep -q "publisher.seq is damaged" "$TMP/seq.err" && ok ||
    bad "a damaged publisher.seq stops publishing with a clear error (rc $rc): $(cat "$TMP/seq.err")"
check "stop seqpub" stop_daemon seqpub
# ... and a node started with it says so at once, before anyone publishes.
rc=0
timeout 20 "$SZD" --data-dir "$TMP/seqpub" --listen 127.0.0.1:0 --publisher-key "$TMP/pub.sk" \
    >"$TMP/seqstart.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "ERROR .*seqpub/publisher.seq is damaged (it should hold the last sequence this \
key signed): put that number in it (see samizdat list --publisher), then start samizdatd again" \
    "$TMP/seqstart.log" && ok ||
    bad "a damaged publisher.seq stops the node at its start (rc $rc): $(cat "$TMP/seqstart.log")"
# A node given the key through a link, and pack given the key's own name:
# one record, beside the key file, so neither signs a number the other used.
mkdir "$TMP/etc" && ln -s "$TMP/pub.sk" "$TMP/etc/publisher.sk"
check "start linkpub" start_daemon linkpub --publisher-key "$TMP/etc/publisher.sk" \
    --batch-window-ms 0
"$SZ" publish --socket "$TMP/linkpub/control.sock" "${ARTICLES[0]}" >/dev/null
l1=$("$SZ" list --socket "$TMP/linkpub/control.sock" | awk '{print $3}' | sort -n | tail -1)
[ -n "$node" ] && [ "$l1" = $((node + 1)) ] && ok ||
    bad "the node given a link to the key published sequence $l1 after $node"
"$SZ" pack --secret-key "$TMP/pub.sk" --level 1 --output "$TMP/byhand2.bundle" "${ARTICLES[0]}" \
    >/dev/null 2>"$TMP/byhand.err" || bad "pack with the node's key: $(cat "$TMP/byhand.err")"
byhand2=$("$SZ" inspect "$TMP/byhand2.bundle" | awk '/^sequence:/ {print $2}')
[ -n "$l1" ] && [ "$byhand2" = $((l1 + 1)) ] && ok ||
    bad "pack after the node (key given through a link) signed $l1 used sequence $byhand2"
check "stop linkpub" stop_daemon linkpub
# A key on a read-only disk (here a read-only bind mount, in a mount namespace
# of the node's own): the node cannot write KEY.seq, but still reads it, so it
# never signs a number pack used; KEY.seq is left as it was.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    mkdir "$TMP/rokeys"
    "$SZ" keygen --secret-key "$TMP/rokeys/ro.sk" --public-key "$TMP/rokeys/ro.pk" \
        --no-passphrase >/dev/null || bad "keygen ro"
    for _ in 1 2 3; do
        "$SZ" pack --secret-key "$TMP/rokeys/ro.sk" --level 1 --output "$TMP/ro-packed.bundle" \
            "${ARTICLES[0]}" >/dev/null 2>&1 || bad "pack with the read-only key"
    done
    printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'"'"' "%s" "%s" "$@"\n' \
        "$TMP/rokeys" "$SZD" >"$TMP/szd-ro"
    chmod +x "$TMP/szd-ro"
    REAL_SZD=$SZD
    SZD=$TMP/szd-ro
    check "start ropub" start_daemon ropub --publisher-key "$TMP/rokeys/ro.sk" --batch-window-ms 0
    SZD=$REAL_SZD
    "$SZ" publish --socket "$TMP/ropub/control.sock" "${ARTICLES[1]}" >/dev/null 2>"$TMP/ro.err" ||
        bad "publish with the key on a read-only disk: $(cat "$TMP/ro.err")"
    ro=$("$SZ" list --socket "$TMP/ropub/control.sock" | awk '{print $3}')
    [ "$ro" = 4 ] && ok || bad "the node published sequence '$ro' after pack used 1 to 3, wanted 4"
    grep -q "WARN cannot write .*rokeys/ro.sk.seq (Read-only file system)" "$TMP/ropub.log" && ok ||
        bad "the read-only KEY.seq is not logged: $(cat "$TMP/ropub.log")"
    [ "$(cat "$TMP/rokeys/ro.sk.seq")" = 3 ] && ok || bad "KEY.seq changed: $(cat "$TMP/rokeys/ro.sk.seq")"
    check "stop ropub" stop_daemon ropub
else
    echo "SKIP: not root or no mount namespaces: the read-only key check is not run"
fi
# A store the daemon's user cannot write (here the file on a read-only bind
# mount; as often, left by root): the daemon stops at its start, naming the
# file, rather than saying it is ready and failing every store.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    check "start rostore" start_daemon rostore
    check "stop rostore" stop_daemon rostore
    printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'"'"' "%s" "%s" "$@"\n' \
        "$TMP/rostore/store.sqlite" "$SZD" >"$TMP/szd-rostore"
    chmod +x "$TMP/szd-rostore"
    rc=0
    timeout 20 "$TMP/szd-rostore" --data-dir "$TMP/rostore" --listen 127.0.0.1:0 \
        >"$TMP/rostore2.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q "rostore/store.sqlite cannot be written" "$TMP/rostore2.log" &&
        ! grep -q "ready" "$TMP/rostore2.log" && ok ||
        bad "a store that cannot be written stops the start (rc $rc): $(cat "$TMP/rostore2.log")"
else
    echo "SKIP: not root or no mount namespaces: the read-only store check is not run"
fi

# --- the node key is named node.key only once whole: a first start killed while
# making it leaves node.key.tmp (removed at the next start), or, from versions
# that wrote node.key in place, an empty node.key (replaced: it never held a
# key). Any other wrong size is still refused and left alone.
mkdir -p "$TMP/nktmp"
head -c 32 /dev/urandom >"$TMP/nktmp/node.key.tmp"
check "start with a leftover node.key.tmp" start_daemon nktmp
[ ! -e "$TMP/nktmp/node.key.tmp" ] && [ "$(stat -c '%s %a' "$TMP/nktmp/node.key")" = "32 600" ] &&
    ok || bad "leftover node.key.tmp: $(ls -l "$TMP/nktmp")"
grep -q "INFO removed .*nktmp/node.key.tmp, left by a start that was interrupted" "$TMP/nktmp.log" &&
    ok || bad "the leftover node.key.tmp is not logged: $(cat "$TMP/nktmp.log")"
check "stop nktmp" stop_daemon nktmp
# Killed between naming node.key and removing the temporary: both name one key.
cp "$TMP/nktmp/node.key" "$TMP/nktmp.key.orig"
ln "$TMP/nktmp/node.key" "$TMP/nktmp/node.key.tmp"
check "restart with node.key.tmp linked to node.key" start_daemon nktmp
[ ! -e "$TMP/nktmp/node.key.tmp" ] && cmp -s "$TMP/nktmp/node.key" "$TMP/nktmp.key.orig" && ok ||
    bad "the node key changed when a leftover temporary named it too"
check "stop nktmp" stop_daemon nktmp
mkdir -p "$TMP/nkempty"
install -m 600 /dev/null "$TMP/nkempty/node.key"
check "start with an empty node.key" start_daemon nkempty
[ "$(stat -c '%s %a' "$TMP/nkempty/node.key")" = "32 600" ] && ok ||
    bad "an empty node.key was not replaced: $(ls -l "$TMP/nkempty")"
grep -q "WARN .*nkempty/node.key is empty (a first start was interrupted while making it" \
    "$TMP/nkempty.log" && ok || bad "the empty node.key is not logged: $(cat "$TMP/nkempty.log")"
check "stop nkempty" stop_daemon nkempty
mkdir -p "$TMP/nkshort"
head -c 1 /dev/urandom >"$TMP/nkshort/node.key"
cp "$TMP/nkshort/node.key" "$TMP/nkshort.key.orig"
rc=0
timeout 20 "$SZD" --data-dir "$TMP/nkshort" --listen 127.0.0.1:0 >"$TMP/nkshort.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "node.key is damaged (not 32 bytes): move it away" "$TMP/nkshort.log" &&
    cmp -s "$TMP/nkshort/node.key" "$TMP/nkshort.key.orig" && ok ||
    bad "a 1-byte node.key is refused and kept (rc $rc): $(cat "$TMP/nkshort.log")"
# The public key named as the publisher key: said so, and no warning that a
# "secret key" is readable (a public key is meant to be).
rc=0
timeout 20 "$SZD" --data-dir "$TMP/pkgiven" --listen 127.0.0.1:0 --publisher-key "$TMP/pub.pk" \
    >"$TMP/pkgiven.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "ERROR publisher key .*pub.pk is a public key, not a secret key" \
    "$TMP/pkgiven.log" && ! grep -q "readable" "$TMP/pkgiven.log" && ok ||
    bad "a public key as --publisher-key is named as one (rc $rc): $(cat "$TMP/pkgiven.log")"

# --- configuration errors: file and line named, non-zero exit, nothing created
printf '[store]\nmax_byts = 1G\n' >"$TMP/bad.conf"
"$SZD" --config "$TMP/bad.conf" --data-dir "$TMP/never" >"$TMP/conf.log" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:2" "$TMP/conf.log" && ok ||
    bad "bad config names file and line (rc $rc: $(cat "$TMP/conf.log"))"
[ ! -e "$TMP/never" ] && ok || bad "bad config changes nothing on disk"

# --socket naming a file that is not a socket (a mistyped option): the daemon
# refuses to start, says why, and the file is untouched.
echo "precious" >"$TMP/notes.txt"
rc=0
timeout 20 "$SZD" --data-dir "$TMP/sockfile" --socket "$TMP/notes.txt" --listen 127.0.0.1:0 \
    >"$TMP/sockfile.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a socket" "$TMP/sockfile.log" && ok ||
    bad "--socket on a regular file: rc $rc: $(cat "$TMP/sockfile.log")"
[ "$(cat "$TMP/notes.txt")" = precious ] && ok || bad "--socket on a regular file deleted it"
# A peer of the configuration that cannot be reached is named in the log
# (at the default level) and in status, and named again when it answers.
DOWN=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_daemon lone --peer "127.0.0.1:$DOWN" || bad "start lone"
wait_log "$TMP/lone.log" "WARN peer 127.0.0.1:$DOWN: cannot connect: connection refused" 10 && ok ||
    bad "an unreachable configured peer is not named: $(tail -3 "$TMP/lone.log")"
"$SZ" status --socket "$TMP/lone/control.sock" >"$TMP/lone.status"
grep -q "peer 127.0.0.1:$DOWN: not connected (.*connection refused" "$TMP/lone.status" && ok ||
    bad "status does not list the unreachable peer: $(cat "$TMP/lone.status")"
"$SZ" status --json --socket "$TMP/lone/control.sock" | python3 -c '
import json, sys
u = json.load(sys.stdin)["unreached"]
assert len(u) == 1 and u[0]["address"].endswith(":'"$DOWN"'") and u[0]["failures"] >= 1, u' &&
    ok || bad "status --json does not list the unreachable peer"
mkdir -p "$TMP/up"
"$SZD" --data-dir "$TMP/up" --listen "127.0.0.1:$DOWN" >"$TMP/up.log" 2>&1 &
UP=$!
wait_log "$TMP/lone.log" "peer 127.0.0.1:$DOWN: answers again" 15 && ok ||
    bad "the peer that came up is not named again: $(tail -3 "$TMP/lone.log")"
"$SZ" status --json --socket "$TMP/lone/control.sock" |
    python3 -c 'import json, sys; assert json.load(sys.stdin)["unreached"] == []' && ok ||
    bad "status still lists the peer that answered"
kill "$UP"
wait "$UP"
check "stop lone" stop_daemon lone
# A peer that takes the connection and never answers (a wrong network key
# looks so): while a handshake waits on it, status still names it.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); time.sleep(15)
' >"$TMP/mute.out" &
MUTE=$!
for _ in $(seq 1 50); do [ -s "$TMP/mute.out" ] && break; nap 0.1; done
MUTE_PORT=$(head -1 "$TMP/mute.out")
start_daemon hush --peer "127.0.0.1:$MUTE_PORT" || bad "start hush"
sleep 1
"$SZ" status --socket "$TMP/hush/control.sock" >"$TMP/hush.status"
grep -q "^peer 127.0.0.1:$MUTE_PORT: connecting now (0 attempts failed in a row)$" "$TMP/hush.status" &&
    "$SZ" status --json --socket "$TMP/hush/control.sock" | python3 -c '
import json, sys
u = json.load(sys.stdin)["unreached"]
assert len(u) == 1 and u[0]["connecting"] is True, u' && ok ||
    bad "status does not name a peer whose handshake waits: $(cat "$TMP/hush.status")"
check "stop hush" stop_daemon hush
kill "$MUTE" 2>/dev/null
wait "$MUTE" 2>/dev/null

# A quota larger than the disk: status warns (a 4 MiB file system, default 1 GiB quota);
# without listening (max_inbound 0) it says so.
if mkdir -p "$TMP/small" && mount -t tmpfs -o size=4m,mode=700 tmpfs "$TMP/small" 2>/dev/null; then
    check "start small" start_daemon small --max-inbound 0
    st=$("$SZ" status --socket "$TMP/small/control.sock")
    grep -Eq "^WARNING: the quota leaves room for [0-9.]+ (bytes?|KiB|MiB|GiB|TiB) more, the disk for [0-9.]+ (bytes?|KiB|MiB|GiB|TiB): free space on the disk or lower max_bytes$" <<<"$st" &&
        grep -q "^not listening for peers (max_inbound is 0)" <<<"$st" && ok ||
        bad "status on a disk smaller than the quota: $st"
    "$SZ" status --socket "$TMP/small/control.sock" --json |
        python3 -c 'import json, sys; s = json.load(sys.stdin); assert s["listen"] is None and 0 < s["disk_free_bytes"] <= 4 << 20, s' &&
        ok || bad "status --json on a 4 MiB disk without a listener"
    grep -q "ready: .* listen none (max_inbound is 0)$" "$TMP/small.log" && ok ||
        bad "the ready line names a listen address with max_inbound 0: $(grep ready: "$TMP/small.log")"
    check "stop small" stop_daemon small
    # A maintenance that fails (on a full disk, lowering the quota cannot
    # evict) is in status, with how far the store is over its quota.
    printf '[store]\nmax_bytes = 1G\n' >"$TMP/mf.conf"
    mkdir -m 700 "$TMP/small/M"
    check "start mf" start_daemon mf --config "$TMP/mf.conf" --data-dir "$TMP/small/M" \
        --socket "$TMP/mf/control.sock" --max-inbound 0
    for i in 1 2 3 4 5 6; do
        { printf -- '---\ntitle: Fill %s\n---\n' $i; head -c 200000 /dev/urandom | base64; } \
            >"$TMP/fill$i.md"
        "$SZ" pack --secret-key "$TMP/pub.sk" --level 1 --sequence $((3000 + i)) \
            --output "$TMP/fill$i.bundle" "$TMP/fill$i.md" >/dev/null || bad "pack fill$i"
    done
    "$SZ" import --socket "$TMP/mf/control.sock" "$TMP"/fill?.bundle >/dev/null || bad "import fill"
    head -c $(df --output=avail -B1 "$TMP/small" | tail -1) /dev/zero >"$TMP/small/fill" 2>/dev/null
    printf '[store]\nmax_bytes = 1M\n' >"$TMP/mf.conf"
    kill -HUP "$PID_mf"
    wait_log "$TMP/mf.log" "maintenance: eviction failed" 10 || bad "no eviction failure on a full disk"
    st=$("$SZ" status --socket "$TMP/mf/control.sock")
    grep -q "^WARNING: [0-9]* s ago the maintenance (expiry, quotas) failed: eviction failed: .*disk is full" <<<"$st" &&
        grep -Eq "^WARNING: the store holds [0-9.]+ (bytes?|KiB|MiB|GiB|TiB) more than its quota \(max_bytes\): the maintenance evicts the oldest bundles once it can write to the disk again$" <<<"$st" &&
        ok || bad "status after a failed maintenance: $st"
    "$SZ" status --socket "$TMP/mf/control.sock" --json |
        python3 -c 'import json, sys; e = json.load(sys.stdin)["maintenance_error"]; assert e["age_s"] >= 0 and "eviction failed" in e["text"], e' &&
        ok || bad "status --json after a failed maintenance"
    # Room again: the next maintenance (a SIGHUP) evicts, and the warnings go.
    rm -f "$TMP/small/fill"
    kill -HUP "$PID_mf"
    wait_log "$TMP/mf.log" "maintenance: 0 expired, [1-9][0-9]* evicted" 10 &&
        ! "$SZ" status --socket "$TMP/mf/control.sock" | grep -q "^WARNING" && ok ||
        bad "after freeing the disk: $("$SZ" status --socket "$TMP/mf/control.sock")"
    check "stop mf" stop_daemon mf
    rm -rf "$TMP/small/M"
    # No room left for the store's shared-memory file: said as a full disk.
    mkdir -m 700 "$TMP/small/F"
    head -c $(($(df --output=avail -B1 "$TMP/small" | tail -1) - 20480)) /dev/zero >"$TMP/small/fill"
    rc=0
    timeout 20 "$SZD" --data-dir "$TMP/small/F" --listen 127.0.0.1:0 >"$TMP/full.out" 2>&1 || rc=$?
    [ $rc -ne 0 ] && grep -q "the disk is full: free space" "$TMP/full.out" && ok ||
        bad "a start on a full disk (exit $rc): $(tail -2 "$TMP/full.out")"
    umount "$TMP/small" || bad "cannot unmount the test's tmpfs"
else
    echo "SKIP: cannot mount a tmpfs here (not root): the quota-larger-than-disk warning is not checked"
fi

check "the example config runs" start_daemon exconf --config "$SRC/examples/samizdatd.conf" \
    --socket "$TMP/exconf/control.sock"
check "stop" stop_daemon exconf

finish
