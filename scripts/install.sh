#!/usr/bin/env bash
# Installs NetSight into ./.venv on a fresh Debian/Ubuntu machine, with the
# system libraries Qt needs to open a window. With --test it also installs
# what the test suite needs: the test tools, Xvfb, and iproute2, nftables and
# conntrack for the collector's network-namespace tests.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
packages=(python3 python3-venv python3-pip
          libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
          libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
          libxcb-randr0 libxcb-render-util0 libxcb-image0)
if [ "${1:-}" = "--test" ]; then
    extras="[test]"
    packages+=(xvfb iproute2 nftables conntrack)
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== system packages: ${packages[*]}"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null

echo "== python environment (.venv)"
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
# pipefail makes a failed install stop here, with pip's own message above.
.venv/bin/pip install -q -e ".${extras}" 2>&1 | { grep -v '^WARNING: Location' || true; }
.venv/bin/python -c 'import netsight, PySide6, duckdb, kubernetes' \
    || { echo "NetSight did not install; see the pip output above." >&2; exit 1; }
