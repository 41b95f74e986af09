"""Latency and throughput of POST /webhook against a real `sparky serve` on the paper exchange.

Starts the server in a subprocess on a loopback port with a fresh data dir, then measures:

1. baseline   — a webhook with a wrong secret (HTTP + parsing + 401, nothing recorded), sequential
2. latency    — 1,000 webhooks one after another, each recorded in SQLite and filled on paper
                (request sent → response carrying the fill); buys open with SL+TP, closes close
3. throughput — 1,000 webhooks, 50 in flight over 50 symbols; then checks every request reached a
                terminal row (0 lost) and no request placed more than one entry (0 duplicated)

Usage: python bench/webhook_latency.py [--count 1000] [--concurrency 50] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SECRET = "bench-secret"
ADMIN = "bench-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(name: str, samples: list[float]) -> dict:
    return {
        "name": name,
        "n": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


async def wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)  # polling a starting subprocess; not part of any measurement
    raise RuntimeError("server did not start")


def alert(action: str, symbol: str, price: float, i: int) -> dict:
    return {"secret": SECRET, "exchange": "paper", "action": action, "symbol": symbol, "price": price,
            "position_size_usd": 100, "stop_loss_percent": 2, "take_profit_percent": 4, "alert_id": f"b{i}"}


async def sequential(client: httpx.AsyncClient, count: int, make) -> list[float]:
    samples = []
    for i in range(count):
        body = make(i)
        started = time.perf_counter()
        response = await client.post("/webhook", json=body)
        samples.append(time.perf_counter() - started)
        if response.status_code not in (200, 401):
            raise RuntimeError(f"unexpected {response.status_code}: {response.text}")
    return samples


async def concurrent(client: httpx.AsyncClient, count: int, concurrency: int) -> tuple[list[float], float, list]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    samples: list[float] = []
    statuses: list[int] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            symbol = f"T{i % concurrency}USDT"
            action = "buy" if (i // concurrency) % 2 == 0 else "close"
            started = time.perf_counter()
            response = await client.post("/webhook", json=alert(action, symbol, 100 + i % 7, 10_000 + i))
            samples.append(time.perf_counter() - started)
            statuses.append(response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - started, statuses


def audit(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM webhook_requests GROUP BY status").fetchall())
    return by_status


def count_entries(state: Path) -> dict[str, int]:
    """Entries placed per request id (client ids end in -e) from the paper venue's own state."""
    orders = json.loads(state.read_text())["orders"]
    counts: dict[str, int] = {}
    for order in orders:
        cid = order["client_order_id"]
        if cid.endswith("-e"):
            counts[cid] = counts.get(cid, 0) + 1
    return counts


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = parser.parse_args()

    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="sparky-bench-"))
    env = {**os.environ, "SPARKY_DATA_DIR": str(data_dir), "WEBHOOK_SECRET": SECRET, "ADMIN_TOKEN": ADMIN,
           "RATE_LIMIT": "", "LOG_LEVEL": "WARNING", "SQLITE_SYNCHRONOUS": args.synchronous,
           "DUPLICATE_WINDOW_SEC": "0", "PAPER_STARTING_EQUITY": "100000000"}
    server = subprocess.Popen([sys.executable, "-m", "sparky", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
            await wait_ready(client)
            baseline = await sequential(client, args.count, lambda i: {**alert("buy", "BTCUSDT", 100, i),
                                                                       "secret": "wrong"})
            latency = await sequential(
                client, args.count,
                lambda i: alert("buy" if i % 2 == 0 else "close", f"S{i % 10}USDT", 100 + i % 3, i))
            samples, elapsed, statuses = await concurrent(client, args.count, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)

    rows = audit(data_dir / "sparky.sqlite3")
    entries = count_entries(data_dir / "paper-exchange.json")
    report = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "sqlite_synchronous": args.synchronous,
        "baseline_401": summary("wrong secret (HTTP + parse + 401)", baseline),
        "latency_to_fill": summary("webhook recorded + paper fill (+SL/TP on buys)", latency),
        "ratio_p50_vs_baseline": round(statistics.median(latency) / statistics.median(baseline), 2),
        "throughput": {
            **summary(f"{args.count} webhooks, {args.concurrency} in flight", samples),
            "webhooks_per_sec": round(args.count / elapsed, 1),
            "non_200": sum(1 for s in statuses if s != 200),
        },
        "rows_by_status": rows,
        "pending_rows_after_run": rows.get("pending", 0),
        "requests_with_more_than_one_entry": sum(1 for n in entries.values() if n > 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
