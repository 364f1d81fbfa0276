#!/usr/bin/env bash
# Set up everything on a fresh machine (idempotent): system packages for headless Qt, a venv, pinned CPU torch,
# and the package with its test extras. Used by .ci/run and scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS="xvfb xauth libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
libdbus-1-3 libfontconfig1 libglib2.0-0"
# installed under its own name or its 64-bit-time name (Ubuntu 24.04 / Debian 13: libglib2.0-0t64; apt installs
# that for the old name, but `dpkg -s` of the old name fails, and apt would run at every call)
installed() {
  local p
  for p in "$1" "${1}t64"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && return 0
  done
  return 1
}
# root runs apt itself, anyone else through sudo (without sudo: told what to install, below)
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
MISSING=""
for p in $APT_PKGS; do installed "$p" || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: not root and no sudo; as root, run: apt-get install$MISSING" >&2
    exit 1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
fi

PY=${PYTHON:-python3}
# Debian/Ubuntu's own Python needs python3-venv for `venv` (ensurepip; for a PYTHON other than the default
# python3, its own python3.X-venv); a pyenv/conda Python has it.
if [ ! -x .venv/bin/python ] && ! "$PY" -c "import ensurepip" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: $PY lacks venv support (ensurepip), and this is not root with no sudo; as root, run:" \
      "apt-get install python3-venv" >&2
    exit 1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -U pip
# torch first and pinned: these machines' pip finds the CPU wheel of 2.13.0 on local disk (PIP_FIND_LINKS); an
# unpinned torch, or pip's own index elsewhere, gives the multi-GB CUDA build. TORCH_INDEX_URL (e.g.
# https://download.pytorch.org/whl/cpu) takes it from there instead.
.venv/bin/python -m pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
.venv/bin/python -m pip install -q torch==2.13.0 -e ".[testing]"
