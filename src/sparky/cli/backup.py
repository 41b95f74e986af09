"""`sparky backup PATH`: a consistent copy of the data dir's database, paper venue states and
generated secrets, taken while the server runs (`sparky.backup` says how each stays consistent).

PATH is a directory laid out like the data dir: to restore, stop the server, move the data dir
aside, copy PATH in its place, start the server. Exit status: 0 written, 2 bad input (nothing
written), 1 a copy failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "sparky backup"


def add_arguments(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("backup", help="copy the database and paper state while the server runs")
    parser.add_argument("path", type=Path, metavar="PATH", help="directory to write the backup into (created)")
    parser.add_argument("--force", action="store_true", help="write into PATH even if it already holds files")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the data directory to back up (default SPARKY_DATA_DIR or ./data)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sparky.backup import BackupError, back_up, paper_states

    try:
        data_dir = _data_dir(args)
        target = _target(args.path, data_dir, force=args.force)
        if not (data_dir / "sparky.sqlite3").exists() and next(paper_states(data_dir), None) is None:
            raise _BadInput(f"nothing to back up: no database and no paper state in {data_dir} "
                            "(check --data-dir / SPARKY_DATA_DIR)")
    except _BadInput as err:
        print(f"{NAME}: {err}", file=sys.stderr)
        return 2
    try:
        written = back_up(data_dir, target)
    except (BackupError, OSError) as err:
        print(f"{NAME}: {err}", file=sys.stderr)
        return 1
    print(f"Backed up {data_dir} to {target}:")
    for item in written:
        print(f"  {item.name}  {item.size} bytes" + (f"  ({item.note})" if item.note else ""))
    print("To restore: stop the server, move the data dir aside, copy this directory in its place, start the "
          "server (docs/OPERATIONS.md).")
    return 0


class _BadInput(Exception):
    pass


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return args.data_dir
    from sparky.cli.settings_errors import InvalidSettings, load_settings

    try:
        return load_settings().sparky_data_dir
    except InvalidSettings as err:
        raise _BadInput(f"invalid settings (or pass --data-dir):\n{err}") from None


def _target(path: Path, data_dir: Path, *, force: bool) -> Path:
    """PATH, refused when it is a file, inside the data dir, or holds files and --force is not given."""
    target = path.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise _BadInput(f"PATH {path} is a file: give a directory to write the backup into")
    if target == data_dir.resolve() or data_dir.resolve() in target.parents:
        raise _BadInput(f"PATH {path} is inside the data dir {data_dir}: put the backup somewhere else "
                        "(another disk is best)")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise _BadInput(f"PATH {path} already holds files: pass --force to overwrite them, or give a new directory")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _BadInput(f"PATH {path}: {parent} is a file, not a directory")
            break
    return target
