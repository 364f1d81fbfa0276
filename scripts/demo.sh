#!/usr/bin/env bash
# Newcomer command: set up (first run ~2 min) and run every task on the bundled sample data; images go to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
.venv/bin/python -m napari_doubledip.demo --out results "$@"
