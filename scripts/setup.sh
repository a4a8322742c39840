#!/usr/bin/env bash
# Installs lewm and everything it needs into ./.venv on a fresh machine (CPU).
# torch is pinned to 2.13.0: on these machines that resolves to the local CPU wheel, while an
# open version range would pull a multi-GB CUDA build (shared/MACHINE.md).
# System packages (Debian): chromium for the report's browser test (`lewm report`); Mesa's
# software EGL (libegl1, libegl-mesa0, libgl1-mesa-dri) for headless MuJoCo rendering
# (MUJOCO_GL=egl, the default), and libosmesa6 for the OSMesa fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "warning: could not apt-get install ${need[*]}; the tests that need them will skip" >&2
  else
    echo "warning: no apt-get; ${need[*]} missing, the tests that need them will skip" >&2
  fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "lewm installed in $(pwd)/.venv"
