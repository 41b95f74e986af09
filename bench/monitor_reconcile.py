"""One pass of the reconcile loop over many users: how long it takes and how many venue requests it makes.

Builds the server's services on a fresh SQLite data dir, stores 1,000 protected positions across
200 users (5 symbols each), and runs the loop against a simulated venue that answers every request
after 50 ms (each user its own account, as on a real venue). Reports the cycle time and the
requests per cycle by kind: a full pass (every key, as the first one and every RECONCILE_SLOW_SEC),
and a fast pass (nothing due but the keys with a stop not confirmed: here none).
Usage: python bench/monitor_reconcile.py [--users 200] [--per-user 5] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from sparky.config import Settings
from sparky.exchanges.base import (
    Balance,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SymbolRules,
)
from sparky.monitor.reconcile import ReconcileLoop
from sparky.monitor.stops import StopKeeper
from sparky.services import build_services
from sparky.store.base import PositionRecord, utcnow

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "BNBUSDT", "LTCUSDT"]


class SimulatedVenue(Exchange):
    """One user's account: every position long 1 unit at 100, its stop resting; each call waits."""

    name = "sim"

    def __init__(self, symbols: list[str], latency: float, requests: Counter[str]) -> None:
        self._symbols, self._latency, self.requests = symbols, latency, requests

    async def _call(self, kind: str) -> None:
        self.requests[kind] += 1
        await asyncio.sleep(self._latency)  # the venue's round trip

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return SymbolRules(symbol, Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal(5))

    async def last_price(self, symbol: str) -> Decimal:
        await self._call("last_price")
        return Decimal(100)

    async def place_order(self, request: OrderRequest) -> Order:
        raise AssertionError("a protected, unchanged position needs no order")

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        await self._call("get_order")
        return Order(order_id or "", client_order_id or "", symbol, Side.SELL, OrderKind.STOP, Decimal(1),
                     OrderStatus.OPEN, trigger_price=Decimal(98), reduce_only=True)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        raise AssertionError("nothing to cancel")

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self._call("open_orders")
        return []

    async def position(self, symbol: str) -> Position | None:
        await self._call("position")
        return Position(symbol, Side.BUY, Decimal(1), Decimal(100))

    async def positions(self) -> list[Position]:
        await self._call("positions")
        return [Position(s, Side.BUY, Decimal(1), Decimal(100)) for s in self._symbols]

    async def balance(self) -> Balance:
        return Balance("USDT", Decimal(0), Decimal(0))


class SimulatedAccounts:
    def __init__(self, venues: dict[str, SimulatedVenue]) -> None:
        self._venues = venues

    async def get(self, user_id: str, exchange: str) -> Exchange:
        return self._venues[user_id]


async def main(users: int, per_user: int, latency_ms: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, sparky_env="test", host="127.0.0.1", sparky_data_dir=Path(tmp) / "data",
                            webhook_secret="bench-secret-0123456789", admin_token="bench-admin-0123456789",
                            log_level="ERROR", sqlite_synchronous="NORMAL")
        services = await build_services(settings)
        try:
            requests: Counter[str] = Counter()
            venues, symbols = {}, SYMBOLS[:per_user]
            for n in range(users):
                user = f"user-{n:04d}"
                venues[user] = SimulatedVenue(symbols, latency_ms / 1000, requests)
                for symbol in symbols:
                    await services.store.upsert_position(PositionRecord(
                        user_id=user, exchange="sim", symbol=symbol, side="BUY", entry_price=Decimal(100),
                        quantity=Decimal(1), entry_time=utcnow(), position_size_usd=Decimal(100),
                        stop_loss_price=Decimal(98), stop_loss_order_id=f"{user}-{symbol}-sl"))
            executor = services.executor
            loop = ReconcileLoop(
                store=services.store, accounts=SimulatedAccounts(venues),  # type: ignore[arg-type]
                dispatcher=services.dispatcher, reconciler=executor.reconciler, resting=executor.resting_entries,
                stops=StopKeeper(services.store, executor.protector, executor.emergency), notifier=services.notifier,
                fast_sec=settings.reconcile_fast_sec, slow_sec=settings.reconcile_slow_sec)
            results = []
            for name, every_key in (("full pass", True), ("fast pass", False)):
                requests.clear()
                started = time.perf_counter()
                cycle = await loop.run_once(every_key=every_key)
                elapsed = time.perf_counter() - started
                results.append({"pass": name, "keys": cycle.checked, "seconds": round(elapsed, 2),
                                "requests": sum(requests.values()), "by_kind": dict(sorted(requests.items())),
                                "errors": len(cycle.errors)})
            return {"users": users, "positions": users * per_user, "latency_ms": latency_ms, "passes": results}
        finally:
            await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.users, args.per_user, args.latency_ms)), indent=2))
