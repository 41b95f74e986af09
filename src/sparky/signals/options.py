"""The option fields of a `tradier_options` alert (the original Sparky's names), gathered into the
signal's `option` terms so they are validated, stored with the signal and replayed by recovery.

Opening: `right`/`option_type` (call|put; default call, as the original), `strike` (optional: the
listed strike nearest it), `expiration` (optional, YYYY-MM-DD: must be listed), and the size as
`size`/`sizePercent` (percent of the option buying power), `position_size_usd` or `quantity`
(contracts). Closing: `option_symbol` (one contract), or `underlying`/`underlying_symbol` (every
open row of the user on it). The signal's `symbol` is the underlying: an alert may give it as
`symbol`, `underlying`, or only through `option_symbol` (its OCC root).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sparky.exchanges.tradier_options.api import NAME
from sparky.exchanges.tradier_options.wire import OCC_SYMBOL

EXCHANGE = NAME
RIGHTS = {"call": "call", "c": "call", "calls": "call", "put": "put", "p": "put", "puts": "put"}
#: alert keys the terms are gathered from (their aliases included)
OPTION_KEYS = ("right", "option_type", "optionType", "strike", "expiration", "expiry", "size", "sizePercent",
               "size_percent", "option_symbol", "optionSymbol", "underlying", "underlying_symbol",
               "underlyingSymbol")


def _decimal(value: Any) -> Any:
    from sparky.signals.models import _decimal as parse  # one number parser for every alert field

    return parse(value)


class OptionTerms(BaseModel):
    """What an options alert asks for beyond the common fields. Immutable, stored with the signal."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    right: str | None = Field(None, validation_alias=AliasChoices("right", "option_type", "optionType"))
    strike: Annotated[Decimal | None, BeforeValidator(_decimal)] = None
    expiration: date | None = Field(None, validation_alias=AliasChoices("expiration", "expiry"))
    size_percent: Annotated[Decimal | None, BeforeValidator(_decimal)] = Field(
        None, validation_alias=AliasChoices("size_percent", "sizePercent", "size"))
    option_symbol: str | None = Field(None, validation_alias=AliasChoices("option_symbol", "optionSymbol"))
    underlying: str | None = Field(
        None, validation_alias=AliasChoices("underlying", "underlying_symbol", "underlyingSymbol"))

    @field_validator("right", mode="before")
    @classmethod
    def _right(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or value.strip().lower() not in RIGHTS:
            raise ValueError("must be call or put")
        return RIGHTS[value.strip().lower()]

    @field_validator("strike")
    @classmethod
    def _strike(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not (value.is_finite() and 0 < value < Decimal("1e7")):
            raise ValueError("must be a positive price")
        return value

    @field_validator("expiration", mode="before")
    @classmethod
    def _expiration(cls, value: Any) -> Any:
        if value is None or isinstance(value, date) or (isinstance(value, str) and not value.strip()):
            return value or None
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be a date as YYYY-MM-DD") from None

    @field_validator("size_percent")
    @classmethod
    def _size(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not (value.is_finite() and 0 < value <= 100):
            raise ValueError("must be a percent of the option buying power above 0 and at most 100")
        return value

    @field_validator("option_symbol", "underlying", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value.strip().upper() or None

    @field_validator("option_symbol")
    @classmethod
    def _occ(cls, value: str | None) -> str | None:
        if value is not None and not OCC_SYMBOL.fullmatch(value):
            raise ValueError("must be an OCC option symbol like SPY260619C00500000")
        return value

    @field_validator("underlying")
    @classmethod
    def _ticker(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z][A-Z0-9.]{0,9}", value):
            raise ValueError("must be a ticker like SPY")
        return value


def root_of(option_symbol: str) -> str:
    """The OCC root of a checked option symbol (SPY260619C00500000 → SPY)."""
    match = OCC_SYMBOL.fullmatch(option_symbol)
    if match is None:
        raise ValueError(f"{option_symbol!r} is not an OCC option symbol")
    return match.group(1)


def gather(data: dict[str, Any]) -> dict[str, Any]:
    """For a `tradier_options` alert, its option fields as the signal's `option` terms, and `symbol`
    taken from `underlying` or the option symbol's root when the alert gives none. Other alerts, and
    stored signals (which carry `option` already), are returned as they are."""
    exchange = data.get("exchange")
    if not isinstance(exchange, str) or exchange.strip().lower() != EXCHANGE:
        # option terms belong to options alerts only: another venue's alert never carries them
        return {k: v for k, v in data.items() if k != "option"} if data.get("option") is not None else data
    if "option" in data:
        return data
    terms = {key: data[key] for key in OPTION_KEYS if key in data}
    out = {**data, "option": terms}
    if not str(out.get("symbol") or "").strip():
        underlying = next((data[k] for k in ("underlying", "underlying_symbol", "underlyingSymbol") if data.get(k)),
                          None)
        option_symbol = data.get("option_symbol") or data.get("optionSymbol")
        if underlying is None and isinstance(option_symbol, str):
            match = OCC_SYMBOL.fullmatch(option_symbol.strip().upper())
            underlying = match.group(1) if match else None
        if underlying is not None:
            out["symbol"] = underlying
    return out


def check_terms(action: Any, symbol: str, terms: OptionTerms) -> None:
    """ValueError (`field: reason`) for terms that disagree with the rest of the alert."""
    from sparky.signals.actions import Action

    if action is Action.SELL:
        raise ValueError("action: options are bought to open (buy, with right call or put) and closed with close; "
                         "sell is not an options action")
    if terms.underlying is not None and terms.underlying != symbol:
        raise ValueError(f"underlying: {terms.underlying} differs from symbol {symbol}")
    if terms.option_symbol is not None and root_of(terms.option_symbol) != symbol:
        raise ValueError(f"option_symbol: {terms.option_symbol} is not an option on {symbol}")


#: the documented name of a field, where it differs from the attribute's
_DOCUMENTED = {"size_percent": "size"}
#: alias → the field name errors use (`option_type` → `right`, `sizePercent` → `size`)
CANONICAL = {str(alias): _DOCUMENTED.get(name, name) for name, info in OptionTerms.model_fields.items()
             for alias in (name, *getattr(info.validation_alias, "choices", ()))}
