"""Record, then execute in arrival order per (user, exchange, symbol), then finish the row.

Invariant 1: the `webhook_requests` row is committed before the executor may send any order, and
every recorded request reaches a terminal status — by its execution, or at the next start-up by
`recover()` (executed if still fresh or already under way on the exchange, expired otherwise).
Every row is leased to this server while it is in flight, and `recover()` takes only the rows it can
claim: its own, or those whose lease ended (leases.py) — never a request another server is running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

import structlog
from pydantic import ValidationError

from sparky.cache import Cache, InProcessCache, LockNotAcquired
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Exchange
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.leases import Leases
from sparky.execution.outcome import Outcome
from sparky.execution.serializer import KeyedSerializer, Slot
from sparky.signals.models import Signal
from sparky.store.base import ExecutionWrite, RequestStatus, Store, StoreUnavailable, WebhookRequestRecord, utcnow

log = structlog.get_logger("sparky.dispatcher")

#: a holder that crashed frees its key after this long; a live one never takes that long
LOCK_TIMEOUT_SEC = 120.0
#: how long a signal waits for the same key on another server
LOCK_WAIT_SEC = 90.0

#: client-id roles of orders that mean "this request already acted on the exchange"
ACTING_ROLES = ("e", "x", "rx")


class ShuttingDown(Exception):
    pass


class Dispatcher:
    def __init__(self, store: Store, executor: TradeExecutor, accounts: ExchangeAccounts, *, sync_budget: float,
                 signal_max_age: float, server_id: str, on_outcome: Callable[[Job, Outcome], None] | None = None,
                 cache: Cache | None = None, clock: Callable[[], datetime] = utcnow,
                 routes: Mapping[str, Callable[[Job], Awaitable[Outcome]]] | None = None) -> None:
        """`routes`: exchange → what runs its jobs instead of `executor` (`tradier_options`: the
        options executor); recorded, ordered and finished the same way."""
        self._store = store
        self._clock = clock
        self.leases = Leases(store, server_id, clock=clock)
        self._cache = cache or InProcessCache()
        self._executor = executor
        self._routes = dict(routes or {})
        self._accounts = accounts
        self._on_outcome = on_outcome
        self._budget = sync_budget
        self._max_age = signal_max_age
        self._serializer = KeyedSerializer()
        self._tasks: set[asyncio.Task[Outcome]] = set()
        self._accepting = True

    @staticmethod
    def key(user_id: str, exchange: str, symbol: str) -> tuple[str, str, str]:
        return (user_id, exchange, symbol)

    def _key_of(self, job: Job) -> tuple[str, str, str]:
        return self.key(job.user_id, job.signal.exchange, job.signal.symbol)

    def reserve(self, key: Hashable) -> Slot:
        return self._serializer.reserve(key)

    @asynccontextmanager
    async def exclusive(self, key: tuple[str, str, str]) -> AsyncIterator[None]:
        """Hold `key` as a signal's execution does: its slot on this server, then its lock across
        the servers sharing Redis (LockNotAcquired past LOCK_WAIT_SEC). For other work on the
        position, such as `POST /positions/sync`."""
        async with self._serializer.reserve(key), self._locked(key):
            yield

    def _locked(self, key: tuple[str, str, str]) -> AbstractAsyncContextManager[None]:
        # the same key on another server sharing Redis waits for us (and we for it)
        return self._cache.lock(":".join(key), timeout=LOCK_TIMEOUT_SEC, wait=LOCK_WAIT_SEC)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def submit(self, job: Job, record: WebhookRequestRecord, *, count_against: int | None = None,
                     counted: Callable[[int], None] | None = None) -> Outcome | None:
        """Record and start executing `job`. Returns its outcome if it finishes within the sync
        budget, else None (it keeps running; its outcome lands in the row).

        With `counted`, recording also counts the request against the plan's monthly quota
        atomically in the store and hands `counted` the count; with `count_against` (the quota's
        limit) too, QuotaExceeded means nothing was recorded or executed."""
        if not self._accepting:
            raise ShuttingDown()
        slot = self._serializer.reserve(self._key_of(job))
        record = self.leases.stamp(record)
        try:
            if count_against is None and counted is None:
                await self._store.insert_webhook_request(record)
            else:
                count = await self._store.record_counted_webhook_request(record, monthly_limit=count_against)
                if counted is not None:
                    counted(count)
        except BaseException:
            slot.release()
            raise
        self.leases.hold(job.request_id)  # renewed while it waits for its turn and while it runs
        task = asyncio.create_task(self._run(job, slot), name=f"execute:{job.request_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        done, _ = await asyncio.wait({task}, timeout=self._budget)
        return task.result() if task in done else None

    async def _run(self, job: Job, slot: Slot) -> Outcome:
        async with slot:
            try:
                async with self._locked(self._key_of(job)):
                    outcome = await self._execute(job)
                    # its rows are written before another server may take the key and read them
                    await self._finish(job.request_id, outcome, job.writes.take())
            except LockNotAcquired:
                outcome = Outcome.failed("Another server kept this symbol busy; nothing was executed")
                await self._finish(job.request_id, outcome)
        log.info("webhook.finished", status=outcome.status.value, action=outcome.body.get("action"))
        if self._on_outcome is not None:
            self._on_outcome(job, outcome)
        return outcome

    async def _execute(self, job: Job) -> Outcome:
        try:
            run = self._routes.get(job.signal.exchange, self._executor.execute)
            return await run(job)
        except Exception as err:  # never lose a recorded request to an unexpected bug
            log.exception("execution.crashed")
            return Outcome.failed(f"Internal error while executing: {type(err).__name__}")

    async def _finish(self, request_id: str, outcome: Outcome, writes: Sequence[ExecutionWrite] = ()) -> None:
        """The execution's held-back rows (its position, its close's trade) and the request's final
        status in one store transaction: all of it is recorded, or none and the row stays pending."""
        self.leases.release(request_id)
        try:
            await self._store.finish_execution(
                request_id, outcome.status, error_message=outcome.error,
                result=outcome.body, http_status=outcome.http_status, writes=writes,
            )
        except StoreUnavailable:
            # the row stays pending; recovery resumes it by client order id, never re-sends
            log.error("webhook.finish_unrecorded", request_id=request_id, unrecorded_rows=len(writes))

    async def recover(self) -> list[tuple[str, RequestStatus]]:
        """Resolve requests a crash left pending, oldest first. Returns (id, final status).

        Only requests this server claims: its own, or another server's whose lease ended; a request
        another server is running (its lease renewed) is left to it. Each request on its own: one
        that cannot be resolved now (its venue is unreachable) stays pending for the next start-up,
        and the others are resolved all the same."""
        resolved = []
        for record in await self._store.pending_webhook_requests():
            structlog.contextvars.bind_contextvars(request_id=record.id)
            try:
                if not await self.leases.claim(record):
                    log.info("webhook.left_to_its_server", owner=record.lease_owner,
                             lease_expires_at=str(record.lease_expires_at))
                    continue
                self.leases.hold(record.id)
                status = await self._recover_one(record)
            except Exception as err:
                log.exception("webhook.recovery_failed", error_type=type(err).__name__)
                status = RequestStatus.PENDING
            finally:
                self.leases.release(record.id)
                structlog.contextvars.unbind_contextvars("request_id")
            resolved.append((record.id, status))
        return resolved

    async def _recover_one(self, record: WebhookRequestRecord) -> RequestStatus:
        try:
            signal = Signal.model_validate(record.signal) if record.signal else None
        except ValidationError:  # e.g. recorded by a version that read alerts differently
            signal = None
        if signal is None or not record.user_id:
            await self._finish(record.id, Outcome.rejected("Recorded without a valid signal"))
            return RequestStatus.REJECTED
        job = Job(record.id, record.user_id, signal, resume=True)
        age = (self._clock() - record.created_at).total_seconds()
        if age > self._max_age and not await self._acted(job):
            outcome = Outcome.expired(f"Not executed: the server restarted {age:.0f}s after the signal arrived "
                                      f"(limit {self._max_age:g}s)")
            await self._finish(record.id, outcome)
            log.warning("webhook.expired_on_restart", age_sec=round(age, 1))
            return RequestStatus.EXPIRED
        log.info("webhook.resumed_on_restart", age_sec=round(age, 1))
        slot = self._serializer.reserve(self._key_of(job))
        return (await self._run(job, slot)).status

    async def _acted(self, job: Job) -> bool:
        """Did this request already send an order (crash after sending)? Then it must be finished."""
        exchange: Exchange = await self._accounts.get(job.user_id, job.signal.exchange)
        for role in ACTING_ROLES:
            if await exchange.get_order(job.signal.symbol, client_order_id=job.cid(role)) is not None:
                return True
        return False

    async def wait_idle(self) -> None:
        """Wait until every execution started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, timeout: float) -> int:
        """Stop accepting; wait for in-flight executions. Returns how many were still running."""
        self._accepting = False
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        return len(self._tasks)

    async def aclose(self) -> None:
        """Stop renewing leases (after `drain`): what still runs is this server's to resume."""
        await self.leases.aclose()
