#!/usr/bin/env bash
# Two relays that list each other as peers both dial: they keep one link,
# not two (the one the node with the smaller node key opened, both choosing
# alike), do not dial again and again while it lasts, gossip both ways over
# it, and link again once one of them restarts.
# usage: mutual_test.sh SAMIZDAT SAMIZDATD SOURCE_DIR
set -u
SZ=$1
SZD=$2
SRC=$3
TMP=$(mktemp -d)
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/daemon/common.sh"
trap 'cleanup_daemons; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
# debug: a node that closes the duplicate it sees as inbound logs so only at
# that level (inbound links stay out of the default log), and when it sees
# the duplicate first, the other node sees only a GOODBYE.
COMMON=(--expiry-days 0 --batch-window-ms 0 --log-level debug)

# links NAME: the daemon's open links, one line each: "DIRECTION NODE_KEY".
links() {
    szq status --json --socket "$TMP/$1/control.sock" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    print(p["direction"], p["node_key"])'
}
node_key() {
    szq status --json --socket "$TMP/$1/control.sock" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["node_key"])'
}
opened() { grep -c "link open" "$TMP/$1.log"; }
# wait_one_link: both hold exactly one link, to each other, within 15 s.
wait_one_link() {
    local i
    for i in $(seq 1 150); do
        if [ "$(links a | wc -l)" = 1 ] && [ "$(links b | wc -l)" = 1 ] &&
            [ "$(links a | awk '{print $2}')" = "$(node_key b)" ] &&
            [ "$(links b | awk '{print $2}')" = "$(node_key a)" ]; then
            return 0
        fi
        nap 0.1
    done
    echo "a: $(links a | tr '\n' ';') b: $(links b | tr '\n' ';')" >&2
    return 1
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

"$SZ" keygen --secret-key "$TMP/p.sk" --public-key "$TMP/p.pk" --no-passphrase >/dev/null ||
    bad "keygen"
for i in 1 2; do
    printf -- '---\ntitle: Issue %s\nid: issue-%s\n---\nText %s.\n' "$i" "$i" "$i" >"$TMP/a$i.md"
    "$SZ" pack --secret-key "$TMP/p.sk" --sequence "$i" --output "$TMP/b$i.bundle" \
        "$TMP/a$i.md" >/dev/null || bad "pack $i"
done
PA=$(free_port)
PB=$(free_port)
start_daemon a "${COMMON[@]}" --listen "127.0.0.1:$PA" --peer "127.0.0.1:$PB" || bad "start a"
start_daemon b "${COMMON[@]}" --listen "127.0.0.1:$PB" --peer "127.0.0.1:$PA" || bad "start b"

# 1. One link between them, the same one seen from both ends: outbound at
# the node with the smaller key. Both dial (neither knows the other's node
# key before its own link opens), so one of them sees the second link and
# closes one: the first link may be the one that goes, so wait for that.
for ((i = 0; i < 150; i++)); do
    grep -q "a second link to the same node" "$TMP/a.log" "$TMP/b.log" && break
    nap 0.1
done
wait_one_link && ok || bad "a and b do not hold one link each to the other"
if [[ "$(node_key a)" < "$(node_key b)" ]]; then small=a; large=b; else small=b; large=a; fi
[ "$(links $small | awk '{print $1}')" = outbound ] && [ "$(links $large | awk '{print $1}')" = inbound ] &&
    ok || bad "the link kept is not the one $small (smaller node key) opened: $(links $small)"
grep -q "a second link to the same node" "$TMP/a.log" "$TMP/b.log" && ok ||
    bad "neither log says a second link was closed"

# 2. It lasts: no new link for 6 s (the dialling node's target would retry
# within 1 s, and again within 2, if it counted the closed link as a failure).
before_a=$(opened a)
before_b=$(opened b)
sleep 6
[ "$(opened a)" = "$before_a" ] && [ "$(opened b)" = "$before_b" ] && ok ||
    bad "links opened again and again: a $before_a -> $(opened a), b $before_b -> $(opened b)"
wait_one_link && ok || bad "a and b do not hold one link each after 6 s"

# 3. Gossip goes both ways over it.
"$SZ" import --socket "$TMP/a/control.sock" "$TMP/b1.bundle" >/dev/null || bad "import at a"
"$SZ" import --socket "$TMP/b/control.sock" "$TMP/b2.bundle" >/dev/null || bad "import at b"
wait_bundles a 2 15 && ok || bad "a did not get b's bundle"
wait_bundles b 2 15 && ok || bad "b did not get a's bundle"

# 4. The node whose link was kept restarts: one link again (the other node
# dials it at once when the link closes, or it dials), within 15 s.
stop_daemon $small || bad "stop $small"
if [ $small = a ]; then
    start_daemon a "${COMMON[@]}" --listen "127.0.0.1:$PA" --peer "127.0.0.1:$PB" || bad "restart a"
else
    start_daemon b "${COMMON[@]}" --listen "127.0.0.1:$PB" --peer "127.0.0.1:$PA" || bad "restart b"
fi
wait_one_link && ok || bad "no single link after $small restarted"
for n in a b; do stop_daemon $n || bad "stop $n"; done
finish
