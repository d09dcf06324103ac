#!/usr/bin/env bash
# Sets up, then opens the window on the simulated set with the demo shot list.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/capture-assist gui shotlists/demo.yaml "$@"
