#!/usr/bin/env bash
# `make test`: lint and type-check (scripts/lint.sh), start the real services the suite needs
# (installing them where possible), run pytest, stop the services. In CI (CI=true) a test whose
# service is missing fails, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PY=$PY scripts/lint.sh
eval "$(scripts/redis-for-tests.sh)"
eval "$(scripts/postgres-for-tests.sh)"
eval "$(scripts/nginx-for-tests.sh)"  # nginx, openssl, systemd-analyze (tests/deploy)
eval "$(scripts/pm2-for-tests.sh)"    # pm2 from npm into .cache/pm2 (tests/deploy)
cleanup() {
  if [ -n "${SPARKY_TEST_REDIS_URL:-}" ]; then
    redis-cli -u "$SPARKY_TEST_REDIS_URL" shutdown nosave >/dev/null 2>&1 || true
  fi
  scripts/postgres-for-tests.sh --stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$PY" -m pytest "$@"
