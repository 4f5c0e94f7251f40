#!/usr/bin/env bash
# samizdat fetch --proxy: every connection through a SOCKS5 proxy (a small
# stand-in, tests/daemon/socks5.py), peers' names looked up by the proxy and
# never on the reader's machine; a proxy that refuses, is down, wants a
# password or is not a SOCKS5 proxy is named with what to do.
# usage: proxy_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
PROXIES=()
trap 'kill "${PROXIES[@]}" 2>/dev/null; cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)
NAME=relay.samizdat.test # known to the proxy only

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Proxied Gazette" >"$TMP/trust"
printf -- '---\ntitle: Through a proxy\nid: proxied\n---\nFetched through SOCKS5.\n' >"$TMP/a.md"
start_daemon pub "${COMMON[@]}" --publisher-key "$TMP/pub.sk" || bad "start pub"
PORT=$(peer_port pub)
"$SZ" publish --socket "$TMP/pub/control.sock" "$TMP/a.md" >/dev/null || bad "publish"
if getent hosts "$NAME" >/dev/null; then
    echo "SKIPPED: $NAME resolves on this machine; the test needs a name only the proxy knows" >&2
    exit 77
fi

# A name only the proxy can look up: fetched through it, the name sent as a name.
start_proxy ok ok "$NAME=127.0.0.1"
OK_PROXY=$PROXY
out=$("$SZ" fetch --proxy "socks5h://$OK_PROXY" --peer "$NAME:$PORT" --trust-file "$TMP/trust" \
    --output "$TMP/lib" --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch through the proxy (rc $rc: $(cat "$TMP/err"))"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==1, s' \
    "$out" && ok || bad "--json: 1 bundle, complete ($out)"
ls "$TMP"/lib/*/proxied/index.html >/dev/null 2>&1 && ok || bad "the article is unpacked"
grep -qx "CONNECT name $NAME:$PORT" "$TMP/proxy.ok.log" && ok ||
    bad "the proxy got the peer's name: $(cat "$TMP/proxy.ok.log" 2>/dev/null)"

# Without the proxy the same name does not resolve: the proxy did the lookup.
expect_status "the name without the proxy" 7 \
    "$SZ" fetch --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib2"
expect_stderr "not resolved locally" "peer $NAME:$PORT: cannot resolve the address"

# An address, through the proxy; and a peer the proxy cannot reach.
DEAD=$(free_port)
"$SZ" fetch --proxy "$OK_PROXY" --peer "127.0.0.1:$DEAD" --peer "127.0.0.1:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib3" >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch by address through the proxy (rc $rc: $(cat "$TMP/err"))"
grep -qx "CONNECT ip 127.0.0.1:$PORT" "$TMP/proxy.ok.log" && ok || bad "the address sent as one"
grep -q "peer 127.0.0.1:$DEAD: the proxy $OK_PROXY could not connect to it: connection refused" \
    "$TMP/err" && ok || bad "the refused peer is named with the proxy's reason: $(cat "$TMP/err")"

# An onion address: skipped without a proxy (no DNS question about it; the only
# peer given, a usage error: --proxy is missing), sent to the proxy as a name with one.
ONION=exampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion
expect_status "an onion address without a proxy" 2 "$SZ" fetch --peer "$ONION:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "onion without a proxy" "peer $ONION:$PORT: a Tor onion address, reachable only through Tor: give --proxy"
expect_status "an onion address the proxy cannot reach" 7 "$SZ" fetch --proxy "$OK_PROXY" \
    --peer "$ONION:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "the proxy's reason" "peer $ONION:$PORT: the proxy $OK_PROXY could not connect to it: the host is unreachable from the proxy"
grep -qx "CONNECT name $ONION:$PORT" "$TMP/proxy.ok.log" && ok || bad "the onion name sent to the proxy"

# The proxy is down.
DEADPX=127.0.0.1:$(free_port)
expect_status "a proxy that is down" 7 "$SZ" fetch --proxy "$DEADPX" --peer "$NAME:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib4" --connect-timeout 3
expect_stderr "the proxy named" "cannot connect to the proxy $DEADPX: Connection refused"

# A proxy that wants a password, and a web server given as the proxy.
start_proxy auth auth "$NAME=127.0.0.1"
expect_status "a proxy that wants a password" 7 "$SZ" fetch --proxy "$PROXY" \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "says it wants a password" "the proxy $PROXY accepts no method fetch offers"
start_proxy http http "$NAME=127.0.0.1"
expect_status "a web server as the proxy" 7 "$SZ" fetch --proxy "$PROXY" \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "not SOCKS5" "the proxy $PROXY does not speak SOCKS5"

# wait_log NAME TEXT SECONDS: waits until daemon NAME's log has TEXT.
wait_log() {
    for _ in $(seq 1 $(($3 * 10))); do
        grep -qF -- "$2" "$TMP/$1.log" && return 0
        nap 0.1
    done
    return 1
}

# A relay whose outbound links go through the proxy ([network] proxy): it
# reaches the publisher by a name only the proxy knows, sent as a name.
start_proxy ok relay "$NAME=127.0.0.1"
RELAY_PROXY=$PROXY
start_daemon via "${COMMON[@]}" --proxy "$RELAY_PROXY" --peer "$NAME:$PORT" || bad "start via"
wait_bundles via 1 20 && ok || bad "the relay got the bundle through the proxy: $(tail -5 "$TMP/via.log")"
grep -qx "CONNECT name $NAME:$PORT" "$TMP/proxy.relay.log" && ok ||
    bad "the relay's proxy got the peer's name: $(cat "$TMP/proxy.relay.log" 2>/dev/null)"
grep -q "cannot resolve" "$TMP/via.log" && bad "the relay looked the name up itself" || ok
szq status --socket "$TMP/via/control.sock" | grep -q "$NAME:$PORT" && ok ||
    bad "status names the peer by its name: $(szq status --socket "$TMP/via/control.sock")"
# A reader fetching from that relay gets the bundle it took through the proxy.
VIA_PORT=$(peer_port via)
"$SZ" fetch --peer "127.0.0.1:$VIA_PORT" --trust-file "$TMP/trust" --output "$TMP/lib5" \
    >/dev/null 2>"$TMP/err" && ok || bad "fetch from the relay (rc $?: $(cat "$TMP/err"))"
stop_daemon via

# An onion peer: skipped with a message without a proxy, asked of the proxy
# (as a name) with one, and the proxy's reason logged when it cannot reach it.
start_daemon onion1 "${COMMON[@]}" --peer "$ONION:$PORT" || bad "start onion1"
grep -qF "peer $ONION:$PORT: a Tor onion address, reachable only through Tor: set [network] proxy" \
    "$TMP/onion1.log" && ok || bad "onion without a proxy: $(tail -3 "$TMP/onion1.log")"
stop_daemon onion1
start_daemon onion2 "${COMMON[@]}" --proxy "$RELAY_PROXY" --peer "$ONION:$PORT" || bad "start onion2"
wait_log onion2 "peer $ONION:$PORT: closed: the proxy $RELAY_PROXY could not connect to it: the host is unreachable from the proxy" 10 &&
    ok || bad "the proxy's reason for the onion peer: $(tail -3 "$TMP/onion2.log")"
grep -qx "CONNECT name $ONION:$PORT" "$TMP/proxy.relay.log" && ok || bad "the onion name sent to the relay's proxy"
stop_daemon onion2

# A proxy that is down, one that wants a password, and a web server.
start_daemon pxdown "${COMMON[@]}" --proxy "$DEADPX" --peer "$NAME:$PORT" || bad "start pxdown"
wait_log pxdown "cannot connect to the proxy $DEADPX: connection refused (is it running?" 10 &&
    ok || bad "the proxy down is said: $(tail -3 "$TMP/pxdown.log")"
stop_daemon pxdown
start_proxy auth auth2 "$NAME=127.0.0.1"
start_daemon pxauth "${COMMON[@]}" --proxy "$PROXY" --peer "$NAME:$PORT" || bad "start pxauth"
wait_log pxauth "the proxy $PROXY accepts none of the authentication methods offered" 10 &&
    ok || bad "the proxy wanting a password is said: $(tail -3 "$TMP/pxauth.log")"
stop_daemon pxauth
start_proxy http http2 "$NAME=127.0.0.1"
start_daemon pxhttp "${COMMON[@]}" --proxy "$PROXY" --peer "$NAME:$PORT" || bad "start pxhttp"
wait_log pxhttp "the proxy $PROXY does not speak SOCKS5" 10 &&
    ok || bad "a web server as the proxy is said: $(tail -3 "$TMP/pxhttp.log")"
stop_daemon pxhttp
expect_status "samizdatd with a proxy without a port" 2 "$SZD" --data-dir "$TMP/bad" --proxy 127.0.0.1
expect_stderr "the proxy's port asked for" "give the SOCKS5 proxy's address and port"

# A proxy that takes a user name and password (a commercial SOCKS5 service):
# given in a file, never on the command line.
start_proxy "userpass:reader:s3cret:with:colons" userpass "$NAME=127.0.0.1"
printf 'reader:s3cret:with:colons\n' >"$TMP/creds"
chmod 600 "$TMP/creds"
"$SZ" fetch --proxy "$PROXY" --proxy-auth-file "$TMP/creds" --peer "$NAME:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib6" >/dev/null 2>"$TMP/err" && ok ||
    bad "fetch through a proxy with a password (rc $?: $(cat "$TMP/err"))"
grep -qx "AUTH ok reader" "$TMP/proxy.userpass.log" && ok || bad "the proxy got the credentials"
ls "$TMP"/lib6/*/proxied/index.html >/dev/null 2>&1 && ok || bad "the article came through it"
printf 'reader:wrong\n' >"$TMP/creds.bad"
chmod 600 "$TMP/creds.bad"
expect_status "a wrong password" 7 "$SZ" fetch --proxy "$PROXY" --proxy-auth-file "$TMP/creds.bad" \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib7"
expect_stderr "the refusal named" "the proxy $PROXY refused the user name and password: check --proxy-auth-file"
# Credentials in the proxy's URL: refused, and not repeated (argv is anyone's to read).
expect_status "credentials in --proxy" 2 "$SZ" fetch --proxy "socks5://reader:s3:cret@$PROXY" \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib7"
expect_stderr "--proxy-auth-file named" "no user name or password.*--proxy-auth-file F"
! grep -q "s3:cret" "$TMP/stderr" && ok || bad "the password was repeated: $(cat "$TMP/stderr")"
expect_status "no credentials for it" 7 "$SZ" fetch --proxy "$PROXY" --peer "$NAME:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib7"
expect_stderr "the file asked for" "the proxy $PROXY accepts no method fetch offers \(it may want a password\): give them with --proxy-auth-file"
expect_status "credentials for a proxy that takes none" 7 "$SZ" fetch --proxy "$OK_PROXY" \
    --proxy-auth-file "$TMP/creds" --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib7"
expect_stderr "said" "the proxy $OK_PROXY takes no user name and password: leave out --proxy-auth-file"
printf 'no-colon\n' >"$TMP/creds.nocolon"
expect_status "credentials without a colon" 2 "$SZ" fetch --proxy "$PROXY" \
    --proxy-auth-file "$TMP/creds.nocolon" --peer "$NAME:$PORT" --trust-file "$TMP/trust" \
    --output "$TMP/lib7"
expect_stderr "the form said" "its first line must be USER:PASSWORD"
expect_status "credentials without a proxy" 2 "$SZ" fetch --proxy-auth-file "$TMP/creds" \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib7"
expect_stderr "the proxy asked for" "--proxy-auth-file goes with --proxy"
# A relay through that proxy, with proxy_auth_file; and with a wrong password.
start_daemon viaauth "${COMMON[@]}" --proxy "$PROXY" --proxy-auth-file "$TMP/creds" \
    --peer "$NAME:$PORT" || bad "start viaauth"
wait_bundles viaauth 1 20 && ok || bad "the relay got the bundle through a proxy with a password"
stop_daemon viaauth
start_daemon viabad "${COMMON[@]}" --proxy "$PROXY" --proxy-auth-file "$TMP/creds.bad" \
    --peer "$NAME:$PORT" || bad "start viabad"
wait_log viabad "the proxy $PROXY refused the user name and password (check proxy_auth_file)" 10 &&
    ok || bad "a wrong password is said: $(tail -3 "$TMP/viabad.log")"
stop_daemon viabad
expect_status "samizdatd with credentials without a colon" 1 "$SZD" --data-dir "$TMP/bad2" \
    --listen 127.0.0.1:0 --proxy "$PROXY" --proxy-auth-file "$TMP/creds.nocolon"
grep -q "its first line must be USER:PASSWORD" "$TMP/stderr" && ok ||
    bad "the form said: $(cat "$TMP/stderr")"
grep -q "s3cret" "$TMP"/*.log "$TMP/err" "$TMP/stderr" 2>/dev/null && bad "the password was shown" || ok

# Usage errors.
expect_status "an HTTP proxy URL" 2 "$SZ" fetch --proxy http://127.0.0.1:3128 \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "only SOCKS5" "--proxy takes a SOCKS5 proxy"
expect_status "a proxy without a port" 2 "$SZ" fetch --proxy 127.0.0.1 \
    --peer "$NAME:$PORT" --trust-file "$TMP/trust" --output "$TMP/lib4"
expect_stderr "the port asked for" "--proxy needs the proxy's port"
finish
