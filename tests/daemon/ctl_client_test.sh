#!/usr/bin/env bash
# The daemon commands of the client against a real samizdatd: export never
# writes into the daemon's data folder nor over a secret key (status 2, as
# README says of refused outputs); import names a file that is not a bundle
# without a made-up id; a publish or import that times out says the daemon
# may still carry it out (and it does); list shows every bundle of a store
# larger than one reply, and falls back to one LIST with an older daemon.
# usage: ctl_client_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# The client keeps its leak check under AddressSanitizer (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
trap 'kill -CONT "${PID_pub:-}" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
DATA=$TMP/pub
SOCK=$DATA/control.sock

"$SZ" keygen --no-passphrase --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" >/dev/null
check "daemon starts" start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 0
printf -- '---\ntitle: One\nid: one\n---\nThe first article.\n' >"$TMP/one.md"
ID=$("$SZ" publish --socket "$SOCK" "$TMP/one.md")
[[ $ID =~ ^[0-9a-f]{64}$ ]] && ok || bad "publish prints the bundle id ($ID)"

# --- bad requests, each on a connection of its own, are logged at most 10 a
# minute in all (a limit per connection bounded nothing)
python3 - "$SOCK" <<'EOF'
import socket, sys
for _ in range(40):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(bytes.fromhex("020000000909"))  # a frame of an unknown format version
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
EOF
n=$(grep -c "control: bad request" "$TMP/pub.log")
[ "$n" -ge 1 ] && [ "$n" -le 10 ] && ok || bad "40 bad requests logged $n lines, wanted 1 to 10"

# --- import checks every file before it sends any: one too large, or one it
# cannot read, after a good one imports nothing (the good one was stored)
"$SZ" keygen --no-passphrase --secret-key "$TMP/imp.sk" --public-key "$TMP/imp.pk" >/dev/null
"$SZ" pack --secret-key "$TMP/imp.sk" --output "$TMP/imp.bundle" "$TMP/one.md" >/dev/null
truncate -s 90M "$TMP/huge.bin"
N0=$("$SZ" list --socket "$SOCK" | wc -l)
expect_status "import of a good bundle and a 90 MB file" 3 "$SZ" import --socket "$SOCK" \
    "$TMP/imp.bundle" "$TMP/huge.bin"
expect_stderr "a file too large to import is named" "huge.bin is too large .*nothing was imported"
[ "$("$SZ" list --socket "$SOCK" | wc -l)" -eq "$N0" ] && ok ||
    bad "import stored the bundle before the file too large"
rm -f "$TMP/huge.bin"

# --- export: the daemon's own files and a secret key are refused with status 2
sums() { (cd "$DATA" && sha256sum node.key publisher.seq store.sqlite 2>/dev/null); }
cp "$TMP/pub.sk" "$TMP/pub.sk.orig"
BEFORE=$(sums)
ln -s "$DATA" "$TMP/data-link"
ln -s "$DATA/node.key" "$TMP/node-link.bundle"
for out in "$DATA/node.key" "$DATA/publisher.seq" "$DATA/store.sqlite" "$DATA/new.bundle" \
    "$TMP/data-link/node.key" "$TMP/data-link/new.bundle" "$TMP/pub/../pub/node.key" \
    "$TMP/node-link.bundle"; do
    expect_status "export --output $out (in the data folder)" 2 "$SZ" export --socket "$SOCK" \
        "$ID" --output "$out"
    expect_stderr "export --output $out: message" "is in \(or links into\) the daemon's data folder"
done
# From inside the data folder, with relative paths.
expect_status "export --output node.key from inside the data folder" 2 bash -c \
    'cd "$1" && "$2" export --socket control.sock "$3" --output node.key' sh "$DATA" "$SZ" "$ID"
[ "$(sums)" = "$BEFORE" ] && [ ! -e "$DATA/new.bundle" ] && ok ||
    bad "export changed the daemon's files: $(sums)"
expect_status "export --output a secret key" 2 "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/pub.sk"
expect_stderr "secret key message" "pub.sk is a samizdat secret key"
ln -s pub.sk "$TMP/sk-link.bundle"
expect_status "export --output a link to a secret key" 2 "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/sk-link.bundle"
cmp -s "$TMP/pub.sk" "$TMP/pub.sk.orig" && ok || bad "export replaced the secret key"
# The key's sequence record, there or not yet, and through a link: a bundle
# written there would stop the key from signing (pack refuses a damaged record).
[ -e "$TMP/pub.sk.seq" ] || echo 5 >"$TMP/pub.sk.seq"
cp "$TMP/pub.sk.seq" "$TMP/seq.orig"
ln -s pub.sk.seq "$TMP/seq-link.bundle"
cp "$TMP/pub.sk.orig" "$TMP/other.sk"
for out in pub.sk.seq seq-link.bundle other.sk.seq; do
    expect_status "export --output $out (a sequence record)" 2 "$SZ" export --socket "$SOCK" \
        "$ID" --output "$TMP/$out"
    expect_stderr "export --output $out: message" "is the sequence record of a secret key"
done
cmp -s "$TMP/pub.sk.seq" "$TMP/seq.orig" && [ ! -e "$TMP/other.sk.seq" ] && ok ||
    bad "export wrote a secret key's sequence record"
mkdir "$TMP/afolder"
expect_status "export --output a folder" 2 "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/afolder"
cp "$TMP/pub.pk" "$TMP/pub.pk.orig"
expect_status "export --output a public key" 2 "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/pub.pk"
expect_stderr "export --output a public key: message" "pub.pk is a samizdat public key: not replacing it"
cmp -s "$TMP/pub.pk" "$TMP/pub.pk.orig" && ok || bad "export replaced the public key"
check "export --output an ordinary file" "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/one.bundle"
check "export replaces an ordinary file" "$SZ" export --socket "$SOCK" "$ID" \
    --output "$TMP/one.bundle"
check "the exported bundle verifies" "$SZ" verify --trust "$TMP/pub.pk" "$TMP/one.bundle"

# --- a data folder given as a relative path, and a socket elsewhere: the
# daemon reports its real path, so export from another folder still refuses.
mkdir -p "$TMP/srv" "$TMP/elsewhere"
(cd "$TMP/srv" && exec "$SZD" --data-dir rel-data --socket "$TMP/rel.sock" \
    --listen 127.0.0.1:0 >"$TMP/rel.log" 2>&1) &
PID_rel=$!
for i in $(seq 1 100); do
    "$SZ" status --socket "$TMP/rel.sock" >/dev/null 2>&1 && break
    nap 0.1
done
"$SZ" import --socket "$TMP/rel.sock" "$TMP/one.bundle" >/dev/null || bad "import into rel"
cp "$TMP/srv/rel-data/node.key" "$TMP/node.key.orig"
expect_status "export into a relative data folder, from another folder" 2 bash -c \
    'cd "$1" && "$2" export --socket "$3" "$4" --output "$5"' sh "$TMP/elsewhere" "$SZ" \
    "$TMP/rel.sock" "$ID" "$TMP/srv/rel-data/node.key"
cmp -s "$TMP/srv/rel-data/node.key" "$TMP/node.key.orig" && ok ||
    bad "export replaced node.key of a daemon started with a relative data folder"
"$SZ" status --socket "$TMP/rel.sock" | grep -qx "data folder: $TMP/srv/rel-data" && ok ||
    bad "status shows the data folder's real path: $("$SZ" status --socket "$TMP/rel.sock" | head -3)"
kill "$PID_rel"; wait "$PID_rel" 2>/dev/null
# A folder on the output's path swapped for a link into the data folder while
# export waits for the daemon (a race an attacker who owns a folder on the
# path could win): the checked folder is the one written. A stand-in daemon
# answers STATUS with the real daemon's data folder and swaps the link before
# it answers EXPORT with the bundle.
mkdir "$TMP/safe"
ln -s "$TMP/safe" "$TMP/via"
BEFORE=$(sums)
python3 - "$TMP/swap.sock" "$DATA" "$TMP/one.bundle" "$TMP/via" >"$TMP/swap.log" 2>&1 <<'PY' &
import json, os, socket, struct, sys
path, data_dir, bundle_file, via = sys.argv[1:5]
bundle = open(bundle_file, "rb").read()
def text(b): return struct.pack("<I", len(b)) + b
def frame(body): return struct.pack("<I", len(body)) + body
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(4); srv.settimeout(20)
for _ in range(2):
    c, _addr = srv.accept()
    hdr = b""
    while len(hdr) < 4: hdr += c.recv(4 - len(hdr))
    n = struct.unpack("<I", hdr)[0]; body = b""
    while len(body) < n: body += c.recv(n - len(body))
    if body[1] == 0x01:
        js = json.dumps({"data_dir": data_dir}).encode()
        c.sendall(frame(b"\x01\x81" + text(b"stand-in\n") + text(js)))
    elif body[1] == 0x05:
        os.unlink(via); os.symlink(data_dir, via)
        c.sendall(frame(b"\x01\x85" + text(bundle)))
    c.close()
PY
PID_swap=$!
for i in $(seq 1 100); do [ -S "$TMP/swap.sock" ] && break; nap 0.1; done
check "export through a folder swapped for a link into the data folder meanwhile" \
    "$SZ" export --socket "$TMP/swap.sock" "$ID" --output "$TMP/via/node.key"
wait "$PID_swap" 2>/dev/null || bad "the stand-in daemon failed: $(tail -3 "$TMP/swap.log")"
[ "$(sums)" = "$BEFORE" ] && cmp -s "$TMP/safe/node.key" "$TMP/one.bundle" && ok ||
    bad "export wrote through the swapped link into the data folder: $(sums)"
# A data folder whose name is not UTF-8: status (and so export) still work.
BADDIR=$TMP/$'lat\xe9'
"$SZD" --data-dir "$BADDIR" --listen 127.0.0.1:0 >"$TMP/bad.log" 2>&1 &
PID_bad=$!
for i in $(seq 1 100); do
    "$SZ" status --socket "$BADDIR/control.sock" >/dev/null 2>&1 && break
    nap 0.1
done
"$SZ" status --socket "$BADDIR/control.sock" >"$TMP/bad.status" 2>&1 && ok ||
    bad "status of a daemon whose data folder is not UTF-8: $(head -2 "$TMP/bad.status")"
"$SZ" import --socket "$BADDIR/control.sock" "$TMP/one.bundle" >/dev/null || bad "import into bad"
check "export from a daemon whose data folder is not UTF-8" "$SZ" export \
    --socket "$BADDIR/control.sock" "$ID" --output "$TMP/from-bad.bundle"
# Its name comes shown with U+FFFD, which names no folder here: an output
# into it is still refused (it replaced node.key), beside the socket...
cp "$BADDIR/node.key" "$TMP/bad-node.key"
expect_status "export --output node.key of a data folder that is not UTF-8" 2 "$SZ" export \
    --socket "$BADDIR/control.sock" "$ID" --output "$BADDIR/node.key"
cmp -s "$BADDIR/node.key" "$TMP/bad-node.key" && ok || bad "export replaced node.key of bad"
# ... and, through a socket elsewhere, refused as not known.
ln -s "$BADDIR/control.sock" "$TMP/bad-link.sock"
expect_status "export through another socket name, data folder not UTF-8" 2 "$SZ" export \
    --socket "$TMP/bad-link.sock" "$ID" --output "$TMP/elsewhere.bundle"
expect_stderr "a data folder not UTF-8 is named" "has a name that is not UTF-8"
# An empty --socket named an abstract socket, which anyone may take.
expect_status "status --socket ''" 2 "$SZ" status --socket ''
expect_status "list with a bad SAMIZDAT_CTL_TIMEOUT" 2 env SAMIZDAT_CTL_TIMEOUT=abc "$SZ" list \
    --socket "$BADDIR/control.sock"
kill "$PID_bad"; wait "$PID_bad" 2>/dev/null

# --- list: more bundles than one reply holds (4096) are listed page by page,
# each once, in order; the ids are those import stored.
tiny_corpus "$TMP/gen-corpus"
"$GEN" gen --corpus "$TMP/gen-corpus" --out "$TMP/gen-out" --bundles 4500 --articles 1 --level 1 \
    >/dev/null || bad "generating 4500 bundles"
check "daemon for many bundles starts" start_daemon many
"$SZ" import --socket "$TMP/many/control.sock" "$TMP/gen-out/"*.bundle | awk '$1 == "stored" {print $2}' |
    sort >"$TMP/many.stored"
[ "$(wc -l <"$TMP/many.stored")" -eq 4500 ] && ok ||
    bad "import of 4500 bundles stored $(wc -l <"$TMP/many.stored")"
check "list of 4500 bundles" "$SZ" list --socket "$TMP/many/control.sock"
cp "$TMP/check.out" "$TMP/many.list"
awk '{print $1}' "$TMP/many.list" | sort | cmp -s - "$TMP/many.stored" && ok ||
    bad "list shows $(wc -l <"$TMP/many.list") lines, not the 4500 ids stored"
awk '{print $3}' "$TMP/many.list" | cmp -s - <(seq 1 4500) && ok ||
    bad "list is not in order of sequence: $(awk '{print $3}' "$TMP/many.list" | head -3 | tr '\n' ' ')"
check "list --json of 4500 bundles" "$SZ" list --socket "$TMP/many/control.sock" --json
python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); print("\n".join(sorted(e["id"] for e in a)))' \
    "$TMP/check.out" | cmp -s - "$TMP/many.stored" && ok || bad "list --json does not hold the 4500 ids"
check "list --publisher --since-sequence across pages" "$SZ" list \
    --socket "$TMP/many/control.sock" --publisher "$TMP/gen-out/pub.pk" --since-sequence 300
[ "$(wc -l <"$TMP/check.out")" -eq 4201 ] && [ "$(awk 'NR == 1 {print $3}' "$TMP/check.out")" = 300 ] &&
    ok || bad "list --publisher --since-sequence 300: $(wc -l <"$TMP/check.out") lines"
stop_daemon many
# An older daemon (control protocol version 1) refuses LIST_PAGE as an unknown
# version: list asks it with one LIST.
python3 - "$TMP/old.sock" >"$TMP/old.log" 2>&1 <<'PY' &
import os, socket, struct, sys
def text(b): return struct.pack("<I", len(b)) + b
def frame(body): return struct.pack("<I", len(body)) + body
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(4); srv.settimeout(20)
entry = bytes(range(32)) + bytes([0xa1] * 32) + struct.pack("<QqQq", 7, 1700000000, 123, 1700000001)
seen = []
for _ in range(2):
    c, _addr = srv.accept()
    hdr = b""
    while len(hdr) < 4: hdr += c.recv(4 - len(hdr))
    n = struct.unpack("<I", hdr)[0]; body = b""
    while len(body) < n: body += c.recv(n - len(body))
    seen.append(body[:2].hex())
    if body[0] != 1:
        c.sendall(frame(b"\x01\x80" + struct.pack("<I", 5) + text(b"unknown version")))
    else:
        c.sendall(frame(b"\x01\x84" + struct.pack("<I", 1) + entry))
    c.close()
print(" ".join(seen))
PY
PID_old=$!
for i in $(seq 1 100); do [ -S "$TMP/old.sock" ] && break; nap 0.1; done
check "list against a daemon of control protocol version 1" "$SZ" list --socket "$TMP/old.sock"
grep -q "^000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f .* 7 " "$TMP/check.out" &&
    ok || bad "list from a version-1 daemon: $(head -c 300 "$TMP/check.out")"
wait "$PID_old" 2>/dev/null
grep -qx "0206 0104" "$TMP/old.log" && ok || bad "list asked: $(cat "$TMP/old.log")"

# --- import: a file that is not a bundle has no id to show
printf 'just some text\n' >"$TMP/bad.txt"
rc=0
out=$("$SZ" import --socket "$SOCK" "$TMP/bad.txt" "$TMP/one.bundle") || rc=$?
[ $rc -eq 1 ] && ok || bad "import of a non-bundle: exit $rc, wanted 1"
grep -qx "refused - $TMP/bad.txt: not a bundle this daemon can read (refused: .*)" <<<"$out" &&
    ok || bad "import of a non-bundle says so, with '-' for its id: $out"
! grep -q "0000000000000000000000000000000000000000000000000000000000000000" <<<"$out" && ok ||
    bad "import shows an all-zero id: $out"
grep -qx "present $ID $TMP/one.bundle: already stored" <<<"$out" && ok ||
    bad "import of a held bundle beside it: $out"

# --- a publish or import that times out may still be carried out
N0=$("$SZ" list --socket "$SOCK" | wc -l)
printf -- '---\ntitle: Two\nid: two\n---\nThe second article.\n' >"$TMP/two.md"
kill -STOP "$PID_pub"
SAMIZDAT_CTL_TIMEOUT=2 expect_status "publish to a stopped daemon" 6 timeout 30 "$SZ" publish \
    --socket "$SOCK" "$TMP/two.md"
expect_stderr "publish timeout message" \
    "did not answer within 2 s.*may still publish it.*check with 'samizdat list' before publishing again"
"$SZ" keygen --no-passphrase --secret-key "$TMP/other.sk" --public-key "$TMP/other.pk" >/dev/null
"$SZ" pack --secret-key "$TMP/other.sk" --output "$TMP/other.bundle" "$TMP/two.md" >/dev/null
SAMIZDAT_CTL_TIMEOUT=2 expect_status "import to a stopped daemon" 6 timeout 30 "$SZ" import \
    --socket "$SOCK" "$TMP/other.bundle"
expect_stderr "import timeout message" \
    "did not answer within 2 s.*may still import.*check with 'samizdat list' before importing again"
# A second daemon on the socket of this stopped one, its backlog full: refused
# at once (its check of the socket blocked, deaf to SIGTERM, until a kill -CONT).
python3 - "$SOCK" >"$TMP/fill.out" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for _ in range(64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(s)
print(len(held), flush=True)
time.sleep(30)
EOF
FILL=$!
for _ in $(seq 1 50); do [ -s "$TMP/fill.out" ] && break; nap 0.1; done
rc=0
timeout -k 5 10 "$SZD" --data-dir "$TMP/second" --socket "$SOCK" --listen 127.0.0.1:0 \
    >"$TMP/second.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] &&
    grep -q "another samizdatd answers there" "$TMP/second.log" && ok ||
    bad "a second daemon on a stopped one's full socket (rc $rc): $(tail -2 "$TMP/second.log")"
kill "$FILL" 2>/dev/null
wait "$FILL" 2>/dev/null
kill -CONT "$PID_pub"
# The daemon carries out both requests once it runs again, as the messages say.
for _ in $(seq 1 100); do
    [ "$("$SZ" list --socket "$SOCK" | wc -l)" -ge $((N0 + 2)) ] && break
    nap 0.1
done
[ "$("$SZ" list --socket "$SOCK" | wc -l)" -eq $((N0 + 2)) ] && ok ||
    bad "the timed-out publish and import were carried out: $("$SZ" list --socket "$SOCK")"
# A publish that takes longer than the limit because the daemon is busy (here
# its batch window, 4 s, against a limit of 1 s) is waited for: the daemon
# still answers status requests, so it is working, not stuck.
check "slowpub starts" start_daemon slowpub --publisher-key "$TMP/pub.sk" --batch-window-ms 4000
printf -- '---\ntitle: Slow\nid: slow\n---\nA publish in a long window.\n' >"$TMP/slow.md"
T0=$(date +%s)
SAMIZDAT_CTL_TIMEOUT=1 timeout 60 "$SZ" publish --socket "$TMP/slowpub/control.sock" "$TMP/slow.md" \
    >"$TMP/slow.out" 2>"$TMP/slow.err" && ok ||
    bad "a publish in a 4 s window with a limit of 1 s: $(cat "$TMP/slow.err")"
T1=$(date +%s)
[ $((T1 - T0)) -ge 3 ] && [ "$("$SZ" list --socket "$TMP/slowpub/control.sock" | wc -l)" = 1 ] && ok ||
    bad "the publish waited for the window ($((T1 - T0)) s) and published once"
check "stop slowpub" stop_daemon slowpub
# A daemon that refuses a request before reading it all (here: all 256 control
# connections taken) answers why and closes: a client still sending a large
# request reads that answer instead of reporting a broken pipe (once it has
# sent it again, "busy", until its time-out).
python3 -c '
import socket, sys, time
conns = []
for _ in range(256):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(sys.argv[1]); conns.append(c)
print("held", flush=True)
time.sleep(60)
' "$SOCK" >"$TMP/holder.out" &
HOLDER=$!
for _ in $(seq 1 50); do [ -s "$TMP/holder.out" ] && break; nap 0.1; done
head -c $((16 << 20)) /dev/urandom >"$TMP/junk.bundle"
SAMIZDAT_CTL_TIMEOUT=2 expect_status "an import while every connection is taken" 6 timeout 30 \
    "$SZ" import --socket "$SOCK" "$TMP/junk.bundle"
expect_stderr "the daemon's refusal, not a broken pipe" "samizdatd refused: too many control connections"
! grep -q "Broken pipe" "$TMP/stderr" && ok || bad "a broken pipe reported: $(cat "$TMP/stderr")"
kill $HOLDER 2>/dev/null
wait $HOLDER 2>/dev/null
# Status and list change nothing: no such note on their time-outs.
kill -STOP "$PID_pub"
SAMIZDAT_CTL_TIMEOUT=1 expect_status "status of a stopped daemon" 6 timeout 30 "$SZ" status \
    --socket "$SOCK"
! grep -q "samizdat list" "$TMP/stderr" && ok || bad "status timeout mentions list: $(cat "$TMP/stderr")"
kill -CONT "$PID_pub"

# --- exports that clients never read count against a budget of 256 MiB of
# unread replies: beyond it an export is refused, and one is served again
# once they are gone (64 idle clients could otherwise hold 5 GiB).
{ printf -- '---\ntitle: Large\nid: large\n---\n' && head -c 9000000 /dev/urandom | base64; } \
    >"$TMP/large.md"
"$SZ" pack --secret-key "$TMP/pub.sk" --level 1 --output "$TMP/large.bundle" "$TMP/large.md" \
    >"$TMP/large.id" || bad "pack a 9 MB bundle"
"$SZ" import --socket "$SOCK" "$TMP/large.bundle" >/dev/null || bad "import the 9 MB bundle"
python3 -c '
import socket, struct, sys, time
conns = []
for _ in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    body = bytes([1, 5]) + bytes.fromhex(sys.argv[2])
    s.sendall(struct.pack("<I", len(body)) + body)
    conns.append(s)
# The first bytes of every answer: the daemon holds each reply (or refused
# it) before the exports below start, which would otherwise take a share of
# the budget while these requests are still being answered.
for s in conns:
    s.settimeout(60)
    s.recv(4)
print("answered", flush=True)
time.sleep(60)  # never reads the rest of the replies
' "$SOCK" "$(head -c 64 "$TMP/large.id")" >"$TMP/lazy.out" 2>&1 &
LAZY=$!
for _ in $(seq 1 600); do [ -s "$TMP/lazy.out" ] && break; nap 0.1; done
refused=0
for _ in $(seq 1 40); do
    if ! "$SZ" export --socket "$SOCK" "$(head -c 64 "$TMP/large.id")" --output "$TMP/large.out" \
        2>"$TMP/stderr" >/dev/null; then
        refused=1
        break
    fi
    nap 0.5
done
[ $refused -eq 1 ] && grep -q "of replies its clients have not read yet: export again" "$TMP/stderr" &&
    ok || bad "an export beyond 256 MiB of unread replies is not refused: $(cat "$TMP/stderr")"
kill $LAZY 2>/dev/null
wait $LAZY 2>/dev/null
served=0
for _ in $(seq 1 40); do
    "$SZ" export --socket "$SOCK" "$(head -c 64 "$TMP/large.id")" --output "$TMP/large.out" \
        2>"$TMP/stderr" >/dev/null && served=1 && break
    nap 0.25
done
[ $served -eq 1 ] && cmp -s "$TMP/large.out" "$TMP/large.bundle" && ok ||
    bad "no export once the idle clients left: $(cat "$TMP/stderr")"

check "clean stop" stop_daemon pub

# --- a burst of publishes beyond the daemon's 256 control connections: the
# ones answered "busy" are sent again, and every one is published
"$SZ" keygen --no-passphrase --secret-key "$TMP/burst.sk" --public-key "$TMP/burst.pk" >/dev/null
check "burst starts" start_daemon burst --publisher-key "$TMP/burst.sk" --batch-window-ms 1500 \
    --batch-max-articles 4096
mkdir "$TMP/burst-in"
for i in $(seq 1 300); do
    printf -- '---\ntitle: Burst %s\nid: b%s\n---\nText %s.\n' $i $i $i >"$TMP/burst-in/b$i.md"
done
pids=()
for i in $(seq 1 300); do
    "$SZ" publish --socket "$TMP/burst/control.sock" "$TMP/burst-in/b$i.md" \
        >"$TMP/burst-in/b$i.out" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
[ $failed -eq 0 ] && ok ||
    bad "$failed of 300 publishes at once failed: $(cat "$TMP"/burst-in/*.out | grep -v '^[0-9a-f]*$' | sort | uniq -c | head -3)"
check "burst stops" stop_daemon burst
finish
