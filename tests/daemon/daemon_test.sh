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
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT
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
            [ $rc -eq 1 ] && grep -Eq "^refused [0-9a-f]{64} .*: refused: .+" <<<"$out" && ok ||
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
sleep 0.3
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
sleep 0.3
"$SZ" publish --socket "$SOCK" "$TMP/big2.md" >"$TMP/big2.id" 2>"$TMP/big2.err"
r2=$?
wait $p1
r1=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && ! cmp -s "$TMP/big1.id" "$TMP/big2.id" && ok ||
    bad "articles too big to share a bundle get one each ($(cat "$TMP/big1.err" "$TMP/big2.err"))"
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
for _ in $(seq 1 50); do grep -q sent "$TMP/lazy.out" && break; sleep 0.1; done
sleep 0.5
t0=$EPOCHREALTIME
stop_daemon grace
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
kill $LAZY 2>/dev/null
wait $LAZY 2>/dev/null
awk -v s="$secs" 'BEGIN { exit !(s >= 9 && s < 15) }' && ok ||
    bad "shutdown with an unread reply took $secs s (wanted 10 s grace, under 15 s)"
grep -q "ERROR" "$TMP/grace.log" && bad "shutdown with an unread reply: $(grep ERROR "$TMP/grace.log")" || ok

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
check "the example config runs" start_daemon exconf --config "$SRC/examples/samizdatd.conf" \
    --socket "$TMP/exconf/control.sock"
check "stop" stop_daemon exconf

finish
