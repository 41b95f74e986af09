#!/usr/bin/env bash
# `make bench` drives the server with wrk: install it (Debian's package) when it is missing and we can.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is not installed: install it (e.g. sudo apt-get install wrk) and run make bench again" >&2
    exit 1
  fi
fi
