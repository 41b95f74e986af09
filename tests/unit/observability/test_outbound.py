"""Outbound notifications: bounded queue (dropped and counted when full), a timeout per send,
failures counted; operator alerts for a loop failing N times in a row and a silent AI worker."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from sparky.background import TaskRunner
from sparky.observability.metrics import Metrics
from sparky.observability.operator_alerts import OperatorAlerts
from sparky.observability.outbound import OutboundNotifications
from sparky.store.ai import AiWorkerHeartbeat
from tests.stepped_time import SteppedTime

URLS = ("json://127.0.0.1:9/channel-secret",)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


class Recorder:
    """A sender that records what it was given; `gate` (when set) holds every send until released."""

    def __init__(self, gate: threading.Event | None = None, result: bool = True) -> None:
        self.sent: list[tuple[tuple[str, ...], str, str]] = []
        self.gate = gate
        self.result = result
        self.entered = threading.Event()  # a send began

    def __call__(self, urls: tuple[str, ...], title: str, body: str) -> bool:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        self.sent.append((urls, title, body))
        return self.result


async def test_a_full_queue_drops_the_message_and_counts_it() -> None:
    metrics, gate = Metrics(), threading.Event()
    sender = Recorder(gate)
    outbound = OutboundNotifications(metrics, queue_size=2, timeout=30, sender=sender)
    with capture_logs() as logs:
        outbound.send("user", URLS, "t0", "b")
        assert await asyncio.to_thread(sender.entered.wait, 30)  # t0 is being sent (held): off the queue
        for number in (1, 2, 3):  # two queued, the third dropped
            outbound.send("user", URLS, f"t{number}", "b")
        gate.set()
        await outbound.idle()
    await outbound.aclose()
    assert [title for _, title, _ in sender.sent] == ["t0", "t1", "t2"]
    assert value(metrics, "sparky_notifications_dropped_total") == 1
    assert value(metrics, "sparky_notifications_sent_total", audience="user", result="sent") == 3
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["notification.dropped"]


async def test_a_send_past_its_timeout_is_counted_failed_and_the_next_one_goes_out() -> None:
    metrics, gate = Metrics(), threading.Event()
    hanging = Recorder(gate)
    outbound = OutboundNotifications(metrics, timeout=0.05, sender=hanging)
    with capture_logs() as logs:
        outbound.send("operator", URLS, "stuck", "b")
        await outbound.idle()
    failed = [e for e in logs if e["event"] == "notification.not_sent"]
    assert failed[0]["reason"] == "no answer within 0.05s" and failed[0]["channels"] == ["json"]
    assert "channel-secret" not in repr(logs)
    assert value(metrics, "sparky_notifications_sent_total", audience="operator", result="failed") == 1
    gate.set()
    await outbound.aclose()


async def test_a_sender_that_raises_is_counted_failed_and_never_reaches_the_caller() -> None:
    def broken(urls: tuple[str, ...], title: str, body: str) -> bool:
        raise RuntimeError("plugin bug")

    metrics = Metrics()
    outbound = OutboundNotifications(metrics, sender=broken)
    outbound.send("user", URLS, "t", "b")
    await outbound.idle()
    await outbound.aclose()
    assert value(metrics, "sparky_notifications_sent_total", audience="user", result="failed") == 1


async def test_a_loop_failing_n_times_in_a_row_alerts_the_operator_once() -> None:
    metrics, time = Metrics(), SteppedTime()
    sender = Recorder()
    outbound = OutboundNotifications(metrics, sender=sender)
    alerts = OperatorAlerts(outbound, URLS, loop_failures=3, ai_cycle_sec=60)
    runner = TaskRunner(sleep=time.sleep, clock=time.clock, monotonic=time.monotonic, backoff_cap=10)
    runner.observe(metrics.loop_ran)
    runner.observe(alerts.loop_ran)

    async def fails() -> None:
        raise ConnectionError("store down")

    runner.every("prices.refresh", 10, fails)
    runner.start()
    await time.advance(10 * 5, parked=1)  # five failed runs (the backoff capped at the period)
    await runner.aclose()
    await outbound.idle()
    await outbound.aclose()
    assert [(title, body) for _, title, body in sender.sent] == [
        ("Sparky: background loop prices.refresh is failing",
         "prices.refresh failed 3 times in a row; last error: ConnectionError: store down")]
    assert value(metrics, "sparky_background_loop_failures_total", loop="prices.refresh") == 5
    assert value(metrics, "sparky_background_loop_seconds_count", loop="prices.refresh") == 5


class Heartbeats:
    def __init__(self, *beats: AiWorkerHeartbeat) -> None:
        self.beats = list(beats)

    async def ai_worker_heartbeats(self) -> list[AiWorkerHeartbeat]:
        return self.beats


def beat(at: datetime) -> AiWorkerHeartbeat:
    return AiWorkerHeartbeat("worker-1", at, cycle_duration_ms=1500, strategies=2, decisions=2, errors=0)


async def test_an_ai_worker_silent_for_more_than_two_cycles_alerts_once_until_heard_again() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = [now]
    sender = Recorder()
    outbound = OutboundNotifications(Metrics(), sender=sender)
    alerts = OperatorAlerts(outbound, URLS, loop_failures=3, ai_cycle_sec=60, clock=lambda: clock[0])
    store = Heartbeats(beat(now - timedelta(seconds=120)))  # exactly two cycles: not yet silent
    await alerts.check_ai_worker(store)
    clock[0] = now + timedelta(seconds=1)  # 121 s: silent
    await alerts.check_ai_worker(store)
    await alerts.check_ai_worker(store)  # still silent: not told twice
    store.beats = [beat(clock[0])]  # heard from again
    await alerts.check_ai_worker(store)
    clock[0] += timedelta(seconds=200)  # silent again: told again
    await alerts.check_ai_worker(store)
    await outbound.idle()
    await outbound.aclose()
    assert [title for _, title, _ in sender.sent] == ["Sparky: the AI worker is silent"] * 2
    assert sender.sent[0][2].startswith("AI worker worker-1 has not finished a cycle for 121s (AI_CYCLE_SEC 60s)")
