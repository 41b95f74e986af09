"""Which server executes a pending request: its owner and a lease the owner keeps renewing.

Several servers may share one store (Supabase). At start-up each resumes the requests a crash left
pending, and it must never take one that another, running server is executing: it would expire a
signal that server then executes, or execute it a second time. So `Dispatcher.submit` records every
request with `lease_owner` (this server's id, kept in its data dir: server_identity.py) and
`lease_expires_at`, and while the request is in flight — queued behind its key, waiting for the
Redis lock, executing — this server renews the lease every RENEW_EVERY_SEC. Execution time has no
tight bound (a lock wait alone may last 90 s, a reversal waits for the venue), so the lease is
renewed rather than sized to cover the longest execution.

At start-up a server resumes a pending row only after claiming it in one atomic write
(`Store.claim_webhook_request`): it is the server's own (nothing of this process can be running
it), it has no lease (written before leases existed), or its lease ended — its owner stopped
renewing, so it is not running. Rows of other servers with a live lease are left to them.

Times are the servers' clocks: a lease of LEASE_SEC renewed every LEASE_SEC / 3 tolerates clocks
up to 40 s apart. A server that stops renewing (crash, lost store) has its rows taken over by the
next server to start once LEASE_SEC has passed; restarting on its own data dir, it takes them back
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from sparky.store.base import Store, StoreUnavailable, WebhookRequestRecord, utcnow

log = structlog.get_logger("sparky.leases")

#: how long a request stays its owner's without a renewal
LEASE_SEC = 60.0
#: how often the owner renews the leases of its requests in flight (three tries per lease)
RENEW_EVERY_SEC = LEASE_SEC / 3
#: request ids per renewal write (a PostgREST filter travels in the URL)
RENEW_BATCH = 100


class Leases:
    """This server's leases on the requests it has in flight, renewed in the background."""

    def __init__(self, store: Store, owner: str, *, clock: Callable[[], datetime] = utcnow,
                 lease_sec: float = LEASE_SEC, renew_every: float = RENEW_EVERY_SEC) -> None:
        self._store = store
        self.owner = owner
        self._clock = clock
        self._lease = timedelta(seconds=lease_sec)
        self._renew_every = renew_every
        self._held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def _until(self) -> datetime:
        return self._clock() + self._lease

    def stamp(self, record: WebhookRequestRecord) -> WebhookRequestRecord:
        """`record` as this server records it: leased to this server, from now."""
        return replace(record, lease_owner=self.owner, lease_expires_at=self._until())

    async def claim(self, record: WebhookRequestRecord) -> bool:
        """Take a pending row left by a crash: ours, without a lease, or with its lease ended."""
        return await self._store.claim_webhook_request(record.id, self.owner, lease_until=self._until(),
                                                       now=self._clock())

    def hold(self, request_id: str) -> None:
        """Keep renewing `request_id`'s lease until `release`."""
        self._held.add(request_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._keep_renewing(), name="leases.renew")

    def release(self, request_id: str) -> None:
        """Stop renewing: the request is about to be finished (or left for the next start-up)."""
        self._held.discard(request_id)

    async def _keep_renewing(self) -> None:
        while self._held:
            await asyncio.sleep(self._renew_every)  # the renewal period, not a stand-in for synchronisation
            try:
                await self.renew()
            except Exception:  # a bug here must not stop the renewals that follow
                log.exception("webhook.lease_renewal_crashed")

    async def renew(self) -> None:
        """Extend every held lease by LEASE_SEC from now. A lease found lost (another server took
        the row after renewals failed for a whole lease) is logged: that request may run twice."""
        held = sorted(self._held)
        until = self._until()
        renewed: set[str] = set()
        try:
            for start in range(0, len(held), RENEW_BATCH):
                batch = held[start:start + RENEW_BATCH]
                renewed |= await self._store.renew_webhook_leases(batch, self.owner, lease_until=until)
        except StoreUnavailable as err:
            log.warning("webhook.lease_renewal_failed", requests=len(held), error=str(err))
            return
        # still held after the write: not finished meanwhile (a request is released before its finish)
        lost = sorted(i for i in held if i not in renewed and i in self._held)
        if lost:
            log.error("webhook.lease_lost", request_ids=lost, owner=self.owner)
            self._held.difference_update(lost)

    async def aclose(self) -> None:
        """Stop renewing (shutdown: what is still running is left to the next start-up)."""
        self._held.clear()
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
