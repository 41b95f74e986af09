"""The `TenantStore` half of `SqliteStore`: secrets, credentials, plans and the monthly quota, risk
settings, strategies and local users (notifications: notifications.py).

Every method is a job on `SqliteStore`'s writer thread (`_call`), like the `Store` methods: a write
job runs in its own savepoint of a group-committed transaction, and jobs never interleave. That is
what makes `record_counted_webhook_request` safe: its count and its insert are one job, so no
other write (another request of the same user in the same batch included) lands in between.
"""

from __future__ import annotations

import hmac
import sqlite3
import uuid
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sparky.store.base import DuplicateRequest, RequestStatus, WebhookRequestRecord, utcnow
from sparky.store.sqlite import codec, tenant_sql
from sparky.store.sqlite.notifications import SqliteNotifications, require
from sparky.store.tenants import (
    CredentialRecord,
    LocalUser,
    QuotaExceeded,
    StrategyRecord,
    TenantStore,
    TradeSettings,
    WeeklyTradeStats,
    canonical_plan,
    is_digest,
    month_bounds,
    secret_digest,
)

T = TypeVar("T")

_STRATEGY_STATUSES = frozenset({"active", "inactive", "testing"})
_ASSET_CLASSES = frozenset({"forex", "crypto", "options", "futures", "stocks"})


def _stored_digest(stored: str) -> str:
    """How a stored webhook_secret is identified: a digest as it is, a plain secret digested."""
    return stored if is_digest(stored) else secret_digest(stored)


def _named(strategies: list[StrategyRecord], name: str) -> list[StrategyRecord]:
    """Those called `name` case-insensitively, the exact ones first (a stable sort)."""
    wanted = name.casefold()
    matches = [s for s in strategies if s.name.casefold() == wanted]
    return sorted(matches, key=lambda s: s.name != name)




class SqliteTenants(SqliteNotifications, TenantStore):
    """`TenantStore` on `SqliteStore`'s connection: mixed into `SqliteStore`, which has `_call`."""

    @abstractmethod
    async def _call(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T: ...

    async def external_change_marker(self) -> int:
        # PRAGMA data_version changes only when another connection commits (`sparky users` on
        # the same file); this connection's own writes, every webhook among them, leave it alone
        return await self._call(lambda c: c.execute("PRAGMA data_version").fetchone()[0], write=False)

    # secrets and credentials

    async def webhook_secret_owners(self) -> dict[str, str]:
        """{digest: user_id}; a digest two users' rows share is left out (it proves no one)."""

        def read(conn: sqlite3.Connection) -> dict[str, str]:
            users: dict[str, set[str]] = {}
            for stored, user_id in conn.execute(tenant_sql.SELECT_SECRET_OWNERS):
                users.setdefault(_stored_digest(stored), set()).add(user_id)
            return {digest: owners.pop() for digest, owners in users.items() if len(owners) == 1}

        return await self._call(read, write=False)

    async def find_webhook_secret_owner(self, secret: str) -> str | None:
        """A plain stored value matches the secret itself; a stored digest only matches the
        secret's digest (presenting a stored digest as the secret proves nothing). None when
        nobody or more than one user matches."""
        if not secret:
            return None
        digest = secret_digest(secret)

        def find(conn: sqlite3.Connection) -> str | None:
            owners = {
                user_id
                for stored, user_id in conn.execute(tenant_sql.FIND_SECRET_OWNER, (digest, secret))
                if hmac.compare_digest(stored.encode(), digest.encode())
                or not is_digest(stored)
            }
            return owners.pop() if len(owners) == 1 else None

        return await self._call(find, write=False)

    async def get_credentials(
        self, user_id: str, exchange: str, environment: str = "production"
    ) -> CredentialRecord | None:
        def get(conn: sqlite3.Connection) -> CredentialRecord | None:
            args = (user_id, exchange, environment)
            row = conn.execute(tenant_sql.SELECT_CREDENTIALS, args).fetchone()
            return None if row is None else codec.tenant_from_row(CredentialRecord, row)

        return await self._call(get, write=False)

    async def user_exists(self, user_id: str) -> bool:
        found = lambda c: c.execute(tenant_sql.USER_EXISTS, {"user_id": user_id}).fetchone()  # noqa: E731
        return await self._call(found, write=False) is not None

    async def upsert_credentials(self, record: CredentialRecord) -> None:
        """Insert or replace by (user_id, exchange, environment). bot_credentials.label is NOT
        NULL (as in PostgreSQL): a record without a label is stored with the exchange as label."""
        require(user_id=record.user_id, exchange=record.exchange, environment=record.environment)
        now = utcnow()
        row = codec.tenant_row(
            replace(
                record,
                id=record.id or str(uuid.uuid4()),
                label=record.label or record.exchange,
                created_at=record.created_at or now,
                updated_at=now,
            )
        )

        def upsert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(tenant_sql.UPSERT_CREDENTIALS, row)
            except sqlite3.IntegrityError as err:  # the id is another row's
                raise ValueError(f"credentials id {row['id']!r} is taken") from err

        await self._call(upsert, write=True)

    # plans and the monthly quota

    async def subscription_plan(self, user_id: str) -> str:
        def get(conn: sqlite3.Connection) -> str:
            row = conn.execute(tenant_sql.SELECT_PLAN, (user_id,)).fetchone()
            return row[0] if row is not None and row[0] else "Free"

        return await self._call(get, write=False)

    async def record_counted_webhook_request(
        self, record: Any, *, monthly_limit: int | None
    ) -> int:
        """Count and insert in one writer job. The month is the UTC month of `record.created_at`,
        counted in [first instant, first instant of the next month). Over quota, a request whose
        idempotency key (or id) is already recorded raises DuplicateRequest, not QuotaExceeded:
        a retry of an accepted alert is a duplicate."""
        if not isinstance(record, WebhookRequestRecord):
            raise TypeError(f"expected a WebhookRequestRecord, not {type(record).__name__}")
        if record.user_id is None:
            raise ValueError("a counted request needs a user_id (use insert_webhook_request)")
        if not RequestStatus(record.status).counts_toward_quota:
            raise ValueError(f"a {record.status} row is never counted (use insert_webhook_request)")
        if monthly_limit is not None and monthly_limit < 0:
            raise ValueError(f"monthly_limit must be >= 0 or None: {monthly_limit}")
        start, end = month_bounds(record.created_at)
        args = (record.user_id, codec.encode_time(start), codec.encode_time(end))
        row = codec.to_row(record)

        def count_and_insert(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(tenant_sql.COUNT_MONTH_REQUESTS, args).fetchone()
            if monthly_limit is not None and count >= monthly_limit:
                existing = codec.existing_request(conn, row)
                if existing is not None:
                    raise DuplicateRequest(existing)
                raise QuotaExceeded(count, monthly_limit)
            codec.insert_request(conn, row)
            return int(count) + 1

        return await self._call(count_and_insert, write=True)

    async def month_request_count(self, user_id: str, now: datetime) -> int:
        start, end = month_bounds(now)
        args = (user_id, codec.encode_time(start), codec.encode_time(end))
        return await self._call(lambda c: int(c.execute(tenant_sql.COUNT_MONTH_REQUESTS, args).fetchone()[0]),
                                write=False)

    # risk limits

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        def get(conn: sqlite3.Connection) -> TradeSettings | None:
            row = conn.execute(tenant_sql.SELECT_SETTINGS, (user_id, exchange)).fetchone()
            return None if row is None else codec.tenant_from_row(TradeSettings, row)

        return await self._call(get, write=False)

    async def upsert_trade_settings(self, settings: TradeSettings) -> None:
        """Insert or replace by (user_id, exchange)."""
        require(user_id=settings.user_id, exchange=settings.exchange)
        now = codec.encode_time(utcnow())
        row = codec.tenant_row(replace(settings, id=settings.id or str(uuid.uuid4())))
        row.update(created_at=now, updated_at=now)

        def upsert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(tenant_sql.UPSERT_SETTINGS, row)
            except sqlite3.IntegrityError as err:  # the id is another row's
                raise ValueError(f"trade settings id {row['id']!r} is taken") from err

        await self._call(upsert, write=True)

    async def weekly_trade_stats(
        self, user_id: str, exchange: str, since: datetime
    ) -> WeeklyTradeStats:
        args = (user_id, exchange, codec.encode_time(since))

        def stats(conn: sqlite3.Connection) -> WeeklyTradeStats:
            (trades,) = conn.execute(tenant_sql.COUNT_TRADES_SINCE, args + args).fetchone()
            losses = (codec.decode_decimal(v) for (v,) in conn.execute(tenant_sql.LOSSES_SINCE, args))
            loss = sum((-pnl for pnl in losses if pnl is not None and pnl < 0), Decimal(0))
            return WeeklyTradeStats(trades=int(trades), loss_usd=loss)

        return await self._call(stats, write=False)

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
        where, args = codec.where({"user_id": user_id, "exchange": exchange})
        sql = f"SELECT count(*) FROM positions{where}"
        return await self._call(lambda c: int(c.execute(sql, args).fetchone()[0]), write=False)

    # strategies

    async def find_strategy(
        self, user_id: str, *, name: str | None = None, strategy_id: str | None = None
    ) -> StrategyRecord | None:
        """Only `user_id`'s strategies. A name matches case-insensitively (Unicode casefold); when
        several do, an exact match wins, then the newest."""
        if name is None and strategy_id is None:
            raise ValueError("find_strategy needs a name or a strategy_id")
        where, args = codec.where({"user_id": user_id, "id": strategy_id})
        sql = f"{tenant_sql.SELECT_STRATEGY}{where} ORDER BY created_at DESC, rowid DESC"

        def find(conn: sqlite3.Connection) -> StrategyRecord | None:
            found = [codec.tenant_from_row(StrategyRecord, r) for r in conn.execute(sql, args)]
            if name is not None:
                found = _named(found, name)
            return found[0] if found else None

        return await self._call(find, write=False)

    async def upsert_strategy(self, strategy: StrategyRecord) -> StrategyRecord:
        """With an id: that strategy, which must be the user's (an id of another user's strategy
        raises ValueError and changes nothing), or a new one with that id. Without an id: the
        user's (newest) strategy of exactly this name, else a new one. Returns what is stored."""
        require(user_id=strategy.user_id, name=strategy.name)
        if strategy.status not in _STRATEGY_STATUSES:
            raise ValueError(f"strategy status must be one of {sorted(_STRATEGY_STATUSES)}")
        if strategy.asset_class is not None and strategy.asset_class not in _ASSET_CLASSES:
            raise ValueError(f"asset_class must be one of {sorted(_ASSET_CLASSES)} or None")
        now = codec.encode_time(utcnow())
        row = codec.tenant_row(replace(strategy, id=strategy.id or str(uuid.uuid4())))
        row.update(created_at=now, updated_at=now)

        def upsert(conn: sqlite3.Connection) -> StrategyRecord:
            if strategy.id is None:
                same = conn.execute(tenant_sql.SAME_NAME_STRATEGY, row).fetchone()
                if same is not None:
                    row["id"] = same[0]
            owner = conn.execute("SELECT user_id FROM strategies WHERE id = ?", (row["id"],))
            found = owner.fetchone()
            if found is None:
                conn.execute(tenant_sql.INSERT_STRATEGY, row)
            elif found[0] != row["user_id"]:
                raise ValueError(f"strategy id {row['id']!r} is taken")
            else:
                conn.execute(tenant_sql.UPDATE_STRATEGY, row)
            stored = conn.execute(f"{tenant_sql.SELECT_STRATEGY} WHERE id = ?", (row["id"],)).fetchone()
            return codec.tenant_from_row(StrategyRecord, stored)

        return await self._call(upsert, write=True)

    # local users

    async def add_local_user(self, user: LocalUser) -> None:
        """A users row and an active subscription with the plan (a known plan name in any case
        is stored in its canonical case). An id that exists raises ValueError."""
        require(id=user.id)
        now = codec.encode_time(utcnow())
        created = codec.encode_time(user.created_at) if user.created_at else now
        subscription = {
            "id": str(uuid.uuid4()),
            "user_id": user.id,
            "plan": canonical_plan(user.plan),
            "now": now,
        }

        def add(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)",
                    (user.id, user.email, created),
                )
            except sqlite3.IntegrityError as err:
                raise ValueError(f"user {user.id!r} exists") from err
            conn.execute(tenant_sql.UPSERT_SUBSCRIPTION, subscription)

        await self._call(add, write=True)

    async def set_plan(self, user_id: str, plan: str) -> None:
        """Make `plan` the user's active subscription. KeyError when the user has neither a
        users row nor a subscription (a mistyped id)."""
        params = {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "plan": canonical_plan(plan),
            "now": codec.encode_time(utcnow()),
        }

        def set_(conn: sqlite3.Connection) -> None:
            known = conn.execute(tenant_sql.USER_EXISTS, params).fetchone()
            if known is None:
                raise KeyError(user_id)
            conn.execute(tenant_sql.UPSERT_SUBSCRIPTION, params)

        await self._call(set_, write=True)

    async def list_local_users(self) -> list[LocalUser]:
        """Oldest first, each with the plan of their active subscription, else 'Free'."""

        def list_(conn: sqlite3.Connection) -> list[LocalUser]:
            return [
                LocalUser(
                    id=r["id"],
                    email=r["email"],
                    plan=r["plan"] if r["status"] == "active" and r["plan"] else "Free",
                    created_at=codec.decode_time(r["created_at"]),
                )
                for r in conn.execute(tenant_sql.LIST_LOCAL_USERS)
            ]

        return await self._call(list_, write=False)
