#!/usr/bin/env bash
# A throwaway PostgreSQL (15+) for the tests: installs it when missing (Debian's `postgresql`
# package, as root), starts one cluster under /tmp on a free loopback port unless it is already
# running, and prints its URL on stdout (everything else goes to stderr).
#
#   eval "$(scripts/postgres-for-tests.sh)"     # sets SPARKY_TEST_DATABASE_URL (like redis-for-tests.sh)
#   scripts/postgres-for-tests.sh --url         # prints the bare postgresql:// URL
#   scripts/postgres-for-tests.sh --stop        # stops it and deletes its files
#
# To test against a server of your own, set SPARKY_TEST_DATABASE_URL instead of running this
# (a superuser: the tests create databases, the migrations create roles). When PostgreSQL is
# missing and cannot be installed (not root), this says so on stderr, prints nothing and exits 1:
# the tests then skip, or fail under CI=true.
# The cluster is for tests only: fsync off, superuser `postgres` with a random password that is
# kept (mode 600) beside the data, listening on 127.0.0.1 only. As root, the server runs as the
# `postgres` system user (initdb refuses root). Set SPARKY_TEST_PG_DIR to put it elsewhere.
set -euo pipefail

ROOT=${SPARKY_TEST_PG_DIR:-/tmp/sparky-test-postgres}
DATA=$ROOT/data
MIN_VERSION=15
cd /  # the server user may not be able to read the caller's directory

log() { echo "postgres-for-tests: $*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
    local dir version
    # Debian/Ubuntu keep each major version apart; take the newest.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        version=$(basename "$(dirname "$dir")")
        if [[ -x $dir/initdb && -x $dir/pg_ctl && ${version%%.*} -ge $MIN_VERSION ]]; then
            echo "$dir"
            return 0
        fi
    done
    # Elsewhere (Homebrew, Fedora…): whatever pg_ctl is on PATH, if it is recent enough.
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        version=$(pg_ctl --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
        if [[ $version -ge $MIN_VERSION ]]; then
            dirname "$(command -v pg_ctl)"
            return 0
        fi
    fi
    return 1
}

install_postgres() {
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL $MIN_VERSION+ is not installed; install it (Debian: sudo apt-get install postgresql) or set SPARKY_TEST_DATABASE_URL"
    command -v apt-get >/dev/null || die "PostgreSQL $MIN_VERSION+ is not installed and there is no apt-get here; install it or set SPARKY_TEST_DATABASE_URL"
    log "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# as_owner CMD...: run as the cluster's owner (the `postgres` system user when we are root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port
    for port in $(seq 55432 55532); do
        if ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port in 55432-55532"
}

MODE=export
case ${1:-} in
    --url) MODE=url ;;
    --stop | "") ;;
    *) die "usage: $0 [--url | --stop]" ;;
esac

emit() {
    if [[ $MODE == url ]]; then
        echo "$1"
    else
        printf 'export SPARKY_TEST_DATABASE_URL=%q\n' "$1"
    fi
}

url() {
    emit "postgresql://postgres:$(cat "$ROOT/password")@127.0.0.1:$(cat "$ROOT/port")/postgres"
}

running() {
    [[ -f $ROOT/port && -f $ROOT/password && -f $DATA/postmaster.pid ]] \
        && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 \
        && as_owner "$BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$ROOT/port")"
}

if [[ ${1:-} == "--stop" ]]; then
    if BIN=$(find_bindir) && [[ -f $DATA/postmaster.pid ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    rm -rf "$ROOT"
    log "stopped and removed $ROOT"
    exit 0
fi

BIN=$(find_bindir) || { install_postgres; BIN=$(find_bindir) || die "PostgreSQL $MIN_VERSION+ still not found after installing"; }

if running; then
    log "reusing the cluster in $ROOT"
    url
    exit 0
fi

# Nothing usable there (first run, or a machine restart left a stale directory): start afresh.
if [[ -f $DATA/postmaster.pid ]]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$ROOT"
mkdir -p "$ROOT"
chmod 700 "$ROOT"
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' system user to run the server as"
    chown postgres: "$ROOT"
fi

as_owner bash -c 'umask 077; od -An -N16 -tx1 /dev/urandom | tr -d " \n" > "$1"' _ "$ROOT/password"
log "initdb in $DATA ($("$BIN/postgres" --version))"
as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$ROOT/password" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null

port=$(free_port)
as_owner bash -c 'echo "$1" > "$2"' _ "$port" "$ROOT/port"
as_owner "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w -t 60 start -o "\
    -p $port -k $ROOT -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=50 -c shared_buffers=64MB" >&2 \
    || { cat "$ROOT/server.log" >&2 || true; die "the server did not start"; }
log "PostgreSQL running on 127.0.0.1:$port (log: $ROOT/server.log)"
url
