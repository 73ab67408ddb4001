#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine and runs
# it: lint (ruff), types (mypy), layering (import-linter), then pytest.
# The collector's end-to-end tests build network namespaces, so they need root;
# as another user they are skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

echo "== system packages"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip iproute2 nftables conntrack \
    xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 \
    libegl1 libgl1 libfontconfig1 libdbus-1-3 >/dev/null

echo "== python environment (.venv)"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import netsight, PySide6, duckdb, kubernetes' 

echo "== ruff"
.venv/bin/ruff check netsight tests bench
echo "== mypy"
.venv/bin/mypy netsight
echo "== import-linter"
.venv/bin/lint-imports

echo "== pytest"
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
