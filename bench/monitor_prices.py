"""One cycle of the background price refresh for 1,000 open positions across 200 users.

Builds the server's services in process (SQLite store in a fresh data dir, every user's own
credentials) against simulated venues: a local aiohttp server on another thread answering Aster's
bookTicker, OANDA's pricing and instruments and Tradier's quotes, each reply after `--latency` ms.
Users: half on Aster (public prices), a quarter on OANDA, a quarter on Tradier (prices per
account), five positions each, long and short. Runs `--cycles` cycles back to back (the first
builds the adapters and reads OANDA's instrument specs; before each later one the cached
credentials are dropped, as TENANT_CACHE_SEC does between real 30 s cycles) and reports each
cycle's time, the venue requests it sent, and the rows it wrote.

Usage: python bench/monitor_prices.py [--users 200] [--positions 1000] [--latency 50] [--cycles 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from sparky.config import Settings
from sparky.logging import configure_logging
from sparky.services import build_services
from sparky.store.base import PositionRecord
from sparky.store.tenants import CredentialRecord, LocalUser

CRYPTO = [f"C{i}USDT" for i in range(50)]
FOREX = ["EUR_USD", "GBP_USD", "USD_JPY", "AUD_USD", "USD_CHF", "NZD_USD", "USD_CAD"]
STOCKS = [f"S{i}" for i in range(40)]


class Venues:
    """The simulated venues: counts every request, answers each after the latency."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests: Counter[str] = Counter()

    async def book_ticker(self, request: web.Request) -> web.Response:
        self.requests["aster"] += 1
        await asyncio.sleep(self.latency)  # the simulated network round trip
        return web.json_response([{"symbol": s, "bidPrice": "100.0", "askPrice": "100.2", "time": 1} for s in CRYPTO])

    async def pricing(self, request: web.Request) -> web.Response:
        self.requests["oanda"] += 1
        await asyncio.sleep(self.latency)
        return web.json_response({"prices": [
            {"instrument": name, "bids": [{"price": "1.10200"}], "asks": [{"price": "1.10220"}]}
            for name in request.query["instruments"].split(",")]})

    async def instruments(self, request: web.Request) -> web.Response:
        self.requests["oanda (instrument specs)"] += 1
        await asyncio.sleep(self.latency)
        return web.json_response({"instruments": [
            {"name": name, "type": "CURRENCY", "pipLocation": -4, "displayPrecision": 5, "tradeUnitsPrecision": 0,
             "minimumTradeSize": "1", "marginRate": "0.0333"}
            for name in request.query.get("instruments", ",".join(FOREX)).split(",")]})

    async def quotes(self, request: web.Request) -> web.Response:
        self.requests["tradier"] += 1
        await asyncio.sleep(self.latency)
        return web.json_response({"quotes": {"quote": [
            {"symbol": s, "bid": 190.1, "ask": 190.2, "last": 190.15} for s in request.query["symbols"].split(",")]}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/fapi/v1/ticker/bookTicker", self.book_ticker)
        app.router.add_get("/v3/accounts/{account}/pricing", self.pricing)
        app.router.add_get("/v3/accounts/{account}/instruments", self.instruments)
        app.router.add_get("/v1/markets/quotes", self.quotes)
        return app


def serve(venues: Venues) -> int:
    """The venues on a loopback port, on their own thread and event loop (not the server's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(venues.app(), access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    started.wait()
    return port


async def seed(services, users: int, positions: int, url: str) -> None:
    store = services.store
    per_user = positions // users
    now = datetime.now(UTC)
    for n in range(users):
        user = f"{n + 1:08x}-0000-4000-8000-000000000000"
        await store.add_local_user(LocalUser(user, f"u{n}@example.com", "Pro"))
        if n % 4 in (0, 1):
            exchange, symbols, credentials = "aster", CRYPTO, CredentialRecord(
                user, "aster", api_key=f"k{n}", api_secret=f"s{n}", extra_metadata={"apiUrl": url})
        elif n % 4 == 2:
            exchange, symbols, credentials = "oanda", FOREX, CredentialRecord(
                user, "oanda", api_key=f"t{n}", account_id=f"101-004-{n:07d}-001", extra_metadata={"apiUrl": url})
        else:
            exchange, symbols, credentials = "tradier", STOCKS, CredentialRecord(
                user, "tradier", api_key=f"t{n}", account_id=f"VA{n:06d}", extra_metadata={"apiUrl": f"{url}/v1"})
        await store.upsert_credentials(credentials)
        for i in range(per_user):
            await store.upsert_position(PositionRecord(
                user_id=user, exchange=exchange, symbol=symbols[(n + i) % len(symbols)],
                side="BUY" if i % 2 else "SELL",
                entry_price=Decimal("1.1") if exchange == "oanda" else Decimal(100), quantity=Decimal(10),
                entry_time=now, position_size_usd=Decimal(1000)))


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    venues = Venues(args.latency / 1000)
    url = f"http://127.0.0.1:{serve(venues)}"
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(_env_file=None, host="127.0.0.1", sparky_data_dir=Path(data), webhook_secret="bench-secret",
                            admin_token="bench-admin", price_refresh_sec=0, log_level="ERROR",
                            sqlite_synchronous="FULL")
        services = await build_services(settings)
        try:
            await seed(services, args.users, args.positions, url)
            print(f"{args.positions} positions, {args.users} users, venue latency {args.latency} ms")
            for cycle in range(1, args.cycles + 1):
                if cycle > 1:
                    services.accounts.evict()
                venues.requests.clear()
                began = time.perf_counter()
                report = await services.prices.run_once()
                took = time.perf_counter() - began
                sent = dict(sorted(venues.requests.items()))
                print(f"cycle {cycle}: {took:.2f} s, {sum(sent.values())} venue requests {sent}, "
                      f"{report.written} rows written, failed {list(report.failed_venues)}, deferred {report.deferred}")
        finally:
            await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=50, help="ms each simulated venue takes to answer")
    parser.add_argument("--cycles", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
