"""The typed `Signal` every later stage works from, and the alert fields it is built from.

Field names and aliases are the original Sparky's (users' TradingView alerts already use them).
Input validation lives here; `normalise.build_signal` adds the checks that need runtime facts.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from sparky.exchanges.base import Side
from sparky.signals.actions import Action, Sentiment, parse_action, parse_sentiment, with_sentiment
from sparky.signals.options import OptionTerms, check_terms, gather

#: a sane upper bound for any price or size an alert can carry
ABSURD = Decimal("1e12")
MAX_POSITION_USD = Decimal("10000000")

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._/\-]{0,39}(:[A-Z0-9]{1,10})?$")


def alert_symbol(value: str) -> str:
    """A ticker as an alert may spell it, in the one spelling Sparky keeps before asking the venue:
    upper case, TradingView's `EXCHANGE:` prefix and `.P` suffix dropped. ValueError when it is not
    a plausible ticker."""
    symbol = value.strip().upper()
    while ":" in symbol and "/" not in symbol.partition(":")[0]:
        symbol = symbol.partition(":")[2]  # TradingView's EXCHANGE: prefix; ccxt's BTC/USDT:USDT stays
    if symbol.endswith(".P"):  # TradingView's perpetual suffix ({{ticker}} on perp charts)
        symbol = symbol[:-2]
    if not _SYMBOL_RE.fullmatch(symbol):
        raise ValueError(f"{value[:40]!r} is not a plausible ticker")
    return symbol


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


def _decimal(value: Any) -> Any:
    """Numbers may arrive as JSON numbers or as strings ("27000.5" from a TradingView placeholder)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"must be a number, got {value[:40]!r}") from None
    raise ValueError("must be a number")


def _finite(value: Decimal | None) -> Decimal | None:
    if value is not None and not value.is_finite():
        raise ValueError("must be a finite number")
    return value


Num = Annotated[Decimal | None, BeforeValidator(_decimal)]


def _alias(*names: str) -> Any:
    return Field(None, validation_alias=AliasChoices(*names))


class Signal(BaseModel):
    """A validated alert. Immutable; serialised into `webhook_requests.signal` for crash recovery."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    action: Action
    #: the market position after the order; refines `action` (see `signals/actions.py`)
    sentiment: Sentiment | None = None
    symbol: str
    exchange: str
    order_type: OrderType = Field(OrderType.MARKET, validation_alias=AliasChoices("order_type", "orderType"))
    price: Num = None
    stop_loss_percent: Num = _alias("stop_loss_percent", "stopLoss", "stop_loss")
    take_profit_percent: Num = _alias("take_profit_percent", "takeProfit", "take_profit")
    position_size_usd: Num = _alias("position_size_usd", "positionSizeUsd")
    quantity: Num = _alias("quantity", "qty", "contracts")
    trailing_stop_pips: Num = _alias("trailing_stop_pips", "trailingStop")
    use_trailing_stop: bool = Field(False, validation_alias=AliasChoices("use_trailing_stop", "useTrailingStop"))
    strategy: str | None = Field(None, max_length=200)
    strategy_id: str | None = Field(None, max_length=64)
    user_id: str | None = _alias("user_id", "userId")
    source: str | None = Field(None, max_length=64)
    alert_id: str | None = Field(
        None, max_length=128, validation_alias=AliasChoices("alert_id", "alertId", "idempotency_key")
    )
    timestamp: datetime | None = None
    ai_confidence: Num = None
    ai_reasoning: str | None = Field(None, max_length=4000)
    copy_relationship_id: str | None = Field(None, max_length=64)
    #: a `tradier_options` alert's option fields (signals/options.py); None for every other venue
    option: OptionTerms | None = None

    @model_validator(mode="before")
    @classmethod
    def _option_terms(cls, data: Any) -> Any:
        return gather(data) if isinstance(data, dict) else data

    @model_validator(mode="before")
    @classmethod
    def _apply_sentiment(cls, data: Any) -> Any:
        """`action` as refined by `sentiment`: `sell` + `flat` closes a long instead of opening a short."""
        if not isinstance(data, dict) or data.get("sentiment") is None:
            return data
        try:
            action, sentiment = parse_action(data.get("action")), parse_sentiment(data["sentiment"])
        except ValueError:
            return data  # the field validators refuse it, naming the field
        return {**data, "action": with_sentiment(action, sentiment).value}

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Action:
        return parse_action(value)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment(cls, value: Any) -> Sentiment | None:
        return None if value is None else parse_sentiment(value)

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> str:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        if not value or not value.strip():
            raise ValueError("is required")
        return alert_symbol(value)

    @field_validator("exchange", mode="before")
    @classmethod
    def _exchange(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("is required")
        return value.strip().lower()

    @field_validator("order_type", mode="before")
    @classmethod
    def _order_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("price", "position_size_usd", "quantity", "trailing_stop_pips")
    @classmethod
    def _positive(cls, value: Decimal | None) -> Decimal | None:
        if _finite(value) is not None and not (0 < value < ABSURD):
            raise ValueError("must be a positive number below 1e12")
        return value

    @field_validator("stop_loss_percent")
    @classmethod
    def _stop_percent(cls, value: Decimal | None) -> Decimal | None:
        if _finite(value) is not None and not (0 < value < 100):
            raise ValueError("must be a percent between 0 and 100 (exclusive)")
        return value

    @field_validator("take_profit_percent")
    @classmethod
    def _tp_percent(cls, value: Decimal | None) -> Decimal | None:
        if _finite(value) is not None and not (0 < value <= 1000):
            raise ValueError("must be a percent above 0 and at most 1000")
        return value

    @field_validator("ai_confidence")
    @classmethod
    def _confidence(cls, value: Decimal | None) -> Decimal | None:
        if _finite(value) is not None and not (0 <= value <= 1):
            raise ValueError("must be between 0 and 1")
        return value

    @field_validator("alert_id", "user_id", "strategy", "strategy_id", "source", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise ValueError("must be a string")

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        """ISO 8601 ({{timenow}}) or unix seconds / milliseconds; naive times are UTC."""
        if value in (None, ""):
            return None
        out_of_range = "must be an ISO 8601 time or unix seconds or milliseconds between 1970 and 9999"
        if isinstance(value, str) and value.strip().isdigit():
            try:
                value = Decimal(value.strip())  # linear in the digits, unlike int() of a long string
            except InvalidOperation:
                raise ValueError(out_of_range) from None
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            # checked before converting: past year 9999 fromtimestamp raises OverflowError or OSError;
            # 253402300799999 is the last millisecond of year 9999, the latest a datetime holds
            finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
            if not finite or not 0 <= value <= 253_402_300_799_999:
                raise ValueError(out_of_range)
            seconds = float(value) / 1000 if value > 1e11 else float(value)
            return datetime.fromtimestamp(seconds, UTC)
        return value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Signal:
        if self.order_type is OrderType.LIMIT and self.action.is_entry and self.price is None:
            raise ValueError("price: is required for limit orders")
        if (
            self.action is Action.SELL
            and self.take_profit_percent is not None
            and self.take_profit_percent >= 100
        ):
            raise ValueError("take_profit_percent: must be below 100 for a short")
        if self.option is not None:
            check_terms(self.action, self.symbol, self.option)
        return self

    @property
    def side(self) -> Side | None:
        return self.action.entry_side
