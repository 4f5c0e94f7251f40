#!/usr/bin/env bash
# The demo's network (command 1, after the build): a publisher daemon and two
# relays on 127.0.0.1 (ports picked by the kernel), the publisher linked only
# to relay 1, relay 2 only to relay 1. The sample articles are published
# through the publisher's control socket, gossip carries them over, and a
# reader fetches them from relay 2 alone, verifies and unpacks them into
# WORK/library; the path of its index.html is printed on standard output.
# The daemons are stopped at the end. The suite runs it too (tests/cli/demo_test.sh).
# usage: demo_network.sh SAMIZDAT SAMIZDATD WORK
set -euo pipefail
cd "$(dirname "$0")/.."
SZ=$1
SZD=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# start NAME ARGS...: a daemon in $WORK/NAME, ready when its socket answers.
start() {
    local name=$1
    shift
    "$SZD" --data-dir "$WORK/$name" --listen 127.0.0.1:0 --batch-window-ms 500 "$@" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        "$SZ" status --socket "$WORK/$name/control.sock" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: $name did not start; see $WORK/$name.log" >&2
    exit 1
}
port() { sed -n 's/.*listening for peers on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -1; }

ARTICLES=()
for f in examples/articles/*.md examples/articles/*.html examples/articles/*.txt; do
    [ "$(basename "$f")" = README.md ] || ARTICLES+=("$f")
done

"$SZ" keygen --secret-key "$WORK/publisher.sk" --public-key "$WORK/publisher.pk" \
    --no-passphrase >/dev/null
echo "$(cat "$WORK/publisher.pk") The samizdat demo newsroom" >"$WORK/trust"
# --outbound-target 0: no peer exchange, so the links stay as drawn (the
# publisher linked to relay1 only, relay2 to relay1 only).
start publisher --publisher-key "$WORK/publisher.sk" --outbound-target 0
start relay1 --peer "127.0.0.1:$(port publisher)" --outbound-target 0
start relay2 --peer "127.0.0.1:$(port relay1)" --outbound-target 0
echo "demo: publisher on port $(port publisher); relay1 on $(port relay1) (linked to the" \
    "publisher); relay2 on $(port relay2) (linked to relay1 only)" >&2

ID=$("$SZ" publish --socket "$WORK/publisher/control.sock" "${ARTICLES[@]}")
echo "demo: published ${#ARTICLES[@]} articles as bundle $ID" >&2
for _ in $(seq 1 100); do
    "$SZ" list --socket "$WORK/relay2/control.sock" | grep -q "^$ID " && break
    sleep 0.1
done
"$SZ" list --socket "$WORK/relay2/control.sock" | grep -q "^$ID " ||
    { echo "demo: the bundle did not reach relay2" >&2; exit 1; }
"$SZ" status --socket "$WORK/publisher/control.sock" | grep -q "^peers: 1 inbound, 0 outbound" ||
    { echo "demo: the publisher is linked to more than relay1" >&2; exit 1; }
echo "demo: gossip carried it publisher -> relay1 -> relay2 (the publisher has one link)" >&2

echo "demo: the reader fetches from relay2 only:" >&2
INDEX=$("$SZ" fetch --peer "127.0.0.1:$(port relay2)" --trust-file "$WORK/trust" \
    --output "$WORK/library")
echo "demo: the library is ready; open it in a browser:" >&2
echo "$INDEX"
