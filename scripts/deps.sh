#!/usr/bin/env bash
# Installs the Debian 12 packages samizdat needs to build, test and run.
# Runs apt-get only when something is missing; uses sudo when not root.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format cppcheck
    libsodium-dev libzstd-dev zstd libuv1-dev libsqlite3-dev libinih-dev
    libmd4c-dev libmd4c-html0-dev libyaml-dev libcmocka-dev
    scdoc minisign chromium iproute2 nftables rsync python3 python3-nacl python3-zstandard
    procps psmisc systemd man-db strace faketime
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "deps: missing packages (${missing[*]}) and no sudo: run this as root" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
