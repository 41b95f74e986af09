#!/usr/bin/env bash
# PM2 for the deployment test of ecosystem.config.js: installed from npm into .cache/pm2 of the
# checkout (never globally), Debian's npm first when it is missing and we are root. Prints
# `export SPARKY_TEST_PM2=...`. Usage: eval "$(scripts/pm2-for-tests.sh)"
# Without it the PM2 test skips (CI fails it).
set -euo pipefail
cd "$(dirname "$0")/.."
PM2_VERSION=7.0.4
prefix=$PWD/.cache/pm2
pm2=$prefix/node_modules/.bin/pm2

installed() {  # the version in node_modules (`pm2 --version` would start a PM2 daemon)
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$prefix/node_modules/pm2/package.json" 2>/dev/null | head -1
}

if [ ! -x "$pm2" ] || [ "$(installed)" != "$PM2_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || true
  fi
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$prefix"
    # PM2_HOME: pm2's install hook must not touch ~/.pm2 of whoever runs the tests
    PM2_HOME=$prefix/home npm install --prefix "$prefix" --no-audit --no-fund --silent "pm2@$PM2_VERSION" >&2 || true
  fi
fi

if [ -x "$pm2" ]; then
  echo "export SPARKY_TEST_PM2=$pm2"
else
  echo "echo 'pm2 not installed (npm missing or offline): the PM2 test will be skipped (CI fails it)' >&2"
fi
