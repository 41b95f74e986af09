#!/usr/bin/env bash
# Start a throwaway redis-server for the test suite (installing Debian's package if missing) and
# print `export SPARKY_TEST_REDIS_URL=...`. Usage: eval "$(scripts/redis-for-tests.sh)"
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  else
    echo "echo 'redis-server not installed: Redis tests will be skipped (CI fails them)' >&2"
    exit 0
  fi
fi
dir=$(mktemp -d /tmp/sparky-redis.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
for _ in $(seq 1 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
echo "export SPARKY_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
