"""`sparky migrate`: apply the pending migrations to PostgreSQL, or list them with `--status`.

The runner (discovery, checksums, one transaction per file) is `sparky.store.migrations`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from sparky.store.migrations import MigrationError, Status, apply_pending, connect, default_directory, discover, status


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
