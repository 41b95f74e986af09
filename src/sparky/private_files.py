"""The data dir and every file Sparky writes in it are readable by the user running Sparky only.

The SQLite store holds users' exchange API keys and webhook secrets, the paper state and the
generated secrets sit next to it: the dir is made 0700 and the files 0600, whatever the umask.
Files are created with those modes (`os.open(..., 0o600)`; the umask can only remove bits) and an
existing file or dir left looser by an earlier version is tightened when it is next opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger("sparky.files")

DIR_MODE = 0o700
FILE_MODE = 0o600
#: group and other bits: none may be set on what Sparky keeps
OPEN_TO_OTHERS = 0o077

#: what Sparky writes directly in the data dir (the SQLite files, the paper venue's state, the
#: generated secrets, the server id, the lock) and the dir of per-user paper states
DATA_DIR_FILES = (
    "sparky.sqlite3", "sparky.sqlite3-wal", "sparky.sqlite3-shm", "sparky.sqlite3-journal",
    "paper-exchange.json", "paper-exchange.json.journal",
    "webhook_secret", "admin_token", "server_id", "sparky.lock", "ai_worker_key",
)  # fmt: skip
PAPER_DIR = "paper"


def make_private_dir(path: Path) -> int | None:
    """Create `path` (and missing parents) with mode 0700, or tighten it to 0700 if it is open to
    others. Returns the mode it had when it was tightened, else None."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return _tighten(path, DIR_MODE)


def open_private(path: Path, flags: int) -> int:
    """`os.open` of a file only its owner may read: created 0600, tightened to 0600 if it existed
    open to others. Returns the descriptor."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        current = stat.S_IMODE(os.fstat(fd).st_mode)
        if current & OPEN_TO_OTHERS:
            os.fchmod(fd, FILE_MODE)
    except PermissionError:  # owned by another user: say so, and keep serving as before
        _not_tightened(path, current, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def replace_private(path: Path, data: bytes) -> None:
    """Write `path` whole, 0600: under a temporary name beside it, synced to disk, then renamed over
    it, so a crash leaves the old file or the new one, never a torn one."""
    temporary = path.with_name(f".{path.name}.partial")
    fd = open_private(temporary, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def tighten_file(path: Path) -> int | None:
    """Mode 0600 for an existing file open to others; returns the mode it had, None when it was
    private already or does not exist."""
    return _tighten(path, FILE_MODE)


def secure_data_dir(data_dir: Path) -> dict[str, str]:
    """Create the data dir 0700, or tighten it and what Sparky keeps in it. Returns what was
    tightened (path -> former mode), also logged: a dir others could read may have leaked the
    keys in it already."""
    tightened: dict[Path, int] = {}
    if (mode := make_private_dir(data_dir)) is not None:
        tightened[data_dir] = mode
    paths = [data_dir / name for name in DATA_DIR_FILES]
    paper = data_dir / PAPER_DIR
    if paper.is_dir():
        if (mode := _tighten(paper, DIR_MODE)) is not None:
            tightened[paper] = mode
        paths += sorted(p for p in paper.iterdir() if p.is_file())
    for path in paths:
        if (mode := tighten_file(path)) is not None:
            tightened[path] = mode
    report = {str(path): oct(mode) for path, mode in tightened.items()}
    if report:
        log.warning("data_dir.permissions_tightened", data_dir=str(data_dir), tightened=report,
                    hint="these were readable by other users of this machine; consider rotating the "
                         "secrets and API keys they held")
    return report


def _tighten(path: Path, mode: int) -> int | None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if not current & OPEN_TO_OTHERS:
        return None
    try:
        path.chmod(mode)
    except PermissionError:  # owned by another user: say so, and keep serving as before
        _not_tightened(path, current, mode)
        return None
    return current


def _not_tightened(path: Path, current: int, mode: int) -> None:
    log.error("data_dir.permissions_not_tightened", path=str(path), mode=oct(current),
              hint=f"run chmod {mode:o} {path} as its owner")
