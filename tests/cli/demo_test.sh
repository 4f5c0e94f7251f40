#!/usr/bin/env bash
# README command 1's network, as scripts/demo.sh runs it after the build
# (scripts/demo_network.sh): it must finish within 60 s, print the path of
# the library's index.html, and that library must hold every sample article,
# fetched from relay 2 alone (the script checks the links as it goes).
# usage: demo_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
trap 'rm -rf "$TMP"' EXIT

t0=$(date +%s)
rc=0
timeout 60 bash "$SRC/scripts/demo_network.sh" "$SZ" "$SZD" "$TMP/work" >"$TMP/out" 2>"$TMP/err" ||
    rc=$?
secs=$(($(date +%s) - t0))
sed 's/^/  | /' "$TMP/err"
[ $rc -eq 0 ] && ok || bad "the demo's network failed (exit $rc, after $secs s)"
[ $secs -lt 60 ] && ok || bad "the demo took $secs s (60 s at most)"
INDEX=$(cat "$TMP/out")
[ "$INDEX" = "$TMP/work/library/index.html" ] && [ -s "$INDEX" ] && ok ||
    bad "the printed path is not the library's index.html: '$INDEX'"
grep -q "The samizdat demo newsroom" "$INDEX" && ok || bad "the publisher's name is not in index.html"
n=0
want=0
for f in "$SRC"/examples/articles/*.md "$SRC"/examples/articles/*.html "$SRC"/examples/articles/*.txt; do
    [ "$(basename "$f")" = README.md ] && continue
    want=$((want + 1))
    id=$(sed -n 's/^id: *//p' "$f" | head -1)
    [ -n "$id" ] || id=$(basename "${f%.*}")
    ls "$TMP"/work/library/*/"$id"/index.html >/dev/null 2>&1 && n=$((n + 1))
done
[ $want -gt 0 ] && [ $n -eq $want ] && ok || bad "$n of $want sample articles in the library"
grep -q "reader fetches from relay2 only" "$TMP/err" && ok || bad "the fetch is not said to use relay2 only"
# No daemon of the demo is left running.
! pgrep -f -- "--data-dir $TMP/work/" >/dev/null && ok || bad "a daemon of the demo is still running"
finish
