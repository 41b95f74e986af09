"""A server's identity: a random id made on its first start and kept in its data dir (`server_id`).

Pending requests are leased to the server executing them (execution/leases.py). After a restart a
server must know its own rows again to resume them at once, so the id has to outlive the process:
it lives in the data dir, which belongs to one server at a time (data_dir_lock.py). A server given
a new data dir is a new server; what the old one left pending is taken over once its lease ends.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import structlog

from sparky.private_files import replace_private

log = structlog.get_logger("sparky.server")

FILE_NAME = "server_id"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def load_or_create_server_id(data_dir: Path) -> str:
    """The id in `<data_dir>/server_id`, made (random, mode 0600) when there is none yet."""
    path = data_dir / FILE_NAME
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        text = None
    if text is not None and _VALID.fullmatch(text):
        return text
    server_id = uuid.uuid4().hex
    if text is not None:  # torn by a crash while it was first written, or edited by hand
        log.warning("server.id_replaced", path=str(path), server_id=server_id,
                    hint="requests this server left pending are resumed once their lease ends")
    replace_private(path, (server_id + "\n").encode("ascii"))
    log.info("server.id_created", path=str(path), server_id=server_id)
    return server_id
