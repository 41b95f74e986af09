"""The floor to compare Sparky with: a minimal FastAPI webhook that records each request durably.

POST /webhook parses the JSON body, inserts one row into SQLite (WAL, synchronous=FULL, as Sparky
runs) and answers `{"success": true, "action": "opened" | "closed"}` once the row is committed.
One writer thread commits whatever has queued up in one transaction (group commit), so a burst of
requests shares one fsync, as a well-built server would. Served by uvicorn on uvloop + httptools.
Whatever Sparky spends per webhook above this is the cost of its own work (authentication, quota,
risk, the venue calls, the position and trade rows).

Alone: python bench/minimal_app.py [--seconds 10] [--connections 20]  (starts it, drives it with wrk)
Served only: python bench/minimal_app.py --serve --port 8000 --db /tmp/minimal.sqlite3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_seconds, free_port, rss_mib, run_wrk, wait_http  # noqa: E402


class GroupWriter:
    """One thread, one connection: takes every queued insert, commits them together, then wakes
    each waiting request."""

    def __init__(self, path: Path) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS webhook_requests (id TEXT PRIMARY KEY, created_at TEXT, "
                          "action TEXT, symbol TEXT, payload TEXT)")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.conn.execute("BEGIN")
                self.conn.executemany("INSERT INTO webhook_requests VALUES (?, ?, ?, ?, ?)",
                                      [row for row, _, _ in batch])
                self.conn.execute("COMMIT")
                error = None
            except sqlite3.Error as err:
                self.conn.execute("ROLLBACK")
                error = err
            for _, loop, future in batch:
                loop.call_soon_threadsafe(_settle, future, error)

    async def insert(self, row: tuple) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.put((row, loop, future))
        await future


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if not future.done():
        future.set_exception(error) if error else future.set_result(None)


def make_app(db: Path) -> FastAPI:
    app = FastAPI()
    writer = GroupWriter(db)
    app.state.writer = writer  # kept for the app's lifetime

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.json()
        action = str(body.get("action", ""))
        await writer.insert((str(uuid.uuid4()), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), action,
                             str(body.get("symbol", "")), json.dumps(body)))
        return JSONResponse({"success": True, "action": "closed" if action == "close" else "opened"})

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


def start(port: int, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port), "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(seconds: float, connections: int, load: Callable[[int], dict] | None = None) -> dict:
    """Start the minimal app, drive it with the same load as Sparky, stop it. `load(port)` runs the
    load and returns wrk's figures (`requests`, `webhooks_per_sec`, `p50_ms`, `p99_ms`); the default
    is bench/venue_webhook.lua with one connection per symbol."""
    port = free_port()
    db = Path(tempfile.mkdtemp(prefix="sparky-minimal-")) / "minimal.sqlite3"
    server = start(port, db)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", server)
        before = cpu_seconds(server.pid)
        if load is None:
            wrk = run_wrk(f"http://127.0.0.1:{port}/webhook", connections=connections, seconds=seconds)
            figures = {"requests": wrk["completed"], "webhooks_per_sec": wrk["per_sec"], "p50_ms": wrk["p50_ms"],
                       "p99_ms": wrk["p99_ms"], "failed": wrk["failed"]}
        else:
            figures = load(port)
        time.sleep(0.5)  # the requests wrk left in flight finish before the CPU is read
        cpu = cpu_seconds(server.pid) - before
        rss = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM webhook_requests").fetchone()[0]
    return {"requests_per_sec": figures["webhooks_per_sec"], "p50_ms": figures.get("p50_ms"),
            "p99_ms": figures.get("p99_ms"), "completed": figures["requests"], "failed": figures.get("failed", 0),
            "rows": rows, "server_cpu_ms_per_request": round(cpu / max(rows, 1) * 1000, 3), "rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="only serve (used by the bench scripts)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        uvicorn.run(make_app(args.db), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                    log_level="warning", access_log=False)
        return
    print(json.dumps(measure(args.seconds, args.connections), indent=2))


if __name__ == "__main__":
    main()
