"""What the operator is told on their own channels (OPERATOR_NOTIFY_URLS, docs/NOTIFICATIONS.md).

- an unprotected position, whoever's it is (the user is told as well, on theirs);
- a background loop failing `loop_failures` runs in a row: once, and again only after it
  succeeded in between;
- the AI worker silent: its last heartbeat older than two cycles (`check_ai_worker`, a background
  loop of the server): once per silence, again after it was heard from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sparky.observability.outbound import OutboundNotifications
from sparky.store.base import utcnow

#: the AI worker is silent once its heartbeat is older than this many cycles
SILENT_CYCLES = 2


class OperatorAlerts:
    def __init__(self, outbound: OutboundNotifications, urls: tuple[str, ...], *, loop_failures: int,
                 ai_cycle_sec: float, clock: Callable[[], datetime] = utcnow) -> None:
        self._outbound = outbound
        self._urls = urls
        self._loop_failures = loop_failures
        self._ai_cycle_sec = ai_cycle_sec
        self._clock = clock
        self._silent_workers: set[str] = set()

    def _send(self, title: str, body: str) -> None:
        self._outbound.send("operator", self._urls, title, body)

    def position_unprotected(self, user_id: str, title: str, message: str) -> None:
        self._send(f"Sparky: {title}", f"User {user_id}: {message}")

    def loop_ran(self, name: str, seconds: float, error: BaseException | None, in_a_row: int) -> None:
        """A TaskRunner observer: alerts on the run that reaches the threshold, not on the ones after."""
        if error is not None and in_a_row == self._loop_failures:
            self._send(f"Sparky: background loop {name} is failing",
                       f"{name} failed {in_a_row} times in a row; last error: {type(error).__name__}: {error}")

    async def check_ai_worker(self, store: Any) -> None:
        """Every AI worker's heartbeat: a silent one alerts once (until it is heard from again)."""
        now = self._clock()
        for beat in await store.ai_worker_heartbeats():
            silent_for = (now - beat.last_cycle_at).total_seconds()
            if silent_for <= SILENT_CYCLES * self._ai_cycle_sec:
                self._silent_workers.discard(beat.worker_id)
            elif beat.worker_id not in self._silent_workers:
                self._silent_workers.add(beat.worker_id)
                self._send("Sparky: the AI worker is silent",
                           f"AI worker {beat.worker_id} has not finished a cycle for {silent_for:.0f}s "
                           f"(AI_CYCLE_SEC {self._ai_cycle_sec:g}s); last cycle ended {beat.last_cycle_at.isoformat()}")
