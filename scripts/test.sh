#!/usr/bin/env bash
# The test command (README): all tests, headless (pytest-xvfb starts Xvfb), one pytest-xdist worker per core
# (14:20 on one worker, 7:01 on two, on the 2-core CI machine: most tests are single-threaded napari/Qt work).
# Extra arguments go to pytest and come after ours: `-n 0` runs in one process. Exit code 5 (nothing collected) fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
.venv/bin/python -m pytest -W ignore::DeprecationWarning -n auto --durations=15 "$@"
rc=$?
[ $rc -eq 5 ] && echo "no tests collected: failing" >&2
exit $rc
