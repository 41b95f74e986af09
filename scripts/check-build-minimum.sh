#!/usr/bin/env bash
# Builds Sparky's wheel with exactly the oldest setuptools that pyproject.toml's [build-system]
# allows, in a virtual environment kept under .cache/ (made once per minimum).
set -euo pipefail
cd "$(dirname "$0")/.."
minimum=$(sed -n 's/^requires = \["setuptools>=\([0-9.]*\)".*/\1/p' pyproject.toml)
if [ -z "$minimum" ]; then
  echo "check-build-minimum: no 'setuptools>=X' in [build-system] requires" >&2
  exit 1
fi
venv=.cache/build-minimum-$minimum
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "setuptools==$minimum" wheel 2>&1 | grep -v '^WARNING: Location' >&2 || true
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! "$venv/bin/pip" wheel --quiet --no-deps --no-build-isolation -w "$out" . >"$out/log" 2>&1; then
  grep -v '^WARNING: Location' "$out/log" >&2
  echo "check-build-minimum: Sparky does not build with setuptools $minimum, the minimum pyproject.toml declares" >&2
  exit 1
fi
echo "build: the wheel builds with setuptools $minimum (the declared minimum)"
