#!/usr/bin/env bash
# End-to-end tests of the offline client: keygen, pack, verify, unpack,
# inspect over examples/articles and tests/vectors, as a user runs them.
# usage: cli_test.sh SAMIZDAT_BINARY SOURCE_DIR
set -u
SZ=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$SRC/tests/cli/lib.sh"
EX=$SRC/examples/articles
VEC=$SRC/tests/vectors
ARTICLES=()
for f in "$EX"/*.md "$EX"/*.html "$EX"/*.txt; do
    [ "$(basename "$f")" = README.md ] || ARTICLES+=("$f")
done

# --- help and version
check "--help exits 0" "$SZ" --help
for c in keygen pack verify unpack inspect; do
    "$SZ" $c --help | grep -q "usage: samizdat $c" && ok || bad "$c --help"
done
"$SZ" --version | grep -Eq '^samizdat [0-9]+\.[0-9]+\.[0-9]+$' && ok || bad "--version"
expect_status "unknown command" 2 "$SZ" frobnicate
expect_stderr "unknown command named" "unknown command 'frobnicate'"

# --- keygen
PK_TEXT=$("$SZ" keygen --secret-key "$TMP/sk" --public-key "$TMP/pk" --no-passphrase)
[[ $PK_TEXT =~ ^szpk1[a-z2-7]{58}$ ]] && ok || bad "keygen prints the key text form: $PK_TEXT"
[ "$(stat -c %a "$TMP/sk")" = 600 ] && ok || bad "secret key mode 0600"
grep -qx "$PK_TEXT" "$TMP/pk" && ok || bad "public key file holds the text form"
expect_status "keygen refuses to overwrite" 5 "$SZ" keygen --secret-key "$TMP/sk" \
    --public-key "$TMP/pk2" --no-passphrase
expect_stderr "overwrite message" "already exists"
# No terminal and no passphrase option: a clear refusal, no key written.
expect_status "keygen without tty" 4 setsid "$SZ" keygen --secret-key "$TMP/sk3" \
    --public-key "$TMP/pk3" </dev/null
expect_stderr "no terminal message" "passphrase-file"
[ ! -e "$TMP/sk3" ] && ok || bad "no secret key left behind"

# Encrypted key through a passphrase file; the passphrase never in argv.
printf 'correct horse battery staple\n' >"$TMP/pass"
chmod 600 "$TMP/pass"
"$SZ" keygen --secret-key "$TMP/esk" --public-key "$TMP/epk" --passphrase-file "$TMP/pass" \
    >/dev/null && ok || bad "keygen with passphrase file"
head -c 6 "$TMP/esk" | od -An -tx1 | grep -q "53 5a 53 4b 01 01" && ok || bad "encrypted key has kdf 1"
printf 'wrong\n' >"$TMP/wrongpass"
expect_status "pack with wrong passphrase" 4 "$SZ" pack --secret-key "$TMP/esk" \
    --passphrase-file "$TMP/wrongpass" --output "$TMP/e.bundle" "${ARTICLES[0]}"
expect_stderr "wrong passphrase message" "wrong passphrase"
[ ! -e "$TMP/e.bundle" ] && ok || bad "no bundle after a wrong passphrase"
check "pack with the right passphrase" "$SZ" pack --secret-key "$TMP/esk" \
    --passphrase-file "$TMP/pass" --output "$TMP/e.bundle" "${ARTICLES[0]}"
check "verify the encrypted key's bundle" "$SZ" verify --trust "$TMP/epk" "$TMP/e.bundle"

# --- pack, verify, unpack round trip over every example
ID=$("$SZ" pack --secret-key "$TMP/sk" --output "$TMP/all.bundle" "${ARTICLES[@]}")
[[ $ID =~ ^[0-9a-f]{64}$ ]] && ok || bad "pack prints a 64-hex id: $ID"
"$SZ" verify --trust "$TMP/pk" "$TMP/all.bundle" | grep -q "$ID" && ok || bad "verify shows the id"
check "verify with the key as text" "$SZ" verify --trust "$PK_TEXT" "$TMP/all.bundle"
# Sequences increase across runs without --sequence.
"$SZ" pack --secret-key "$TMP/sk" --output "$TMP/next.bundle" "${ARTICLES[0]}" >/dev/null
S1=$("$SZ" inspect "$TMP/all.bundle" | sed -n 's/^sequence: *//p')
S2=$("$SZ" inspect "$TMP/next.bundle" | sed -n 's/^sequence: *//p')
[ -n "$S1" ] && [ -n "$S2" ] && [ "$S2" -gt "$S1" ] && ok || bad "sequence increases ($S1 -> $S2)"
"$SZ" inspect "$TMP/all.bundle" | grep -q '^UNVERIFIED' && ok || bad "inspect says unverified"

LIB=$TMP/library
OUT=$("$SZ" unpack --trust "$TMP/pk" --output "$LIB" "$TMP/all.bundle")
[ "$OUT" = "$LIB/index.html" ] && [ -s "$LIB/index.html" ] && ok || bad "unpack prints index.html path"
# Every original body is in the library byte for byte (front matter removed).
for f in "${ARTICLES[@]}"; do
    base=$(basename "$f")
    ext=${base##*.}
    # An HTML original is kept as body.html.txt: opened, it shows as text.
    [ "$ext" = html ] && ext=html.txt
    body=$(find "$LIB" -name "body.$ext" -path "*/${base%.*}*/*" | head -1)
    if [ -z "$body" ]; then
        id=$(sed -n 's/^id: *//p' "$f" | head -1)
        body=$(find "$LIB" -name "body.$ext" -path "*/$id/*" | head -1)
    fi
    if head -1 "$f" | grep -qx -- '---'; then
        awk 'n>=2{print} /^---$/{n++}' "$f" >"$TMP/expected-body"
        # awk adds a final newline only where the file had one.
        cmp -s "$TMP/expected-body" "$body" && ok || bad "body of $base is byte-identical"
    else
        cmp -s "$f" "$body" && ok || bad "body of $base is byte-identical"
    fi
done
png=$(find "$LIB" -name river.png | head -1)
cmp -s "$EX/river.png" "$png" && ok || bad "attachment is byte-identical"
grep -q "Рынок труда" "$LIB/index.html" && ok || bad "Cyrillic title in index.html"
# Unpacking the same bundle again changes nothing.
find "$LIB" -type f -printf '%P %s %T@\n' | sort >"$TMP/before"
"$SZ" unpack --trust "$TMP/pk" --output "$LIB" "$TMP/all.bundle" >/dev/null && ok || bad "re-unpack"
find "$LIB" -type f -printf '%P %s %T@\n' | sort >"$TMP/after"
cmp -s "$TMP/before" "$TMP/after" && ok || bad "unpacking the same bundle twice changes nothing"

# --- refusals
expect_status "verify with another key" 1 "$SZ" verify --trust "$TMP/epk" "$TMP/all.bundle"
expect_stderr "untrusted key named" "not a trusted publisher"
# A mistyped key (one character changed) is caught by its checksum.
# Change one character in the middle (the last one also holds padding bits).
c=${PK_TEXT:20:1}
r=a
[ "$c" = a ] && r=b
BADPK=${PK_TEXT:0:20}$r${PK_TEXT:21}
expect_status "mistyped key" 4 "$SZ" verify --trust "$BADPK" "$TMP/all.bundle"
expect_stderr "mistyped key message" "mistyped"
# Tampering with any part of the bundle is refused and unpacks nothing.
cp "$TMP/all.bundle" "$TMP/tampered.bundle"
printf 'X' | dd of="$TMP/tampered.bundle" bs=1 seek=2000 conv=notrunc 2>/dev/null
expect_status "tampered payload" 1 "$SZ" unpack --trust "$TMP/pk" --output "$TMP/lib2" \
    "$TMP/tampered.bundle"
expect_stderr "tampered named" "tampered.bundle: refused"
[ ! -e "$TMP/lib2" ] && ok || bad "a refused bundle leaves nothing behind"
# One bad bundle among good ones: nothing is unpacked.
expect_status "mixed good and bad" 1 "$SZ" unpack --trust "$TMP/pk" --output "$TMP/lib3" \
    "$TMP/next.bundle" "$TMP/tampered.bundle"
[ ! -e "$TMP/lib3" ] && ok || bad "nothing unpacked when one bundle is refused"

# Markdown that multiplies itself when rendered (one 2,000-byte link reference
# used 150,000 times: 600 KB of text, 300 MB of HTML) is shown as text, and the
# other article of the bundle is there too.
python3 -c '
import sys
url = "https://example.org/" + "a" * 1980
open(sys.argv[1], "w").write("---\ntitle: Bomb\nid: bomb\n---\n[a]: " + url + "\n\n" + "[a] " * 150000)
open(sys.argv[2], "w").write("---\ntitle: Fine\nid: fine\n---\nAll good.\n")
' "$TMP/bomb.md" "$TMP/fine.md"
"$SZ" pack --secret-key "$TMP/sk" --output "$TMP/bomb.bundle" "$TMP/bomb.md" "$TMP/fine.md" \
    >/dev/null || bad "pack the Markdown bomb"
check "a Markdown bomb unpacks" "$SZ" unpack --trust "$TMP/pk" --output "$TMP/bomblib" \
    "$TMP/bomb.bundle"
grep -q "would not render within bounds" "$TMP"/bomblib/*/bomb/index.html 2>/dev/null && ok ||
    bad "the Markdown bomb's page does not show it as text"
[ "$(stat -c %s "$TMP"/bomblib/*/bomb/index.html 2>/dev/null || echo 0)" -lt 2000000 ] && ok ||
    bad "the Markdown bomb's page is not bounded"
grep -q "All good." "$TMP"/bomblib/*/fine/index.html 2>/dev/null && ok ||
    bad "the article beside the Markdown bomb is missing"

# --- bad article input: a clear error naming the file, nothing written
printf -- '---\ntitle: x\n---\n' >"$TMP/nobody.md"
printf 'ok title\n\xff\xfe broken\n' >"$TMP/broken.txt"
printf -- '---\ntitle: t\nid: ../../etc/passwd\n---\nbody\n' >"$TMP/unsafe.md"
printf -- '---\ntitle: [unclosed\n---\nbody\n' >"$TMP/badyaml.md"
printf 'hello\n' >"$TMP/file.pdf"
for f in nobody.md broken.txt unsafe.md badyaml.md file.pdf; do
    expect_status "bad article $f" 3 "$SZ" pack --secret-key "$TMP/sk" --output "$TMP/bad.bundle" \
        "$TMP/$f"
    expect_stderr "error names $f" "$f"
done
[ ! -e "$TMP/bad.bundle" ] && ok || bad "no bundle from bad input"
head -c $((33 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TMP/huge.txt"
expect_status "oversized article" 3 "$SZ" pack --secret-key "$TMP/sk" --output "$TMP/bad.bundle" \
    "$TMP/huge.txt"
expect_stderr "oversized message" "too large|larger"
cp "${ARTICLES[0]}" "$TMP/dup1.md"
cp "${ARTICLES[0]}" "$TMP/d2.md"
sed -i 's/^title:/id: dup1\ntitle:/' "$TMP/d2.md"
expect_status "duplicate ids" 3 "$SZ" pack --secret-key "$TMP/sk" --output "$TMP/bad.bundle" \
    "$TMP/dup1.md" "$TMP/d2.md"
expect_stderr "duplicate message" "same article id"

# --- the test vectors: valid ones pass, each invalid one is refused with its reason
if [ -f "$VEC/expected.tsv" ]; then
    while IFS=$'\t' read -r file expect _rest; do
        case "$file" in "" | \#* | file) continue ;; esac
        if [ "$expect" = ok ]; then
            check "vector $file verifies" "$SZ" verify --trust "$VEC/publisher.pk" "$VEC/$file"
        else
            expect_status "vector $file refused by verify" 1 "$SZ" verify \
                --trust "$VEC/publisher.pk" "$VEC/$file"
            expect_stderr "vector $file reason" "$file: refused: .+"
            expect_status "vector $file refused by unpack" 1 "$SZ" unpack \
                --trust "$VEC/publisher.pk" --output "$TMP/veclib" "$VEC/$file"
            [ ! -e "$TMP/veclib" ] && ok || bad "vector $file left a library behind"
        fi
    done <"$VEC/expected.tsv"
else
    bad "tests/vectors/expected.tsv is missing"
fi

finish
