#!/usr/bin/env bash
# A relay that evicted a publisher's oldest bundles for its per-publisher quota
# does not fetch them again from a peer that keeps them all, not even after a
# restart (the store keeps how far it evicted, and which sequences above that
# it evicted); a newer bundle still comes, by catch-up and by announcement.
# usage: evict_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT

# bundles_in NAME: the bundles received over all of the daemon's open links.
bundles_in() {
    szq status --json --socket "$TMP/$1/control.sock" |
        python3 -c 'import json,sys; print(sum(l["bundles_in"] for l in json.load(sys.stdin)["peers"]))'
}
# seqs NAME: the sequences the daemon holds, in order, on one line.
seqs() {
    szq list --socket "$TMP/$1/control.sock" | awk '{print $3}' | sort -n | tr '\n' ' '
}
# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
    local t=$1 i
    shift
    for i in $(seq 1 $((t * 10))); do
        "$@" && return 0
        nap 0.1
    done
    return 1
}
# make_bundle I: bundle I of key k, of about 306 KB (random text compresses
# little), created I minutes after T0; imported into daemon src.
T0=$(($(date +%s) - 3600))
make_bundle() {
    { printf -- '---\ntitle: Report %s\nid: r%s\n---\n' "$1" "$1"
      head -c 300000 /dev/urandom | base64 -w 76; } >"$TMP/r$1.md"
    "$SZ" pack --secret-key "$TMP/k.sk" --level 1 --sequence "$1" \
        --created "$(date -u -d "@$((T0 + 60 * $1))" +%Y-%m-%dT%H:%M:%SZ)" \
        --output "$TMP/r$1.bundle" "$TMP/r$1.md" </dev/null >/dev/null 2>&1 || bad "pack r$1"
    "$SZ" import --socket "$TMP/src/control.sock" "$TMP/r$1.bundle" >/dev/null || bad "import r$1"
}
relay() { start_daemon relay --expiry-days 0 --publisher-max-bytes 1M --peer "127.0.0.1:$(peer_port src)"; }

"$SZ" keygen --secret-key "$TMP/k.sk" --public-key "$TMP/k.pk" --no-passphrase >/dev/null
check "start the source (no quota)" start_daemon src --expiry-days 0
for i in 1 2 3 4 5; do make_bundle $i; done

# 1. The relay takes all 5; its 1 MiB quota keeps the newest 3.
check "start the relay with a 1M per-publisher quota" relay
wait_for 10 eval '[ "$(bundles_in relay)" -ge 5 ]' && ok ||
    bad "the relay received $(bundles_in relay) bundles, wanted 5"
wait_for 5 eval '[ "$(seqs relay)" = "3 4 5 " ]' && ok ||
    bad "the relay holds sequences $(seqs relay), wanted 3 4 5 (1 and 2 evicted)"
check "stop the relay" stop_daemon relay

# 2. Restarted, with a newer bundle at the source: it catches up that one
# only, not the evicted 1 and 2 that the source still offers.
make_bundle 6
check "restart the relay" relay
wait_for 10 eval '[ "$(seqs relay)" = "4 5 6 " ]' && ok ||
    bad "after the restart the relay holds $(seqs relay), wanted 4 5 6"
sleep 1 # time for evicted bundles, if asked for, to come in
n=$(bundles_in relay)
[ "$n" -eq 1 ] && ok ||
    bad "after the restart the relay fetched $n bundles, wanted 1 (evicted ones fetched again)"

# An announced bundle at or below how far the relay evicted (a second
# bundle signed for sequence 2, dated before those it holds) is not fetched:
# it would be evicted on arrival.
{ printf -- '---\ntitle: Report 2 again\nid: r2b\n---\n'; head -c 300000 /dev/urandom | base64 -w 76; } >"$TMP/r2b.md"
"$SZ" pack --secret-key "$TMP/k.sk" --level 1 --sequence 2 --reuse-sequence \
    --created "$(date -u -d "@$((T0 + 150))" +%Y-%m-%dT%H:%M:%SZ)" \
    --output "$TMP/r2b.bundle" "$TMP/r2b.md" </dev/null >/dev/null 2>&1 || bad "pack r2b"
"$SZ" import --socket "$TMP/src/control.sock" "$TMP/r2b.bundle" >/dev/null || bad "import r2b"
sleep 1 # time for the announcement, and a fetch if it were wanted
n=$(bundles_in relay)
[ "$n" -eq 1 ] && ok ||
    bad "the relay fetched an announced bundle below its eviction floor ($n bundles since the restart, wanted 1)"

# 3. A bundle published later still comes, announced.
make_bundle 7
wait_for 10 eval '[ "$(seqs relay)" = "5 6 7 " ]' && ok ||
    bad "the relay holds $(seqs relay) after a new bundle, wanted 5 6 7"
n=$(bundles_in relay)
[ "$n" -eq 2 ] && ok || bad "the relay fetched $n bundles since the restart, wanted 2"
check "stop the relay" stop_daemon relay
check "stop the source" stop_daemon src

# 4. A bundle dated before lower sequences still held (backdated: an archive
# packed with --created) goes first for the quota, above how far the relay
# evicted; it is not fetched again from a second peer that has it, nor from
# either after a restart (before, it came from every peer at each SUMMARY and
# new link, was stored and evicted again: 300 KB each time).
gbundle() { # gbundle I CREATED: bundle I of key g, into the sources s1 and s2
    { printf -- '---\ntitle: G %s\nid: g%s\n---\n' "$1" "$1"
      head -c 300000 /dev/urandom | base64 -w 76; } >"$TMP/g$1.md"
    "$SZ" pack --secret-key "$TMP/g.sk" --level 1 --sequence "$1" --created "$2" \
        --output "$TMP/g$1.bundle" "$TMP/g$1.md" </dev/null >/dev/null 2>&1 || bad "pack g$1"
    for src in s1 s2; do
        "$SZ" import --socket "$TMP/$src/control.sock" "$TMP/g$1.bundle" >/dev/null ||
            bad "import g$1 at $src"
    done
}
"$SZ" keygen --secret-key "$TMP/g.sk" --public-key "$TMP/g.pk" --no-passphrase >/dev/null
start_daemon s1 --expiry-days 0 || bad "start s1"
start_daemon s2 --expiry-days 0 || bad "start s2"
for i in 1 2 3; do gbundle $i "$(date -u -d "@$((T0 + 60 * i))" +%Y-%m-%dT%H:%M:%SZ)"; done
gbundle 4 "$(date -u -d "@$((T0 - 3600))" +%Y-%m-%dT%H:%M:%SZ)"
# First from s1 alone (two sources compared at once may both be asked for
# 4 before it is evicted), then, restarted, from both.
check "start a relay of s1" start_daemon g --expiry-days 0 --publisher-max-bytes 1M \
    --peer "127.0.0.1:$(peer_port s1)"
wait_for 10 eval '[ "$(seqs g)" = "1 2 3 " ]' && ok ||
    bad "the relay holds $(seqs g), wanted 1 2 3 (the backdated 4 evicted)"
n=$(bundles_in g)
[ "$n" -eq 4 ] && ok || bad "the relay fetched $n bundles from s1, wanted 4"
check "stop the relay" stop_daemon g
check "restart the relay with both sources" start_daemon g --expiry-days 0 \
    --publisher-max-bytes 1M --peer "127.0.0.1:$(peer_port s1)" --peer "127.0.0.1:$(peer_port s2)"
sleep 3 # time for both SUMMARYs, and a fetch if 4 were wanted
n=$(bundles_in g)
[ "$n" -eq 0 ] && [ "$(seqs g)" = "1 2 3 " ] && ok ||
    bad "after a restart the relay fetched $n bundles from its two sources, wanted 0 (the backdated 4 fetched again)"
check "stop the relay" stop_daemon g
check "stop s1" stop_daemon s1
check "stop s2" stop_daemon s2

# A relay that refuses a higher sequence dated far back (expired on arrival:
# creation times are the signer's) still fetches a lower one dated now that
# arrives after it: the refusal does not hide what is older than it but newer.
"$SZ" keygen --secret-key "$TMP/e.sk" --public-key "$TMP/e.pk" --no-passphrase >/dev/null
for s in 1 2 3 5 6; do
    printf -- '---\ntitle: E%s\nid: e%s\n---\nText %s.\n' "$s" "$s" "$s" >"$TMP/e$s.md"
done
for s in 1 2 3 5; do
    "$SZ" pack --secret-key "$TMP/e.sk" --sequence "$s" --reuse-sequence \
        --output "$TMP/e$s.bundle" "$TMP/e$s.md" >/dev/null || bad "pack e$s"
done
"$SZ" pack --secret-key "$TMP/e.sk" --sequence 6 --reuse-sequence \
    --created "$(date -u -d '-40 days' +%Y-%m-%dT%H:%M:%SZ)" \
    --output "$TMP/e6.bundle" "$TMP/e6.md" >/dev/null || bad "pack e6"
start_daemon eo --expiry-days 0 || bad "start eo"
"$SZ" import --socket "$TMP/eo/control.sock" "$TMP/e1.bundle" "$TMP/e2.bundle" \
    "$TMP/e3.bundle" >/dev/null || bad "import e1-e3"
start_daemon er --expiry-days 30 --peer "127.0.0.1:$(peer_port eo)" || bad "start er"
wait_bundles er 3 20 || bad "the relay did not catch up e1-e3"
"$SZ" import --socket "$TMP/eo/control.sock" "$TMP/e6.bundle" >/dev/null || bad "import e6"
refused_some() {
    [ "$(szq status --json --socket "$TMP/$1/control.sock" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["refused"])')" -ge 1 ]
}
wait_for 10 refused_some er || bad "the relay did not fetch and refuse e6 (expired)"
"$SZ" import --socket "$TMP/eo/control.sock" "$TMP/e5.bundle" >/dev/null || bad "import e5"
wait_bundles er 4 10 && [ "$(seqs er)" = "1 2 3 5 " ] && ok ||
    bad "after refusing e6 (dated 40 days back), the relay holds $(seqs er), wanted 1 2 3 5"
# Imported, it is refused naming the setting that refuses it.
"$SZ" import --socket "$TMP/er/control.sock" "$TMP/e6.bundle" >"$TMP/e6.imp" 2>&1
grep -q "^not-stored [0-9a-f]\{64\} .*e6.bundle: not stored: older than this daemon keeps bundles (expiry_days)" \
    "$TMP/e6.imp" && ok || bad "an expired import does not name expiry_days: $(cat "$TMP/e6.imp")"
check "stop er" stop_daemon er
check "stop eo" stop_daemon eo

# 6. A clock that steps back (a board without a clock battery booting in
# 1970): the bundles held are not removed as dated ahead of it, nothing is
# signed with it, and the log says what to do (before, the first maintenance
# removed every bundle, and publish signed bundles dated 1970).
# Debian puts it under the architecture's library folder.
FT=$(find /usr/lib -path '*/faketime/libfaketime.so.1' 2>/dev/null | head -1)
if [ -z "$FT" ] || [ ! -r "$FT" ]; then
    echo "SKIP: the clock checks need libfaketime (Debian package faketime)"
else
    # in_1970 COMMAND...: runs it with a clock starting at 1970-01-01T00:00:10Z
    # (timers keep the real monotonic clock; ASan accepts the preload).
    in_1970() {
        LD_PRELOAD=$FT FAKETIME="@1970-01-01 00:00:10" DONT_FAKE_MONOTONIC=1 \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
    }
    cat >"$TMP/szd_1970" <<EOF
#!/bin/sh
LD_PRELOAD=$FT FAKETIME="@1970-01-01 00:00:10" DONT_FAKE_MONOTONIC=1 \\
    ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" exec "$SZD" "\$@"
EOF
    chmod +x "$TMP/szd_1970"
    "$SZ" keygen --secret-key "$TMP/c.sk" --public-key "$TMP/c.pk" --no-passphrase >/dev/null
    printf -- '---\ntitle: Before\n---\nWritten with the clock right.\n' >"$TMP/c1.md"
    printf -- '---\ntitle: After\n---\nWritten in 1970.\n' >"$TMP/c2.md"
    start_daemon ck --expiry-days 30 --publisher-key "$TMP/c.sk" --batch-window-ms 0 ||
        bad "start ck"
    "$SZ" import --socket "$TMP/ck/control.sock" "$TMP/e1.bundle" "$TMP/e2.bundle" >/dev/null ||
        bad "import e1 e2 into ck"
    "$SZ" publish --socket "$TMP/ck/control.sock" "$TMP/c1.md" >/dev/null || bad "publish c1"
    check "stop ck" stop_daemon ck
    saved=$SZD
    SZD=$TMP/szd_1970
    start_daemon ck --expiry-days 30 --publisher-key "$TMP/c.sk" --batch-window-ms 0 ||
        bad "start ck with its clock in 1970"
    SZD=$saved
    wait_log "$TMP/ck.log" "clock reads 1970-01-01T00:00:1.Z, [0-9]* days before a bundle was stored here" 10 &&
        grep -q "set the clock" "$TMP/ck.log" && ok ||
        bad "a clock stepped back to 1970 is not named: $(tail -5 "$TMP/ck.log")"
    sleep 1 # the first maintenance has run
    [ "$(count_bundles ck)" = 3 ] && ok ||
        bad "with its clock in 1970 the daemon holds $(count_bundles ck) bundles, wanted 3"
    rc=0
    "$SZ" publish --socket "$TMP/ck/control.sock" "$TMP/c2.md" >"$TMP/c2.out" 2>&1 || rc=$?
    [ $rc -ne 0 ] && grep -q "nothing was signed: this machine's clock reads 1970" "$TMP/c2.out" &&
        [ "$(count_bundles ck)" = 3 ] && ok ||
        bad "publishing with the clock in 1970 (rc $rc): $(cat "$TMP/c2.out")"
    check "stop ck" stop_daemon ck
    # pack takes the clock too, unless --created gives the time.
    rc=0
    in_1970 "$SZ" pack --secret-key "$TMP/c.sk" --output "$TMP/c2.bundle" "$TMP/c2.md" \
        >"$TMP/c2.out" 2>&1 || rc=$?
    [ $rc -eq 2 ] && [ ! -e "$TMP/c2.bundle" ] &&
        grep -q "clock reads 1970-01-01T00:00:1.Z, before this samizdat was made" "$TMP/c2.out" &&
        ok || bad "pack with the clock in 1970 (rc $rc): $(cat "$TMP/c2.out")"
    in_1970 "$SZ" pack --secret-key "$TMP/c.sk" --created 2026-11-28T10:00:00Z \
        --output "$TMP/c2.bundle" "$TMP/c2.md" >/dev/null 2>&1 && ok ||
        bad "pack --created with the clock in 1970"
fi
finish
