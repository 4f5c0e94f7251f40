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
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT

status_field() { # status_field NAME FIELD
    "$SZ" status --socket "$TMP/$1/control.sock" --json |
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
    sleep 0.1
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
    sleep 0.1
done
[ "$held" -le 1048576 ] && ok || bad "within the lowered quota 5 s after SIGHUP ($held bytes)"
[ "$(status_field quota quota_bytes)" = 1048576 ] && ok || bad "quota lowered"
kill -0 "$PID_quota" && ok || bad "daemon alive after the reload"
finish
