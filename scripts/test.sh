#!/usr/bin/env bash
# The test command (README): all tests, headless (pytest-xvfb starts Xvfb). Exit code 5 (nothing collected) fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
.venv/bin/python -m pytest -W ignore::DeprecationWarning --durations=15 "$@"
rc=$?
[ $rc -eq 5 ] && echo "no tests collected: failing" >&2
exit $rc
