"""Aster's form encoding: the bytes `urlencode` gives (what the venue decodes and signs over), for any
name or value and for every request the adapter sends, and a signature the venue computes the same."""

from __future__ import annotations

import hmac
import json
from decimal import Decimal as D
from urllib.parse import parse_qsl, urlencode

import pytest

from sparky.exchanges.aster.api import Signer, encode, sign
from sparky.exchanges.base import OrderKind, OrderRequest, Side
from tests.unit.exchanges.aster.test_aster import KEY, SECRET, aster, exit_pair

LEGS = json.dumps([{"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.010",
                    "stopPrice": "26460.0", "reduceOnly": "true", "newClientOrderId": "sp5-sl"}],
                  separators=(",", ":"))


@pytest.mark.parametrize("value", [
    "", "BTCUSDT", "0.010", "-1.5e-3", "sparky-0f3c9a1e2b_x.y~z", LEGS, "[283194212,283194213]",
    "a b", "a+b", "a&b=c", "100%", "a/b", "?#[]@!$'()*,;:", "é€日本", "\u00a0\t\n", "sp5-sl tp",
])
def test_the_encoding_is_urlencodes_for_any_value(value) -> None:
    params = [("symbol", "BTCUSDT"), ("newClientOrderId", value), (value, "x"), ("batchOrders", LEGS)]
    assert encode(params) == urlencode(params)


def test_values_that_are_not_text_are_encoded_as_urlencode_does() -> None:
    params = [("symbol", "BTCUSDT"), ("orderId", 283194212), ("raw", b"a b&c")]
    assert encode(params) == urlencode(params)  # type: ignore[arg-type]


def test_the_signature_is_the_venues_hmac_over_the_urlencoded_bytes() -> None:
    params = [("batchOrders", LEGS), ("symbol", "BTCUSDT")]
    payload = Signer(KEY, SECRET, 5000).signed_payload(params, 1700000000250)
    expected = urlencode([*params, ("recvWindow", "5000"), ("timestamp", "1700000000250")])
    assert payload == f"{expected}&signature={hmac.new(SECRET.encode(), expected.encode(), 'sha256').hexdigest()}"


async def test_every_request_of_a_trade_is_urlencoded_and_signed_as_the_venue_checks(fake, http) -> None:
    exchange = aster(http, leverage="5")
    await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp0000-e"))
    stop, target = await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460.04"), D("28080.06")))
    assert target is not None
    await exchange.cancel_orders("BTCUSDT", [stop.id, target.id])
    await exchange.positions()
    await exchange.balance()

    paths = {(request.method, request.url.path) for request in fake.received}
    assert {("POST", "/fapi/v1/batchOrders"), ("DELETE", "/fapi/v1/batchOrders"), ("POST", "/fapi/v1/leverage"),
            ("POST", "/fapi/v1/order"), ("GET", "/fapi/v2/positionRisk")} <= paths
    assert fake.bad_signatures == 0
    for request in fake.received:
        raw = (request.content if request.method == "POST" else request.url.query).decode()
        if not raw:
            continue
        assert urlencode(parse_qsl(raw, keep_blank_values=True)) == raw
        payload, _, signature = raw.rpartition("&signature=")
        assert not payload or signature == sign(SECRET, payload)
