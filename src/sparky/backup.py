"""A consistent copy of what a data dir holds, taken while the server may be running.

- The SQLite database is copied with sqlite3's online backup API: one read transaction over the
  database and its WAL, so the copy is the database as of one commit, whatever the server writes
  meanwhile (a plain file copy of a WAL database can miss or tear the last commits).
- Each paper venue state is a snapshot plus a journal of the changes after it
  (`exchanges/paper/journal.py`). Compaction replaces the snapshot, then empties the journal; a
  copy holding the old journal with the new snapshot would replay older states over newer ones.
  The pair is read again until the snapshot did not change while it was read and the journal still
  starts with what was read of it.
- The generated secrets (`webhook_secret`, `admin_token`) are copied as they are: the alerts in
  TradingView carry the webhook secret.

Every file is written 0600 under a temporary name, then renamed into place.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sparky.private_files import DIR_MODE, PAPER_DIR, open_private, replace_private

DATABASE = "sparky.sqlite3"
PAPER_STATE = "paper-exchange.json"
GENERATED_SECRETS = ("webhook_secret", "admin_token")
#: attempts at a consistent paper pair; compaction runs every 2,000 changes, so one retry is rare
PAIR_ATTEMPTS = 20


class BackupError(Exception):
    """The copy could not be made; str() says which file and why."""


@dataclass(frozen=True)
class Written:
    """One file of the backup, relative to its directory."""

    name: str
    size: int
    note: str = ""


def back_up(data_dir: Path, target: Path) -> list[Written]:
    """Copy the data dir's database, paper states and generated secrets into `target` (created)."""
    target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    written = []
    database = data_dir / DATABASE
    if database.exists():
        written.append(copy_database(database, target / DATABASE))
    for snapshot in paper_states(data_dir):
        relative = snapshot.relative_to(data_dir)
        (target / relative).parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        written.extend(copy_paper_state(snapshot, target / relative, relative))
    for name in GENERATED_SECRETS:
        source = data_dir / name
        if source.is_file():
            data = source.read_bytes()
            replace_private(target / name, data)
            written.append(Written(name, len(data)))
    return written


def copy_database(source: Path, destination: Path) -> Written:
    """The database as of one commit, checked (PRAGMA quick_check) before it takes its name."""
    temporary = destination.with_name(f".{destination.name}.partial")
    os.close(open_private(temporary, os.O_WRONLY | os.O_TRUNC))  # 0600 before sqlite writes a page to it
    try:
        # mode=rw: never creates a database where there was none; the backup only reads
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=5)
        try:
            dst = sqlite3.connect(temporary)
            try:
                src.backup(dst)  # all pages in one step: one read transaction, one commit's state
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
                requests = dst.execute("SELECT count(*) FROM webhook_requests").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise BackupError(f"{destination.name}: the copy does not check out ({check})")
        _fsync(temporary)
        os.replace(temporary, destination)
    except sqlite3.Error as err:
        temporary.unlink(missing_ok=True)
        raise BackupError(f"{source}: cannot be copied ({err})") from err
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return Written(destination.name, destination.stat().st_size, f"{requests} webhook requests")


def paper_states(data_dir: Path) -> Iterator[Path]:
    """The snapshot path of every paper account: the local user's and each user's (`paper/`)."""
    candidates = [data_dir / PAPER_STATE]
    per_user = data_dir / PAPER_DIR
    if per_user.is_dir():
        names = {p.name.removesuffix(".journal") for p in per_user.iterdir()
                 if p.name.endswith((".json", ".json.journal")) and not p.name.startswith(".")}
        candidates += [per_user / name for name in sorted(names)]
    for snapshot in candidates:
        if snapshot.exists() or _journal(snapshot).exists():
            yield snapshot


def copy_paper_state(snapshot: Path, destination: Path, relative: Path) -> list[Written]:
    """The snapshot and its journal as they were together. The journal is always written (empty
    when there is none), so restoring the pair replaces a newer journal left in the data dir."""
    for _ in range(PAIR_ATTEMPTS):
        before = _identity(snapshot)
        state = _read(snapshot)
        journal = _read(_journal(snapshot))
        unchanged = _identity(snapshot) == before
        if unchanged and _read(_journal(snapshot), len(journal)) == journal:
            break
    else:
        raise BackupError(f"{snapshot}: the paper state kept changing while it was read; try again")
    journal = journal[: journal.rfind(b"\n") + 1]  # a torn last line is not a change (the loader skips it)
    written = []
    if before is not None:  # a state not compacted yet has a journal only
        replace_private(destination, state)
        written.append(Written(str(relative), len(state)))
    replace_private(_journal(destination), journal)
    written.append(Written(str(relative) + ".journal", len(journal)))
    return written


def _journal(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".journal")


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Changes when the file is replaced (compaction renames a new snapshot over it) or rewritten."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _read(path: Path, limit: int = -1) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        return b""


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
