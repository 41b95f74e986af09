"""`sparky ai-worker`: run the AI worker's cycles (ai/worker.py) until SIGTERM or SIGINT.

It reads the same settings (environment and `.env`) and logs the same way as `sparky serve`, and
builds its parts (store, model client, market data, the step that posts signals to the webhook)
from them with `sparky.ai.wiring.build_ai_parts`. It does not take the data dir's lock: it runs
beside `sparky serve` on the same data dir (the SQLite store is in WAL mode, so a second process
reads and writes it safely) and places no order itself — its signals go through the server's
webhook like any alert.

Exit status: 0 stopped by a signal after the cycle in flight finished; 2 bad settings or flags;
1 the parts could not be built (a store that does not answer, for one); 128 + the signal number
when a second signal cut the cycle in flight short.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparky.config import Settings

#: the longest --worker-id (the heartbeat row's key)
MAX_WORKER_ID = 100

BuildParts = Callable[["Settings"], Awaitable[Any]]


def worker_id(text: str) -> str:
    value = text.strip()
    if not value or len(value) > MAX_WORKER_ID or not value.isprintable():
        raise argparse.ArgumentTypeError(
            f"--worker-id must be 1 to {MAX_WORKER_ID} printable characters, got {text!r}")
    return value


def add_arguments(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "ai-worker", help="run the AI worker: every AI_CYCLE_SEC, a decision per running AI strategy",
        description="Run the AI worker beside `sparky serve`: every AI_CYCLE_SEC it asks the model for a "
        "decision per running AI strategy and posts the trades to the webhook. SIGTERM or Ctrl+C stops it "
        "after the cycle in flight; a second one stops it at once.")
    command.add_argument("--worker-id", type=worker_id, default=None,
                         help="this worker's name in its heartbeat and /health/ai-worker (default: the host "
                              "name); give each worker on one host its own")
    command.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sparky.cli.settings_errors import InvalidSettings, load_settings

    try:
        settings = load_settings()
    except InvalidSettings as err:
        print(f"sparky: invalid settings:\n{err}", file=sys.stderr)
        return 2
    from sparky.logging import configure_logging

    configure_logging(settings.log_level, settings.effective_log_format)
    return asyncio.run(run_worker(settings, args.worker_id or socket.gethostname()))


async def _wired_parts(settings: Settings) -> Any:
    from sparky.ai.wiring import build_ai_parts  # the model client, market data and step: only when run

    return await build_ai_parts(settings)


async def run_worker(settings: Settings, worker_id: str, build_parts: BuildParts = _wired_parts) -> int:
    """Build the parts, run cycles until a signal, close everything; the exit status."""
    from sparky.ai.claims import LocalClaims, RedisClaims
    from sparky.ai.worker import AiWorker, StopOnSignal
    from sparky.store.base import StoreUnavailable

    try:
        parts = await build_parts(settings)
    except ValueError as err:  # a setting the parts refuse (the model's, for one)
        print(f"sparky: invalid settings:\n{err}", file=sys.stderr)
        return 2
    except (StoreUnavailable, OSError, ImportError) as err:  # ImportError: a part's library is missing
        print(f"sparky: the AI worker could not start: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    claims = (RedisClaims(settings.redis_url, worker_id, cycle_sec=settings.ai_cycle_sec)
              if settings.redis_url else LocalClaims())
    worker = AiWorker(parts.store, parts.step, parts.new_market_data, cycle_sec=settings.ai_cycle_sec,
                      concurrency=settings.ai_concurrency, worker_id=worker_id, claims=claims)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(worker.run(), name="ai.worker")
    stop = StopOnSignal(worker, task)
    stop.install(loop)
    try:
        await task
        return 0
    except asyncio.CancelledError:
        if not stop.received or asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise  # cancelled from outside, not by a second signal
        return 128 + stop.received[-1]
    finally:
        stop.uninstall(loop)
        await claims.aclose()
        await parts.aclose()

