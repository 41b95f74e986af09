"""Applying the numbered SQL files in `migrations/` to PostgreSQL (Supabase or plain).

Each pending file runs in its own transaction, in number order, and is recorded in `_migrations`
(name, sha256 checksum, applied_at) in the same transaction, so a file is either applied and
recorded or neither. Applied files are append-only: if one changed since it was applied, nothing
runs (write a new file instead). Concurrent runs are safe: each transaction takes an advisory lock
and re-reads `_migrations` under it, which also works through Supabase's transaction pooler.

The driver is psycopg 3: the stdlib has no PostgreSQL client, and the supabase client speaks
PostgREST, which cannot run DDL. It is imported only when a database is contacted.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import psycopg

#: migrations/NNNN_what_it_does.sql
FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: pg_advisory_xact_lock key shared by every `sparky migrate` run (b"SPKYMIGR" as a bigint)
LOCK_KEY = 0x5350_4B59_4D49_4752

TRACKING_TABLE = """
create table if not exists public._migrations (
    name        text primary key,
    checksum    text not null,
    applied_at  timestamptz not null default now()
);
-- Nothing for the API roles to see (Supabase exposes public tables over PostgREST).
alter table public._migrations enable row level security;
"""


class MigrationError(Exception):
    """The migrations cannot be applied as they are (bad file names, changed files, SQL errors)."""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str
    checksum: str  # sha256 hex of the file, line endings normalised to \n

    @classmethod
    def from_file(cls, path: Path) -> Migration:
        text = path.read_bytes().replace(b"\r\n", b"\n")
        return cls(name=path.name, sql=text.decode("utf-8"), checksum=hashlib.sha256(text).hexdigest())


@dataclass(frozen=True)
class Applied:
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class Status:
    applied: list[Applied]
    pending: list[Migration]
    #: applied, but the file's checksum is not the recorded one
    changed: list[str]
    #: recorded as applied, but no such file (a newer Sparky migrated this database?)
    missing: list[str]

    @property
    def consistent(self) -> bool:
        return not self.changed


def default_directory() -> Path:
    """SPARKY_MIGRATIONS_DIR, else `migrations/` of the source checkout, else ./migrations."""
    if env := os.environ.get("SPARKY_MIGRATIONS_DIR"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    return checkout if checkout.is_dir() else Path("migrations")


def discover(directory: Path) -> list[Migration]:
    """The migration files of `directory`, in number order."""
    if not directory.is_dir():
        raise MigrationError(f"no migrations directory at {directory}")
    migrations: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_words.sql")
        number = match.group(1)
        if number in migrations:
            raise MigrationError(f"{path.name}: number {number} is taken by {migrations[number].name}")
        migrations[number] = Migration.from_file(path)
    return [migrations[number] for number in sorted(migrations)]


def connect(database_url: str, *, timeout: int | None = None) -> psycopg.Connection:
    """`timeout`: seconds to wait for the server (`sparky check`); None waits as libpq does."""
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - psycopg is a dependency
        raise MigrationError('sparky migrate needs psycopg: pip install "psycopg[binary]"') from err
    try:
        # prepare_threshold=None: no server-side prepared statements, which transaction poolers
        # (Supabase's port 6543) do not keep between transactions.
        options: dict[str, Any] = {"connect_timeout": timeout} if timeout is not None else {}
        return psycopg.connect(
            database_url, autocommit=True, prepare_threshold=None, application_name="sparky migrate", **options,
        )
    except psycopg.Error as err:
        raise MigrationError(f"cannot connect: {err}") from err


def ensure_tracking_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(TRACKING_TABLE)


def applied_migrations(conn: psycopg.Connection) -> list[Applied]:
    """What `_migrations` records (nothing when the table does not exist yet)."""
    if conn.execute("select to_regclass('public._migrations')").fetchone() == (None,):
        return []
    rows = conn.execute("select name, checksum, applied_at from public._migrations order by name").fetchall()
    return [Applied(*row) for row in rows]


def status(conn: psycopg.Connection, migrations: Iterable[Migration]) -> Status:
    """Compare the files with what the database recorded; changes nothing."""
    files = {m.name: m for m in migrations}
    applied = applied_migrations(conn)
    done = {a.name: a for a in applied}
    return Status(
        applied=applied,
        pending=[m for name, m in files.items() if name not in done],
        changed=[a.name for a in applied if a.name in files and files[a.name].checksum != a.checksum],
        missing=[a.name for a in applied if a.name not in files],
    )


def _refuse_changed(current: Status) -> None:
    if current.changed:
        names = ", ".join(current.changed)
        raise MigrationError(
            f"applied migration files changed since they were applied: {names}. "
            "Applied migrations are append-only: restore the files and add a new migration instead."
        )


def apply_pending(
    conn: psycopg.Connection, migrations: list[Migration], *, out: TextIO | None = None
) -> list[str]:
    """Apply every pending migration in order, one transaction each; returns the names applied."""
    import psycopg

    ensure_tracking_table(conn)
    _refuse_changed(status(conn, migrations))
    applied: list[str] = []
    for migration in migrations:
        started = time.perf_counter()
        try:
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                row = conn.execute(
                    "select checksum from public._migrations where name = %s", (migration.name,)
                ).fetchone()
                if row is not None:  # applied (possibly by a concurrent run since we looked)
                    if row[0] != migration.checksum:
                        raise MigrationError(f"{migration.name} changed since it was applied")
                    continue
                # No parameters: psycopg sends the file as one simple query, so it may hold many
                # statements and literal % signs.
                conn.execute(migration.sql.encode())
                conn.execute(
                    "insert into public._migrations (name, checksum) values (%s, %s)",
                    (migration.name, migration.checksum),
                )
        except psycopg.Error as err:
            raise MigrationError(f"{migration.name} failed, nothing of it was applied: {err}") from err
        applied.append(migration.name)
        if out is not None:
            print(f"applied  {migration.name}  ({(time.perf_counter() - started) * 1000:.0f} ms)", file=out)
    return applied
