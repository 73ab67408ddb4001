#!/usr/bin/env bash
# Builds dist/netsight (one file) with PyInstaller and checks that it starts.
# PyInstaller is not part of the test environment; this script installs it
# into .venv. The check runs the binary offscreen with a screenshot and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/pip install -q "pyinstaller>=6.10"
.venv/bin/pyinstaller --noconfirm --clean netsight.spec

echo "== start check (offscreen, demo, screenshot)"
# Settings and data of the check go to a throw-away folder, not the user's.
check_home=$(mktemp -d)
trap 'rm -rf "$check_home"' EXIT
XDG_CONFIG_HOME="$check_home/config" XDG_DATA_HOME="$check_home/data" \
QT_QPA_PLATFORM=offscreen timeout 120 dist/netsight --demo \
    --screenshot=dist/start-check.png --screenshot-after=3
test -s dist/start-check.png
echo "dist/netsight builds and starts ($(du -h dist/netsight | cut -f1))."
