"""The key the AI worker signs its signals with when no SIGNALSTUDIO_FORWARD_SECRET is set.

The worker posts each decision to the server's `/webhook` as a signed forward naming the
strategy's user (a user's own webhook secret is stored only as a digest, so the worker cannot
send it). With SIGNALSTUDIO_FORWARD_SECRET set, both sign and check with it. Without it, on the
embedded defaults, both processes share a key of their own in the data dir (`ai_worker_key`, mode
0600, made by whichever starts first): whoever can read it can already read the store's API keys.
A server and a worker on different machines need SIGNALSTUDIO_FORWARD_SECRET (or the same file).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from sparky.private_files import DIR_MODE, open_private

KEY_FILE = "ai_worker_key"


def load_or_create_worker_key(data_dir: Path) -> str:
    """The data dir's worker key, made now when there is none. Two processes starting at once
    agree: the file is created exclusively, and the one that did not create it reads it."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = open_private(path, os.O_WRONLY | os.O_EXCL)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _read(path: Path) -> str:
    for _ in range(200):  # created an instant ago by the other process: its line follows (≤ 2 s)
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it and start again")
