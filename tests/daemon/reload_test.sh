#!/usr/bin/env bash
# SIGHUP: the config file is read again with the command line's flags still
# over it, and lowered quotas apply to what the store holds at once.
# usage: reload_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
# Daemons started without start_daemon keep the leak check (common.sh).
SZ_LEAK_CHECK_ALL=1
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT

status_field() { # status_field NAME FIELD
    szq status --socket "$TMP/$1/control.sock" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# 1. A flag given at start survives a reload of a file that says otherwise.
printf '[store]\nmax_bytes = 1M\nexpiry_days = 30\n' >"$TMP/flags.ini"
start_daemon flags --config "$TMP/flags.ini" --max-bytes 4M || bad "start flags"
[ "$(status_field flags quota_bytes)" = 4194304 ] && ok || bad "--max-bytes 4M at start"
printf '[store]\nmax_bytes = 1M\nexpiry_days = 20\n' >"$TMP/flags.ini"
kill -HUP "$PID_flags"
for i in $(seq 1 50); do
    [ "$(status_field flags expiry_days)" = 20 ] && break
    nap 0.1
done
[ "$(status_field flags expiry_days)" = 20 ] && ok || bad "the file's new expiry_days applied"
q=$(status_field flags quota_bytes)
[ "$q" = 4194304 ] && ok || bad "--max-bytes still overrides the file after SIGHUP (quota $q)"
grep -q "SIGHUP: reloaded" "$TMP/flags.log" && ok || bad "reload logged: $(tail -3 "$TMP/flags.log")"

# 2. A lowered quota evicts at once, not at the next hourly maintenance.
printf '[store]\nmax_bytes = 4M\n' >"$TMP/quota.ini"
start_daemon quota --config "$TMP/quota.ini" || bad "start quota"
"$SZ" keygen --secret-key "$TMP/k.sk" --public-key "$TMP/k.pk" --no-passphrase >/dev/null
for i in $(seq 1 10); do
    { printf -- '---\ntitle: Noise %s\nid: n%s\n---\n' "$i" "$i"
      head -c 150000 /dev/urandom | base64 -w 76; } >"$TMP/n$i.md"
    "$SZ" pack --secret-key "$TMP/k.sk" --level 1 --output "$TMP/n$i.bundle" "$TMP/n$i.md" \
        </dev/null >/dev/null 2>&1 || bad "pack n$i"
    "$SZ" import --socket "$TMP/quota/control.sock" "$TMP/n$i.bundle" >/dev/null || bad "import n$i"
done
held=$(status_field quota bytes)
[ "$held" -gt 1500000 ] && ok || bad "10 bundles held ($held bytes)"
printf '[store]\nmax_bytes = 1M\n' >"$TMP/quota.ini"
kill -HUP "$PID_quota"
for i in $(seq 1 50); do
    held=$(status_field quota bytes)
    [ "$held" -le 1048576 ] && break
    nap 0.1
done
[ "$held" -le 1048576 ] && ok || bad "within the lowered quota 5 s after SIGHUP ($held bytes)"
[ "$(status_field quota quota_bytes)" = 1048576 ] && ok || bad "quota lowered"
kill -0 "$PID_quota" && ok || bad "daemon alive after the reload"
grep -q "WARN SIGHUP: lowered limits (max_bytes 4194304 -> 1048576" "$TMP/quota.log" && ok ||
    bad "lowering the quota is warned with old and new values: $(grep SIGHUP "$TMP/quota.log")"
# Only what was lowered is named: the expiry did not change.
! grep "SIGHUP: lowered limits" "$TMP/quota.log" | grep -q expiry_days && ok ||
    bad "an unchanged expiry named as lowered: $(grep SIGHUP "$TMP/quota.log")"
grep -q "WARN maintenance: 0 expired, [1-9][0-9]* evicted" "$TMP/quota.log" && ok ||
    bad "evictions after a reload are warned: $(grep maintenance "$TMP/quota.log")"

# 3. Raising the quotas raises the largest bundle accepted (derived from them
#    at start) without a restart.
{ printf -- '---\ntitle: Big\nid: big\n---\n'; head -c 1200000 /dev/urandom | base64 -w 76; } \
    >"$TMP/big.md"
"$SZ" pack --secret-key "$TMP/k.sk" --level 1 --allow-large --output "$TMP/big.bundle" \
    "$TMP/big.md" </dev/null >/dev/null 2>&1 || bad "pack big"
printf '[store]\nmax_bytes = 1M\n' >"$TMP/cap.ini"
start_daemon cap --config "$TMP/cap.ini" || bad "start cap"
rc=0
"$SZ" import --socket "$TMP/cap/control.sock" "$TMP/big.bundle" >"$TMP/big.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && ok || bad "a 1.6 MB bundle is refused under a 1M quota: $(cat "$TMP/big.out")"
printf '[store]\nmax_bytes = 1G\n' >"$TMP/cap.ini"
kill -HUP "$PID_cap"
for i in $(seq 1 50); do
    [ "$(status_field cap quota_bytes)" = 1073741824 ] && break
    nap 0.1
done
"$SZ" import --socket "$TMP/cap/control.sock" "$TMP/big.bundle" >"$TMP/big.out" 2>&1 && ok ||
    bad "the bundle is taken after the quota was raised by SIGHUP: $(cat "$TMP/big.out")"
# No quota (0) is no lowering; a lower max_bundle_bytes is named (bundles held stay).
printf '[store]\nmax_bytes = 0\nmax_bundle_bytes = 4K\n' >"$TMP/cap.ini"
kill -HUP "$PID_cap"
wait_log "$TMP/cap.log" "max_bundle_bytes lowered" 5
grep -q "WARN SIGHUP: max_bundle_bytes lowered (67108864 -> 4096): larger bundles are no longer accepted; those held stay" \
    "$TMP/cap.log" && ok || bad "a lowered max_bundle_bytes is not named: $(grep SIGHUP "$TMP/cap.log")"
grep -q "lowered limits" "$TMP/cap.log" && bad "max_bytes 1G -> 0 (no quota) is called lowered: $(grep SIGHUP "$TMP/cap.log")" || ok
[ "$(status_field cap bundles)" = 1 ] && ok || bad "the bundle held stays after max_bundle_bytes was lowered"
check "stop cap" stop_daemon cap

# 4. Settings that need a restart are named when they change; a reload that
#    would make a relay carry nothing is refused.
printf '[store]\nmax_bytes = 1G\n' >"$TMP/relay.ini"
start_daemon relay --config "$TMP/relay.ini" || bad "start relay"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/n1.bundle" >/dev/null || bad "import n1"
printf '[daemon]\npublisher_key = %s\n[policy]\ncarry = list\n' \
    "$TMP/missing.sk" >"$TMP/relay.ini"
kill -HUP "$PID_relay"
for i in $(seq 1 50); do
    grep -q "SIGHUP:.*carry = list" "$TMP/relay.log" && break
    nap 0.1
done
grep -q "ERROR SIGHUP:.*carry nothing.*keeping the running configuration" "$TMP/relay.log" && ok ||
    bad "carry = list without publishers refused on reload: $(grep SIGHUP "$TMP/relay.log")"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/n2.bundle" >"$TMP/n2.out" 2>&1 && ok ||
    bad "the relay still carries after the refused reload: $(cat "$TMP/n2.out")"
printf '[store]\nmax_bytes = 2G\n[network]\nmax_inbound = 5\n' >"$TMP/relay.ini"
kill -HUP "$PID_relay"
for i in $(seq 1 50); do
    grep -q "WARN SIGHUP:.*restart" "$TMP/relay.log" && break
    nap 0.1
done
grep -q "WARN SIGHUP: .*take effect only at a restart.*: max_inbound$" "$TMP/relay.log" && ok ||
    bad "a changed max_inbound is named as needing a restart: $(grep SIGHUP "$TMP/relay.log")"
# A carry list that leaves out a publisher the relay holds: its bundles are
# dropped at once (neither served nor kept against the quotas), the others stay.
"$SZ" keygen --secret-key "$TMP/k2.sk" --public-key "$TMP/k2.pk" --no-passphrase >/dev/null
printf -- '---\ntitle: Kept\nid: kept\n---\nKept.\n' >"$TMP/kept.md"
"$SZ" pack --secret-key "$TMP/k2.sk" --level 1 --output "$TMP/kept.bundle" "$TMP/kept.md" \
    </dev/null >/dev/null 2>&1 || bad "pack kept"
"$SZ" import --socket "$TMP/relay/control.sock" "$TMP/kept.bundle" >/dev/null || bad "import kept"
[ "$(status_field relay bundles)" = 3 ] && ok || bad "3 bundles before the carry list"
printf '[policy]\ncarry = list\npublishers = %s\n' "$(cat "$TMP/k2.pk")" >"$TMP/relay.ini"
kill -HUP "$PID_relay"
for i in $(seq 1 50); do
    [ "$(status_field relay bundles)" = 1 ] && break
    nap 0.1
done
[ "$(status_field relay bundles)" = 1 ] &&
    szq list --socket "$TMP/relay/control.sock" --publisher "$TMP/k2.pk" | grep -q . && ok ||
    bad "only the carried publisher's bundle stays: $(szq list --socket "$TMP/relay/control.sock")"
grep -q "INFO maintenance: dropped 2 bundles of 1 publisher no longer carried" "$TMP/relay.log" &&
    ok || bad "the drop is logged: $(grep maintenance "$TMP/relay.log")"
check "stop relay" stop_daemon relay

# 5. SIGHUP while the daemon starts (unlocking an encrypted key takes a
#    while) waits for the handler instead of killing the daemon.
printf 'a passphrase\n' >"$TMP/pass"
chmod 600 "$TMP/pass"
"$SZ" keygen --secret-key "$TMP/enc.sk" --public-key "$TMP/enc.pk" --passphrase-file "$TMP/pass" \
    >/dev/null || bad "keygen enc"
mkdir -p "$TMP/early"
"$SZD" --data-dir "$TMP/early" --listen 127.0.0.1:0 --publisher-key "$TMP/enc.sk" \
    --passphrase-file "$TMP/pass" >"$TMP/early.log" 2>&1 &
PID_early=$!
# hup_blocked PID: waits up to 5 s until main() has blocked SIGHUP (SigBlk bit
# 0), first thing in main(): before that, a SIGHUP ends any process by its
# default action (under ASan that window lasts longer than 50 ms).
hup_blocked() {
    local blk
    for _ in $(seq 1 500); do
        blk=$(awk '/^SigBlk:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
        [ -n "$blk" ] && [ $((0x$blk & 1)) -eq 1 ] && return 0
        nap 0.01
    done
    return 1
}
hup_blocked "$PID_early" && ok || bad "the daemon never blocked SIGHUP while it started"
[ -S "$TMP/early/control.sock" ] && echo "reload_test: the daemon was up before SIGHUP was sent"
kill -HUP "$PID_early"
for i in $(seq 1 100); do
    szq status --socket "$TMP/early/control.sock" >/dev/null 2>&1 && break
    kill -0 "$PID_early" 2>/dev/null || break
    nap 0.1
done
kill -0 "$PID_early" 2>/dev/null && ok ||
    bad "SIGHUP during start-up killed the daemon: $(tail -3 "$TMP/early.log")"
check "stop early" stop_daemon early

# 5b. SIGTERM while it starts stops it with status 0 and a line saying so
#     (the signal's default action killed it: status 143, nothing logged).
mkdir -p "$TMP/early2"
"$SZD" --data-dir "$TMP/early2" --listen 127.0.0.1:0 --publisher-key "$TMP/enc.sk" \
    --passphrase-file "$TMP/pass" >"$TMP/early2.log" 2>&1 &
PID_early2=$!
hup_blocked "$PID_early2" || bad "the daemon never blocked SIGHUP while it started"
[ -S "$TMP/early2/control.sock" ] && echo "reload_test: the daemon was up before SIGTERM was sent"
kill -TERM "$PID_early2"
rc=0
wait "$PID_early2" || rc=$?
[ $rc -eq 0 ] && ok || bad "SIGTERM during start-up: exit $rc, wanted 0 ($(tail -2 "$TMP/early2.log"))"

# 6. Secrets: a network key pasted in place of a path is not repeated in the
#    log; key and passphrase files readable by others are warned about; an
#    empty passphrase file says so.
NK=77e76c07e4210d493d93a822dbce4f1ef9a996208036b99ad28dabc908147405
rc=0
"$SZD" --data-dir "$TMP/nk" --listen 127.0.0.1:0 --network-key "$NK" >"$TMP/nk.log" 2>&1 ||
    rc=$?
[ $rc -ne 0 ] && grep -q "its name is not shown in case it is the key itself" "$TMP/nk.log" && ok ||
    bad "a pasted network key is refused with a hint (rc $rc): $(cat "$TMP/nk.log")"
! grep -q "$NK" "$TMP/nk.log" && ok || bad "the pasted network key appears in the log"
# Nor in another spelling (0x..., as od prints it).
rc=0
"$SZD" --data-dir "$TMP/nk" --listen 127.0.0.1:0 --network-key "0x$NK" >"$TMP/nk.log" 2>&1 ||
    rc=$?
[ $rc -ne 0 ] && ! grep -q "$NK" "$TMP/nk.log" && ok ||
    bad "a network key pasted as 0x... appears in the log (rc $rc): $(cat "$TMP/nk.log")"
# A FIFO named as a key file is refused at once (the start blocked on it,
# deaf to SIGTERM).
mkfifo "$TMP/nk.fifo"
for opt in --network-key --publisher-key; do
    rc=0
    timeout -k 5 10 "$SZD" --data-dir "$TMP/nk" --listen 127.0.0.1:0 $opt "$TMP/nk.fifo" \
        >"$TMP/nk.log" 2>&1 || rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "nk.fifo is not a regular file" "$TMP/nk.log" &&
        ok || bad "$opt naming a FIFO (rc $rc): $(cat "$TMP/nk.log")"
done
rc=0
timeout -k 5 10 "$SZD" --data-dir "$TMP/nk" --listen 127.0.0.1:0 --publisher-key "$TMP/enc.sk" \
    --passphrase-file "$TMP/nk.fifo" >"$TMP/nk.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "nk.fifo is not a regular file" "$TMP/nk.log" &&
    ok || bad "--passphrase-file naming a FIFO (rc $rc): $(cat "$TMP/nk.log")"
# A passphrase of 1023 bytes, the most a key takes, opens the key here too.
python3 -c "print('x' * 1023)" >"$TMP/long.pass"
chmod 600 "$TMP/long.pass"
"$SZ" keygen --passphrase-file "$TMP/long.pass" --secret-key "$TMP/long.sk" \
    --public-key "$TMP/long.pk" >/dev/null || bad "keygen with a 1023-byte passphrase"
check "a 1023-byte passphrase opens the key" start_daemon longpass \
    --publisher-key "$TMP/long.sk" --passphrase-file "$TMP/long.pass"
check "stop longpass" stop_daemon longpass
printf 'x%.0s' $(seq 1 1024) >"$TMP/long.pass"
rc=0
"$SZD" --data-dir "$TMP/longpass" --listen 127.0.0.1:0 --publisher-key "$TMP/long.sk" \
    --passphrase-file "$TMP/long.pass" >"$TMP/pp.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "the first line is longer than 1023 bytes" "$TMP/pp.log" && ok ||
    bad "a 1024-byte passphrase (rc $rc): $(cat "$TMP/pp.log")"
# A sequence record others may write (planted in a shared folder) is not
# used to sign: publishing names it.
"$SZ" keygen --no-passphrase --secret-key "$TMP/pl.sk" --public-key "$TMP/pl.pk" >/dev/null
check "start pl" start_daemon pl --publisher-key "$TMP/pl.sk" --batch-window-ms 0
chmod 666 "$TMP/pl.sk.seq"
printf -- '---\ntitle: T\n---\nText.\n' >"$TMP/pl.md"
rc=0
"$SZ" publish --socket "$TMP/pl/control.sock" "$TMP/pl.md" >"$TMP/pl.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "pl.sk.seq may be written by group or others" "$TMP/pl.out" && ok ||
    bad "publishing with a world-writable SK.seq (rc $rc): $(cat "$TMP/pl.out")"
check "stop pl" stop_daemon pl
rc=0
"$SZD" --data-dir "$TMP/pp" --listen 127.0.0.1:0 --publisher-key "$TMP/enc.sk" \
    --passphrase-file "a passphrase" >"$TMP/pp.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && ! grep -q "a passphrase" "$TMP/pp.log" && ok ||
    bad "a passphrase given in place of its file is not repeated (rc $rc): $(cat "$TMP/pp.log")"
: >"$TMP/empty-pass"
rc=0
"$SZD" --data-dir "$TMP/pp" --listen 127.0.0.1:0 --publisher-key "$TMP/enc.sk" \
    --passphrase-file "$TMP/empty-pass" >"$TMP/pp.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "empty-pass is empty" "$TMP/pp.log" && ok ||
    bad "an empty passphrase file is named as empty (rc $rc): $(cat "$TMP/pp.log")"
chmod 644 "$TMP/pass" "$TMP/enc.sk"
start_daemon loose --publisher-key "$TMP/enc.sk" --passphrase-file "$TMP/pass" ||
    bad "start with readable key files"
grep -q "WARN secret key .*enc.sk is readable by group or others" "$TMP/loose.log" &&
    grep -q "WARN passphrase file .*pass is readable by group or others" "$TMP/loose.log" && ok ||
    bad "readable key and passphrase files warned about: $(cat "$TMP/loose.log")"
check "stop loose" stop_daemon loose

# Start-up mistakes an operator makes, each named with what to do (each run
# bounded: a daemon that started by mistake would run on).
rc=0
timeout 10 "$SZD" --data-dir "$TMP/x" --max-bytes >"$TMP/flag.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "^samizdatd: --max-bytes needs a value" "$TMP/flag.log" && ok ||
    bad "a flag without its value (rc $rc): $(cat "$TMP/flag.log")"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/x" --maximum-bytes 1M >"$TMP/flag.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "^samizdatd: unknown option: --maximum-bytes" "$TMP/flag.log" && ok ||
    bad "an unknown flag (rc $rc): $(cat "$TMP/flag.log")"
# Under systemd (stderr is the journal's stream, JOURNAL_STREAM names it)
# each line carries its syslog priority, for journalctl -p, and no time.
: >"$TMP/jl.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/jl.log") start_daemon jl || bad "start jl"
check "stop jl" stop_daemon jl
grep -q "^<6>INFO ready: data folder" "$TMP/jl.log" && ok ||
    bad "a journal line without its priority: $(head -3 "$TMP/jl.log")"
! grep -v "^<[3467]>[A-Z]* " "$TMP/jl.log" && ok || bad "lines without a priority in the journal"
# An open files limit below what max_inbound may take: raised within the
# hard limit, else named at start (beyond it libuv closes connections unseen).
(
    ulimit -Sn 40
    "$SZD" --data-dir "$TMP/fl" --listen 127.0.0.1:0 >"$TMP/fl.log" 2>&1 &
    pid=$!
    for i in $(seq 1 50); do grep -q " ready" "$TMP/fl.log" && break; nap 0.1; done
    awk '/^Max open files/ {print $4}' "/proc/$pid/limits" >"$TMP/fl.soft"
    kill -TERM $pid
    wait $pid
)
[ "$(cat "$TMP/fl.soft")" -ge 136 ] && ! grep -q "files may be open" "$TMP/fl.log" && ok ||
    bad "a soft open files limit of 40 was not raised ($(cat "$TMP/fl.soft")): $(cat "$TMP/fl.log")"
(
    ulimit -n 40
    timeout 3 "$SZD" --data-dir "$TMP/fl" --listen 127.0.0.1:0 >"$TMP/fl.log" 2>&1
)
grep -q "WARN at most 40 files may be open, fewer than the 392 the links may need (max_inbound 64" \
    "$TMP/fl.log" && ok || bad "a hard open files limit of 40 is not named: $(cat "$TMP/fl.log")"
# --check-config says whether the settings are valid, and starts nothing.
printf '[store]\nmax_bytes = 2x\n' >"$TMP/cc.conf"
rc=0
"$SZD" --check-config --config "$TMP/cc.conf" --data-dir "$TMP/cc" >"$TMP/cc.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "cc.conf:2: invalid value '2x' for max_bytes" "$TMP/cc.log" &&
    [ ! -e "$TMP/cc" ] && ok || bad "--check-config on a bad file (rc $rc): $(cat "$TMP/cc.log")"
printf '[store]\nmax_bytes = 2G\n' >"$TMP/cc.conf"
"$SZD" --check-config --config "$TMP/cc.conf" --data-dir "$TMP/cc" >"$TMP/cc.log" 2>&1 &&
    grep -q "^samizdatd: the settings are valid (.*cc.conf)$" "$TMP/cc.log" && [ ! -e "$TMP/cc" ] &&
    ok || bad "--check-config on a good file: $(cat "$TMP/cc.log")"
# ... and reads the files the settings name as a start would: one it
# calls valid must not stop the daemon from starting.
cc_refused() { # WHAT PATTERN FLAGS...: --check-config exits 2 saying PATTERN
    local what=$1 pattern=$2 rc=0
    shift 2
    "$SZD" --check-config "$@" >"$TMP/cc.log" 2>&1 || rc=$?
    [ $rc -eq 2 ] && grep -q "$pattern" "$TMP/cc.log" && [ ! -e "$TMP/cc" ] && ok ||
        bad "--check-config with $what (rc $rc): $(cat "$TMP/cc.log")"
}
(umask 077 && echo xyz >"$TMP/cc-bad.key")
cc_refused "a network key file without a key" "network key .*cc-bad.key must hold 64 hex digits" \
    --data-dir "$TMP/cc" --network-key "$TMP/cc-bad.key"
cc_refused "a missing publisher key" "cannot open publisher key $TMP/cc-none.sk" \
    --data-dir "$TMP/cc" --publisher-key "$TMP/cc-none.sk"
(umask 077 && echo right >"$TMP/cc-right" && echo wrong >"$TMP/cc-wrong")
"$SZ" keygen --secret-key "$TMP/cc.sk" --public-key "$TMP/cc.pk" --passphrase-file "$TMP/cc-right" \
    >/dev/null
cc_refused "a wrong passphrase" "cannot open publisher key $TMP/cc.sk" --data-dir "$TMP/cc" \
    --publisher-key "$TMP/cc.sk" --passphrase-file "$TMP/cc-wrong"
cc_refused "a public key as the publisher key" "cc.pk is a public key, not a secret key" \
    --data-dir "$TMP/cc" --publisher-key "$TMP/cc.pk"
(umask 077 && echo nocolon >"$TMP/cc-auth")
cc_refused "proxy credentials without a colon" "its first line must be USER:PASSWORD" \
    --data-dir "$TMP/cc" --proxy 127.0.0.1:9 --proxy-auth-file "$TMP/cc-auth"
mkdir -m 0777 "$TMP/cc-open"
chmod 0777 "$TMP/cc-open"
cc_refused "a data folder others may write" "data folder .*cc-open may be written by group or others" \
    --data-dir "$TMP/cc-open"
: >"$TMP/cc-file"
cc_refused "a data folder below a file" "cannot .*data folder .*cc-file/data" \
    --data-dir "$TMP/cc-file/data"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/cc-net.key")
if "$SZD" --check-config --data-dir "$TMP/cc" --network-key "$TMP/cc-net.key" \
    --publisher-key "$TMP/cc.sk" --passphrase-file "$TMP/cc-right" >"$TMP/cc.log" 2>&1 &&
    grep -q "^samizdatd: the settings are valid" "$TMP/cc.log" && [ ! -e "$TMP/cc" ]; then
    ok
else
    bad "--check-config with good key files: $(cat "$TMP/cc.log")"
fi
# A start with a key it cannot use stops, saying why, rather than run as a
# relay that never publishes.
start_refused() { # WHAT PATTERN FLAGS...: samizdatd exits 1 saying PATTERN
    local what=$1 pattern=$2 rc=0
    shift 2
    timeout 20 "$SZD" --data-dir "$TMP/ks" --listen 127.0.0.1:0 "$@" >"$TMP/ks.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q "$pattern" "$TMP/ks.log" && ! grep -q " ready: " "$TMP/ks.log" && ok ||
        bad "start with $what (rc $rc): $(cat "$TMP/ks.log")"
}
start_refused "a missing publisher key" "ERROR cannot open publisher key $TMP/cc-none.sk" \
    --publisher-key "$TMP/cc-none.sk"
start_refused "a wrong passphrase" "ERROR cannot open publisher key $TMP/cc.sk" \
    --publisher-key "$TMP/cc.sk" --passphrase-file "$TMP/cc-wrong"
start_refused "an encrypted key and no passphrase file" "ERROR publisher key .*cc.sk is encrypted" \
    --publisher-key "$TMP/cc.sk"
start_refused "a network key file without a key" "network key .*cc-bad.key must hold 64 hex" \
    --network-key "$TMP/cc-bad.key"
# An abbreviation several flags share was taken as the first of them.
rc=0
timeout 10 "$SZD" --data-dir "$TMP/x" --max=5M >"$TMP/flag.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "^samizdatd: option --max is ambiguous (--max-bytes, .*--max-inbound" \
    "$TMP/flag.log" && ok ||
    bad "an ambiguous abbreviation (rc $rc): $(cat "$TMP/flag.log")"
rc=0
: >"$TMP/a.conf"
: >"$TMP/b.conf"
timeout 10 "$SZD" --data-dir "$TMP/x" --config "$TMP/a.conf" --config "$TMP/b.conf" \
    >"$TMP/flag.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "^samizdatd: --config given twice" "$TMP/flag.log" && ok ||
    bad "two --config (the first was ignored; rc $rc): $(cat "$TMP/flag.log")"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/x" --level 20 >"$TMP/flag.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "for level: expected a whole number from 1 to 19" "$TMP/flag.log" && ok ||
    bad "a level out of range (rc $rc): $(cat "$TMP/flag.log")"
: >"$TMP/plainfile"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/plainfile" --listen 127.0.0.1:0 >"$TMP/df.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "data folder .*plainfile exists and is not a folder" "$TMP/df.log" && ok ||
    bad "a data folder that is a file (rc $rc): $(cat "$TMP/df.log")"
# A folder where the store file goes gets that named (it got "make the data
# folder writable", which it was).
mkdir -m 700 -p "$TMP/dirstore/store.sqlite"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/dirstore" --listen 127.0.0.1:0 >"$TMP/df.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "store .*dirstore/store.sqlite is not a file (a folder .*move it out" \
    "$TMP/df.log" && ok || bad "a folder at the store's name (rc $rc): $(cat "$TMP/df.log")"
# A data folder others may write, or that is another user's, or a node key
# of another user's: whoever that is could have put their own key there.
mkdir -m 777 "$TMP/open-dir"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/open-dir" --listen 127.0.0.1:0 >"$TMP/df.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "data folder .*open-dir may be written by group or others (mode 0777).*run chmod 700" \
    "$TMP/df.log" && [ ! -e "$TMP/open-dir/node.key" ] && ok ||
    bad "a data folder others may write (rc $rc): $(cat "$TMP/df.log")"
if [ "$(id -u)" -eq 0 ]; then
    mkdir -m 700 "$TMP/their-dir" "$TMP/their-key"
    chown 65534 "$TMP/their-dir"
    rc=0
    timeout 10 "$SZD" --data-dir "$TMP/their-dir" --listen 127.0.0.1:0 >"$TMP/df.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q "data folder .*their-dir belongs to another user (uid 65534)" \
        "$TMP/df.log" && ok || bad "another user's data folder (rc $rc): $(cat "$TMP/df.log")"
    head -c 32 /dev/urandom >"$TMP/their-key/node.key"
    chmod 600 "$TMP/their-key/node.key"
    chown 65534 "$TMP/their-key/node.key"
    rc=0
    timeout 10 "$SZD" --data-dir "$TMP/their-key" --listen 127.0.0.1:0 >"$TMP/df.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q "node key .*their-key/node.key belongs to another user, who may know it" \
        "$TMP/df.log" && ok || bad "another user's node key (rc $rc): $(cat "$TMP/df.log")"
else
    echo "SKIP: another user's data folder and node key are not checked (needs root to make them)"
fi
rc=0
timeout 10 "$SZD" --data-dir "$TMP/sockless" --socket "$TMP/no/such/ctl.sock" --listen 127.0.0.1:0 \
    >"$TMP/sock.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "control socket .*/no/such/ctl.sock: its folder .*/no/such does not exist" \
    "$TMP/sock.log" && ok || bad "a control socket in a missing folder (rc $rc): $(cat "$TMP/sock.log")"
mkdir -p "$TMP/nk1"
head -c 10 /dev/zero >"$TMP/nk1/node.key"
rc=0
timeout 10 "$SZD" --data-dir "$TMP/nk1" --listen 127.0.0.1:0 >"$TMP/nk1.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "node.key is damaged (not 32 bytes): move it away, and a new node key" \
    "$TMP/nk1.log" && [ "$(grep -c ERROR "$TMP/nk1.log")" -eq 1 ] && ok ||
    bad "a damaged node key: one error saying what to do (rc $rc): $(cat "$TMP/nk1.log")"
rm "$TMP/nk1/node.key"
start_daemon nk1 || bad "start nk1 (a new node key)"
stop_daemon nk1
chmod 644 "$TMP/nk1/node.key"
start_daemon nk1 || bad "start nk1 with a readable node key"
grep -q "WARN node key .*node.key is readable by group or others (mode 0644): run chmod 600" \
    "$TMP/nk1.log" && ok || bad "a readable node key is not warned about: $(cat "$TMP/nk1.log")"
check "stop nk1" stop_daemon nk1
finish
