#!/usr/bin/env bash
# IMPORT screens every bundle's header before it inflates anything: bundles of
# publishers not carried, ids already stored and copies within one request
# cost no decompression, so they cannot tie up the thread pool (a STATUS still
# answers at once). STATUS stays within its size limit however many
# publishers are held.
# usage: import_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A bundle of 6 KB at most that inflates to 62 MiB: two articles of 31 MiB of 'a'.
make_bomb() { # make_bomb KEY OUTPUT
    local n
    for n in 1 2; do
        [ -f "$TMP/bomb$n.md" ] && continue
        { printf -- '---\ntitle: Bomb %s\nid: bomb%s\n---\n' "$n" "$n"
          head -c 31M /dev/zero | tr '\0' a; } >"$TMP/bomb$n.md"
    done
    "$SZ" pack --secret-key "$TMP/$1.sk" --level 1 --output "$2" "$TMP/bomb1.md" "$TMP/bomb2.md" \
        </dev/null >/dev/null 2>&1
}

for k in A B; do
    "$SZ" keygen --secret-key "$TMP/$k.sk" --public-key "$TMP/$k.pk" --no-passphrase >/dev/null ||
        bad "keygen $k"
done
check "pack the bomb of A" make_bomb A "$TMP/bombA.bundle"
check "pack the bomb of B" make_bomb B "$TMP/bombB.bundle"
[ "$(stat -c %s "$TMP/bombA.bundle")" -lt 8192 ] && ok || bad "the bomb is small"
rm -f "$TMP/bomb1.md" "$TMP/bomb2.md"
printf -- '---\ntitle: Small\nid: small\n---\nA small article.\n' >"$TMP/small.md"
"$SZ" pack --secret-key "$TMP/B.sk" --level 1 --output "$TMP/small.bundle" "$TMP/small.md" \
    </dev/null >/dev/null 2>&1 || bad "pack small"

# The relay carries B only.
start_daemon imp --carry list --publishers "$(cat "$TMP/B.pk")" || bad "start imp"
SOCK=$TMP/imp/control.sock

# copies N FILE: prints FILE N times, for one import of N copies.
copies() {
    local i
    for i in $(seq 1 "$1"); do echo "$2"; done
}

# 1. 512 copies of a bomb from a publisher not carried (two requests of 256):
#    refused as not carried before any inflation, in well under a second; a
#    STATUS sent meanwhile answers at once.
t0=$(now_ms)
copies 512 "$TMP/bombA.bundle" | xargs timeout 60 "$SZ" import --socket "$SOCK" \
    >"$TMP/notcarried.out" 2>&1 &
IMPORT_PID=$!
nap 0.2
t1=$(now_ms)
szq status --socket "$SOCK" >/dev/null || bad "status during the import"
t2=$(now_ms)
wait "$IMPORT_PID"
t3=$(now_ms)
[ $((t2 - t1)) -lt 3000 ] && ok ||
    bad "status answers within 3 s during an import of 512 bombs not carried ($((t2 - t1)) ms)"
[ $((t3 - t0)) -lt 5000 ] && ok ||
    bad "512 bombs of a publisher not carried are refused within 5 s ($((t3 - t0)) ms)"
n=$(grep -c "^not-stored [0-9a-f]\{64\} .*: not carried: publisher $(cat "$TMP/A.pk") " \
    "$TMP/notcarried.out")
[ "$n" = 512 ] && ok || bad "512 results say not carried ($n): $(head -c 300 "$TMP/notcarried.out")"

# 2. 256 copies of a carried bomb in one request: the first is stored, the
#    others are already stored, and the bomb is inflated once, not 256 times.
t0=$(now_ms)
copies 256 "$TMP/bombB.bundle" | xargs timeout 60 "$SZ" import --socket "$SOCK" \
    >"$TMP/repeats.out" 2>&1
t1=$(now_ms)
[ $((t1 - t0)) -lt 5000 ] && ok ||
    bad "256 copies of a carried bomb in one request are imported within 5 s ($((t1 - t0)) ms)"
head -1 "$TMP/repeats.out" | grep -q "^stored [0-9a-f]\{64\} .*: stored$" && ok ||
    bad "the first copy is stored: $(head -1 "$TMP/repeats.out")"
n=$(tail -n +2 "$TMP/repeats.out" | grep -c "^present [0-9a-f]\{64\} .*: already stored$")
[ "$n" = 255 ] && ok || bad "the 255 other copies are already stored ($n)"
[ "$(count_bundles imp)" = 1 ] && ok || bad "one bundle held ($(count_bundles imp))"

# 3. Again: every copy is already stored, without inflating any.
t0=$(now_ms)
copies 256 "$TMP/bombB.bundle" | xargs timeout 60 "$SZ" import --socket "$SOCK" \
    >"$TMP/held.out" 2>&1
t1=$(now_ms)
[ $((t1 - t0)) -lt 3000 ] && ok ||
    bad "256 copies of a held bomb are answered within 3 s ($((t1 - t0)) ms)"
n=$(grep -c "^present [0-9a-f]\{64\} .*: already stored$" "$TMP/held.out")
[ "$n" = 256 ] && ok || bad "256 results say already stored ($n)"

# 4. One result per item, in request order, as CONTROL.md 6.3 documents: a file
#    that is no bundle, a bundle of a publisher not carried and a damaged copy
#    of it, a new bundle and its copy, a held bundle and a damaged copy of it
#    (same id, so the signature is checked before the id is looked up).
head -c 500 /dev/urandom >"$TMP/junk.bundle"
for k in A B; do
    cp "$TMP/bomb$k.bundle" "$TMP/bomb$k-bad.bundle"
    printf '\xff' | dd of="$TMP/bomb$k-bad.bundle" bs=1 seek=120 conv=notrunc 2>/dev/null
done
"$SZ" import --socket "$SOCK" "$TMP/junk.bundle" "$TMP/bombA.bundle" "$TMP/bombA-bad.bundle" \
    "$TMP/small.bundle" "$TMP/small.bundle" "$TMP/bombB.bundle" "$TMP/bombB-bad.bundle" \
    >"$TMP/mixed.out" 2>&1
line() { sed -n "$1p" "$TMP/mixed.out"; }
line 1 | grep -q "^refused .*junk.bundle: .*malformed" && ok || bad "junk: $(line 1)"
line 2 | grep -q "^not-stored [0-9a-f]\{64\} .*bombA.bundle: not carried" && ok ||
    bad "not carried: $(line 2)"
line 3 | grep -q "^refused [0-9a-f]\{64\} .*bombA-bad.bundle: refused: signature" && ok ||
    bad "a damaged bundle of a publisher not carried: $(line 3)"
line 4 | grep -q "^stored [0-9a-f]\{64\} .*small.bundle: stored$" && ok || bad "new: $(line 4)"
line 5 | grep -q "^present [0-9a-f]\{64\} .*small.bundle: already stored$" && ok ||
    bad "its copy in the same request: $(line 5)"
line 6 | grep -q "^present [0-9a-f]\{64\} .*bombB.bundle: already stored$" && ok ||
    bad "held: $(line 6)"
line 7 | grep -q "^refused [0-9a-f]\{64\} .*bombB-bad.bundle: refused: signature" && ok ||
    bad "a damaged copy of a held bundle: $(line 7)"
[ "$(wc -l <"$TMP/mixed.out")" = 7 ] && ok || bad "seven results: $(cat "$TMP/mixed.out")"
check "stop imp" stop_daemon imp

# 5. STATUS with 600 publishers (any peer can push bundles of throwaway keys to
#    a relay with carry = any): the 50 holding the most bytes, the rest counted.
# One bundle each of 600 publishers (keys from seeds 1..600), in one process:
# lines "KEY SEED" in $TMP/keys/pub.pk.
tiny_corpus "$TMP/corpus"
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/keys" --bundles 1 --articles 1 --level 1 \
    --seed 1 --publishers 600 >/dev/null || bad "make 600 publishers"
# One publisher holds more than the others: it is listed first. Its second
# bundle (sequence 2) is of one larger article.
random_corpus "$TMP/bigcorpus" 30000
"$GEN" gen --corpus "$TMP/bigcorpus" --out "$TMP/big" --bundles 2 --articles 1 --level 1 \
    --seed 600 >/dev/null && cp "$TMP/big/00002.bundle" "$TMP/keys/600b.bundle" || bad "pack big"
BIG_KEY=$(awk '$2 == 600 { print $1 }' "$TMP/keys/pub.pk")
start_daemon many || bad "start many"
MSOCK=$TMP/many/control.sock
ls "$TMP"/keys/*.bundle | xargs "$SZ" import --socket "$MSOCK" >"$TMP/many.out" 2>&1 ||
    bad "import 601 bundles: $(grep -v '^stored' "$TMP/many.out" | head -3)"
"$SZ" status --socket "$MSOCK" >"$TMP/status.txt" 2>&1 && ok ||
    bad "status with 600 publishers: $(head -c 300 "$TMP/status.txt")"
grep -Eq "^  and 550 more publishers \([0-9.]+ (bytes?|KiB|MiB|GiB|TiB)\)$" "$TMP/status.txt" && ok ||
    bad "status says how many publishers are not shown: $(tail -5 "$TMP/status.txt")"
n=$(grep -c "^  szpk1[a-z0-9]*  [0-9]* bundles\?," "$TMP/status.txt")
[ "$n" = 50 ] && ok || bad "50 publishers shown ($n)"
"$SZ" status --socket "$MSOCK" --json >"$TMP/status.json" 2>&1 || bad "status --json"
python3 - "$TMP/status.json" "$BIG_KEY" <<'EOF' 2>"$TMP/py.err" && ok ||
import json, sys
s = json.load(open(sys.argv[1]))
p = s["publishers"]
assert len(p) == 50 and s["publishers_omitted"] == 550, (len(p), s.get("publishers_omitted"))
assert p[0]["key"] == sys.argv[2] and p[0]["bundles"] == 2, p[0]
assert all(a["bytes"] >= b["bytes"] for a, b in zip(p, p[1:])), "ordered by bytes"
assert sum(x["bytes"] for x in p) + s["publishers_omitted_bytes"] == s["bytes"], "bytes add up"
EOF
    bad "status --json with 600 publishers: $(tail -1 "$TMP/py.err")"
check "stop many" stop_daemon many

# --- Requests that announce 80 MiB and stall: together they hold at most the
# daemon's budget (256 MiB); one beyond it is refused, and the daemon answers.
start_daemon stall || bad "start stall"
# Under AddressSanitizer freed memory waits in a 256 MB quarantine, counted in VmRSS.
BOUND_KB=$((400 * 1024))
LC_ALL=C grep -q -a __asan_init "$SZD" && BOUND_KB=$((BOUND_KB + 256 * 1024))
python3 - "$TMP/stall/control.sock" "$PID_stall" "$BOUND_KB" <<'EOF' 2>"$TMP/stall.err" && ok ||
import socket, struct, sys, time
path, pid, bound = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = 80 << 20
chunk = b"\0" * (1 << 20)
conns, refused = [], 0
for k in range(5):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(10)
    s.sendall(struct.pack("<I", body))
    try:
        for _ in range(79):
            s.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        refused += 1
    conns.append(s)
time.sleep(0.5)
rss = int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
assert refused >= 1, f"no request was refused beyond the budget (rss {rss} kB)"
assert rss < bound, f"daemon holds {rss} kB for stalled requests (bound {bound} kB)"
print(f"refused {refused}, rss {rss} kB", file=sys.stderr)
EOF
    bad "stalled 80 MiB requests are bounded: $(tail -2 "$TMP/stall.err")"
szq status --socket "$TMP/stall/control.sock" >/dev/null 2>&1 && ok ||
    bad "status answers beside stalled requests"
check "stop stall" stop_daemon stall

finish
