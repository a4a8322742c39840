#!/usr/bin/env bash
# Installs lewm and everything it needs into ./.venv on a fresh machine (CPU).
# torch is pinned to 2.13.0: on these machines that resolves to the local CPU wheel, while an
# open version range would pull a multi-GB CUDA build (shared/MACHINE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "lewm installed in $(pwd)/.venv"
