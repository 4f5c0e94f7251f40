#!/usr/bin/env bash
# samizdat unpack of many bundles at once (an archive copied from a USB
# stick): memory does not grow with their number (past 128 MiB of bundles and
# articles they are checked all first, then read again and added in parts),
# every bundle is added once, and one refused bundle still means nothing is
# written.
# usage: unpack_many_test.sh SAMIZDAT SOURCE_DIR BENCH_FETCH_GEN SANITIZED(ON|OFF)
set -u
SZ=$1
SRC=$2
GEN=$3
SANITIZED=$4
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"

# 200 bundles of one article of 1 MiB of words each: 40 MB of bundles, 200 MiB
# of articles (held at once, that is about 250 MiB of memory).
words_corpus "$TMP/corpus" 1
"$GEN" gen --corpus "$TMP/corpus" --out "$TMP/b" --bundles 200 --articles 1 --level 1 \
    >/dev/null || bad "generating 200 bundles"
BUNDLES=("$TMP"/b/*.bundle)

# maxrss COMMAND...: runs it (output in $TMP/out, $TMP/err), prints "STATUS MiB".
maxrss() {
    python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[3:], stdout=open(sys.argv[1], "w"), stderr=open(sys.argv[2], "w"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' \
        "$TMP/out" "$TMP/err" "$@"
}

# 1. One refused bundle among the 200: nothing is written, though the others
# are read in parts.
cp "${BUNDLES[0]}" "$TMP/bad.bundle"
printf '\xff' | dd of="$TMP/bad.bundle" bs=1 seek=$(($(stat -c %s "$TMP/bad.bundle") - 10)) \
    conv=notrunc 2>/dev/null
read -r rc mib < <(maxrss "$SZ" unpack --trust "$TMP/b/pub.pk" --output "$TMP/lib" \
    "${BUNDLES[@]}" "$TMP/bad.bundle")
[ "$rc" -eq 1 ] && ok || bad "a refused bundle among many: exit $rc, wanted 1 ($(cat "$TMP/err"))"
grep -q "nothing was unpacked" "$TMP/err" && [ ! -e "$TMP/lib" ] && ok ||
    bad "a refused bundle among many left something: $(ls -a "$TMP/lib" 2>&1 | head -5)"

# 2. All 200: each added once, in bounded memory.
read -r rc mib < <(maxrss "$SZ" unpack --trust "$TMP/b/pub.pk" --output "$TMP/lib" "${BUNDLES[@]}")
echo "unpack_many_test: 200 bundles (200 MiB of articles) unpacked with ${mib} MiB of memory at most"
[ "$rc" -eq 0 ] && grep -q "200 bundles added, 0 already present, 200 articles written" \
    "$TMP/err" && ok || bad "unpack of 200 bundles: exit $rc: $(cat "$TMP/err")"
[ "$(grep -c '^B ' "$TMP/lib/.samizdat/library.idx")" -eq 200 ] &&
    [ "$(grep -c '^A ' "$TMP/lib/.samizdat/library.idx")" -eq 200 ] &&
    [ "$(find "$TMP/lib" -mindepth 2 -maxdepth 2 -name 's*' -type d | wc -l)" -eq 200 ] && ok ||
    bad "the library does not hold the 200 bundles once each"
# Sanitizers add their own memory: only the plain build is measured.
if [ "$SANITIZED" != ON ]; then
    [ "$mib" -lt 180 ] && ok || bad "unpack of 200 MiB of articles took $mib MiB of memory"
fi

# 3. Again: all present, nothing written twice.
read -r rc mib < <(maxrss "$SZ" unpack --trust "$TMP/b/pub.pk" --output "$TMP/lib" "${BUNDLES[@]}")
[ "$rc" -eq 0 ] && grep -q "0 bundles added, 200 already present, 0 articles written" \
    "$TMP/err" && ok || bad "unpack of 200 bundles again: exit $rc: $(cat "$TMP/err")"

finish
