"""A server's id outlives the process (it resumes its own pending requests at once after a restart)."""

from __future__ import annotations

import os
from pathlib import Path

from structlog.testing import capture_logs

from sparky.server_identity import load_or_create_server_id


def test_the_id_is_made_once_kept_private_and_read_back(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        first = load_or_create_server_id(tmp_path)
    finally:
        os.umask(previous)
    assert len(first) == 32 and int(first, 16) >= 0
    assert oct((tmp_path / "server_id").stat().st_mode & 0o777) == "0o600"
    assert load_or_create_server_id(tmp_path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server_id"]  # no temporary file left


def test_an_id_written_by_the_operator_is_kept(tmp_path: Path) -> None:
    (tmp_path / "server_id").write_text("web-1.eu\n")
    assert load_or_create_server_id(tmp_path) == "web-1.eu"


def test_an_unreadable_id_is_replaced_and_said_so(tmp_path: Path) -> None:
    for garbage in ("", "two words", "x" * 65, "é"):
        (tmp_path / "server_id").write_text(garbage)
        with capture_logs() as logs:
            new = load_or_create_server_id(tmp_path)
        assert len(new) == 32 and (tmp_path / "server_id").read_text() == new + "\n"
        assert [e["log_level"] for e in logs if e["event"] == "server.id_replaced"] == ["warning"]
