"""Changes another process makes to the store reach a running server within a second or two.

`sparky users …` writes to the server's SQLite file from its own process, while the server keeps
plans, trade settings, strategies, credentials and webhook secrets in memory for up to a minute.
The store says when another connection committed (`TenantStore.external_change_marker`: SQLite's
`PRAGMA data_version`, one cheap read); `StoreWatch.poll` runs every `WATCH_INTERVAL_SEC` and, when
it changed, forgets those caches (what `POST /strategies/reload` does). A store that cannot tell
(Supabase: the dashboard writes through its own API) keeps the caches' TTLs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from sparky.store.tenants import TenantStore

log = structlog.get_logger("sparky.store_watch")

WATCH_INTERVAL_SEC = 1.0


class StoreWatch:
    def __init__(self, store: TenantStore, on_change: Callable[[], Awaitable[object]]) -> None:
        self._store = store
        self._on_change = on_change
        self._marker: int | None = None
        #: changes acted on so far (an observable for operators' logs and for tests)
        self.changes = 0

    @property
    def seen(self) -> int | None:
        """The newest change marker whose change has been acted on."""
        return self._marker

    async def start(self) -> bool:
        """Note the store's current state; False when it cannot report changes (nothing to watch)."""
        self._marker = await self._store.external_change_marker()
        return self._marker is not None

    async def poll(self) -> bool:
        """Forget the caches if another process committed since the last poll. True when it did."""
        marker = await self._store.external_change_marker()
        if marker is None or marker == self._marker:
            return False
        await self._on_change()  # if this fails the marker stays, and the next poll tries again
        self._marker = marker
        self.changes += 1
        log.info("store.changed_elsewhere", changes=self.changes)
        return True
