#!/usr/bin/env bash
# The limits a reader's machine sets. A library on a disk that fills up (a
# USB stick, an SD card): `samizdat fetch`
# adds the bundles that fit, says the disk is full and what to do, leaves no
# file of a bundle it could not add, and a fetch after space was freed gets the
# rest. `samizdat unpack` (all or nothing) leaves the library as it was. The
# disk is a 1 MiB tmpfs in a mount namespace of the test's own. A fetch of a
# long backlog stops downloading once the disk is full; a relay whose data
# folder fills up says so and keeps running; publish on a full disk says so.
# Memory: a fetch of 200 MiB of articles holds two batches of 64 MiB at most,
# not everything it has received.
# usage: limits_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR BENCH_FETCH_GEN SANITIZED(ON|OFF)
set -u
SZ=$1
SZD=$2
SRC=$3
GEN=$4
SANITIZED=${5:-OFF}
if [ -z "${SZ_FULL_TEST_NS:-}" ]; then
    for flags in "-m" "-r -m"; do
        # shellcheck disable=SC2086
        if unshare $flags true 2>/dev/null; then
            SZ_FULL_TEST_NS=1 exec unshare $flags bash "$0" "$@"
        fi
    done
    echo "SKIPPED: needs a mount namespace (unshare -m, as root or in a user namespace)" >&2
    exit 77
fi
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
DISK=$TMP/disk
mkdir -p "$DISK"
PROXIES=()
trap 'kill "${PROXIES[@]}" 2>/dev/null; cleanup_daemons; umount "$DISK" "$TMP/small" "$TMP/newsroom" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
mount -t tmpfs -o size=1m,mode=700 tmpfs "$DISK" || {
    echo "SKIPPED: cannot mount a tmpfs in the mount namespace" >&2
    exit 77
}
N=20
# proxy_down LABEL: the bytes the proxy LABEL passed back, once its link closed.
proxy_down() {
    local d
    for _ in $(seq 1 50); do
        grep -q "^CLOSED " "$TMP/proxy.$1.log" 2>/dev/null && break
        nap 0.1
    done
    d=$(sed -n 's/^CLOSED .* down \([0-9]*\)$/\1/p' "$TMP/proxy.$1.log" | paste -sd+)
    echo $((${d:-0}))
}

# N bundles of one article each, 40 KB of text that compresses little: each
# takes about 120 KB in a library (its page, its body and the bundle).
"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Heavy Weekly" >"$TMP/trust"
mkdir -p "$TMP/in"
for k in $(seq 1 $N); do
    {
        printf -- '---\ntitle: Edition %s\nid: edition-%s\n---\n' "$k" "$k"
        head -c 30000 /dev/urandom | base64 -w 76
    } >"$TMP/in/e$k.md"
    "$SZ" pack --secret-key "$TMP/pub.sk" --output "$TMP/in/e$k.bundle" "$TMP/in/e$k.md" \
        </dev/null >/dev/null || bad "pack edition $k"
done
start_daemon relay || bad "start relay"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/in/e*.bundle >/dev/null ||
    bad "import the editions"
RELAY=127.0.0.1:$(peer_port relay)

articles() { find "$1" -mindepth 2 -maxdepth 2 -type d -name 'edition-*' | wc -l; }
bundle_files() { find "$1/.samizdat/bundles" -name '*.bundle' 2>/dev/null | wc -l; }
listed() { grep -o 'href="[0-9a-f]*/edition-[0-9]*/index.html"' "$1/index.html" | sort -u | wc -l; }
fetched() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["publishers"][0]["fetched"])' "$1"; }

# 1. The disk fills up: what fits is added, the rest leaves nothing behind.
rc=0
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$DISK/lib" --json \
    2>"$TMP/err1") || rc=$?
[ $rc -eq 5 ] && ok || bad "fetch onto a full disk: exit $rc, wanted 5 ($(cat "$TMP/err1"))"
grep -q "No space left on device (the disk holding $DISK/lib is full: free space on it, or use a library folder on another disk, and run again)" \
    "$TMP/err1" && ok || bad "a full disk is not named with what to do: $(cat "$TMP/err1")"
got=$(fetched "$out" 2>/dev/null || echo 0)
echo "limits_test: $got of $N editions fit on the 1 MiB disk; df: $(df -k "$DISK" | tail -1)"
[ "$got" -ge 1 ] && [ "$got" -lt $N ] && ok ||
    bad "the editions that fit are not added: $got of $N ($out)"
[ "$(articles "$DISK/lib")" -eq "$got" ] && [ "$(bundle_files "$DISK/lib")" -eq "$got" ] &&
    [ "$(listed "$DISK/lib")" -eq "$got" ] && ok ||
    bad "files of editions not added are left on the disk: $(articles "$DISK/lib") article folders, $(bundle_files "$DISK/lib") bundle files, $(listed "$DISK/lib") listed, $got added"
for d in "$DISK"/lib/*/edition-*; do
    [ -f "$d/index.html" ] || bad "an added edition has no page: $d"
done

# 2. Space freed (the disk grows): the next fetch gets the rest.
mount -o remount,size=16m "$DISK" || bad "grow the tmpfs"
rc=0
out=$("$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust" --output "$DISK/lib" --json \
    2>"$TMP/err2") || rc=$?
[ $rc -eq 0 ] && ok || bad "fetch after space was freed: exit $rc ($(cat "$TMP/err2"))"
[ "$(fetched "$out" 2>/dev/null || echo 0)" -eq $((N - got)) ] &&
    [ "$(articles "$DISK/lib")" -eq $N ] && [ "$(listed "$DISK/lib")" -eq $N ] && ok ||
    bad "the rest did not come after space was freed: $out"

# 3. unpack is all or nothing: on a full disk nothing of the batch stays.
umount "$DISK" && mount -t tmpfs -o size=1m,mode=700 tmpfs "$DISK" || bad "a fresh 1 MiB tmpfs"
"$SZ" unpack --trust-file "$TMP/trust" --output "$DISK/lib" "$TMP/in/e1.bundle" >/dev/null \
    2>"$TMP/err3" || bad "unpack one edition: $(cat "$TMP/err3")"
before=$(df -k --output=used "$DISK" | tail -1)
expect_status "unpack onto a full disk" 5 \
    "$SZ" unpack --trust-file "$TMP/trust" --output "$DISK/lib" "$TMP"/in/e*.bundle
expect_stderr "unpack names the full disk" "is full: free space on it"
after=$(df -k --output=used "$DISK" | tail -1)
[ "$(articles "$DISK/lib")" -eq 1 ] && [ "$(bundle_files "$DISK/lib")" -eq 1 ] &&
    [ "$(listed "$DISK/lib")" -eq 1 ] && ok ||
    bad "a failed unpack left files: $(articles "$DISK/lib") article folders, $(bundle_files "$DISK/lib") bundle files"
echo "limits_test: disk used before the failed unpack ${before} KiB, after ${after} KiB"
[ "$after" -le $((before + 8)) ] && ok || bad "a failed unpack took space: $before -> $after KiB"
# Nor does the failure leave its writing mark (the next writer would sweep the
# whole library for nothing) or a folder for a publisher the library lacked.
[ ! -e "$DISK/lib/.samizdat/writing" ] && ok || bad "a failed unpack left .samizdat/writing"
"$SZ" keygen --secret-key "$TMP/wide.sk" --public-key "$TMP/wide.pk" --no-passphrase >/dev/null
{ printf -- '---\ntitle: Wide\nid: wide\n---\n' && head -c 1500000 /dev/urandom | base64; } \
    >"$TMP/wide.md"
"$SZ" pack --secret-key "$TMP/wide.sk" --level 1 --output "$TMP/wide.bundle" "$TMP/wide.md" \
    >/dev/null || bad "pack a 2 MB article"
expect_status "unpack of a new publisher onto a full disk" 5 \
    "$SZ" unpack --trust "$TMP/wide.pk" --output "$DISK/lib" "$TMP/wide.bundle"
[ "$(find "$DISK/lib" -mindepth 1 -maxdepth 1 -type d ! -name .samizdat | wc -l)" -eq 1 ] &&
    [ ! -e "$DISK/lib/.samizdat/writing" ] && ok ||
    bad "a failed unpack of a new publisher left a folder or its mark: $(ls -a "$DISK/lib")"

# 4. A backlog far larger than the disk (3000 bundles, about 9 MB, through a
# proxy that counts the bytes): once the disk is full the fetch stops
# downloading instead of fetching everything only to fail writing it.
random_corpus "$TMP/corpus" 3000
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/backlog" --bundles 3000 --articles 1 --level 1 \
    >/dev/null || bad "generating 3000 bundles"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/backlog/*.bundle >/dev/null ||
    bad "import the backlog"
TOTAL=$(cat "$TMP"/backlog/*.bundle | wc -c)
echo "$(cat "$TMP/backlog/pub.pk") The Long Backlog" >"$TMP/trust-backlog"
umount "$DISK" && mount -t tmpfs -o size=1m,mode=700 tmpfs "$DISK" || bad "a fresh 1 MiB tmpfs"
start_proxy ok
expect_status "fetch of a backlog onto a small disk" 5 \
    "$SZ" fetch --proxy "$PROXY" --peer "$RELAY" --trust-file "$TMP/trust-backlog" \
    --output "$DISK/backlog"
expect_stderr "the fetch says why it stops" "stopping: the library's disk is full"
DOWN=$(proxy_down ok)
echo "limits_test: $DOWN of $TOTAL bytes of the backlog downloaded before the fetch stopped"
[ "$DOWN" -gt 0 ] && [ "$DOWN" -lt $((TOTAL / 2)) ] && ok ||
    bad "the fetch downloaded $DOWN of $TOTAL bytes onto a full disk"
[ "$(find "$DISK/backlog" -mindepth 2 -maxdepth 2 -type d | wc -l)" -ge 1 ] && ok ||
    bad "nothing of the backlog was added"

# 4b. A disk that turns read-only while a fetch runs (a failing SD card that the
# kernel remounts read-only): the fetch stops downloading. Through a proxy
# that passes 500 KB a second the backlog would take 20 s.
umount "$DISK" && mount -t tmpfs -o size=64m,mode=700 tmpfs "$DISK" || bad "a fresh 64 MiB tmpfs"
start_proxy rate:500000 slowro
"$SZ" fetch --proxy "$PROXY" --peer "$RELAY" --trust-file "$TMP/trust-backlog" \
    --output "$DISK/rolib" >/dev/null 2>"$TMP/ro.err" &
FPID=$!
sleep 2
for _ in $(seq 1 50); do
    mount -o remount,ro "$DISK" 2>/dev/null && break # busy while a file is being written
    nap 0.1
done
rc=0
wait $FPID || rc=$?
[ $rc -eq 5 ] && grep -q "stopping: the library cannot be written" "$TMP/ro.err" && ok ||
    bad "a fetch onto a disk turned read-only: exit $rc: $(cat "$TMP/ro.err")"
DOWN=$(proxy_down slowro)
echo "limits_test: $DOWN of $TOTAL bytes downloaded before the fetch onto a read-only disk stopped"
[ "$DOWN" -gt 0 ] && [ "$DOWN" -lt $((TOTAL / 2)) ] && ok ||
    bad "the fetch downloaded $DOWN of $TOTAL bytes onto a read-only disk"

# 4c. A library that cannot be written at all is refused before any peer is
# asked for anything.
start_proxy ok ro0
expect_status "fetch into a read-only library" 5 \
    "$SZ" fetch --proxy "$PROXY" --peer "$RELAY" --trust-file "$TMP/trust-backlog" \
    --output "$DISK/rolib"
expect_stderr "the read-only library is named" \
    "cannot write to folder $DISK/rolib: Read-only file system: choose a folder you can write"
expect_status "fetch into a new folder on a read-only disk" 5 \
    "$SZ" fetch --proxy "$PROXY" --peer "$RELAY" --trust-file "$TMP/trust-backlog" \
    --output "$DISK/newlib"
expect_stderr "the read-only disk is named" "cannot create folder $DISK/newlib: Read-only file system"
nap 0.3
! grep -q "^CONNECT" "$TMP/proxy.ro0.log" 2>/dev/null && ok ||
    bad "a fetch into a library it cannot write connected to a peer"
mount -o remount,rw "$DISK" || bad "the tmpfs writable again"

# 5. A relay whose data folder fills up says so in its log with what to do,
# and keeps running (it serves what it holds, and asks for no bundles for a
# minute after each failure).
mkdir -p "$TMP/small"
mount -t tmpfs -o size=1m,mode=700 tmpfs "$TMP/small" || bad "a 1 MiB tmpfs for a relay"
start_daemon small --peer "$RELAY" || bad "start a relay on a small disk"
wait_log "$TMP/small.log" "ERROR cannot store a bundle from $RELAY: .*the disk is full: free space on the data folder's file system" 30 &&
    ok || bad "a relay on a full disk does not say so: $(tail -3 "$TMP/small.log")"
szq status --socket "$TMP/small/control.sock" >"$TMP/small.status" 2>&1 && ok ||
    bad "the relay on a full disk does not answer: $(cat "$TMP/small.status")"
grep -q "^WARNING: [0-9]* s ago the store could not write a bundle from a peer: .*the disk is full" \
    "$TMP/small.status" && ok || bad "status does not show the store's failure: $(cat "$TMP/small.status")"
szq status --socket "$TMP/small/control.sock" --json >"$TMP/small.json" 2>&1
python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["store_error"]; assert e["age_s"] >= 0 and "disk is full" in e["text"], e' \
    "$TMP/small.json" && ok || bad "status --json has no store_error: $(head -c 600 "$TMP/small.json")"
szq status --socket "$TMP/relay/control.sock" --json >"$TMP/relay.json" 2>&1
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["store_error"] is None' \
    "$TMP/relay.json" && ok || bad "a healthy relay's status --json: $(head -c 600 "$TMP/relay.json")"
# What it downloads: the ranges already asked for still come (up to 16 of
# 128 sequences), the rest of the 3,020 bundles of its peer are not asked.
bundles_in() {
    szq status --socket "$TMP/small/control.sock" 2>/dev/null |
        sed -n "s/^  $RELAY .* in [0-9]* B \/ \([0-9]*\) bundles.*/\1/p"
}
last=-1
for _ in $(seq 1 30); do
    now=$(bundles_in)
    [ -n "$now" ] && [ "$now" = "$last" ] && break
    last=$now
    sleep 1
done
echo "limits_test: the relay on a full disk received $last of the 3,020 bundles its peer holds"
[ -n "$last" ] && [ "$last" -lt 2600 ] && ok ||
    bad "a relay on a full disk went on downloading: $last bundles of 3,020"
stop_daemon small && ok || bad "the relay on a full disk stops cleanly: $(tail -3 "$TMP/small.log")"

# 6. A publishing daemon on a full disk: publish fails with the store's reason
# and what to do; after space was freed the next publish works.
mkdir -p "$TMP/newsroom"
mount -t tmpfs -o size=1m,mode=700 tmpfs "$TMP/newsroom" || bad "a 1 MiB tmpfs for a publisher"
start_daemon newsroom --publisher-key "$TMP/pub.sk" --batch-window-ms 0 ||
    bad "start a publisher on a small disk"
head -c $((2 << 20)) /dev/zero >"$TMP/newsroom/filler" 2>/dev/null
expect_status "publish onto a full disk" 6 \
    "$SZ" publish --socket "$TMP/newsroom/control.sock" "$TMP/in/e1.md"
expect_stderr "publish names the full disk" "the disk is full: free space on the data folder's file system"
# An import that fails there is in the daemon's log too, for its operator.
expect_status "import onto a full disk" 6 \
    "$SZ" import --socket "$TMP/newsroom/control.sock" "$TMP/in/e3.bundle"
expect_stderr "import names the full disk" "nothing was stored: .*the disk is full"
grep -q "ERROR control request import failed: nothing was stored: .*the disk is full" \
    "$TMP/newsroom.log" && ok || bad "the failed import is not in the log: $(tail -3 "$TMP/newsroom.log")"
rm -f "$TMP/newsroom/filler"
check "publish once space was freed" "$SZ" publish --socket "$TMP/newsroom/control.sock" "$TMP/in/e2.md"
stop_daemon newsroom && ok || bad "the publisher stops cleanly: $(tail -3 "$TMP/newsroom.log")"

# 7. Memory: 200 bundles of one 1 MiB article each (40 MB of bundles, 200 MiB
# of articles) fetched at once. Batches count the articles too, so the reader
# holds about two batches of 64 MiB, not the 240 MiB it receives.
words_corpus "$TMP/bigcorpus" 2
"$GEN" gen --corpus "$TMP/bigcorpus" --out "$TMP/big" --bundles 200 --articles 1 --level 1 --seed 2 \
    >/dev/null || bad "generating 200 bundles of 1 MiB articles"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP"/big/*.bundle >/dev/null ||
    bad "import the 1 MiB articles"
echo "$(cat "$TMP/big/pub.pk") The Long Reads" >"$TMP/trust-big"
read -r rc mib < <(python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' \
    "$TMP/big.err" "$SZ" fetch --peer "$RELAY" --trust-file "$TMP/trust-big" --output "$TMP/biglib")
echo "limits_test: 200 MiB of articles fetched with ${mib} MiB of memory at most"
[ "$rc" -eq 0 ] && grep -q "The Long Reads: 200 new" "$TMP/big.err" && ok ||
    bad "fetch of 200 MiB of articles: exit $rc: $(cat "$TMP/big.err")"
# Sanitizers add their own memory: only the plain build is measured.
if [ "$SANITIZED" != ON ]; then
    [ "$mib" -lt 200 ] && ok || bad "a fetch of 200 MiB of articles took $mib MiB of memory"
fi

stop_daemon relay || bad "the relay stops cleanly"
finish
