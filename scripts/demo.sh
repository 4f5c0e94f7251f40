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
bash scripts/demo_network.sh "$ROOT/build/client/samizdat" "$ROOT/build/daemon/samizdatd" \
    "$ROOT/demo-output"
