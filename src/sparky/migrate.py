"""`sparky migrate`: apply the numbered SQL files in `migrations/` to PostgreSQL (Supabase or plain).

Each pending file runs in its own transaction, in number order, and is recorded in `_migrations`
(name, sha256 checksum, applied_at) in the same transaction, so a file is either applied and
recorded or neither. Applied files are append-only: if one changed since it was applied, nothing
runs (write a new file instead). Concurrent runs are safe: each transaction takes an advisory lock
and re-reads `_migrations` under it, which also works through Supabase's transaction pooler.

The driver is psycopg 3: the stdlib has no PostgreSQL client, and the supabase client speaks
PostgREST, which cannot run DDL. It is imported only when a database is contacted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

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
    checkout = Path(__file__).resolve().parents[2] / "migrations"
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


def connect(database_url: str) -> psycopg.Connection:
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - psycopg is a dependency
        raise MigrationError('sparky migrate needs psycopg: pip install "psycopg[binary]"') from err
    try:
        # prepare_threshold=None: no server-side prepared statements, which transaction poolers
        # (Supabase's port 6543) do not keep between transactions.
        return psycopg.connect(
            database_url, autocommit=True, prepare_threshold=None, application_name="sparky migrate"
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


def format_status(current: Status) -> str:
    lines = []
    changed, missing = set(current.changed), set(current.missing)
    for a in current.applied:
        state = "CHANGED" if a.name in changed else "MISSING" if a.name in missing else "applied"
        lines.append(f"{state:<8} {a.name}  {a.applied_at.isoformat(timespec='seconds')}")
    lines.extend(f"{'pending':<8} {m.name}" for m in current.pending)
    lines.append(
        f"{len(current.applied)} applied, {len(current.pending)} pending"
        + (f", {len(current.changed)} changed since applied" if current.changed else "")
        + (f", {len(current.missing)} without a file" if current.missing else "")
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql://user:password@host:port/dbname (default: DATABASE_URL); on Supabase use "
        "the direct or session-pooler connection string of a role that owns the tables (postgres)",
    )
    parser.add_argument(
        "--status", action="store_true", help="list applied and pending migrations, change nothing"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="migrations directory (default: SPARKY_MIGRATIONS_DIR, else the source checkout's "
        "migrations/, else ./migrations)",
    )


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        print("sparky migrate: give --database-url postgresql://… or set DATABASE_URL", file=err)
        return 2
    try:
        migrations = discover(args.dir or default_directory())
        with connect(url) as conn:
            import psycopg  # importable: connect() succeeded

            try:
                if args.status:
                    current = status(conn, migrations)
                    print(format_status(current), file=out)
                    return 0 if current.consistent else 1
                applied = apply_pending(conn, migrations, out=out)
            except psycopg.Error as error:  # e.g. no right to create _migrations
                raise MigrationError(str(error)) from error
            if not applied:
                print(f"nothing to apply: all {len(migrations)} migrations are applied", file=out)
            return 0
    except MigrationError as error:
        print(f"sparky migrate: {error}", file=err)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sparky migrate", description="Apply migrations/*.sql to PostgreSQL"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
