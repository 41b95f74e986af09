"""Prometheus metrics of one app (`GET /metrics`, docs/OBSERVABILITY.md).

Each app has its own `CollectorRegistry` (tests build many apps in one process; the global registry
would refuse the second). Every label is bounded: outcomes from a fixed list, venues the server
supports, endpoint templates (`venue_paths.py`), loop names the server gave its loops — never a
symbol, a user id or a raw path. What lives in the store (open positions, the AI worker's heartbeat)
is read when the metrics are scraped (`refresh`), not kept up to date on the hot path.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sparky.observability.timeline import CURRENT, WebhookTimeline
from sparky.observability.venue_paths import endpoint_template
from sparky.store.base import utcnow

#: the answers' `action`s; anything else is counted as `other`
OUTCOMES = frozenset({
    "accepted", "opened", "closed", "reversed", "order_placed", "cancelled", "skipped", "duplicate", "rejected",
    "rate_limited", "expired", "failed", "protection_failed", "reversal_failed", "close_failed",
})
#: webhooks answer within milliseconds on paper, seconds on a slow venue
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LOOP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter("sparky_webhooks", "Webhooks answered, by outcome (the answer's action), "
                                "venue (none before the signal was valid) and HTTP status",
                                ["outcome", "venue", "status"], registry=registry)
        self.in_flight = Gauge("sparky_webhooks_in_flight", "Webhooks being handled (received, not yet answered)",
                               registry=registry)
        self.record_seconds = Histogram("sparky_webhook_record_seconds",
                                        "From the request received to its row committed in the store",
                                        buckets=_LATENCY_BUCKETS, registry=registry)
        self.first_venue_request_seconds = Histogram(
            "sparky_webhook_first_venue_request_seconds",
            "From the row committed to the first request sent to a venue over HTTP for it",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.venue_request_seconds = Histogram("sparky_venue_request_seconds",
                                               "Venue HTTP requests, by venue and endpoint template",
                                               ["venue", "endpoint"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.venue_request_errors = Counter("sparky_venue_request_errors",
                                            "Venue HTTP requests that got no answer (connection, timeout)",
                                            ["venue", "endpoint"], registry=registry)
        self.loop_seconds = Histogram("sparky_background_loop_seconds", "Background loop runs, by loop",
                                      ["loop"], buckets=_LOOP_BUCKETS, registry=registry)
        self.loop_failures = Counter("sparky_background_loop_failures", "Background loop runs that failed, by loop",
                                     ["loop"], registry=registry)
        self.open_positions = Gauge("sparky_open_positions", "Open positions in the store, by venue",
                                    ["venue"], registry=registry)
        self.ai_cycle_seconds = Gauge("sparky_ai_cycle_seconds", "Duration of the AI worker's last cycle",
                                      ["worker"], registry=registry)
        self.ai_heartbeat_age = Gauge("sparky_ai_heartbeat_age_seconds",
                                      "Seconds since the AI worker's last cycle ended", ["worker"], registry=registry)
        self.notifications_sent = Counter("sparky_notifications_sent", "Outbound notifications, by audience "
                                          "(user, operator) and result (sent, failed)", ["audience", "result"],
                                          registry=registry)
        self.notifications_dropped = Counter("sparky_notifications_dropped",
                                             "Outbound notifications dropped because the queue was full",
                                             registry=registry)

    # -- the webhook path ------------------------------------------------------------------------
    @contextmanager
    def webhook(self) -> Iterator[WebhookTimeline]:
        """Around one POST /webhook: in flight while inside; the caller sets `outcome` and `status`
        on the timeline it gets (an exception counts as 500 unless it carries a status)."""
        timeline = WebhookTimeline(self, time.perf_counter())
        token = CURRENT.set(timeline)
        self.in_flight.inc()
        try:
            yield timeline
        finally:
            CURRENT.reset(token)  # the execution task kept its own copy of the context
            self.in_flight.dec()

    def answered(self, timeline: WebhookTimeline, status: int, body: dict[str, Any] | None) -> None:
        action = body.get("action") if isinstance(body, dict) else None
        outcome = action if action in OUTCOMES else "other"
        self.webhooks.labels(outcome, timeline.venue or "none", str(status)).inc()

    # -- venues ----------------------------------------------------------------------------------
    def venue_request(self, venue: str, method: str, url: str, seconds: float, *, answered: bool) -> None:
        endpoint = endpoint_template(method, url)
        self.venue_request_seconds.labels(venue, endpoint).observe(seconds)
        if not answered:
            self.venue_request_errors.labels(venue, endpoint).inc()

    # -- background loops ------------------------------------------------------------------------
    def loop_ran(self, name: str, seconds: float, error: BaseException | None, consecutive_failures: int) -> None:
        self.loop_seconds.labels(name).observe(seconds)
        if error is not None:
            self.loop_failures.labels(name).inc()

    # -- read at scrape --------------------------------------------------------------------------
    async def refresh(self, store: Any) -> None:
        """What the store holds: open positions by venue, the AI workers' last heartbeat."""
        positions = Tally(p.exchange for p in await store.list_positions())
        self.open_positions.clear()
        for venue, count in positions.items():
            self.open_positions.labels(venue).set(count)
        heartbeats = getattr(store, "ai_worker_heartbeats", None)
        if heartbeats is None:
            return
        now = utcnow()
        self.ai_cycle_seconds.clear()
        self.ai_heartbeat_age.clear()
        for beat in await heartbeats():
            self.ai_cycle_seconds.labels(beat.worker_id).set(beat.cycle_duration_ms / 1000)
            self.ai_heartbeat_age.labels(beat.worker_id).set(max(0.0, (now - beat.last_cycle_at).total_seconds()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
