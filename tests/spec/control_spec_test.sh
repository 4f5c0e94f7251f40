#!/usr/bin/env bash
# The control protocol as CONTROL.md specifies it, through a second client
# written from the document alone (tests/spec/control_client.py): a
# publishing daemon and a relay that links to it; articles (English and
# Russian, Markdown with front matter and an attachment, HTML, plain text)
# published, then fetched from the relay and compared byte for byte; STATUS,
# IMPORT, LIST, LIST_PAGE and EXPORT and their effects; malformed requests,
# bad articles and misuse, each answered as documented while the daemon
# keeps serving; the bundle cap closing a batch; a publish waiting in its
# batch when the daemon stops.
# usage: control_spec_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR [PYTHON]
set -u
SZ=$1
SZD=$2
SRC=$3
PY=${4:-}
if [ -z "$PY" ]; then
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
fi
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
CLIENT=$SRC/tests/spec/control_client.py
SOCK=$TMP/pub/control.sock
RSOCK=$TMP/relay/control.sock
ZERO=0000000000000000000000000000000000000000000000000000000000000000

# cc [--socket S] ARGS...: the spec client, against the publisher by default.
cc() {
    local sock=$SOCK
    if [ "$1" = --socket ]; then
        sock=$2
        shift 2
    fi
    "$PY" "$CLIENT" --socket "$sock" --timeout 10 "$@"
}
# js EXPR: evaluates a Python expression over the JSON on standard input (j).
js() { "$PY" -c 'import json, sys; j = json.load(sys.stdin); print(eval("(" + sys.argv[1] + ")"))' "$1"; }
# serving: the publisher still answers STATUS on a new connection.
serving() {
    local out
    out=$(cc --json status 2>&1) && [ "$(echo "$out" | js 'j["publisher"]')" = "$PK" ] && ok ||
        bad "the daemon stopped serving after $1 ($out)"
}
# raw_expect WHAT NAME CLOSED HEX...: sends bytes as they are; the reply must
# be R_ERROR NAME and the connection closed (true) or open (false) after it.
raw_expect() {
    local what=$1 name=$2 closed=$3 out
    shift 3
    out=$(cc raw "$@" 2>&1)
    [ "$(echo "$out" | js 'j.get("type"), j.get("name"), j.get("closed")')" = \
        "('R_ERROR', '$name', ${closed^})" ] && ok ||
        bad "$what: wanted R_ERROR $name, closed $closed; got $out"
    serving "$what"
}
hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }

# --- keys, daemons -----------------------------------------------------------
"$SZ" keygen --no-passphrase --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" >/dev/null
"$SZ" keygen --no-passphrase --secret-key "$TMP/other.sk" --public-key "$TMP/other.pk" >/dev/null
PK=$(cat "$TMP/pub.pk")
OTHER=$(cat "$TMP/other.pk")
check "publisher starts" start_daemon pub --publisher-key "$TMP/pub.sk" --batch-window-ms 400 \
    --expiry-days 0
# The relay carries the publisher only: another key's bundle is POLICY there.
check "relay starts" start_daemon relay --peers "127.0.0.1:$(peer_port pub)" --expiry-days 0 \
    --carry list --publishers "$PK"

# --- articles ------------------------------------------------------------------
# Each article's body is written on its own first (body.*), then the file
# handed to publish is its front matter and that body: the library must hold
# the body byte for byte.
A=$TMP/articles
mkdir -p "$A/img"
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 40)' >"$A/img/photo.png"
cat >"$A/en.body" <<'EOF'
# City council meets in secret

The council met *behind closed doors* on Monday.

![The hall](photo.png)
EOF
{
    printf -- '---\ntitle: "Council: a secret meeting"\ndate: 2024-05-01T10:00:00Z\n'
    printf -- 'id: council-secret\nauthors: [Ana Writer, Bo Reporter]\nlang: en\n'
    printf -- 'summary: The council met behind closed doors.\nurl: https://news.example/council\n'
    printf -- 'attachments:\n  - img/photo.png\n---\n'
    cat "$A/en.body"
} >"$A/en.md"
printf '%s\n' 'Городской совет снова заседал при закрытых дверях.' '' \
    'Журналистов не пустили; «документы засекречены».' >"$A/ru.body"
{
    printf -- '---\ntitle: Совет заседал тайно\ndate: 2024-05-02T08:30:00+03:00\n'
    printf -- 'id: sovet-ru\nauthor: Иван Петров\nlang: ru\n---\n'
    cat "$A/ru.body"
} >"$A/ru.txt"
cat >"$A/page.html" <<'EOF'
<!doctype html>
<html><head><title>Water &amp; power report</title></head>
<body><h1>Water</h1><p>Rationing starts on Friday.</p></body></html>
EOF
cp "$A/page.html" "$A/page.body"
touch -d '2024-05-03T12:00:00Z' "$A/page.html"
printf -- '---\ntitle: Второй выпуск\ndate: 2024-05-04\n---\n## Новости\n\nТекст второго выпуска.\n' \
    >"$A/second.md"
printf -- '## Новости\n\nТекст второго выпуска.\n' >"$A/second.body"
printf -- '---\ntitle: Batch two\ndate: 2024-05-05T00:00:00Z\n---\nThe other half.\n' \
    >"$A/batch2.md"
printf -- 'The other half.\n' >"$A/batch2.body"

# --- PUBLISH -------------------------------------------------------------------
# One request with two articles: one bundle, sequence 1.
out=$(cc --json publish "$A/en.md" "$A/page.html" 2>&1)
ID1=$(echo "$out" | js 'j["id"]')
[[ $ID1 =~ ^[0-9a-f]{64}$ ]] && [ "$(echo "$out" | js 'j["sequence"]')" = 1 ] && ok ||
    bad "publish en.md page.html: R_PUBLISHED with a bundle id and sequence 1 ($out)"
# Without a first bundle, what follows would only wait for timeouts.
[ "$FAIL" -eq 0 ] || { finish; exit 1; }
out=$(cc --json publish "$A/ru.txt" 2>&1)
ID2=$(echo "$out" | js 'j["id"]')
[ "$(echo "$out" | js 'j["sequence"]')" = 2 ] && [ "$ID2" != "$ID1" ] && ok ||
    bad "publish ru.txt: a new bundle with sequence 2 ($out)"
# Two requests within the batch window share one bundle (6.2).
cc --json publish "$A/second.md" >"$TMP/b1" 2>&1 &
B1=$!
nap 0.1
cc --json publish "$A/batch2.md" >"$TMP/b2" 2>&1 &
B2=$!
wait $B1 $B2
ID3=$(js 'j["id"], j["sequence"]' <"$TMP/b1")
[ "$ID3" = "$(js 'j["id"], j["sequence"]' <"$TMP/b2")" ] && [[ $ID3 == *", 3)" ]] && ok ||
    bad "two publishes within the window: one bundle, sequence 3 ($(cat "$TMP/b1" "$TMP/b2"))"
ID3=$(js 'j["id"]' <"$TMP/b1")

# --- LIST, EXPORT: the bundles exist, verify, hold what was given ---------------
out=$(cc --json list --publisher "$PK")
[ "$(echo "$out" | js '[(e["id"], e["sequence"]) for e in j]')" = \
    "[('$ID1', 1), ('$ID2', 2), ('$ID3', 3)]" ] && ok || bad "LIST of the publisher: $out"
NOW=$(date +%s)
echo "$out" | js 'all(e["publisher"] == "'"$PK"'" and abs(e["created"] - '"$NOW"') < 120
                  and abs(e["received"] - '"$NOW"') < 120 and e["size"] > 168 for e in j)' |
    grep -qx True && ok || bad "LIST entries: publisher, created, received, size ($out)"
for id in "$ID1" "$ID2" "$ID3"; do
    check "export $id" cc export "$id" --output "$TMP/$id.bundle"
    check "exported $id verifies" "$SZ" verify --trust "$TMP/pub.pk" "$TMP/$id.bundle"
    [ "$(stat -c %s "$TMP/$id.bundle")" = "$(echo "$out" | js "[e['size'] for e in j if e['id'] == '$id'][0]")" ] &&
        ok || bad "exported $id has the size LIST gives"
done
"$SZ" inspect "$TMP/$ID1.bundle" >"$TMP/inspect1" 2>&1
grep -q "^id: *$ID1$" "$TMP/inspect1" && grep -q "^sequence: *1$" "$TMP/inspect1" && ok ||
    bad "inspect: id and sequence of bundle 1 ($(head -5 "$TMP/inspect1"))"
grep -q '^  - council-secret  2024-05-01T10:00:00Z  text/markdown  [0-9]* bytes  Council: a secret meeting$' \
    "$TMP/inspect1" && ok || bad "inspect: the Markdown article's id, date, type, title"
grep -q '^  - page  2024-05-03T12:00:00Z  text/html  [0-9]* bytes  Water & power report$' \
    "$TMP/inspect1" && ok || bad "inspect: the HTML article (title from <title>, date from mtime)"
"$SZ" inspect "$TMP/$ID2.bundle" 2>&1 |
    grep -q '^  - sovet-ru  2024-05-02T05:30:00Z  text/plain  [0-9]* bytes  Совет заседал тайно$' &&
    ok || bad "inspect: the Russian text article"
"$SZ" inspect "$TMP/$ID3.bundle" >"$TMP/inspect3" 2>&1
grep -q '^articles: *2$' "$TMP/inspect3" &&
    grep -q '^  - batch2  2024-05-05T00:00:00Z  text/markdown  [0-9]* bytes  Batch two$' "$TMP/inspect3" &&
    grep -q '^  - second  2024-05-04T00:00:00Z  text/markdown  [0-9]* bytes  Второй выпуск$' "$TMP/inspect3" &&
    ok || bad "inspect: the batched bundle holds both articles ($(cat "$TMP/inspect3"))"

# --- fetch from the relay: what a reader gets -----------------------------------
wait_n() { # wait_n SOCKET N: until the daemon holds N bundles
    local i
    for i in $(seq 1 100); do
        [ "$(cc --socket "$1" --json list | js 'len(j)')" -ge "$2" ] && return 0
        nap 0.1
    done
    return 1
}
check "the relay gets the 3 bundles by gossip" wait_n "$RSOCK" 3
"$SZ" fetch --peer "127.0.0.1:$(peer_port relay)" --trust "$TMP/pub.pk" --output "$TMP/lib" \
    --timeout 30 >"$TMP/fetch.out" 2>&1 && ok || bad "fetch from the relay: $(tail -3 "$TMP/fetch.out")"
PUBHEX=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import control_client as c
print(c.key_from_text(sys.argv[2]).hex())' "$SRC/tests/spec" "$PK")
L=$TMP/lib/$PUBHEX
# (The library keeps an HTML body as body.html.txt, never to be opened as a page.)
for pair in council-secret/body.md:en.body page/body.html.txt:page.body sovet-ru/body.txt:ru.body \
    second/body.md:second.body batch2/body.md:batch2.body; do
    cmp -s "$L/${pair%%:*}" "$A/${pair##*:}" && ok ||
        bad "library: ${pair%%:*} is not byte for byte what was published"
done
cmp -s "$L/council-secret/photo.png" "$A/img/photo.png" && ok || bad "library: the attachment"
grep -q 'Council: a secret meeting' "$L/council-secret/index.html" &&
    grep -q '2024-05-01T10:00:00Z' "$L/council-secret/index.html" &&
    sed 's/<[^>]*>//g' "$L/council-secret/index.html" | grep -q 'Ana Writer and Bo Reporter' && ok ||
    bad "library: the article page shows the title, time and authors given"
grep -q 'Совет заседал тайно' "$L/sovet-ru/index.html" && ok || bad "library: the Russian title"

# --- STATUS -------------------------------------------------------------------
cc status >"$TMP/status.txt" && [ "$(tail -c 1 "$TMP/status.txt" | od -An -c | tr -d ' ')" = '\n' ] &&
    grep -q "$PK" "$TMP/status.txt" && ok || bad "R_STATUS text: lines ending in LF, naming the key"
out=$(cc --json status)
[ "$(echo "$out" | js 'j["publisher"], j["published"], j["bundles"], j["publishers"][0]["key"],
    j["publishers"][0]["max_sequence"], j["data_dir"] == "'"$TMP/pub"'"')" = \
    "('$PK', 3, 3, '$PK', 3, True)" ] && ok || bad "R_STATUS JSON after three bundles: $out"
[ "$(cc --socket "$RSOCK" --json status | js 'j["publisher"], j["carry"], j["imported"]')" = \
    "(None, 'list', 3)" ] && ok || bad "the relay's status: no key, carry list, 3 from its peer"

# --- IMPORT -------------------------------------------------------------------
printf -- '---\ntitle: Offline\n---\nPacked by hand.\n' >"$A/offline.md"
OFF=$("$SZ" pack --secret-key "$TMP/other.sk" --sequence 7 --output "$TMP/off.bundle" "$A/offline.md")
FUT=$("$SZ" pack --secret-key "$TMP/other.sk" --created 2099-01-01T00:00:00Z \
    --output "$TMP/future.bundle" "$A/offline.md" 2>/dev/null)
head -c 150 "$TMP/off.bundle" >"$TMP/cut.bundle"
"$PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[120] ^= 1
open(sys.argv[2], "wb").write(b)' "$TMP/off.bundle" "$TMP/forged.bundle"
: >"$TMP/empty.bundle"
out=$(cc --json import "$TMP/off.bundle" "$TMP/off.bundle" "$TMP/cut.bundle" \
    "$TMP/forged.bundle" "$TMP/empty.bundle" "$TMP/future.bundle" "$TMP/$ID1.bundle")
[ "$(echo "$out" | js '[(r["outcome"], r["id"]) for r in j]')" = \
    "[('STORED', '$OFF'), ('PRESENT', '$OFF'), ('REFUSED', '$ZERO'), ('REFUSED', '$OFF'), ('REFUSED', '$ZERO'), ('POLICY', '$FUT'), ('PRESENT', '$ID1')]" ] &&
    ok || bad "R_IMPORTED: one result per item, in order: $out"
echo "$out" | js 'j[0]["text"] == "stored" and j[1]["text"] == "already stored"
    and j[2]["text"].startswith("refused: ") and j[3]["text"].startswith("refused: ")
    and j[5]["text"].startswith("not stored: it is dated 2099-01-01T00:00:00Z")' |
    grep -qx True && ok || bad "R_IMPORTED texts: $out"
[ "$(cc --json status | js 'j["imported"], j["refused_future"], j["refused"], j["bundles"]')" = \
    "(1, 1, 4, 4)" ] && ok ||
    bad "STATUS after the import: imported 1, refused_future 1, refused 4 (3 + the future one), 4 bundles"
out=$(cc --socket "$RSOCK" --json import "$TMP/off.bundle")
echo "$out" | js 'j[0]["outcome"] == "POLICY" and j[0]["text"].startswith("not carried")' |
    grep -qx True && ok || bad "import into a relay that does not carry the key: $out"
[ "$(cc --socket "$RSOCK" --json status | js 'j["refused"]')" = 1 ] && ok ||
    bad "the relay counts the bundle it does not carry as refused"
check "the imported bundle is exported byte for byte" cc export "$OFF" --output "$TMP/off.out"
cmp -s "$TMP/off.out" "$TMP/off.bundle" && ok || bad "EXPORT of an imported bundle differs"
[ "$(cc --json list --publisher "$OTHER" | js '[(e["id"], e["sequence"]) for e in j]')" = \
    "[('$OFF', 7)]" ] && ok || bad "LIST of the other publisher"
[ "$(cc --json list --publisher "$PK" --since-sequence 2 | js '[e["sequence"] for e in j]')" = \
    "[2, 3]" ] && ok || bad "LIST since_sequence 2"
[ "$(cc --json list --since-sequence 4 | js '[e["sequence"] for e in j]')" = "[7]" ] && ok ||
    bad "LIST of every publisher since_sequence 4"

# --- LIST_PAGE ----------------------------------------------------------------
ALL=$(cc --json list | js '[(e["publisher"], e["sequence"], e["id"]) for e in j]')
[ "$(cc --json list --all | js '[(e["publisher"], e["sequence"], e["id"]) for e in j]')" = "$ALL" ] &&
    ok || bad "LIST_PAGE from the start lists what LIST does"
FIRST=$(cc --json list --page | js 'j[0]["publisher"] + ":" + str(j[0]["sequence"]) + ":" + j[0]["id"]')
[ "$(cc --json list --after "$FIRST" | js '[(e["publisher"], e["sequence"], e["id"]) for e in j]')" = \
    "$(echo "$ALL" | "$PY" -c 'import ast, sys; print(ast.literal_eval(sys.stdin.read())[1:])')" ] &&
    ok || bad "LIST_PAGE after the first entry lists the others"
[ "$(cc --json list --publisher "$PK" --after "$PK:2:$ZERO" | js '[e["sequence"] for e in j]')" = \
    "[2, 3]" ] && ok || bad "LIST_PAGE: a cursor is a position, not an entry that must exist"
out=$(cc raw 74000000 0206 00 $ZERO 0000000000000000 00 $ZERO 0000000000000000 $ZERO)
[ "$(echo "$out" | js 'j["version"], j["type"]')" = "(1, 'R_LIST')" ] && ok ||
    bad "the reply to LIST_PAGE is R_LIST sent as version 1: $out"

# --- errors to well-formed requests: R_ERROR, the connection stays open --------
out=$(cc --then-status --json export "$(printf 'ab%.0s' $(seq 32))" --output "$TMP/none" 2>"$TMP/err")
[ "$(echo "$out" | js 'j["error"]["name"]')" = EINVAL ] &&
    echo "$out" | grep -q "$(printf 'ab%.0s' $(seq 32))" && grep -q 'then-status: answered' "$TMP/err" &&
    ok || bad "EXPORT of a bundle not held: R_ERROR EINVAL naming the id, connection open ($out)"
out=$(cc --socket "$RSOCK" --then-status --json publish "$A/batch2.md" 2>"$TMP/err")
[ "$(echo "$out" | js 'j["error"]["name"]')" = EINVAL ] && grep -q 'then-status: answered' "$TMP/err" &&
    ok || bad "PUBLISH to a daemon without a key: R_ERROR EINVAL ($out)"
# Bad articles: the container's error code; nothing published; still serving.
printf -- '---\ntitle: No body\n---\n' >"$A/nobody.md"
printf -- '---\ntitle: Broken\n---\nbad \xff\xfe bytes\n' >"$A/broken.txt"
printf -- '---\ntitle: Unsafe\nid: ../../etc/passwd\n---\nbody\n' >"$A/unsafe.md"
printf -- '---\ntitle: Dup\nid: dup\n---\nbody\n' >"$A/dup1.md"
cp "$A/dup1.md" "$A/dup2.md"
for case in nobody.md:EINVAL broken.txt:EUTF8 unsafe.md:EBADID dup1.md,dup2.md:EDUPID; do
    IFS=, read -ra files <<<"${case%%:*}"
    out=$(cc --then-status --json publish --unchecked "${files[@]/#/$A/}" 2>"$TMP/err")
    [ "$(echo "$out" | js 'j["error"]["name"]')" = "${case##*:}" ] &&
        grep -q 'then-status: answered' "$TMP/err" && ok ||
        bad "publish ${files[*]}: wanted R_ERROR ${case##*:}, connection open ($out $(cat "$TMP/err"))"
done
expect_status "the client refuses an article with no body" 3 cc publish "$A/nobody.md"
expect_status "the client refuses an article that is not UTF-8" 3 cc publish "$A/broken.txt"
expect_status "the client refuses an unsafe id" 3 cc publish "$A/unsafe.md"

# --- malformed requests: R_ERROR, the connection closed, the daemon serves on ---
raw_expect "a frame of 0 bytes" EBADMSG true 00000000
raw_expect "a frame above 80 MiB (oversized request)" ETOOBIG true 01000005
raw_expect "an unknown version" EVERSION true 02000000 0301
raw_expect "an unknown type" EVERSION true 02000000 0107
raw_expect "LIST_PAGE under version 1" EVERSION true 02000000 0106
raw_expect "STATUS under version 2" EVERSION true 02000000 0201
raw_expect "a reply type as a request" EINVAL true 0c000000 0180 05000000 02000000 6869
raw_expect "STATUS with a trailing byte" ETRAILING true 03000000 010100
raw_expect "a body that ends inside the header" EBADMSG true 01000000 01
raw_expect "a LIST cut short" EBADMSG true 2a000000 0104 00 $ZERO 00000000000000
raw_expect "LIST with has_publisher 2" EBADMSG true 2b000000 0104 02 $ZERO 0000000000000000
raw_expect "LIST with a key but has_publisher 0" EBADMSG true \
    2b000000 0104 00 "${ZERO%??}01" 0000000000000000
raw_expect "IMPORT of 4097 bundles" ETOOBIG true 06000000 0103 01100000
raw_expect "IMPORT whose count does not fit the body" EBADMSG true 0a000000 0103 02000000 00000000
raw_expect "PUBLISH of an empty container" EBADMSG true 06000000 0102 00000000
raw_expect "a container that is not one (well-formed request)" EBADMSG false \
    07000000 0102 01000000 00
raw_expect "a text that is not UTF-8 (R_ERROR as a request)" EUTF8 true \
    0b000000 0180 00000000 01000000 ff
# Two requests at once: refused, and neither is carried out.
N=$(cc --json list | js 'len(j)')
FR=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import control_client as c
a = c.Article(id="twice", title="Twice", published=1714521600, ctype="text/plain", body="x\n")
print(c.frame(c.encode_publish(c.encode_container([a]))).hex())' "$SRC/tests/spec")
raw_expect "two requests in one write" EINVAL true "$FR" 02000000 0101
# A request sent while the one before is being served waits for its reply,
# then is answered in turn.
out=$("$PY" - "$SRC/tests/spec" "$SOCK" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import control_client as c
a = c.Article(id="late", title="Late", published=1714521600, ctype="text/plain", body="x\n")
with c.ControlClient(sys.argv[2], 10) as conn:
    conn.send_bytes(c.frame(c.encode_publish(c.encode_container([a]))))
    time.sleep(0.1)
    conn.send_bytes(c.frame(c.encode_status()))
    print(c.TYPE_NAMES[conn.read_reply()[1]], c.TYPE_NAMES[conn.read_reply()[1]])
PY
)
[ "$out" = "R_PUBLISHED R_STATUS" ] && ok || bad "a STATUS sent during a PUBLISH: $out"
N=$((N + 1))
# A request cut off by a disconnect: nothing happens.
cc raw --no-reply "${FR%??}"
nap 0.8
[ "$(cc --json list | js 'len(j)')" = "$N" ] && ok ||
    bad "a publish sent with another at once, or cut off, was carried out"
# A whole request, then a disconnect before the reply: carried out in full.
cc raw --no-reply "$FR"
check "a publish whose client left before the reply is still published" wait_n "$SOCK" $((N + 1))

# 256 control connections at once; the 257th is answered R_ERROR EBUSY (7.1).
out=$("$PY" - "$SRC/tests/spec" "$SOCK" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import control_client as c
held = [c.ControlClient(sys.argv[2], 20) for _ in range(256)]
time.sleep(0.2)
try:
    held[-1].status()
    with c.ControlClient(sys.argv[2], 20) as extra:
        extra.status()
    print("the 257th connection was served")
except c.CtlError as e:
    print(e.name)
PY
)
[ "$out" = EBUSY ] && ok || bad "257 control connections at once: $out"
serving "257 connections"

# --- the bundle cap closes a batch; an article over it fails alone -------------
check "a publisher with a 4 KiB bundle cap starts" start_daemon capped \
    --publisher-key "$TMP/other.sk" --max-bundle-bytes 4K --batch-window-ms 600 --expiry-days 0
CSOCK=$TMP/capped/control.sock
"$PY" -c 'import sys; print("---\ntitle: Half\n---\n" + "h" * 2500)' >"$A/half1.md"
cp "$A/half1.md" "$A/half2.md"
"$PY" -c 'import sys; print("---\ntitle: Too big\n---\n" + "b" * 5000)' >"$A/toobig.md"
cc --socket "$CSOCK" --json publish "$A/half1.md" >"$TMP/h1" 2>&1 &
H1=$!
nap 0.1
cc --socket "$CSOCK" --json publish "$A/toobig.md" >"$TMP/big" 2>"$TMP/big.err" &
BIG=$!
nap 0.1
cc --socket "$CSOCK" --json publish "$A/half2.md" >"$TMP/h2" 2>&1
wait $H1 $BIG
S1=$(js 'j["sequence"]' <"$TMP/h1")
[ "$(js 'j["error"]["name"]' <"$TMP/big")" = ETOOBIG ] && ok ||
    bad "an article over the bundle cap: R_ERROR ETOOBIG ($(cat "$TMP/big"))"
[ "$(js 'j["sequence"]' <"$TMP/h2")" = $((S1 + 1)) ] && ok ||
    bad "articles that would not fit one bundle go into two, with no sequence skipped" \
        "($(cat "$TMP/h1" "$TMP/h2"))"
stop_daemon capped

# --- shutdown: a publish waiting in its batch is sealed and answered ------------
stop_daemon pub
check "publisher restarts with a long batch window" start_daemon pub \
    --publisher-key "$TMP/pub.sk" --batch-window-ms 5000 --expiry-days 0
cc --json publish "$A/offline.md" >"$TMP/last" 2>&1 &
LAST=$!
# Until the client has connected (python may take more than the half second
# to start on a loaded machine): the listening socket and the one of the new
# connection both show the socket's path in /proc/net/unix.
for _ in $(seq 1 100); do
    [ "$(grep -c -F " $SOCK" /proc/net/unix)" -ge 2 ] && break
    nap 0.1
done
nap 0.5
T0=$(date +%s%N)
stop_daemon pub && ok || bad "the daemon stops with status 0"
wait $LAST && [ "$(js 'j["sequence"]' <"$TMP/last")" = 6 ] && ok ||
    bad "a publish waiting when the daemon stops is answered R_PUBLISHED ($(cat "$TMP/last"))"
[ $((($(date +%s%N) - T0) / 1000000)) -lt 4000 ] && ok || bad "the stop waited for the window"
[ ! -e "$SOCK" ] && ok || bad "a clean exit removes the socket file"

finish
