#!/usr/bin/env bash
# Installs NetSight on a fresh Debian/Ubuntu machine and starts it on the
# built-in demo cluster (no Kubernetes cluster needed). Arguments are passed
# on to `netsight`, e.g. `bash scripts/demo.sh --screenshot demo.png`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/netsight --demo "$@"
