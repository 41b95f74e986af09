"""Shared fixtures: a real Sparky app (lifespan and all) driven over HTTP through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from sparky.app import create_app
from sparky.config import Settings
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.services import Services
from tests import offline, respx_venue  # noqa: F401  (no test reaches the internet; respx intercepts venues)

SECRET = "test-webhook-secret"
ADMIN = "test-admin-token"
#: explicit paper rules so expected prices and quantities are easy to derive by hand
RULES = {
    "BTCUSDT": {"tick_size": "0.1", "step_size": "0.001", "min_quantity": "0.001", "min_notional": "5"},
    "ETHUSDT": {"tick_size": "0.01", "step_size": "0.01", "min_quantity": "0.01", "min_notional": "5"},
}


class Sparky:
    """A running app plus helpers to talk to it like TradingView and an operator would."""

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def services(self) -> Services:
        return self.app.state.services

    @property
    def paper(self) -> PaperExchange:
        return self.services.exchanges.get("paper")  # type: ignore[return-value]

    async def alert(self, **fields: Any) -> httpx.Response:
        body = {"secret": SECRET, "exchange": "paper", **fields}
        return await self.client.post("/webhook", json=body)

    async def admin_get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})

    async def admin_post(self, path: str) -> httpx.Response:
        return await self.client.post(path, headers={"Authorization": f"Bearer {ADMIN}"})


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sparky_env": "test",
        "host": "127.0.0.1",  # served in-process, never listening
        "sparky_data_dir": data_dir,
        "webhook_secret": SECRET,
        "admin_token": ADMIN,
        "rate_limit": "",
        "sync_budget_ms": 10_000,
        "paper_symbol_rules": RULES,
        "log_level": "WARNING",
        "sqlite_synchronous": "NORMAL",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def running(settings: Settings, **app_options: Any) -> AsyncIterator[Sparky]:
    """`app_options`: create_app's keywords (`clock=`)."""
    app = create_app(settings, **app_options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sparky.test") as client:
            yield Sparky(app, client)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def start(data_dir: Path) -> Callable[..., Any]:
    """`async with start(**overrides) as sparky:` — start (or restart) a server on one data dir."""

    def _start(**overrides: Any) -> Any:
        return running(make_settings(data_dir, **overrides))

    return _start


@pytest.fixture
async def sparky(start: Callable[..., Any]) -> AsyncIterator[Sparky]:
    async with start() as server:
        yield server


@pytest.fixture
async def venue_http() -> AsyncIterator[HttpClientPool]:
    """A venue HTTP pool closed after the test, as the app's lifespan closes its own."""
    pool = HttpClientPool()
    yield pool
    await pool.aclose()
