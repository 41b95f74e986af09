"""Outbound notifications (apprise): off the hot path, bounded, never blocking a trade.

`send` only puts the message on a bounded queue and returns; one task takes messages off it and
sends each on a small thread pool of its own (apprise blocks), with a timeout per message. A full
queue drops the message (`sparky_notifications_dropped_total`, `notification.dropped` logged);
a send that fails or times out is logged with the channels' kinds only — never their URLs — and
counted. When both threads are still stuck in sends that timed out, a message is counted failed
rather than piled up behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from sparky.observability.channels import scheme_of, send_blocking

log = structlog.get_logger("sparky.notifications")

QUEUE_SIZE = 256
SEND_TIMEOUT_SEC = 15.0
SEND_THREADS = 2
#: how long shutdown lets queued messages go out
DRAIN_SEC = 5.0

Sender = Callable[[tuple[str, ...], str, str], bool]


@dataclass(frozen=True)
class Message:
    audience: str  # "user" or "operator": a metrics label
    urls: tuple[str, ...]
    title: str
    body: str


class OutboundNotifications:
    def __init__(self, metrics: Any, *, queue_size: int = QUEUE_SIZE, timeout: float = SEND_TIMEOUT_SEC,
                 sender: Sender = send_blocking) -> None:
        self._metrics = metrics
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=queue_size)
        self._timeout = timeout
        self._sender = sender
        self._threads = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="sparky-notify")
        self._busy_threads = 0
        self._task: asyncio.Task[None] | None = None

    def send(self, audience: str, urls: tuple[str, ...], title: str, body: str) -> None:
        """Queue a message for `urls`; returns at once, never raises."""
        if not urls:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notifications.outbound")
        try:
            self._queue.put_nowait(Message(audience, urls, title, body))
        except asyncio.QueueFull:
            self._metrics.notifications_dropped.inc()
            log.warning("notification.dropped", audience=audience, reason="queue full", queued=self._queue.qsize())

    async def _run(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._deliver(message)
            finally:
                self._queue.task_done()

    async def _deliver(self, message: Message) -> None:
        channels = [scheme_of(url) for url in message.urls]
        if self._busy_threads >= SEND_THREADS:
            self._metrics.notifications_sent.labels(message.audience, "failed").inc()
            log.warning("notification.not_sent", audience=message.audience, channels=channels,
                        reason="earlier sends still hang")
            return
        self._busy_threads += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._threads, self._sender, message.urls, message.title, message.body)
        future.add_done_callback(self._thread_freed)
        try:
            sent = await asyncio.wait_for(asyncio.shield(future), self._timeout)
            reason = None if sent else "a channel refused it or could not be reached"
        except TimeoutError:
            sent, reason = False, f"no answer within {self._timeout:g}s"
        except Exception as err:  # apprise's or a plugin's own bug
            sent, reason = False, type(err).__name__
        self._metrics.notifications_sent.labels(message.audience, "sent" if sent else "failed").inc()
        if sent:
            log.info("notification.sent", audience=message.audience, channels=channels)
        else:
            log.warning("notification.not_sent", audience=message.audience, channels=channels, reason=reason)

    def _thread_freed(self, _: Any) -> None:
        self._busy_threads -= 1

    async def aclose(self, drain: float = DRAIN_SEC) -> None:
        """Let queued messages go out (up to `drain` seconds), then stop."""
        if self._task is not None:
            try:
                await asyncio.wait_for(self._queue.join(), drain)
            except TimeoutError:
                log.warning("notification.unsent_at_shutdown", queued=self._queue.qsize())
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def idle(self) -> None:
        """Wait until every queued message was handled (tests)."""
        await self._queue.join()
