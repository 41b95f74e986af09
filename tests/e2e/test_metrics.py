"""GET /metrics through the real app: the counters move with webhooks (paper and a respx-mocked
Aster), the admin token is required, METRICS_PORT serves them on 127.0.0.1 alone."""

from __future__ import annotations

import asyncio
import json
import socket
from decimal import Decimal as D

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sparky.observability.metrics_server import CannotServeMetrics
from tests.conftest import ADMIN
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.support import on_aster
from tests.unit.exchanges.aster.test_aster import KEY


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` with exactly `labels` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def label_values(text: str, name: str, label: str) -> set[str]:
    return {s.labels[label] for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name and label in s.labels}


async def scrape(sparky) -> str:
    response = await sparky.admin_get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_paper_webhooks_by_outcome_and_venue(sparky) -> None:
    before = await scrape(sparky)
    assert value(before, "sparky_webhooks_total", outcome="opened", venue="paper", status="200") == 0
    opened = await sparky.alert(action="buy", symbol="BTCUSDT", price="50000", stop_loss_percent=2)
    assert opened.json()["action"] == "opened", opened.text
    wrong = await sparky.client.post("/webhook", json={"secret": "wrong", "exchange": "paper", "action": "buy",
                                                        "symbol": "BTCUSDT", "price": "1"})
    assert wrong.status_code == 401
    bad = await sparky.alert(action="buy", symbol="BTCUSDT", price="-5")
    assert bad.status_code == 400

    text = await scrape(sparky)
    assert value(text, "sparky_webhooks_total", outcome="opened", venue="paper", status="200") == 1
    assert value(text, "sparky_webhooks_total", outcome="rejected", venue="none", status="401") == 1
    assert value(text, "sparky_webhooks_total", outcome="rejected", venue="none", status="400") == 1
    assert value(text, "sparky_webhook_record_seconds_count") == 1  # only the recorded one
    assert value(text, "sparky_webhooks_in_flight") == 0
    assert value(text, "sparky_open_positions", venue="paper") == 1
    # never a symbol, a user id or a secret in a label
    assert "BTCUSDT" not in text and "wrong" not in text and WEBHOOK_SECRET not in text


async def test_metrics_time_venue_requests_by_endpoint_template(start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        venue.price = venue.fill_price = D("27000")
        response = await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": "buy",
            "price": "27000", "position_size_usd": 270, "stop_loss_percent": 2})
        assert response.json()["action"] == "opened", response.text
        text = await scrape(sparky)
    assert value(text, "sparky_webhooks_total", outcome="opened", venue="aster", status="200") == 1
    assert value(text, "sparky_venue_request_seconds_count", venue="aster", endpoint="POST /fapi/v1/order") >= 1
    assert value(text, "sparky_webhook_first_venue_request_seconds_count") == 1
    endpoints = label_values(text, "sparky_venue_request_seconds_count", "endpoint")
    assert all(e.split(" ", 1)[0] in {"GET", "POST", "DELETE", "PUT"} and "?" not in e for e in endpoints), endpoints
    assert "BTCUSDT" not in text and KEY not in text


async def test_metrics_need_the_admin_token(sparky) -> None:
    assert (await sparky.client.get("/metrics")).status_code == 401
    wrong = await sparky.client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "sparky_" not in wrong.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_metrics_port_serves_them_on_loopback_without_a_token(start) -> None:
    port = free_port()
    async with start(metrics_port=port) as sparky:
        await sparky.alert(action="buy", symbol="BTCUSDT", price="50000", stop_loss_percent=2)
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            other = await client.get(f"http://127.0.0.1:{port}/health")
        # on the main port they are not served, token or not
        main = await sparky.client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert value(text, "sparky_webhooks_total", outcome="opened", venue="paper", status="200") == 1
    assert other.status_code == 404
    assert main.status_code == 404
    with pytest.raises(OSError):  # closed with the app
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_metrics_port_already_taken_stops_the_start_naming_the_setting(start) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CannotServeMetrics) as refused:
            async with start(metrics_port=port):
                pass
    assert str(refused.value).startswith(f"METRICS_PORT={port}: cannot listen on 127.0.0.1:{port}")


async def test_oanda_endpoints_carry_no_account_id_or_instrument(start, tmp_path, monkeypatch) -> None:
    import sparky.services
    from tests.unit.exchanges.oanda.test_oanda import ACCOUNT, TOKEN, FakeOanda

    fake = FakeOanda()
    monkeypatch.setattr(sparky.services, "HttpClientPool", lambda: fake.pool)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"oanda": {"accountId": ACCOUNT, "accessToken": TOKEN}}))
    async with start(config_path=config) as sparky:
        response = await sparky.alert(exchange="oanda", action="buy", symbol="EURUSD", position_size_usd=1000,
                                      stop_loss_percent=1)
        assert response.json()["action"] == "opened", response.text
        text = await scrape(sparky)
    endpoints = label_values(text, "sparky_venue_request_seconds_count", "endpoint")
    assert "POST /v3/accounts/{}/orders" in endpoints, endpoints
    assert ACCOUNT not in text and "EUR_USD" not in text and TOKEN not in text
    assert value(text, "sparky_webhooks_total", outcome="opened", venue="oanda", status="200") == 1


async def test_the_ai_workers_heartbeat_is_read_at_each_scrape(sparky) -> None:
    from datetime import timedelta

    from sparky.store.ai import AiWorkerHeartbeat
    from sparky.store.base import utcnow

    assert "sparky_ai_cycle_seconds{" not in await scrape(sparky)  # no worker ever ran
    await sparky.services.store.record_ai_worker_heartbeat(AiWorkerHeartbeat(
        "worker-1", utcnow() - timedelta(seconds=90), cycle_duration_ms=2500, strategies=3, decisions=3, errors=0))
    text = await scrape(sparky)
    assert value(text, "sparky_ai_cycle_seconds", worker="worker-1") == 2.5
    assert 90 <= value(text, "sparky_ai_heartbeat_age_seconds", worker="worker-1") < 90 + 60


async def test_a_webhook_waiting_on_its_venue_is_in_flight_until_answered(start) -> None:
    from tests.doubles import Delegating, install

    class HeldEntry(Delegating):
        """The entry waits until the test lets it through, as a slow venue's answer would."""

        def __init__(self, paper) -> None:
            super().__init__(paper)
            self.reached, self.go = asyncio.Event(), asyncio.Event()

        async def place_order(self, request):
            self.reached.set()
            await self.go.wait()
            return await self.paper.place_order(request)

    async with start() as sparky:
        venue = install(sparky, HeldEntry)
        webhook = asyncio.create_task(sparky.alert(action="buy", symbol="BTCUSDT", price="50000", stop_loss_percent=2))
        await asyncio.wait_for(venue.reached.wait(), 30)
        during = await scrape(sparky)
        venue.go.set()
        assert (await webhook).json()["action"] == "opened"
        after = await scrape(sparky)
    assert value(during, "sparky_webhooks_in_flight") == 1
    assert value(during, "sparky_webhook_record_seconds_count") == 1  # recorded before the venue was asked
    assert value(during, "sparky_webhooks_total", outcome="opened", venue="paper", status="200") == 0
    assert value(after, "sparky_webhooks_in_flight") == 0
    assert value(after, "sparky_webhooks_total", outcome="opened", venue="paper", status="200") == 1
