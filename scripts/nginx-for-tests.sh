#!/usr/bin/env bash
# The tools the deployment tests (tests/deploy) run for real: nginx, openssl and systemd-analyze.
# Installs Debian's packages when one is missing and we are root, then prints
# `export SPARKY_TEST_NGINX=...` (the tests start their own nginx on loopback; nothing is started
# here). Usage: eval "$(scripts/nginx-for-tests.sh)"
# Without nginx the nginx tests skip, without systemd-analyze the unit tests skip (CI fails both).
set -euo pipefail

install() {  # install PACKAGE...: as root with apt-get, quietly; nothing otherwise
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}

# nginx-light has every module the config uses (ssl, proxy, access); later Debian releases only ship nginx
command -v nginx >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null 2>&1 || install nginx-light || install nginx || true
command -v openssl >/dev/null 2>&1 || install openssl || true
command -v systemd-analyze >/dev/null 2>&1 || install systemd || true

if nginx=$(command -v nginx 2>/dev/null); then
  echo "export SPARKY_TEST_NGINX=$nginx"
else
  echo "echo 'nginx not installed: the nginx tests will be skipped (CI fails them)' >&2"
fi
command -v systemd-analyze >/dev/null 2>&1 \
  || echo "echo 'systemd-analyze not installed: the systemd unit tests will be skipped (CI fails them)' >&2"
