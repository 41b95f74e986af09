"""One server per data dir: an exclusive OS lock on `<data dir>/sparky.lock` for the life of the process.

Two servers on one data dir would each load the paper exchange's state and write the same store,
then diverge: the same order id twice, a close recorded that never happened. The lock is taken
before anything opens the store or the paper state. `flock` belongs to the open file, so the
kernel drops it when the process ends however it ends (kill -9 included): a crashed server never
leaves a stale lock behind, and the file itself is left in place on purpose (deleting it would let
a third server lock a new file while the second still holds the old one).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from sparky.private_files import DIR_MODE, open_private

LOCK_FILE_NAME = "sparky.lock"


class DataDirInUse(Exception):
    def __init__(self, data_dir: Path, holder_pid: int | None) -> None:
        holder = f"pid {holder_pid}" if holder_pid else "a process that is still starting"
        super().__init__(
            f"the data dir {data_dir} is in use by another Sparky server ({holder}); two servers on one data "
            "dir would place and record the same orders twice. Stop that server first, or give this one its "
            "own SPARKY_DATA_DIR"
        )
        self.data_dir = data_dir
        self.holder_pid = holder_pid


class DataDirLock:
    """Held from `acquire` until `release` (or process exit); use as a context manager."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Create the data dir if needed and lock it; DataDirInUse names the server holding it."""
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # a looser one is tightened at start-up
        path = data_dir / LOCK_FILE_NAME
        fd = open_private(path, os.O_RDWR)  # not inherited by child processes
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(data_dir.resolve(), holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def holder(data_dir: Path) -> tuple[bool, int | None]:
    """(held, pid): whether a server holds the data dir's lock now, and its pid when it wrote it.
    Creates and writes nothing, and holds the lock only for the instant of the test (`sparky
    check` runs beside a running server, and must never keep one from starting)."""
    try:
        fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: conflicts only with a server's lock
        except BlockingIOError:
            return True, _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The holder writes its pid right after locking; empty while it is between the two steps."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
