#!/usr/bin/env bash
# The censorship scenario, with network namespaces and veth links this test
# makes and removes itself. Hosts: the origin (publisher daemon), relays A, B
# and C, and the reader, on a bridge in a hub namespace, with addresses from
# the benchmarking range 198.18.0.0/24 that exist only inside these
# namespaces. In the reader's namespace a firewall silently drops every packet
# to the origin and to relay A, as a censor's does, so connections to them time
# out rather than being refused. The publisher publishes; fetch with peers
# [origin, A, B] gets every article via B. Then B is killed, C starts, the
# publisher publishes the next edition, and fetch with [origin, A, B, C] gets
# it via C. Then the reader's DNS is censored too, and a fetch from peers
# given by name gets edition 3 via C.
# usage: censor_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
TAG=sz$$
HUB=${TAG}hub
HOSTS=(origin relaya relayb relayc reader)
declare -A IP=([origin]=198.18.0.1 [relaya]=198.18.0.2 [relayb]=198.18.0.3 [relayc]=198.18.0.4
    [reader]=198.18.0.10)
declare -A PID
PORT=7447
FETCH_BOUND_S=45

cleanup() {
    local h
    for h in "${!PID[@]}"; do kill -KILL "${PID[$h]}" 2>/dev/null; done
    wait 2>/dev/null
    for h in "${HOSTS[@]}"; do ip netns del "$TAG$h" 2>/dev/null; done
    ip netns del "$HUB" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add "$HUB" 2>/dev/null; then
    echo "SKIPPED: censorship scenario needs root and network namespaces (ip netns)" >&2
    exit 77
fi
# ip netns exec remounts / (a chroot whose / is no mount point cannot), and the
# reader's name lookups are given their own files bound over /etc's.
if ! ip netns exec "$HUB" true 2>/dev/null; then
    echo "SKIPPED: censorship scenario: 'ip netns exec' cannot run here (is / a mount point?)" >&2
    exit 77
fi
if [ ! -f /etc/hosts ] || [ ! -f /etc/nsswitch.conf ] || [ ! -f /etc/resolv.conf ]; then
    echo "SKIPPED: censorship scenario binds its own /etc/hosts, /etc/nsswitch.conf and" \
        "/etc/resolv.conf over this machine's, and one is missing" >&2
    exit 77
fi
if ! command -v nft >/dev/null; then
    echo "SKIPPED: censorship scenario needs nft (Debian package nftables)" >&2
    exit 77
fi
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set lo up
i=0
for h in "${HOSTS[@]}"; do
    i=$((i + 1))
    ns=$TAG$h
    ip netns add "$ns"
    ip link add "v${TAG}$i" type veth peer name "h${TAG}$i"
    ip link set "v${TAG}$i" netns "$ns"
    ip link set "h${TAG}$i" netns "$HUB"
    ip -n "$ns" link set "v${TAG}$i" name eth0
    ip -n "$ns" addr add "${IP[$h]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$HUB" link set "h${TAG}$i" master br0
    ip -n "$HUB" link set "h${TAG}$i" up
done
# The censor: the reader's packets to the origin and to relay A vanish.
ip netns exec "${TAG}reader" nft -f - <<NFT
table inet censor {
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr { ${IP[origin]}, ${IP[relaya]} } drop
    }
}
NFT

start() { # start HOST ARGS...: a daemon in the host's namespace
    local h=$1
    shift
    mkdir -p "$TMP/$h"
    ip netns exec "$TAG$h" "$SZD" --data-dir "$TMP/$h" --listen "${IP[$h]}:$PORT" \
        --batch-window-ms 0 --expiry-days 0 "$@" >"$TMP/$h.log" 2>&1 &
    PID[$h]=$!
    for _ in $(seq 1 100); do
        "$SZ" status --socket "$TMP/$h/control.sock" >/dev/null 2>&1 && return 0
        nap 0.1
    done
    echo "$h did not start: $(tail -3 "$TMP/$h.log")" >&2
    return 1
}
holds() { "$SZ" list --socket "$TMP/$1/control.sock" 2>/dev/null | grep -c "^$2 "; }
wait_holds() { # wait_holds HOST ID SECONDS
    for _ in $(seq 1 $(($3 * 10))); do
        [ "$(holds "$1" "$2")" -ge 1 ] && return 0
        nap 0.1
    done
    return 1
}

"$SZ" keygen --secret-key "$TMP/pub.sk" --public-key "$TMP/pub.pk" --no-passphrase >/dev/null
echo "$(cat "$TMP/pub.pk") Exile Daily" >"$TMP/trust"
check "origin starts" start origin --publisher-key "$TMP/pub.sk"
check "relay A starts" start relaya --peer "${IP[origin]}:$PORT"
check "relay B starts" start relayb --peer "${IP[origin]}:$PORT"

# The firewall works as a censor's: from the reader, the origin and relay A
# time out (timeout's status 124), not refused at once.
for h in origin relaya; do
    rc=0
    ip netns exec "${TAG}reader" timeout 3 bash -c "exec 3<>/dev/tcp/${IP[$h]}/$PORT" 2>/dev/null ||
        rc=$?
    [ $rc -eq 124 ] && ok || bad "the reader's route to $h should time out (status $rc, wanted 124)"
done

ARTICLES=()
for f in "$SRC"/examples/articles/*.md "$SRC"/examples/articles/*.html "$SRC"/examples/articles/*.txt; do
    [ "$(basename "$f")" = README.md ] || ARTICLES+=("$f")
done
ID1=$("$SZ" publish --socket "$TMP/origin/control.sock" "${ARTICLES[@]}")
check "edition 1 reaches relay B" wait_holds relayb "$ID1" 30

t0=$(date +%s)
ip netns exec "${TAG}reader" "$SZ" fetch --peer "${IP[origin]}:$PORT" --peer "${IP[relaya]}:$PORT" \
    --peer "${IP[relayb]}:$PORT" --trust-file "$TMP/trust" --output "$TMP/library" \
    --connect-timeout 5 --json >"$TMP/fetch1.json" 2>"$TMP/fetch1.err"
rc=$?
t1=$(date +%s)
[ $rc -eq 0 ] && ok || bad "fetch via B succeeds (rc $rc: $(cat "$TMP/fetch1.err"))"
[ $((t1 - t0)) -le $FETCH_BOUND_S ] && ok || bad "fetch took $((t1 - t0)) s (bound $FETCH_BOUND_S s)"
python3 - "$TMP/fetch1.json" <<'PY' && ok || bad "fetch summary: every article of edition 1"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["complete"] and s["bundles"] == 1 and s["peers_ok"] == 1, s
PY
# Named as a censor's drop is: no answer, not a refusal.
for h in origin relaya; do
    grep -q "peer ${IP[$h]}:$PORT: cannot connect: no answer (a firewall on the way may drop the packets)" \
        "$TMP/fetch1.err" && ok || bad "the blocked peer $h is not named as dropped: $(cat "$TMP/fetch1.err")"
done
n=0
for f in "${ARTICLES[@]}"; do
    id=$(sed -n 's/^id: *//p' "$f" | head -1)
    [ -n "$id" ] || id=$(basename "${f%.*}")
    ls "$TMP"/library/*/"$id"/index.html >/dev/null 2>&1 && n=$((n + 1))
done
[ $n -eq ${#ARTICLES[@]} ] && ok || bad "all ${#ARTICLES[@]} articles unpacked ($n)"
grep -q "Exile Daily" "$TMP/library/index.html" && ok || bad "the trust file's name is in the library"

# Relay B is gone; relay C appears; the next edition goes out.
kill -KILL "${PID[relayb]}"
wait "${PID[relayb]}" 2>/dev/null
unset 'PID[relayb]'
check "relay C starts" start relayc --peer "${IP[origin]}:$PORT"
printf -- '---\ntitle: Second edition\nid: second-edition\n---\nThe next edition, via relay C.\n' \
    >"$TMP/second.md"
ID2=$("$SZ" publish --socket "$TMP/origin/control.sock" "$TMP/second.md")
check "edition 2 reaches relay C" wait_holds relayc "$ID2" 30
ip netns exec "${TAG}reader" "$SZ" fetch --peer "${IP[origin]}:$PORT" --peer "${IP[relaya]}:$PORT" \
    --peer "${IP[relayb]}:$PORT" --peer "${IP[relayc]}:$PORT" --trust-file "$TMP/trust" \
    --output "$TMP/library" --connect-timeout 5 --json >"$TMP/fetch2.json" 2>"$TMP/fetch2.err"
rc=$?
[ $rc -eq 0 ] && ok || bad "fetch via C succeeds (rc $rc: $(cat "$TMP/fetch2.err"))"
python3 - "$TMP/fetch2.json" <<'PY' && ok || bad "second fetch brings exactly the new edition"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["complete"] and s["bundles"] == 1, s
PY
ls "$TMP"/library/*/second-edition/index.html >/dev/null 2>&1 && ok || bad "edition 2 unpacked"
grep -q "Second edition" "$TMP/library/index.html" && ok || bad "edition 2 in the index"

# The censor's DNS: the reader's resolver is the origin's address, whose packets
# vanish, so every lookup of a name waits until the resolver gives up (5 s, 3
# times: 15 s per name). /etc/hosts names a mirror with two addresses: relay A
# (blocked) first, then relay C. Peers given by name must not hold up the
# fetch: each lookup is its own, the mirror's second address is tried after the
# first times out, and edition 3 arrives via C within the connect timeout of
# the names plus one of relay A's address.
# (Dropped on the way in: a packet dropped on the way out fails the sender at once.)
ip netns exec "${TAG}origin" nft -f - <<NFT
table inet censor {
    chain in {
        type filter hook input priority 0; policy accept;
        meta l4proto { tcp, udp } th dport 53 drop
    }
}
NFT
ip netns exec "${TAG}reader" nft delete table inet censor
ip netns exec "${TAG}reader" nft -f - <<NFT
table inet censor {
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr { ${IP[origin]}, ${IP[relaya]} } th dport != 53 drop
    }
}
NFT
printf 'nameserver %s\noptions timeout:5 attempts:3\n' "${IP[origin]}" >"$TMP/resolv.conf"
printf 'hosts: files dns\n' >"$TMP/nsswitch.conf"
printf '127.0.0.1 localhost\n%s mirror.exile.test\n%s mirror.exile.test\n' "${IP[relaya]}" \
    "${IP[relayc]}" >"$TMP/hosts"
in_reader() { # runs a command in the reader's namespace, with the files above as /etc's
    ip netns exec "${TAG}reader" bash -c 'mount --bind "$1" /etc/resolv.conf &&
        mount --bind "$2" /etc/nsswitch.conf && mount --bind "$3" /etc/hosts && shift 3 &&
        exec "$@"' _ "$TMP/resolv.conf" "$TMP/nsswitch.conf" "$TMP/hosts" "$@"
}
first=$(in_reader getent ahostsv4 mirror.exile.test | awk 'NR == 1 { print $1 }')
[ "$first" = "${IP[relaya]}" ] && ok ||
    bad "the mirror's blocked address comes first in the reader's lookups (got '$first')"
printf -- '---\ntitle: Third edition\nid: third-edition\n---\nThe next edition, via a name.\n' \
    >"$TMP/third.md"
ID3=$("$SZ" publish --socket "$TMP/origin/control.sock" "$TMP/third.md")
check "edition 3 reaches relay C" wait_holds relayc "$ID3" 30
t0=$(date +%s)
in_reader "$SZ" fetch --peer origin.exile.test:$PORT --peer relaya.exile.test:$PORT \
    --peer mirror.exile.test:$PORT --trust-file "$TMP/trust" --output "$TMP/library" \
    --connect-timeout 5 --json >"$TMP/fetch3.json" 2>"$TMP/fetch3.err"
rc=$?
t1=$(date +%s)
[ $rc -eq 0 ] && ok || bad "fetch by names succeeds (rc $rc: $(cat "$TMP/fetch3.err"))"
echo "fetch by names: $((t1 - t0)) s" >&2
[ $((t1 - t0)) -le 14 ] && ok ||
    bad "fetch by names took $((t1 - t0)) s: names that do not resolve held it up (bound 14 s)"
python3 - "$TMP/fetch3.json" <<'PY' && ok || bad "third fetch brings exactly edition 3"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["complete"] and s["bundles"] == 1 and s["peers_ok"] == 1, s
PY
grep -q "origin.exile.test:$PORT: cannot resolve the address: no answer from DNS" \
    "$TMP/fetch3.err" && grep -q "relaya.exile.test:$PORT: cannot resolve" "$TMP/fetch3.err" &&
    ok || bad "the names DNS does not answer for are named: $(cat "$TMP/fetch3.err")"
ls "$TMP"/library/*/third-edition/index.html >/dev/null 2>&1 && ok || bad "edition 3 unpacked"
finish
