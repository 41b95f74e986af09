#!/usr/bin/env bash
# ruff and mypy as pyproject.toml configures them, then the wheel built with the oldest setuptools
# pyproject.toml declares (a minimum that cannot build is a broken promise to packagers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
bin=$(dirname "$PY")
"$bin/ruff" check src tests bench scripts
"$bin/mypy"
scripts/check-build-minimum.sh
