"""Latency and throughput of POST /webhook against a real `sparky serve` on the paper exchange.

Starts the server in a subprocess on a loopback port with a fresh data dir, then measures:

1. baseline   — a webhook with a wrong secret (HTTP + parsing + 401, nothing recorded), sequential
2. latency    — 1,000 webhooks one after another, each recorded in SQLite and filled on paper
                (request sent → response carrying the fill); buys open with SL+TP, closes close
3. throughput — wrk (when installed) with 50 connections for 10 s over 50 symbols, unique alerts;
                then checks every request reached a terminal row (0 lost) and that every stored
                position matches the venue's quantity (a duplicated entry would not)

Each server variant (event loop / HTTP parser) is measured in the same run, so ratios compare; so is
the minimal app (bench/minimal_app.py: FastAPI + one SQLite insert per request) under the same wrk
load, and each variant's server CPU per webhook is given as a multiple of the minimal app's.
Usage: python bench/webhook_latency.py [--count 1000] [--seconds 10] [--synchronous FULL] [--no-minimal] [--src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import minimal_app  # noqa: E402

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


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one when pid is None), from /proc."""
    if pid is None:
        usage = os.times()
        return usage.user + usage.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def audit(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM webhook_requests GROUP BY status").fetchall())
    return by_status


def mismatched_positions(data_dir: Path) -> int:
    """Stored positions whose quantity differs from the venue's (a duplicated entry would show)."""
    venue = json.loads((data_dir / "paper-exchange.json").read_text())["symbols"]
    with sqlite3.connect(data_dir / "sparky.sqlite3") as conn:
        stored = dict(conn.execute("SELECT symbol, quantity FROM positions").fetchall())
    held = {s: abs(float(v["position"]["quantity"])) for s, v in venue.items() if float(v["position"]["quantity"])}
    return sum(1 for s in set(stored) | set(held) if float(stored.get(s, 0)) != held.get(s, 0))


def parse_wrk(output: str) -> dict:
    """Requests/s, latency percentiles and error counts from `wrk --latency` output."""
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)

    percentiles = {f"p{p}_ms": ms(v) for p, v in re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", output, re.M)}
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        **percentiles,
        "requests": int(total.group(1)),
        "webhooks_per_sec": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else None,
    }


def run_wrk(port: int, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
               "-s", str(Path(__file__).with_name("webhook.lua")), f"http://127.0.0.1:{port}/webhook"]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "SPARKY_BENCH_SECRET": SECRET}).stdout
    return parse_wrk(output)


async def run_once(args: argparse.Namespace, loop: str, http: str) -> dict:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="sparky-bench-"))
    env = {**os.environ, "SPARKY_DATA_DIR": str(data_dir), "WEBHOOK_SECRET": SECRET, "ADMIN_TOKEN": ADMIN,
           "RATE_LIMIT": "", "AUTH_FAILURE_LIMIT": "", "LOG_LEVEL": "WARNING",
           "SQLITE_SYNCHRONOUS": args.synchronous,
           "DUPLICATE_WINDOW_SEC": "0", "PAPER_STARTING_EQUITY": "100000000"}
    if args.src:  # the server runs these sources (to compare two versions in one session)
        src = args.src / "src" if (args.src / "src" / "sparky").is_dir() else args.src
        env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    server = subprocess.Popen(
        [sys.executable, "-m", "sparky", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--loop", loop, "--http", http],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_ready(client)
            baseline = await sequential(client, args.count, lambda i: {**alert("buy", "BTCUSDT", 100, i),
                                                                       "secret": "wrong"})
            latency = await sequential(
                client, args.count,
                lambda i: alert("buy" if i % 2 == 0 else "close", f"S{(i // 2) % 10}USDT", 100 + i % 3, i))
        cpu_before = cpu_seconds(server.pid)
        if shutil.which("wrk"):
            throughput = run_wrk(port, args.seconds, args.concurrency)
            elapsed = args.seconds
            throughput["load"] = f"wrk, {args.concurrency} connections, {args.seconds}s"
        else:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                samples, elapsed, statuses = await concurrent(client, args.count, args.concurrency)
            throughput = {**summary("python client", samples), "requests": len(samples),
                          "webhooks_per_sec": round(len(samples) / elapsed, 1),
                          "non_2xx": sum(1 for s in statuses if s != 200),
                          "load": f"httpx, {args.concurrency} in flight (client-bound)"}
        cpu_server = cpu_seconds(server.pid) - cpu_before
        throughput["server_cpu_ms_per_webhook"] = round(cpu_server / throughput["requests"] * 1000, 2)
    finally:
        server.terminate()
        server.wait(timeout=60)

    rows = audit(data_dir / "sparky.sqlite3")
    recorded = sum(rows.values())
    sent = 2 * args.count + throughput["requests"] - args.count  # 401s are not recorded
    return {
        "server": f"--loop {loop} --http {http}",
        "baseline_401": summary("wrong secret (HTTP + parse + 401)", baseline),
        "latency_to_fill": summary("webhook recorded + paper fill (+SL/TP on buys)", latency),
        "ratio_p50_vs_baseline": round(statistics.median(latency) / statistics.median(baseline), 2),
        "throughput": throughput,
        "rows_by_status": rows,
        # wrk stops counting with requests still in flight; those are recorded too, hence max(0, …)
        "lost": max(0, sent - recorded) + rows.get("pending", 0),
        "positions_mismatched_with_venue": mismatched_positions(data_dir),
    }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000, help="webhooks per sequential phase")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10, help="length of the wrk throughput phase")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--src", type=Path, default=None,
                        help="run the server from this tree (DIR/src or DIR holding the sparky package) instead of the installed one")
    parser.add_argument("--servers", default="asyncio/h11,uvloop/httptools",
                        help="comma-separated loop/http pairs to measure in this run")
    parser.add_argument("--no-minimal", action="store_true", help="skip the minimal app")
    args = parser.parse_args()
    runs = [await run_once(args, *pair.split("/")) for pair in args.servers.split(",")]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
        "sqlite_synchronous": args.synchronous,
        "src": str(args.src) if args.src else "installed",
        "runs": runs,
    }
    if not args.no_minimal and shutil.which("wrk"):
        minimal = minimal_app.measure(args.seconds, args.concurrency,
                                      load=lambda port: run_wrk(port, args.seconds, args.concurrency))
        report["minimal_app"] = minimal
        for run in runs:
            run["throughput"]["server_cpu_vs_minimal_app"] = round(
                run["throughput"]["server_cpu_ms_per_webhook"] / minimal["server_cpu_ms_per_request"], 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
