"""Tradier's option replies in our types (pure: tested with the documented shapes).

Quirks handled as in the equities wire: an empty collection is the string `"null"`, a collection of
one is a single object (a single string for expiration dates)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sparky.exchanges.tradier.wire import dec, items

__all__ = ["OCC_SYMBOL", "OptionContract", "chain", "dec", "expirations", "items", "option_buying_power", "parse_occ"]

#: an OCC option symbol: root (1-6), YYMMDD, C or P, strike × 1000 in 8 digits
OCC_SYMBOL = re.compile(r"^([A-Z][A-Z0-9.]{0,5})(\d{6})([CP])(\d{8})$")


@dataclass(frozen=True)
class OptionContract:
    """One row of `GET /markets/options/chains`."""

    symbol: str  # OCC, as Tradier lists it
    root_symbol: str
    option_type: str  # call | put
    strike: Decimal
    expiration_date: date
    contract_size: int
    bid: Decimal | None
    ask: Decimal | None


def expirations(body: Any) -> list[date]:
    """`{"expirations": {"date": [..] | ".."}}` or `{"expirations": "null"}` → sorted dates."""
    container = body.get("expirations") if isinstance(body, dict) else None
    found = container.get("date") if isinstance(container, dict) else None
    if isinstance(found, str):
        found = [found]
    dates = []
    for text in found if isinstance(found, list) else []:
        try:
            dates.append(date.fromisoformat(str(text)))
        except ValueError:
            continue
    return sorted(set(dates))


def _plain(value: Decimal) -> Decimal:
    """500.0 → 500, 512.50 → 512.5: a strike as people write it."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _contract(raw: dict[str, Any]) -> OptionContract | None:
    try:
        strike = dec(raw.get("strike"))
        expiration = date.fromisoformat(str(raw.get("expiration_date")))
        size = int(raw.get("contract_size") or 100)
    except (ValueError, TypeError):
        return None
    symbol, option_type = str(raw.get("symbol") or "").upper(), str(raw.get("option_type") or "").lower()
    if not symbol or strike is None or option_type not in ("call", "put") or size <= 0:
        return None
    return OptionContract(symbol, str(raw.get("root_symbol") or raw.get("underlying") or "").upper(), option_type,
                          _plain(strike), expiration, size, dec(raw.get("bid")), dec(raw.get("ask")))


def chain(body: Any) -> list[OptionContract]:
    """`{"options": {"option": [..] | {..}}}` or `{"options": "null"}` → the readable contracts."""
    listed = items(body.get("options") if isinstance(body, dict) else None, "option")
    return [c for c in (_contract(raw) for raw in listed) if c is not None]


#: where Tradier states option buying power, by account type; a cash account has no option buying
#: power of its own: its cash available is what it can spend
BUYING_POWER_FIELDS = (("margin", "option_buying_power"), ("pdt", "option_buying_power"),
                       ("cash", "option_buying_power"), ("cash", "cash_available"))


def option_buying_power(body: Any) -> Decimal | None:
    """The account's option buying power from `GET /accounts/{id}/balances`; None when not stated."""
    balances = body.get("balances") if isinstance(body, dict) else None
    if not isinstance(balances, dict):
        return None
    for section, name in BUYING_POWER_FIELDS:
        part = balances.get(section)
        value = dec(part.get(name)) if isinstance(part, dict) else None
        if value is not None:
            return value
    return dec(balances.get("option_buying_power"))


def parse_occ(symbol: str) -> tuple[str, Decimal, date] | None:
    """(right, strike, expiration) of an OCC symbol (SPY260619C00500000 → call, 500, 2026-06-19)."""
    match = OCC_SYMBOL.fullmatch(symbol.strip().upper())
    if match is None:
        return None
    _, yymmdd, right, strike = match.groups()
    try:
        expiration = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return None
    return ("call" if right == "C" else "put"), Decimal(int(strike)) / 1000, expiration
