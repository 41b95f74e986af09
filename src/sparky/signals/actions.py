"""What an alert asks Sparky to do: its `action`, refined by an optional `sentiment`.

TradingView's `{{strategy.order.action}}` says only which way the order went (`buy`/`sell`); for a
long-only strategy the exit is a `sell`, which on its own means "go short". `sentiment` is the
market position AFTER the order (TradersPost's meaning, what `{{strategy.market_position}}`
renders), so the two together say whether an order opens, reverses, closes or only trims a position.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sparky.exchanges.base import Side


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"
    CLOSE_LONG = "close_long"
    CLOSE_SHORT = "close_short"
    # An opposite order that leaves the same side open (`sell` with sentiment `long`): a partial exit
    # in TradingView. Sparky has no partial exits, so these are recorded and never traded.
    PARTIAL_EXIT_LONG = "partial_exit_long"
    PARTIAL_EXIT_SHORT = "partial_exit_short"

    @property
    def entry_side(self) -> Side | None:
        return {Action.BUY: Side.BUY, Action.SELL: Side.SELL}.get(self)

    @property
    def is_entry(self) -> bool:
        return self in (Action.BUY, Action.SELL)

    @property
    def is_partial_exit(self) -> bool:
        return self in (Action.PARTIAL_EXIT_LONG, Action.PARTIAL_EXIT_SHORT)


#: what users write (and `{{strategy.market_position}}` renders: long, short, flat) → the action
ACTION_ALIASES = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "close": Action.CLOSE,
    "exit": Action.CLOSE,
    "flat": Action.CLOSE,
    "close_long": Action.CLOSE_LONG,
    "exit_long": Action.CLOSE_LONG,
    "close_short": Action.CLOSE_SHORT,
    "exit_short": Action.CLOSE_SHORT,
}

_ACTION_WORDS = "buy, sell, long, short, close, close_long, close_short or flat"


class Sentiment(StrEnum):
    """The market position after the order."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


SENTIMENT_ALIASES = {
    "long": Sentiment.LONG,
    "bullish": Sentiment.LONG,
    "short": Sentiment.SHORT,
    "bearish": Sentiment.SHORT,
    "flat": Sentiment.FLAT,
}

_SENTIMENT_WORDS = "flat, long, short, bullish or bearish"

#: (action, position after the order) → what Sparky does. An order that ends flat closes the side it
#: closes (a sell closes a long, a buy a short) and never opens; one that leaves the opposite side
#: open is a partial exit. The resolved actions map to themselves, so a stored signal re-validates
#: (crash recovery) to the same action.
_WITH_SENTIMENT = {
    (Action.BUY, Sentiment.LONG): Action.BUY,
    (Action.BUY, Sentiment.FLAT): Action.CLOSE_SHORT,
    (Action.BUY, Sentiment.SHORT): Action.PARTIAL_EXIT_SHORT,
    (Action.SELL, Sentiment.SHORT): Action.SELL,
    (Action.SELL, Sentiment.FLAT): Action.CLOSE_LONG,
    (Action.SELL, Sentiment.LONG): Action.PARTIAL_EXIT_LONG,
    (Action.CLOSE, Sentiment.FLAT): Action.CLOSE,
    (Action.CLOSE_LONG, Sentiment.FLAT): Action.CLOSE_LONG,
    (Action.CLOSE_SHORT, Sentiment.FLAT): Action.CLOSE_SHORT,
    (Action.PARTIAL_EXIT_LONG, Sentiment.LONG): Action.PARTIAL_EXIT_LONG,
    (Action.PARTIAL_EXIT_SHORT, Sentiment.SHORT): Action.PARTIAL_EXIT_SHORT,
}


def parse_action(value: Any) -> Action:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"must be a string: {_ACTION_WORDS}")
    if not value or not value.strip():
        raise ValueError(f"is required: {_ACTION_WORDS}")
    word = value.strip().lower()
    action = ACTION_ALIASES.get(word)
    if action is None and word in (Action.PARTIAL_EXIT_LONG, Action.PARTIAL_EXIT_SHORT):
        action = Action(word)  # only as a stored signal writes it
    if action is None:
        raise ValueError(f"{value[:40]!r} is not an action: use {_ACTION_WORDS}")
    return action


def parse_sentiment(value: Any) -> Sentiment:
    """Strict: a sentiment decides between closing and opening, so a blank or unknown one is refused."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string: {_SENTIMENT_WORDS}")
    sentiment = SENTIMENT_ALIASES.get(value.strip().lower())
    if sentiment is None:
        raise ValueError(f"{value[:40]!r} is not a sentiment: use {_SENTIMENT_WORDS}")
    return sentiment


def with_sentiment(action: Action, sentiment: Sentiment) -> Action:
    """The action `action` means when the position after it is `sentiment`; a contradiction is refused."""
    resolved = _WITH_SENTIMENT.get((action, sentiment))
    if resolved is None:  # only exits remain: a close leaves the position flat
        raise ValueError(f"sentiment: {sentiment.value!r} contradicts action {action.value!r}, which leaves "
                         "the position flat; send sentiment flat or leave it out")
    return resolved
