#!/usr/bin/env bash
# The test command (README): all tests, headless (pytest-xvfb starts an Xvfb per worker), in pytest-xdist workers:
# one per CPU this process may use, at most 4 (14:20 in one process, 7:01-7:46 in two workers on the 2-core CI
# machine: most tests are single-threaded napari/Qt work; each worker holds a viewer, Xvfb and torch: ~0.3-0.7 GB).
# TEST_WORKERS=N sets the count; extra arguments go to pytest after ours (`-n 0`: one process).
# Exit code 5 (nothing collected) fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
PY=.venv/bin/python
WORKERS=()
if "$PY" -c "import xdist" 2>/dev/null; then  # (a .venv made before pytest-xdist joined the testing extras)
  N=${TEST_WORKERS:-$("$PY" -c "import os
cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
print(min(4, cpus))")}
  WORKERS=(-n "$N")
fi
# (an empty array expands under `set -u` only so in bash < 4.4, e.g. macOS's)
"$PY" -m pytest -W ignore::DeprecationWarning ${WORKERS[@]+"${WORKERS[@]}"} --durations=15 "$@"
rc=$?
[ $rc -eq 5 ] && echo "no tests collected: failing" >&2
exit $rc
