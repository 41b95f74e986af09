"""What Sparky keeps in its data dir is readable by its owner only, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

from structlog.testing import capture_logs

from sparky.private_files import open_private, secure_data_dir


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_data_dir_is_private_and_nothing_is_reported(tmp_path: Path) -> None:
    with capture_logs() as logs:
        assert secure_data_dir(tmp_path / "a" / "data") == {}
    assert mode(tmp_path / "a" / "data") == 0o700
    assert logs == []


def test_loose_modes_are_tightened_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "paper").mkdir(parents=True)
    for name in ("sparky.sqlite3", "admin_token", "paper/u1.json", "config.json"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    (data / "paper").chmod(0o755)
    data.chmod(0o755)
    with capture_logs() as logs:
        report = secure_data_dir(data)
    assert report == {str(data): "0o755", str(data / "paper"): "0o755", str(data / "sparky.sqlite3"): "0o644",
                      str(data / "admin_token"): "0o644", str(data / "paper" / "u1.json"): "0o644"}
    assert [(e["event"], e["log_level"], e["tightened"]) for e in logs] == [
        ("data_dir.permissions_tightened", "warning", report)]
    assert [mode(data / n) for n in ("", "paper", "sparky.sqlite3", "admin_token", "paper/u1.json")] == [
        0o700, 0o700, 0o600, 0o600, 0o600]
    assert mode(data / "config.json") == 0o644  # the operator's own file: not Sparky's to change


def test_open_private_creates_0600_and_tightens_an_existing_file(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        os.close(open_private(tmp_path / "new", os.O_WRONLY))
        (tmp_path / "old").write_text("x")
        (tmp_path / "old").chmod(0o666)
        os.close(open_private(tmp_path / "old", os.O_WRONLY | os.O_APPEND))
    finally:
        os.umask(previous)
    assert (mode(tmp_path / "new"), mode(tmp_path / "old")) == (0o600, 0o600)
    assert (tmp_path / "old").read_text() == "x"
