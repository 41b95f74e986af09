"""`sparky check`'s findings on this machine's side: secrets, the data dir and its lock, the store,
its schema or migrations, and Redis. Each reads only: a server may be running beside it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from importlib import resources
from pathlib import Path

from sparky.cli.findings import Finding, fail, ok, warn, without_password
from sparky.config import Settings
from sparky.secret_policy import HOW_TO_CHOOSE, weak_secret_problems

#: seconds a store, database or Redis gets to answer
TIMEOUT = 5


def secrets(settings: Settings) -> list[Finding]:
    """Guessable secrets. Exposed or production servers refuse them already (a settings FAIL);
    on 127.0.0.1 they are allowed, and said here."""
    configured = settings.configured_secrets()
    problems = weak_secret_problems(configured)
    if problems:
        return [warn("secrets", f"{problem}: accepted only while HOST is a loopback address and SPARKY_ENV is not "
                                f"production; {HOW_TO_CHOOSE}") for problem in problems]
    named = [name for name, value in configured.items() if value is not None]
    generated = []
    if configured["WEBHOOK_SECRET"] is None and configured["config.json webhookSecret"] is None:
        generated.append("the webhook secret")
    if configured["ADMIN_TOKEN"] is None:
        generated.append("the admin token")
    text = f"{', '.join(named)} long enough and not placeholders" if named else "none configured"
    if generated:
        text += f"; Sparky generates {' and '.join(generated)} in the data dir"
    return [ok("secrets", text)]


def data_dir(settings: Settings) -> list[Finding]:
    """Writable, and whether a server holds it (a warning: check runs fine beside one)."""
    from sparky.data_dir_lock import holder

    path = settings.sparky_data_dir
    if not path.exists():
        parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK):
            return [fail("data dir", f"{path} does not exist and {parent} is not writable: create it for the user "
                                     "running Sparky, or set SPARKY_DATA_DIR")]
        return [warn("data dir", f"{path} does not exist yet: the first `sparky serve` creates it")]
    if not path.is_dir():
        return [fail("data dir", f"{path} is not a directory: set SPARKY_DATA_DIR to a directory")]
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        return [fail("data dir", f"{path} is not writable ({err.strerror or err}): give the user running "
                                 "Sparky write access, or set SPARKY_DATA_DIR")]
    findings = [ok("data dir", f"{path} is writable")]
    held, pid = holder(path)
    if held:
        who = f"pid {pid}" if pid else "a server that is still starting"
        findings.append(warn("data dir lock", f"in use by {who}: a server is running on this data dir "
                                              "(a second `sparky serve` on it would refuse to start)"))
    else:
        findings.append(ok("data dir lock", "free: no server is running on this data dir"))
    return findings


async def store(settings: Settings) -> list[Finding]:
    if settings.supabase_url:
        return [await _supabase(settings)]
    return _sqlite(settings.database_path)


async def _supabase(settings: Settings) -> Finding:
    from sparky.store.supabase.store import SupabaseStore

    assert settings.supabase_service_role_key is not None  # the settings demand both
    supabase = SupabaseStore(settings.supabase_url or "", settings.supabase_service_role_key.get_secret_value(),
                             timeout=TIMEOUT)
    try:
        await supabase.open()
        answered = await asyncio.wait_for(supabase.ping(), TIMEOUT * 2)
    except Exception:  # noqa: BLE001 - any failure (a timeout included) is the finding
        answered = False
    finally:
        await supabase.aclose()
    if answered:
        return ok("store", f"Supabase at {settings.supabase_url} answers a read of webhook_requests")
    return fail("store", f"Supabase at {settings.supabase_url} does not answer a read of webhook_requests: check "
                         "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the service role key, not the anon key), and "
                         "that `sparky migrate` created the tables")


def _sqlite(path: Path) -> list[Finding]:
    """The file opens and reads, and holds every table and column of this version's schema."""
    if not path.exists():
        return [warn("store", f"no database yet at {path}: the first `sparky serve` (or `sparky users add`) "
                              "creates it")]
    schema = resources.files("sparky.store.sqlite").joinpath("schema.sql").read_text("utf-8")
    from sparky.store.sqlite.upgrade import schema_gaps

    try:
        # mode=rw: reads only, and never creates a file; busy_timeout: a server may be writing
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=TIMEOUT)
        try:
            requests = conn.execute("SELECT count(*) FROM webhook_requests").fetchone()[0]
            gaps = schema_gaps(conn, schema)
        finally:
            conn.close()
    except sqlite3.Error as err:
        return [fail("store", f"the SQLite database at {path} cannot be read ({err}): check its owner and mode, or "
                              "restore it from a backup (`sparky backup`)")]
    findings = [ok("store", f"SQLite at {path} opens ({requests} webhook requests)")]
    if gaps:
        shown = ", ".join(gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        findings.append(warn("schema", f"the database lacks {shown}: the next `sparky serve` adds them "
                                       "(made by an older Sparky)"))
    else:
        findings.append(ok("schema", "every table and column of this version is there"))
    return findings


def migrations(settings: Settings) -> list[Finding]:
    """PostgreSQL's applied migrations against migrations/*.sql, as `sparky migrate --status` sees them."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        if settings.supabase_url:
            return [warn("migrations", "not checked: set DATABASE_URL (the database's direct connection string) to "
                                       "compare it with migrations/*.sql, as `sparky migrate --status` does")]
        return []  # the SQLite schema is checked with the store
    from sparky.store.migrations import MigrationError, connect, default_directory, discover, status

    shown = without_password(url)
    try:
        files = discover(default_directory())
        with connect(url, timeout=TIMEOUT) as conn:
            current = status(conn, files)
    except MigrationError as err:
        return [fail("migrations", f"{shown}: {err}; check DATABASE_URL")]
    except Exception as err:  # noqa: BLE001 - psycopg's errors (no rights to read _migrations…)
        return [fail("migrations", f"{shown}: {type(err).__name__}: {err}")]
    findings = []
    if current.changed:
        findings.append(fail("migrations", f"applied files changed since: {', '.join(current.changed)}; restore them "
                                           "and add a new migration instead"))
    if current.pending:
        names = ", ".join(m.name for m in current.pending)
        findings.append(fail("migrations", f"{len(current.pending)} pending ({names}): run `sparky migrate`"))
    if current.missing:
        findings.append(warn("migrations", f"applied but not in migrations/: {', '.join(current.missing)} (a newer "
                                           "Sparky migrated this database?)"))
    if not findings:
        findings.append(ok("migrations", f"all {len(files)} applied to {shown}"))
    return findings


async def redis(settings: Settings) -> list[Finding]:
    if not settings.redis_url:
        return []
    from redis.asyncio import Redis

    shown = without_password(settings.redis_url)
    client = Redis.from_url(settings.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        await asyncio.wait_for(client.ping(), TIMEOUT * 2)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        return [fail("redis", f"{shown} does not answer ({type(err).__name__}: {err}): start Redis, fix REDIS_URL, "
                              "or unset it (one server needs no Redis; the server falls back to in-process)")]
    finally:
        await client.aclose()
    return [ok("redis", f"{shown} answers")]
