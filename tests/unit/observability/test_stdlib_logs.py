"""The standard `logging` module's records (libraries) rendered by structlog like Sparky's own."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from sparky.logging import configure_logging


@pytest.fixture(autouse=True)
def quiet_again():
    yield
    configure_logging("WARNING", "console")


def test_a_library_warning_is_a_json_line_with_the_request_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        logging.getLogger("some.library").warning("pool %s is full", "venue")
        logging.getLogger("some.library").debug("under the level")
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "pool venue is full" and line["level"] == "warning"
    assert line["logger"] == "some.library" and line["request_id"] == "r-1" and line["timestamp"].endswith("Z")


def test_a_library_exception_keeps_its_traceback_in_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("some.library").exception("it failed")
    line = json.loads(capsys.readouterr().err)
    assert line["event"] == "it failed" and "ValueError: boom" in line["exception"]


def test_configuring_again_keeps_one_handler_and_the_new_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    configure_logging("INFO", "console")
    logging.getLogger("some.library").warning("once")
    err = capsys.readouterr().err
    assert err.count("once") == 1 and not err.startswith("{")
