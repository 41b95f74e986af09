"""What every command on the data dir's SQLite store shares (`sparky users …`, `sparky ai …`):
where the database is, opening it for one action, the exit statuses, and the subcommand wiring.

Exit status: 0 done, 2 bad input (the reason on stderr, nothing stored), 1 the store could not be
used.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sparky.cli.users_input import InputError
from sparky.store.base import StoreUnavailable
from sparky.store.sqlite.store import SqliteStore

Action = Callable[[SqliteStore, argparse.Namespace], Awaitable[None]]


def database(args: argparse.Namespace) -> tuple[Path, str]:
    """The SQLite file and PRAGMA synchronous: --data-dir, else Settings (SPARKY_DATA_DIR, .env)."""
    from sparky.cli.settings_errors import InvalidSettings, load_settings
    from sparky.config import Settings

    if args.data_dir is not None:
        # only the file name from Settings: the environment must not be able to fail this command
        return Settings.model_construct(sparky_data_dir=Path(args.data_dir)).database_path, "FULL"
    try:
        settings = load_settings()
    except InvalidSettings as err:
        raise InputError(f"invalid settings (or pass --data-dir):\n{err}") from None
    return settings.database_path, settings.sqlite_synchronous


def run_on_store(name: str, args: argparse.Namespace, action: Action, *, creates: bool = False) -> int:
    """Run `action` on the data dir's store and map the outcome to an exit status. Unless the
    command `creates` the database, a missing one is bad input."""
    try:
        path, synchronous = database(args)
        if not creates and not path.exists():
            raise InputError(
                f"no Sparky database at {path}: check --data-dir / SPARKY_DATA_DIR "
                "(`sparky users add` creates it)"
            )
        asyncio.run(with_store(path, synchronous, action, args))
    except InputError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    except (StoreUnavailable, sqlite3.Error, OSError) as err:
        print(f"{name}: the store at the data dir could not be used: {err}", file=sys.stderr)
        return 1
    return 0


async def with_store(path: Path, synchronous: str, action: Action, args: argparse.Namespace) -> None:
    store = SqliteStore(path, synchronous=synchronous)
    await store.open()
    try:
        await action(store, args)
    finally:
        await store.aclose()


def command_group(subparsers: Any, name: str, *, handler: Callable[[argparse.Namespace], int], action_key: str,
                  **kwargs: Any) -> Callable[..., argparse.ArgumentParser]:
    """Register `sparky NAME` and return the factory of its subcommands: `command(sub, action,
    **kwargs)` adds one with `--data-dir`, whose `action` ends up in `args.<action_key>`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=None,
                        help="the data directory holding sparky.sqlite3 (default SPARKY_DATA_DIR or ./data)")
    group = subparsers.add_parser(name, **kwargs)
    commands = group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    def command(sub: str, action: Action, **options: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(sub, parents=[common], **options)
        parser.set_defaults(handler=handler, **{action_key: action})
        return parser

    return command
