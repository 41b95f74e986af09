"""What a venue answered reaches the user as a short reason only: the status, the vendor's code and
at most one short sentence of theirs — never the reply body (an error page, a JSON document)."""

from __future__ import annotations

import ccxt.async_support as ccxt
import httpx
import pytest

from sparky.exchanges.aster import wire as aster_wire
from sparky.exchanges.ccxt.wire import translate
from sparky.exchanges.errors import ExchangeError, InsufficientFunds, InvalidOrder, vendor_words
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.oanda.wire import error_for_reply
from sparky.exchanges.tradier.api import TradierApi

SECRET_TEXT = "db_password=hunter2"
LONG = "x" * 500


def test_vendor_words_are_one_short_line() -> None:
    assert vendor_words("Margin is\r\ninsufficient.\x00") == "Margin is insufficient."
    assert vendor_words(LONG) == "x" * 119 + "…"


def test_no_error_message_is_longer_than_its_bound() -> None:
    assert len(ExchangeError("aster: " + LONG * 3).message) == 600


@pytest.mark.parametrize(("raised", "expected"), [
    (ccxt.InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient.","node":"' + SECRET_TEXT + '"}'),
     "binanceusdm: InsufficientFunds: code -2019: Margin is insufficient."),
    (ccxt.InvalidOrder('okx {"code":"1","data":[{"sCode":"51008","sMsg":"Order failed. Insufficient USDT margin.",'
                       '"tag":"' + SECRET_TEXT + '"}],"msg":"All operations failed"}'),
     "okx: InvalidOrder: code 51008: Order failed. Insufficient USDT margin."),
    (ccxt.ExchangeNotAvailable("bybit GET https://api.bybit.com/v5/position/list?category=linear&sign=9f2c 503 "
                               "Service Unavailable <html><body>" + SECRET_TEXT + "</body></html>"),
     "bybit: ExchangeNotAvailable: GET 503 Service Unavailable"),
    (ccxt.ExchangeError("bybit " + '{"retCode":10001,"retMsg":"' + LONG + '"}'),
     "bybit: ExchangeError: code 10001: " + "x" * 119 + "…"),
    (ccxt.ArgumentsRequired("binanceusdm createOrder() requires a price argument"),
     "binanceusdm: ArgumentsRequired: createOrder() requires a price argument"),
    (ccxt.BadResponse("bybit {not json " + SECRET_TEXT), "bybit: BadResponse: no reason given"),
])
def test_ccxt_errors_keep_the_vendors_code_and_sentence_only(raised: Exception, expected: str) -> None:
    assert translate(raised, exchange=str(raised).split()[0]).message == expected


def test_oanda_keeps_its_error_code_and_a_short_sentence() -> None:
    error = error_for_reply(400, {"errorCode": "INSUFFICIENT_MARGIN", "errorMessage": "Not enough\nmargin " + LONG,
                                  "debug": SECRET_TEXT}, places_order=True)
    assert isinstance(error, InsufficientFunds)
    assert error.message.startswith("oanda: INSUFFICIENT_MARGIN: Not enough margin xxx")
    assert len(error.message) < 200 and SECRET_TEXT not in error.message


def test_aster_keeps_its_code_and_a_short_sentence() -> None:
    error = aster_wire.translate(400, {"code": -1111, "msg": "Precision is over the maximum " + LONG},
                                 places_order=True, what="order")
    assert isinstance(error, InvalidOrder) and len(error.message) < 200
    assert error.message.startswith("aster: order failed: HTTP 400, code -1111: Precision is over the maximum")


def test_an_unreadable_aster_reply_is_not_quoted() -> None:
    with pytest.raises(ExchangeError) as caught:
        aster_wire.read(lambda: aster_wire.parse_order({"node": SECRET_TEXT}), what="order lookup")
    assert caught.value.message == "aster: order lookup: unexpected reply (MalformedReply)"


@pytest.mark.parametrize(("reply", "expected"), [
    (httpx.Response(400, text=f"<html>{SECRET_TEXT}</html>"), "tradier: HTTP 400 on GET /v1/accounts/VA1/positions"),
    (httpx.Response(400, json={"errors": {"error": [f"Bad {SECRET_TEXT}\r\n" + LONG] * 9}}),
     "tradier: " + "; ".join([vendor_words(f"Bad {SECRET_TEXT} " + LONG)] * 5)),
])
async def test_tradier_shows_its_error_messages_never_its_page(reply: httpx.Response, expected: str) -> None:
    pool = HttpClientPool(transport=httpx.MockTransport(lambda request: reply))
    api = TradierApi(pool.get("https://sandbox.tradier.com/v1"), "token", "VA1", backoff=0)
    try:
        with pytest.raises(ExchangeError) as caught:
            await api.call("GET", "/accounts/VA1/positions")
    finally:
        await pool.aclose()
    assert caught.value.message == expected[:599] + ("…" if len(expected) > 600 else "")
    assert "<html>" not in caught.value.message
