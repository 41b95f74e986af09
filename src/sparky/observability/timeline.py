"""One webhook's timeline, as the metrics measure it: received → recorded → first venue request.

The router starts it (`Metrics.webhook`) in the request's context; the pipeline names the venue
once the signal is valid, the dispatcher marks the moment the row is committed, and the venue HTTP
layer marks the first request sent for it. The execution task is created after the commit, so it
inherits the same timeline through the context, also when it outlives the response (202). Work
with no webhook behind it (background loops, recovery at start-up) has no timeline: nothing is
measured for it here.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparky.observability.metrics import Metrics


@dataclass(eq=False)
class WebhookTimeline:
    metrics: Metrics
    started: float
    #: the signal's exchange once validated (a venue the user's accounts support: a bounded label)
    venue: str | None = None
    recorded_at: float | None = None
    venue_reached: bool = False


CURRENT: ContextVar[WebhookTimeline | None] = ContextVar("sparky_webhook_timeline", default=None)


def note_venue(name: str) -> None:
    timeline = CURRENT.get()
    if timeline is not None:
        timeline.venue = name


def note_recorded() -> None:
    """The request's row is committed (the dispatcher, before the execution starts)."""
    timeline = CURRENT.get()
    if timeline is not None and timeline.recorded_at is None:
        timeline.recorded_at = time.perf_counter()
        timeline.metrics.record_seconds.observe(timeline.recorded_at - timeline.started)


def note_venue_request() -> None:
    """A request is about to leave for a venue: the first one after the commit is measured."""
    timeline = CURRENT.get()
    if timeline is not None and timeline.recorded_at is not None and not timeline.venue_reached:
        timeline.venue_reached = True
        timeline.metrics.first_venue_request_seconds.observe(time.perf_counter() - timeline.recorded_at)
