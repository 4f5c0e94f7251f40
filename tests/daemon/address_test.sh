#!/usr/bin/env bash
# Peers given by name: a name with two addresses, the first refused, is reached
# at the second by a relay (--peer) and by `samizdat fetch`; a name that does
# not resolve is named and skipped. Then a DNS server that never answers (a
# censor's): a publisher with 40 peer names behind it reaches its peer given
# by address at once. The test runs in a mount and network
# namespace of its own, with an /etc/hosts, /etc/nsswitch.conf and
# /etc/resolv.conf of its own.
# usage: address_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
if [ -z "${SZ_ADDRESS_TEST_NS:-}" ]; then
    # As root, mount and network namespaces; otherwise a user namespace too, where allowed.
    if command -v ip >/dev/null; then
        for flags in "-m -n" "-r -m -n"; do
            # shellcheck disable=SC2086
            if unshare $flags true 2>/dev/null; then
                SZ_ADDRESS_TEST_NS=1 exec unshare $flags bash "$0" "$@"
            fi
        done
    fi
    echo "SKIPPED: needs mount and network namespaces (unshare -m -n, as root or in a user" \
        "namespace) and ip" >&2
    exit 77
fi
ip link set lo up || {
    echo "SKIPPED: cannot bring up the loopback of the namespace" >&2
    exit 77
}
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
DNS=
trap '[ -n "$DNS" ] && kill $DNS 2>/dev/null; cleanup_daemons
umount /etc/hosts /etc/nsswitch.conf /etc/resolv.conf 2>/dev/null; rm -rf "$TMP"' EXIT
since() { # since START: seconds elapsed (START from $EPOCHREALTIME), 2 decimals
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}
COMMON=(--expiry-days 0 --batch-window-ms 0)
NAME=two.samizdat.test

# The publisher listens on 127.0.0.3. The name's addresses are 127.0.0.1, where
# nothing listens at that port (refused), and 127.0.0.3; lookups put 127.0.0.1
# first (the longest prefix shared with the source address).
printf '127.0.0.1 localhost\n127.0.0.1 %s\n127.0.0.3 %s\n127.0.0.5 self.samizdat.test\n' "$NAME" "$NAME" \
    >"$TMP/hosts"
printf 'hosts: files\n' >"$TMP/nsswitch.conf"
mount --bind "$TMP/hosts" /etc/hosts && mount --bind "$TMP/nsswitch.conf" /etc/nsswitch.conf || {
    echo "SKIPPED: cannot mount over /etc/hosts in the namespace" >&2
    exit 77
}
# (Not getent: it asks for configured addresses only, and lo does not count.)
lookup() { # lookup NAME: its first IPv4 address, as the daemon and fetch get them
    python3 -c 'import socket, sys
print(socket.getaddrinfo(sys.argv[1], 1, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])' "$1"
}
first=$(lookup "$NAME")
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

# A relay whose peers list names a name that does not resolve and the relay
# itself (one list given to every relay): each is said once, not at every
# try (a warning each time, for ever), and the relay stops dialling itself.
SELF=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.5", 0)); print(s.getsockname()[1])')
start_daemon selfie "${COMMON[@]}" --listen "127.0.0.5:$SELF" --peer "127.0.0.5:$SELF" \
    --peer "nowhere.samizdat.test:$PORT" || bad "start a relay that lists itself"
SELF2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.5", 0)); print(s.getsockname()[1])')
start_daemon selfname "${COMMON[@]}" --listen "127.0.0.5:$SELF2" --peer "self.samizdat.test:$SELF2" ||
    bad "start a relay that lists a name of its own"
sleep 7
n_self=$(grep -c "127.0.0.5:$SELF: closed: connected to itself" "$TMP/selfie.log")
n_res=$(grep -c "peer nowhere.samizdat.test:$PORT: cannot resolve" "$TMP/selfie.log")
[ "$n_self" -eq 1 ] && grep -q "is this node itself .*remove it from peers" "$TMP/selfie.log" && ok ||
    bad "the relay dialled itself $n_self times in 7 s: $(grep -i itself "$TMP/selfie.log" | head -3)"
[ "$n_res" -eq 1 ] && ok || bad "a name that does not resolve was warned of $n_res times in 7 s"
# A name is not given up on (other relays may be behind it): said once.
n_name=$(grep -c "peer self.samizdat.test:$SELF2: one of the name's addresses is this node itself" \
    "$TMP/selfname.log")
[ "$n_name" -eq 1 ] && ! grep -q "not dialled again" "$TMP/selfname.log" && ok ||
    bad "a name that leads to the relay itself was said $n_name times: $(grep itself "$TMP/selfname.log" | head -3)"
stop_daemon selfname || bad "stop the relay that lists a name of its own"
stop_daemon selfie || bad "stop the relay that lists itself"

# Every address refused: the message says how many were tried.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_status "fetch from a name none of whose addresses answers" 7 \
    "$SZ" fetch --peer "$NAME:$DEAD" --trust-file "$TMP/trust" --output "$TMP/lib2" \
    --connect-timeout 5
expect_stderr "both addresses tried" "peer $NAME:$DEAD: cannot connect to any of its 2 addresses"

# A DNS server that reads every question and answers none: each lookup waits
# 2 x 5 s. A publisher with 40 peer names behind it and one peer given by
# address: the address is connected to at once (it went through the same
# lookup queue as the names, which holds two at a time: 30 s and more), and a
# bundle published reaches that peer within seconds.
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recv(4096)
' >"$TMP/dns.out" 2>&1 &
DNS=$!
for _ in $(seq 1 50); do
    grep -q ready "$TMP/dns.out" && break
    nap 0.1
done
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:2\n' >"$TMP/resolv.conf"
printf 'hosts: files dns\n' >"$TMP/nsswitch.conf"
if ! grep -q ready "$TMP/dns.out" || ! mount --bind "$TMP/resolv.conf" /etc/resolv.conf ||
    ! mount --bind "$TMP/nsswitch.conf" /etc/nsswitch.conf; then
    echo "SKIP: a silent DNS server ($(cat "$TMP/dns.out"))" >&2
    finish
    exit
fi
# Checked meanwhile: a lookup through it waits.
(
    t0=$EPOCHREALTIME
    lookup nowhere.blocked.test >/dev/null 2>&1
    since "$t0" >"$TMP/lookup.took"
) &
LOOKUP=$!
"$SZ" keygen --secret-key "$TMP/pub2.sk" --public-key "$TMP/pub2.pk" --no-passphrase >/dev/null
start_daemon relay2 "${COMMON[@]}" || bad "start relay2"
peers=()
for k in $(seq 1 40); do peers+=(--peer "n$k.blocked.test:7447"); done
t0=$EPOCHREALTIME
start_daemon pub2 "${COMMON[@]}" --publisher-key "$TMP/pub2.sk" "${peers[@]}" \
    --peer "127.0.0.1:$(peer_port relay2)" ||
    bad "start a publisher whose peers' names do not resolve"
printf -- '---\ntitle: Despite DNS\nid: despite-dns\n---\nPublished anyway.\n' >"$TMP/b.md"
"$SZ" publish --socket "$TMP/pub2/control.sock" "$TMP/b.md" >/dev/null || bad "publish at pub2"
wait_bundles relay2 1 15
took=$(since "$t0")
echo "a bundle from a publisher with 40 peer names behind a silent DNS server reached its" \
    "peer given by address $took s after the publisher started" >&2
awk -v t="$took" 'BEGIN { exit !(t < 5) }' && ok ||
    bad "the peer given by address waited $took s behind names that do not resolve"
# fetch with the same 40 names and the relay, 16 at once, and few descriptors:
# each name is named after 1 s, the relay serves, and no lookup falls back to
# blocking the fetch (lookups share one descriptor pair: one each ran out).
echo "$(cat "$TMP/pub2.pk") Despite DNS" >"$TMP/trust2"
t0=$EPOCHREALTIME
(
    ulimit -n 64
    exec "$SZ" fetch "${peers[@]}" --peer "127.0.0.1:$(peer_port relay2)" --trust-file \
        "$TMP/trust2" --output "$TMP/lib5" --connect-timeout 1 --parallel 16 --json
) >"$TMP/fetch5.json" 2>"$TMP/fetch5.err"
rc=$?
took=$(since "$t0")
echo "fetch from 40 names behind the silent DNS server and one address: $took s" >&2
[ $rc -eq 0 ] && ok || bad "fetch past 40 names that do not resolve (rc $rc): $(tail -3 "$TMP/fetch5.err")"
n=$(grep -c "cannot resolve the address: no answer from DNS within 1 s" "$TMP/fetch5.err")
[ "$n" -eq 40 ] && ok || bad "each of the 40 names named once for its silent DNS ($n): $(head -5 "$TMP/fetch5.err")"
awk -v t="$took" 'BEGIN { exit !(t < 12) }' && ok || bad "fetch past 40 silent names took $took s"

# Lookups still waiting must not hold up a stop (SIGTERM).
t0=$EPOCHREALTIME
stop_daemon pub2 || bad "pub2 exits 0 on SIGTERM"
took=$(since "$t0")
awk -v t="$took" 'BEGIN { exit !(t < 5) }' && ok ||
    bad "pub2 took $took s to stop with its peers' lookups waiting"
wait $LOOKUP
took=$(cat "$TMP/lookup.took")
awk -v t="$took" 'BEGIN { exit !(t >= 4) }' && ok ||
    bad "a lookup through the silent DNS server should wait (took $took s)"
finish
