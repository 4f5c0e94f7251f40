#!/usr/bin/env bash
# Peers given by name: a name with two addresses, the first refused, is reached
# at the second by a relay (--peer) and by `samizdat fetch`; a name that does
# not resolve is named and skipped. The test runs in a mount namespace of its
# own with an /etc/hosts and /etc/nsswitch.conf of its own (no DNS at all).
# usage: address_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
if [ -z "${SZ_ADDRESS_TEST_NS:-}" ]; then
    # As root a mount namespace; otherwise a user namespace too, where allowed.
    for flags in "-m" "-r -m"; do
        # shellcheck disable=SC2086
        if unshare $flags true 2>/dev/null; then
            SZ_ADDRESS_TEST_NS=1 exec unshare $flags bash "$0" "$@"
        fi
    done
    echo "SKIPPED: needs a mount namespace (unshare -m, as root or in a user namespace)" >&2
    exit 77
fi
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; rm -rf "$TMP"' EXIT
COMMON=(--expiry-days 0 --batch-window-ms 0)
NAME=two.samizdat.test

# The publisher listens on 127.0.0.3. The name's addresses are 127.0.0.1, where
# nothing listens at that port (refused), and 127.0.0.3; lookups put 127.0.0.1
# first (the longest prefix shared with the source address).
printf '127.0.0.1 localhost\n127.0.0.1 %s\n127.0.0.3 %s\n' "$NAME" "$NAME" >"$TMP/hosts"
printf 'hosts: files\n' >"$TMP/nsswitch.conf"
mount --bind "$TMP/hosts" /etc/hosts && mount --bind "$TMP/nsswitch.conf" /etc/nsswitch.conf || {
    echo "SKIPPED: cannot mount over /etc/hosts in the namespace" >&2
    exit 77
}
first=$(getent ahostsv4 "$NAME" | awk 'NR == 1 { print $1 }')
[ "$first" = 127.0.0.1 ] && ok || bad "the refused address comes first in lookups (got '$first')"

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") The Named Gazette" >"$TMP/trust"
printf -- '---\ntitle: By name\nid: by-name\n---\nReached by name.\n' >"$TMP/a.md"
start_daemon pub "${COMMON[@]}" --publisher-key "$TMP/pub.sk" --listen 127.0.0.3:0 ||
    bad "start pub"
PORT=$(sed -n 's/.*listening for peers on 127\.0\.0\.3:\([0-9]*\).*/\1/p' "$TMP/pub.log" | tail -1)
if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' \
    "$PORT" 2>/dev/null; then
    echo "SKIPPED: something listens on 127.0.0.1:$PORT by chance" >&2
    exit 77
fi
"$SZ" publish --socket "$TMP/pub/control.sock" "$TMP/a.md" >/dev/null || bad "publish"

# The relay's first attempt goes to 127.0.0.1 and is refused; the next, about a
# second later, to the name's second address.
start_daemon relay "${COMMON[@]}" --peer "$NAME:$PORT" || bad "start relay"
wait_bundles relay 1 15 && ok || bad "the relay reaches $NAME:$PORT at its second address"

out=$("$SZ" fetch --peer "$NAME:$PORT" --peer "nowhere.samizdat.test:$PORT" \
    --trust-file "$TMP/trust" --output "$TMP/lib" --connect-timeout 5 --json 2>"$TMP/err")
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch by name (rc $rc: $(cat "$TMP/err"))"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["complete"] and s["bundles"]==1, s' \
    "$out" && ok || bad "--json: 1 bundle, complete ($out)"
ls "$TMP"/lib/*/by-name/index.html >/dev/null 2>&1 && ok || bad "the article is unpacked"
grep -q "peer nowhere.samizdat.test:$PORT: cannot resolve the address" "$TMP/err" && ok ||
    bad "the name that does not resolve is named: $(cat "$TMP/err")"

# Every address refused: the message says how many were tried.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_status "fetch from a name none of whose addresses answers" 7 \
    "$SZ" fetch --peer "$NAME:$DEAD" --trust-file "$TMP/trust" --output "$TMP/lib2" \
    --connect-timeout 5
expect_stderr "both addresses tried" "peer $NAME:$DEAD: cannot connect to any of its 2 addresses"
finish
