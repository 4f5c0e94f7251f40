#!/usr/bin/env bash
# Command 1: installs the dependencies, builds samizdat, and runs the main job.
# Today that is the offline path: make a publisher key, pack the sample
# articles, verify the bundle, unpack it into a library, and print where the
# library's index.html is.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/deps.sh
echo "demo: building (build/)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.configure.log 2>&1 ||
    { cat build.configure.log; exit 1; }
cmake --build build -j"$(nproc)" >build.build.log 2>&1 || { tail -40 build.build.log; exit 1; }
SZ=$ROOT/build/client/samizdat

WORK=$ROOT/demo-output
rm -rf "$WORK"
mkdir -p "$WORK"
ARTICLES=()
for f in examples/articles/*.md examples/articles/*.html examples/articles/*.txt; do
    [ "$(basename "$f")" = README.md ] || ARTICLES+=("$f")
done

echo "demo: publisher key" >&2
"$SZ" keygen --secret-key "$WORK/publisher.sk" --public-key "$WORK/publisher.pk" --no-passphrase >/dev/null
echo "demo: packing ${#ARTICLES[@]} articles" >&2
ID=$("$SZ" pack --secret-key "$WORK/publisher.sk" --output "$WORK/edition.bundle" "${ARTICLES[@]}")
echo "demo: bundle $ID ($(stat -c %s "$WORK/edition.bundle") bytes)" >&2
"$SZ" verify --trust "$WORK/publisher.pk" "$WORK/edition.bundle" >&2
INDEX=$("$SZ" unpack --trust "$WORK/publisher.pk" --output "$WORK/library" "$WORK/edition.bundle")
echo "demo: the library is ready; open it in a browser:" >&2
echo "$INDEX"
