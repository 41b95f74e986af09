"""What `sparky ai …` accepts: argument types (argparse turns their errors into a usage error naming
the flag, exit status 2). Checks that need the store (the user, their exchanges) are in ai_commands."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from sparky.ai.decision import canonical
from sparky.signals.models import MAX_POSITION_USD
from sparky.store.ai import RISK_PROFILES

#: the most leverage a strategy may ask for (the highest the supported venues offer)
MAX_LEVERAGE = 125
#: symbols one strategy may watch (each is one decision per cycle)
MAX_ASSETS = 50
MAX_NAME_LENGTH = 100
#: `moderate` is the dashboard's `balanced` (the table's name for it)
RISK_ALIASES = {"moderate": "balanced"}


def risk_profile(text: str) -> str:
    name = text.strip().lower()
    name = RISK_ALIASES.get(name, name)
    if name not in RISK_PROFILES:
        raise argparse.ArgumentTypeError(
            f"unknown risk profile {text!r}: choose conservative, moderate (balanced) or aggressive"
        )
    return name


def assets(text: str) -> list[str]:
    """Comma-separated symbols, each in the spelling AI strategies keep (`BTC/USDT`, `btc-usdt`,
    `BINANCE:BTCUSDT.P` → `BTCUSDT`); the webhook maps it to each venue's own spelling."""
    symbols = []
    for part in text.split(","):
        if not part.strip():
            raise argparse.ArgumentTypeError(f"{text!r} has an empty symbol: give symbols separated by commas")
        try:
            symbol = canonical(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()[:40]!r} is not a plausible symbol") from None
        if symbol not in symbols:
            symbols.append(symbol)
    return symbols


def percent(text: str) -> Decimal:
    """A percentage above 0, at most 100."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most 100, got {text!r}") from None
    if not value.is_finite() or not Decimal(0) < value <= Decimal(100):
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most 100, got {text!r}")
    return value


def leverage(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LEVERAGE}, got {text!r}") from None
    if not 1 <= value <= MAX_LEVERAGE:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LEVERAGE}, got {text!r}")
    return value


def position_usd(text: str) -> Decimal:
    """USD of one position: above 0, at most what an alert may ask for."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be an amount in USD above 0, got {text!r}") from None
    if not value.is_finite() or not Decimal(0) < value <= MAX_POSITION_USD:
        raise argparse.ArgumentTypeError(
            f"must be an amount in USD above 0 and at most {MAX_POSITION_USD:,}, got {text!r}"
        )
    return value


def strategy_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_NAME_LENGTH} printable characters, got {text[:40]!r}"
        )
    return name
