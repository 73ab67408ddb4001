#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine and runs
# it: lint (ruff), types (mypy), layering (import-linter), then pytest.
# The collector's end-to-end tests build network namespaces, so they need
# root; as another user they are skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test

echo "== ruff"
.venv/bin/ruff check netsight tests bench
echo "== mypy"
.venv/bin/mypy netsight
echo "== import-linter"
.venv/bin/lint-imports

echo "== pytest"
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
