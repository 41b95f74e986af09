"""Alert bodies to typed signals: content types, aliases, TradingView quirks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from sparky.errors import BadRequest
from sparky.exchanges.base import Side
from sparky.signals.intake import parse_body
from sparky.signals.models import Action, OrderType
from sparky.signals.normalise import build_signal, public_payload
from sparky.store.base import MAX_SYMBOL_LENGTH

EXCHANGES = {"paper"}


def test_json_numbers_keep_every_digit() -> None:
    fields = parse_body(b'{"price": 0.1000000000000000055511151231257827}', "application/json")
    assert fields["price"] == D("0.1000000000000000055511151231257827")


def test_text_plain_with_crlf_and_bom_is_json() -> None:
    raw = "\ufeff{\"action\": \"buy\"}\r\n".encode()
    assert parse_body(raw, "text/plain; charset=utf-8") == {"action": "buy"}


def test_form_body() -> None:
    assert parse_body(b"action=sell&symbol=ETHUSDT", "application/x-www-form-urlencoded") == {
        "action": "sell", "symbol": "ETHUSDT"}


@pytest.mark.parametrize(("value", "action"), [
    ("BUY", Action.BUY), ("Long", Action.BUY), ("sell", Action.SELL), ("SHORT", Action.SELL),
    ("close", Action.CLOSE), ("flat", Action.CLOSE), ("exit", Action.CLOSE),
    ("close_long", Action.CLOSE_LONG), ("close_short", Action.CLOSE_SHORT),
])
def test_actions_are_case_insensitive_with_aliases(value: str, action: Action) -> None:
    assert build_signal({"action": value, "symbol": "X", "exchange": "paper"}, EXCHANGES).action is action


@pytest.mark.parametrize(("raw", "symbol"), [
    ("BINANCE:BTCUSDT", "BTCUSDT"), ("binance:btcusdt.p", "BTCUSDT"), ("OANDA:EUR_USD", "EUR_USD"),
    ("  eth/usdt ", "ETH/USDT"), ("BYBIT:1000PEPEUSDT.P", "1000PEPEUSDT"),
])
def test_symbols_are_cleaned(raw: str, symbol: str) -> None:
    assert build_signal({"action": "buy", "symbol": raw, "exchange": "PAPER"}, EXCHANGES).symbol == symbol


@pytest.mark.parametrize(("raw", "symbol"), [
    ("BTC/USDT:USDT", "BTC/USDT:USDT"), ("bybit:eth/usdt:usdt", "ETH/USDT:USDT"), ("ETH/USDC:USDC", "ETH/USDC:USDC"),
])
def test_a_ccxt_contract_symbol_keeps_its_settle_currency(raw: str, symbol: str) -> None:
    """`X:` before a pair is TradingView's exchange prefix; `:USDT` after `BTC/USDT` is ccxt's settle
    currency, part of the market's name (it used to leave just `USDT`)."""
    assert build_signal({"action": "buy", "symbol": raw, "exchange": "paper"}, EXCHANGES).symbol == symbol


@pytest.mark.parametrize("raw", ["BTC/USDT:", "BTC/USDT:USDT:X", "BTC/USDT:US-DT", "OANDA:"])
def test_a_malformed_contract_symbol_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(BadRequest) as refused:
        build_signal({"action": "buy", "symbol": raw, "exchange": "paper"}, EXCHANGES)
    assert refused.value.field == "symbol"


def test_the_originals_aliases() -> None:
    signal = build_signal({
        "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "orderType": "LIMIT", "price": "27000.5",
        "stopLoss": 2, "takeProfit": "4", "positionSizeUsd": 100, "userId": None, "alertId": "a-1",
    }, EXCHANGES)
    assert signal.order_type is OrderType.LIMIT and signal.price == D("27000.5")
    assert (signal.stop_loss_percent, signal.take_profit_percent) == (D(2), D(4))
    assert (signal.position_size_usd, signal.alert_id) == (D(100), "a-1")


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21T10:00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    (1795255200, datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("1795255200000", datetime(2026, 11, 21, 10, tzinfo=UTC)),
])
def test_timestamps_are_utc(value, expected) -> None:
    signal = build_signal({"action": "buy", "symbol": "X", "exchange": "paper", "timestamp": value}, EXCHANGES)
    assert signal.timestamp == expected


@pytest.mark.parametrize("value", [
    D("1e20"), D("-1e20"), D("1e100"), 10**30, -1, 1e308, float("inf"), float("nan"), D("NaN"),
    "99999999999999999999", "9" * 5000, "\u00b2", 253_402_300_800_000,
])
def test_timestamps_beyond_what_a_datetime_holds_are_a_400_naming_the_field(value) -> None:
    with pytest.raises(BadRequest) as caught:
        build_signal({"action": "buy", "symbol": "X", "exchange": "paper", "timestamp": value}, EXCHANGES)
    assert caught.value.field == "timestamp"
    assert "unix seconds or milliseconds between 1970 and 9999" in caught.value.message


def test_timestamps_at_the_edges_of_the_range() -> None:
    def stamp(value):
        return build_signal({"action": "buy", "symbol": "X", "exchange": "paper", "timestamp": value},
                            EXCHANGES).timestamp

    assert stamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert stamp("253402300799999").replace(microsecond=0) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_error_names_the_documented_field_even_for_an_alias() -> None:
    with pytest.raises(BadRequest) as caught:
        build_signal({"action": "buy", "symbol": "X", "exchange": "paper", "positionSizeUsd": -5}, EXCHANGES)
    assert caught.value.field == "position_size_usd"
    assert caught.value.message.startswith("Invalid field 'position_size_usd'")


def test_stored_payload_never_holds_the_secret() -> None:
    assert public_payload({"secret": "s", "webhook_secret": "s", "action": "buy"}) == {"action": "buy"}


def test_signal_round_trips_through_its_stored_form() -> None:
    signal = build_signal({"action": "short", "symbol": "BTCUSDT", "exchange": "paper", "price": "1.10",
                           "stop_loss_percent": "0.5"}, EXCHANGES)
    again = type(signal).model_validate(signal.model_dump(mode="json"))
    assert again == signal


@pytest.mark.parametrize(("action", "sentiment", "expected"), [
    ("buy", "long", "buy"), ("long", "bullish", "buy"), ("sell", "short", "sell"), ("short", "bearish", "sell"),
    ("sell", "flat", "close_long"), ("buy", " FLAT ", "close_short"),
    ("sell", "long", "partial_exit_long"), ("buy", "short", "partial_exit_short"),
    ("close", "flat", "close"), ("flat", "flat", "close"), ("close_long", "flat", "close_long"),
    ("exit_short", "flat", "close_short"), ("sell", None, "sell"),
])
def test_sentiment_is_the_position_after_the_order_and_survives_the_stored_form(
    action: str, sentiment: str | None, expected: str
) -> None:
    """Crash recovery re-validates the stored signal: the resolved action must map to itself."""
    signal = build_signal({"action": action, "sentiment": sentiment, "symbol": "X", "exchange": "paper"}, EXCHANGES)
    assert signal.action == expected
    assert signal.side is {"buy": Side.BUY, "sell": Side.SELL}.get(expected)  # only an entry has a side
    again = type(signal).model_validate(signal.model_dump(mode="json"))
    assert again == signal and again.action == expected


@pytest.mark.parametrize("action", ["close", "close_long", "close_short", "exit", "flat"])
@pytest.mark.parametrize("sentiment", ["long", "short", "bullish", "bearish"])
def test_an_exit_with_a_position_left_open_is_refused(action: str, sentiment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        build_signal({"action": action, "sentiment": sentiment, "symbol": "X", "exchange": "paper"}, EXCHANGES)
    assert caught.value.field == "sentiment"
    assert "contradicts action" in caught.value.message


def test_the_longest_symbol_an_alert_can_carry_fits_the_store() -> None:
    longest = "A" * 20 + "/" + "B" * 19 + ":" + "C" * 10
    assert build_signal({"action": "buy", "symbol": longest, "exchange": "paper"}, EXCHANGES).symbol == longest
    assert len(longest) <= MAX_SYMBOL_LENGTH
    with pytest.raises(BadRequest) as refused:
        build_signal({"action": "buy", "symbol": "A" * 20 + "/" + "B" * 20 + ":USDT", "exchange": "paper"}, EXCHANGES)
    assert refused.value.field == "symbol"
