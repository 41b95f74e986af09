"""Every event logged while a webhook is handled carries its request id, whichever module logs it,
and a server configured again (another level, another format) logs by the new configuration."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from tests.conftest import make_settings, running


def _events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_every_event_of_a_webhook_names_its_request(data_dir: Path, capsys) -> None:
    # loggers first used under one configuration (WARNING, console) …
    async with running(make_settings(data_dir / "a")) as sparky:
        assert (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id="w0")).status_code == 200
    capsys.readouterr()
    # in-process, the app binds its request fields in this test's context (uvicorn gives each request its own)
    structlog.contextvars.clear_contextvars()

    # … follow the next one (INFO, JSON lines)
    async with running(make_settings(data_dir / "b", log_level="INFO", log_format="json")) as sparky:
        answers = [await sparky.alert(action=action, symbol="BTCUSDT", price=27000, alert_id=f"w{i}",
                                      position_size_usd=100, stop_loss_percent=2)
                   for i, action in enumerate(("buy", "close"), start=1)]
    ids = [a.json()["request_id"] for a in answers]
    assert [a.json()["action"] for a in answers] == ["opened", "closed"]

    events = _events(capsys.readouterr().err)
    starting = ("server.id_created", "startup.ready", "shutdown.complete", "exchange.warmed_up")
    during = [e for e in events if e["event"] not in starting]
    assert {e["event"] for e in during} >= {"order.placed", "position.opened", "webhook.finished"}
    assert {e.get("request_id") for e in during} == set(ids)
    for request_id in ids:
        mine = [e for e in during if e["request_id"] == request_id]
        assert mine[-1]["event"] == "webhook.finished"
        assert all(e["level"] in ("info", "warning", "error") for e in mine)  # nothing under INFO
    assert all(e.get("request_id") is None for e in events if e["event"] in starting[:2])  # before any request
