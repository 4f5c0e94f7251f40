#!/usr/bin/env bash
# What a listener on the wire sees between samizdat nodes (PROTOCOL.md 3: "every
# byte a listener sees is a ciphertext or an ephemeral key").
#
# A publisher A; two relays B and C that connect to A through a recording TCP
# relay (dumpproxy.py), so the dump holds two handshakes. An article with a
# distinctive title and sentence, and enough incompressible text to give the
# dump well over 10 KB, is published at A and reaches B and C through the
# relay. Then the dump must not contain the sentence, the title, the
# publisher key, the bundle's id, signature, magic or any 16-byte piece of the
# bundle, nor any node key; the two handshakes must share no 4-byte string
# (no magic, no fixed bytes); and the bytes must look uniformly random (no
# byte value above twice the mean count, chi-square of the 256 counts below
# 400 for 255 degrees of freedom).
#
# usage: wire_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PROXY=
trap '[ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)
TITLE="The Lighthouse Keeper of Vardø $RANDOM"
SENTENCE="Seventeen crimson herons crossed the frozen estuary at dawn, carrying letters $RANDOM."

"$SZ" keygen --secret-key "$TMP/p1.sk" --public-key "$TMP/p1.pk" --no-passphrase >/dev/null ||
    bad "keygen"
start_daemon A "${COMMON[@]}" --publisher-key "$TMP/p1.sk" || bad "start A"
mkdir -p "$TMP/dump"
python3 "$SRC/tests/adversary/dumpproxy.py" "$(peer_port A)" "$TMP/dump" &
PROXY=$!
for _ in $(seq 1 50); do
    [ -s "$TMP/dump/port" ] && break
    nap 0.1
done
[ -s "$TMP/dump/port" ] || bad "the recording relay did not start"
RELAY=127.0.0.1:$(cat "$TMP/dump/port")
# B and C dial only the relay: with more outbound links wanted they would
# learn A's own port from each other's PEERS (A's HELLO names it) and link
# to A directly, and the bundle would then not cross the recording relay.
start_daemon B "${COMMON[@]}" --peer "$RELAY" --outbound-target 1 || bad "start B"
start_daemon C "${COMMON[@]}" --peer "$RELAY" --outbound-target 1 || bad "start C"
sleep 1

# The article: a title, the sentence, and ~40 KB of base64 noise (compresses
# little), so that the bundle crosses the relay twice with plenty of bytes.
{
    printf -- '---\ntitle: %s\nid: wire-article\n---\n%s\n\n' "$TITLE" "$SENTENCE"
    head -c 30000 /dev/urandom | base64 -w 76
    printf '\n%s\n' "$SENTENCE"
} >"$TMP/article.md"
"$SZ" publish --socket "$TMP/A/control.sock" "$TMP/article.md" >/dev/null || bad "publish at A"
check "B gets the article through the relay" wait_bundles B 1 20
check "C gets the article through the relay" wait_bundles C 1 20
ID=$(szq list --socket "$TMP/B/control.sock" | awk 'NR == 1 { print $1 }')
"$SZ" export --socket "$TMP/B/control.sock" "$ID" --output "$TMP/article.bundle" >/dev/null ||
    bad "export the bundle from B"
keys=()
for n in A B C; do
    keys+=("$(szq status --socket "$TMP/$n/control.sock" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["node_key"])')")
done
for n in C B A; do stop_daemon $n || bad "$n did not stop cleanly"; done
nap 0.3
kill "$PROXY" 2>/dev/null
wait "$PROXY" 2>/dev/null
PROXY=

cat >"$TMP/analyse.py" <<'EOF'
import glob, itertools, os, sys

dump_dir, bundle_path, title, sentence, bundle_id = sys.argv[1:6]
node_keys = [bytes.fromhex(k) for k in sys.argv[6:]]
streams = {}
for path in sorted(glob.glob(os.path.join(dump_dir, "conn-*"))):
    with open(path, "rb") as f:
        streams[os.path.basename(path)] = f.read()
dump = b"".join(streams.values())
with open(bundle_path, "rb") as f:
    bundle = f.read()
failures = []

def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)

print("  wire: %d connections, %d bytes recorded (%s)" % (
    len([s for s in streams if s.endswith(".c2s")]), len(dump),
    ", ".join("%s %d" % (k, len(v)) for k, v in streams.items())))
if len(dump) < 10 * 1024:
    fail("less than 10 KB recorded")

# Plaintext that must never show.
secrets = {
    "the sentence": sentence.encode(),
    "the title": title.encode(),
    "the publisher key": bundle[8:40],
    "the publisher key text": os.environ["PK_TEXT"].encode(),
    "the bundle magic SZBN": b"SZBN",
    "the bundle signature": bundle[104:168],
    "the bundle header": bundle[:104],
    "the bundle id": bytes.fromhex(bundle_id),
}
for i, k in enumerate(node_keys):
    secrets["node key %d" % i] = k
for what, needle in secrets.items():
    if needle and needle in dump:
        fail("the dump contains %s" % what)
pieces = [bundle[i:i + 16] for i in range(0, len(bundle) - 15, 16)]
leaked = sum(1 for p in pieces if p in dump)
print("  wire: %d of %d 16-byte pieces of the %d-byte bundle found in the dump" % (
    leaked, len(pieces), len(bundle)))
if leaked:
    fail("bundle bytes travel in the clear")

# Two handshakes: no fixed bytes (4-byte strings shared at any offset).
def shared4(a, b):
    grams = {a[i:i + 4] for i in range(len(a) - 3)}
    return [b[i:i + 4].hex() for i in range(len(b) - 3) if b[i:i + 4] in grams]

c2s = [v for k, v in sorted(streams.items()) if k.endswith(".c2s")]
s2c = [v for k, v in sorted(streams.items()) if k.endswith(".s2c")]
if len(c2s) < 2 or len(s2c) < 2:
    fail("fewer than two connections recorded")
else:
    for (x, y) in itertools.combinations(range(len(c2s)), 2):
        common = shared4(c2s[x][:56], c2s[y][:56]) + shared4(s2c[x][:112], s2c[y][:112])
        if common:
            fail("handshakes %d and %d share 4-byte strings %s" % (x + 1, y + 1, common[:4]))
    print("  wire: first 56 (and 112) bytes of %d handshakes share no 4-byte string" % len(c2s))

# Byte distribution.
counts = [0] * 256
for b in dump:
    counts[b] += 1
mean = len(dump) / 256.0
chi2 = sum((c - mean) ** 2 / mean for c in counts)
top = max(range(256), key=lambda b: counts[b])
print("  wire: chi-square %.1f (255 degrees of freedom, random ~255 +- 23); "
      "most frequent byte 0x%02x %d times (mean %.1f)" % (chi2, top, counts[top], mean))
if counts[top] > 2 * mean:
    fail("byte 0x%02x appears %d times, over twice the mean %.1f" % (top, counts[top], mean))
if chi2 > 400:
    fail("the byte distribution is not uniform (chi-square %.1f)" % chi2)
sys.exit(1 if failures else 0)
EOF
export PK_TEXT
PK_TEXT=$(cat "$TMP/p1.pk")
python3 "$TMP/analyse.py" "$TMP/dump" "$TMP/article.bundle" "$TITLE" "$SENTENCE" "$ID" "${keys[@]}" &&
    ok || bad "the wire carries recognisable bytes"
# A control: the same analysis of a plaintext "wire" (the article and the
# bundle as they are) must fail, or the checks above prove nothing.
mkdir -p "$TMP/control"
cat "$TMP/article.md" "$TMP/article.bundle" >"$TMP/control/conn-1.c2s"
cp "$TMP/article.bundle" "$TMP/control/conn-1.s2c"
python3 "$TMP/analyse.py" "$TMP/control" "$TMP/article.bundle" "$TITLE" "$SENTENCE" "$ID" \
    "${keys[@]}" >"$TMP/control.out" 2>&1 && bad "the analysis passes a plaintext wire" ||
    ok
echo "  control: a plaintext wire fails $(grep -c '^FAIL' "$TMP/control.out") checks"
finish
