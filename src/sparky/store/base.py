"""The `Store` port: everything Sparky keeps.

Records use the original's table and column names (positions, trades, webhook_requests) so the
SignalStudio dashboard reads the same rows. Times are timezone-aware UTC datetimes; money and
quantities are `Decimal`. Adapters: `SqliteStore` (embedded default) and `SupabaseStore`. What one
execution writes, and the prices the monitor marks positions with, are in writes.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

# the port's vocabulary, importable from here like the records below
from sparky.store.writes import CloseWrite, ExecutionWrite, PositionWrite, PriceMark

#: The longest symbol Sparky records: every store keeps at least this many characters in
#: positions, trades and webhook_requests (SQLite text; PostgreSQL text since migration 0014, the
#: original dashboard schema had varchar(20)). A venue's spelling longer than this is refused before
#: anything is recorded or sent (signals/symbols.py); alerts are held to less (signals/models.py).
MAX_SYMBOL_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def encode_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds, so text order is time order (both stores use it)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware UTC times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # written without a zone: the store's convention is UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class RequestStatus(StrEnum):
    """`webhook_requests.status`. Only PENDING is non-terminal."""

    PENDING = "pending"
    SUCCESS = "success"  # executed: opened, closed, reversed
    SKIPPED = "skipped"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"

    @property
    def is_terminal(self) -> bool:
        return self is not RequestStatus.PENDING

    @property
    def counts_toward_quota(self) -> bool:
        """Accepted for execution, so counted against the plan's monthly webhooks: every status but
        the refusals made before anything ran (rejected, duplicate, rate_limited). The stores count
        the same rows in SQL (sqlite/codec.py COUNT_MONTH_REQUESTS, migrations/0015)."""
        return self not in _NOT_COUNTED


_NOT_COUNTED = frozenset({RequestStatus.REJECTED, RequestStatus.DUPLICATE, RequestStatus.RATE_LIMITED})


@dataclass
class WebhookRequestRecord:
    id: str
    status: RequestStatus
    created_at: datetime
    user_id: str | None = None
    exchange: str | None = None
    action: str | None = None
    symbol: str | None = None
    #: the request body as received, with the secret removed
    payload: dict[str, Any] = field(default_factory=dict)
    #: the normalised signal (what execution and crash recovery run from)
    signal: dict[str, Any] | None = None
    #: a fingerprint of the secret used ("sha256:<12 hex>"), never the secret itself
    webhook_secret: str | None = None
    strategy_id: str | None = None
    idempotency_key: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None
    http_status: int | None = None
    processed_at: datetime | None = None
    source_ip: str | None = None
    #: the server executing a PENDING request (its id, kept in its data dir) and until when it
    #: holds it; the owner renews the lease while the request runs (execution/leases.py)
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


@dataclass
class PositionRecord:
    user_id: str
    exchange: str
    symbol: str
    side: str  # "BUY" | "SELL"
    entry_price: Decimal
    quantity: Decimal
    entry_time: datetime
    position_size_usd: Decimal
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    entry_order_id: str | None = None
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None
    #: a trailing stop protecting the position beside its stop-loss (OANDA)
    trailing_stop_order_id: str | None = None
    current_price: Decimal | None = None
    unrealized_pnl_usd: Decimal | None = None
    unrealized_pnl_percent: Decimal | None = None
    last_price_update: datetime | None = None
    notes: str | None = None
    asset_class: str = "crypto"
    strategy_id: str | None = None
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: fees the venue charged for opening this position (in the settlement currency) that no
    #: trade has counted yet; None when the venue does not report them
    fees_usd: Decimal | None = None
    #: the AI strategy whose signal opened it (`ai_strategies.id`; distinct from `strategy_id`)
    ai_strategy_id: str | None = None


@dataclass
class TradeRecord:
    user_id: str
    exchange: str
    symbol: str
    side: str  # side of the position that was closed: "BUY" | "SELL"
    entry_price: Decimal
    entry_time: datetime
    exit_price: Decimal
    exit_time: datetime
    quantity: Decimal
    position_size_usd: Decimal
    #: net: the price difference times the quantity, less `fees_usd` (what the dashboard sums)
    pnl_usd: Decimal
    pnl_percent: Decimal
    is_winner: bool  # pnl_usd > 0
    #: MANUAL | STOP_LOSS | TAKE_PROFIT | TRAILING_STOP | REVERSAL | PROTECTION_FAILED | EXTERNAL | PARTIAL_CLOSE
    exit_reason: str
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    order_id: str | None = None
    notes: str | None = None
    asset_class: str = "crypto"
    strategy_id: str | None = None
    id: str | None = None
    created_at: datetime | None = None
    #: entry and exit fees of the closed quantity, as far as the venue reported them (None: none
    #: reported); pnl_usd already has them taken off
    fees_usd: Decimal | None = None
    #: the AI strategy whose signal opened the position (`ai_strategies.id`)
    ai_strategy_id: str | None = None


@dataclass
class RestingEntryRecord:
    """A limit entry resting on the venue, at most one per (user, exchange, symbol).

    Not a position (the dashboard reads `positions` for what is open): it becomes one when it fills.
    It counts toward the open-position limits, and the next signal for its key cancels it or adopts
    its fill (execution/resting.py). Holds what a watcher needs to find the order and to record
    its fill: the ids, side, quantity, limit, the attached exits and the request that placed it.
    """

    user_id: str
    exchange: str
    symbol: str
    side: str  # "BUY" | "SELL"
    quantity: Decimal
    limit_price: Decimal
    client_order_id: str
    order_id: str
    request_id: str
    created_at: datetime
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    strategy_id: str | None = None
    id: str | None = None
    #: the AI strategy whose signal placed it: the position its fill opens carries it
    ai_strategy_id: str | None = None


class DuplicateRequest(Exception):
    """A webhook request with the same (user_id, idempotency_key) is already recorded."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class StoreUnavailable(Exception):
    """The store could not be reached or written."""


class Store(ABC):
    """Persistence port. Every method is safe to call concurrently from the event loop."""

    @abstractmethod
    async def open(self) -> None:
        """Create the schema if needed and connect."""

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers; never raises."""

    # webhook_requests
    @abstractmethod
    async def insert_webhook_request(self, record: WebhookRequestRecord) -> None:
        """Durably record a request. Raises DuplicateRequest when its idempotency key is taken."""

    @abstractmethod
    async def finish_webhook_request(
        self,
        request_id: str,
        status: RequestStatus,
        *,
        error_message: str | None,
        result: dict[str, Any] | None,
        http_status: int | None,
    ) -> None:
        """Move a PENDING request to a terminal status, stamping processed_at; terminal rows stay as they are."""

    @abstractmethod
    async def get_webhook_request(self, request_id: str) -> WebhookRequestRecord | None: ...

    @abstractmethod
    async def list_webhook_requests(
        self, *, user_id: str | None = None, limit: int = 100
    ) -> list[WebhookRequestRecord]:
        """Most recent first."""

    @abstractmethod
    async def pending_webhook_requests(self) -> list[WebhookRequestRecord]:
        """Requests still PENDING (in flight on some server, or left behind by a crash), oldest first."""

    @abstractmethod
    async def claim_webhook_request(
        self, request_id: str, owner: str, *, lease_until: datetime, now: datetime
    ) -> bool:
        """Make `owner` the holder of a PENDING request until `lease_until`, atomically, if it is
        `owner`'s already, has no lease, or its lease ended at or before `now`. True when taken;
        False when another server holds it or it is no longer pending."""

    @abstractmethod
    async def renew_webhook_leases(
        self, request_ids: Collection[str], owner: str, *, lease_until: datetime
    ) -> set[str]:
        """Extend to `lease_until` the leases `owner` still holds on those of `request_ids` that are
        still PENDING. Returns the ids renewed."""

    # positions (keyed by user_id, exchange, symbol)
    @abstractmethod
    async def get_position(self, user_id: str, exchange: str, symbol: str) -> PositionRecord | None: ...

    @abstractmethod
    async def list_positions(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[PositionRecord]: ...

    @abstractmethod
    async def upsert_position(self, position: PositionRecord) -> None: ...

    @abstractmethod
    async def delete_position(self, user_id: str, exchange: str, symbol: str) -> None: ...

    @abstractmethod
    async def mark_positions(self, marks: Sequence[PriceMark]) -> int:
        """Write each mark's price, unrealized P&L and time on its own row, all in one transaction
        (one request), only where the row is still the one the mark was computed from (see
        `PriceMark`). Returns how many rows were written."""

    # trades
    @abstractmethod
    async def record_close(self, trade: TradeRecord) -> None:
        """Insert the trade and delete its position row, in one transaction."""

    @abstractmethod
    async def record_partial_close(self, trade: TradeRecord, remaining: PositionRecord) -> None:
        """Insert the trade of the part of a position that closed and write what stays open
        (`remaining`, keyed by its user, exchange and symbol), in one transaction."""

    @abstractmethod
    async def list_trades(
        self, *, user_id: str | None = None, symbol: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        """Most recent first."""

    # an execution's rows with its request's final status
    async def record_execution(self, writes: Sequence[ExecutionWrite]) -> None:
        """Apply `writes` in order. Adapters that have transactions apply them in one."""
        for write in writes:
            await self._apply(write)

    async def finish_execution(
        self,
        request_id: str,
        status: RequestStatus,
        *,
        error_message: str | None,
        result: dict[str, Any] | None,
        http_status: int | None,
        writes: Sequence[ExecutionWrite] = (),
    ) -> None:
        """`writes` (in order), then the request finished as `finish_webhook_request` does.

        Adapters that have transactions do it all in one: if any of it fails nothing is written and
        the request stays PENDING for recovery. This default writes the request last, so a failure
        leaves it PENDING all the same; what was written before is what recovery finds recorded
        (a close's trade is looked up by its order id before it is recorded again)."""
        if not RequestStatus(status).is_terminal:  # refused before anything is written
            raise ValueError(f"finishing a request needs a terminal status, not {status!r}")
        await self.record_execution(writes)
        await self.finish_webhook_request(request_id, status, error_message=error_message, result=result,
                                          http_status=http_status)

    async def _apply(self, write: ExecutionWrite) -> None:
        if isinstance(write, PositionWrite):
            await self.upsert_position(write.position)
        elif isinstance(write, CloseWrite):
            await self.record_close(write.trade)
        else:
            raise TypeError(f"not an execution write: {type(write).__name__}")

    # resting_entries (keyed by user_id, exchange, symbol)
    @abstractmethod
    async def get_resting_entry(self, user_id: str, exchange: str, symbol: str) -> RestingEntryRecord | None: ...

    @abstractmethod
    async def list_resting_entries(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[RestingEntryRecord]:
        """Oldest first."""

    @abstractmethod
    async def put_resting_entry(self, entry: RestingEntryRecord) -> None:
        """Record the key's resting entry, replacing the one it had."""

    @abstractmethod
    async def delete_resting_entry(self, entry: RestingEntryRecord) -> None:
        """Drop the key's resting entry if it is still this one (same client order id): a look at an
        older entry never drops the one that replaced it. Missing: silent."""
