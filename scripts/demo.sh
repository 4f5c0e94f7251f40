#!/usr/bin/env bash
# Command 1: installs the dependencies, builds samizdat, and runs the main job
# on a small local network: a publisher daemon and two relays on 127.0.0.1,
# the publisher linked only to relay 1, relay 2 only to relay 1. The sample
# articles are published through the publisher's control socket, gossip
# carries them over, and a reader fetches them from relay 2 alone (never from
# the publisher), verifies and unpacks them, and the library's index.html is
# printed. Ports are picked by the kernel, so a running instance is no bother.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/deps.sh
echo "demo: building (build/)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.configure.log 2>&1 ||
    { cat build.configure.log; exit 1; }
cmake --build build -j"$(nproc)" >build.build.log 2>&1 || { tail -40 build.build.log; exit 1; }
SZ=$ROOT/build/client/samizdat
SZD=$ROOT/build/daemon/samizdatd

WORK=$ROOT/demo-output
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
start publisher --publisher-key "$WORK/publisher.sk"
start relay1 --peer "127.0.0.1:$(port publisher)"
start relay2 --peer "127.0.0.1:$(port relay1)"
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
echo "demo: gossip carried it publisher -> relay1 -> relay2" >&2

echo "demo: the reader fetches from relay2 only:" >&2
INDEX=$("$SZ" fetch --peer "127.0.0.1:$(port relay2)" --trust-file "$WORK/trust" \
    --output "$WORK/library")
echo "demo: the library is ready; open it in a browser:" >&2
echo "$INDEX"
