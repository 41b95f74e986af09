"""Notifications in the SQLite store: each user's preferences and channels (one
`notification_preferences` row, made on first write) and the dashboard's `notifications` rows."""

from __future__ import annotations

import sqlite3
import uuid
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from sparky.store.base import utcnow
from sparky.store.sqlite import codec, tenant_sql
from sparky.store.tenants import NotificationRecord

T = TypeVar("T")

_NOTIFICATION_TYPES = frozenset({"info", "success", "warning", "error", "trade", "position", "limit", "system"})


def require(**values: str | None) -> None:
    for name, value in values.items():
        if not value:
            raise ValueError(f"{name} is required")


def _ensure_row(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("INSERT INTO notification_preferences (id, user_id) VALUES (?, ?) "
                 "ON CONFLICT (user_id) DO NOTHING", (str(uuid.uuid4()), user_id))


class SqliteNotifications:
    """Mixed into `SqliteStore` (through `SqliteTenants`), which has `_call`."""

    @abstractmethod
    async def _call(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T: ...

    async def notification_preferences(self, user_id: str) -> dict[str, bool]:
        def get(conn: sqlite3.Connection) -> dict[str, bool]:
            row = conn.execute(tenant_sql.SELECT_PREFERENCES, (user_id,)).fetchone()
            if row is None:
                return {}
            return {
                name: default if row[name] is None else bool(row[name])
                for name, default in tenant_sql.PREFERENCE_DEFAULTS.items()
            }

        return await self._call(get, write=False)

    async def set_notification_preferences(self, user_id: str, preferences: dict[str, bool]) -> None:
        require(user_id=user_id)
        unknown = set(preferences) - set(tenant_sql.PREFERENCE_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown notification preferences: {sorted(unknown)}")
        names = list(preferences)
        values = [int(bool(preferences[n])) for n in names]

        def upsert(conn: sqlite3.Connection) -> None:
            _ensure_row(conn, user_id)
            if names:  # column names come from the known list above, never from input text
                assignments = ", ".join(f"{n} = ?" for n in names)
                conn.execute(f"UPDATE notification_preferences SET {assignments} WHERE user_id = ?",
                             (*values, user_id))

        await self._call(upsert, write=True)

    async def notification_channels(self, user_id: str) -> str | None:
        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT notify_urls FROM notification_preferences WHERE user_id = ?",
                               (user_id,)).fetchone()
            return (row[0] or None) if row is not None else None

        return await self._call(get, write=False)

    async def set_notification_channels(self, user_id: str, urls: str | None) -> None:
        require(user_id=user_id)

        def upsert(conn: sqlite3.Connection) -> None:
            _ensure_row(conn, user_id)
            conn.execute("UPDATE notification_preferences SET notify_urls = ? WHERE user_id = ?",
                         (urls or None, user_id))

        await self._call(upsert, write=True)

    async def insert_notification(self, notification: NotificationRecord) -> None:
        require(user_id=notification.user_id)
        if notification.type not in _NOTIFICATION_TYPES:
            raise ValueError(f"notification type must be one of {sorted(_NOTIFICATION_TYPES)}")
        row = codec.tenant_row(
            replace(
                notification,
                id=notification.id or str(uuid.uuid4()),
                created_at=notification.created_at or utcnow(),
            )
        )
        await self._call(lambda c: c.execute(tenant_sql.INSERT_NOTIFICATION, row), write=True)

    async def list_notifications(
        self, user_id: str, *, limit: int = 50
    ) -> list[NotificationRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        return await self._call(
            lambda c: [
                codec.tenant_from_row(NotificationRecord, r)
                for r in c.execute(tenant_sql.LIST_NOTIFICATIONS, (user_id, limit))
            ],
            write=False,
        )
