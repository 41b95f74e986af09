"""Form-encoded option orders (pure): the OTOCO entry with its two exits, and the market close.

Every number is formatted from Decimal (`format(value, "f")`); prices arrive on the option's tick
(rules.py). Leg 0 is the entry (buy_to_open limit, `day`: an entry not filled today is dropped,
never filled days later at a stale price), leg 1 the target (sell_to_close limit, `gtc`), leg 2 the
stop (sell_to_close stop, `gtc`): Tradier places the exits when the entry fills and one exit's
fill cancels the other."""

from __future__ import annotations

import re
from decimal import Decimal

Form = dict[str, str]
#: Tradier's `tag`: letters, digits and '-', at most 255 characters
TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")


def _text(value: Decimal) -> str:
    return format(value, "f")


def checked_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise ValueError(f"{tag!r} is not a Tradier tag (letters, digits and '-', at most 255)")
    return tag


def otoco_form(*, underlying: str, option_symbol: str, contracts: int, entry: Decimal, target: Decimal,
               stop: Decimal, tag: str) -> Form:
    form: Form = {"class": "otoco", "tag": checked_tag(tag)}
    legs = (("buy_to_open", "limit", "day", {"price": entry}),
            ("sell_to_close", "limit", "gtc", {"price": target}),
            ("sell_to_close", "stop", "gtc", {"stop": stop}))
    for index, (side, kind, duration, prices) in enumerate(legs):
        form.update({f"symbol[{index}]": underlying, f"option_symbol[{index}]": option_symbol,
                     f"side[{index}]": side, f"quantity[{index}]": str(contracts), f"type[{index}]": kind,
                     f"duration[{index}]": duration})
        form.update({f"{name}[{index}]": _text(value) for name, value in prices.items()})
    return form


def market_close_form(*, underlying: str, option_symbol: str, contracts: int, tag: str) -> Form:
    return {"class": "option", "symbol": underlying, "option_symbol": option_symbol, "side": "sell_to_close",
            "quantity": str(contracts), "type": "market", "duration": "day", "tag": checked_tag(tag)}
