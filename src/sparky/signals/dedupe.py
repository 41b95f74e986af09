"""Duplicate suppression for alerts without an `alert_id`: same user + same body within a window.

Alerts that carry an `alert_id` are deduplicated durably by the store's unique
(user_id, idempotency_key) index instead, which also survives restarts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sparky.cache import Cache


class DuplicateGuard:
    def __init__(self, cache: Cache, window_sec: float) -> None:
        self._cache = cache
        self._window = window_sec

    @staticmethod
    def body_key(user_id: str, payload: dict[str, Any]) -> str:
        canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
        return f"dup:{user_id}:" + hashlib.sha256(canonical.encode()).hexdigest()

    async def claim(self, user_id: str, payload: dict[str, Any], request_id: str) -> str | None:
        """Claim this body for `request_id`; return the earlier request's id if it is a duplicate."""
        if self._window <= 0:
            return None
        return await self._cache.add(self.body_key(user_id, payload), request_id, self._window)

    async def release(self, user_id: str, payload: dict[str, Any]) -> None:
        """Forget a claim whose request was never recorded, so a resend is not refused."""
        await self._cache.delete(self.body_key(user_id, payload))
