"""Venue endpoints as bounded labels: ids, account numbers and instruments never become one."""

from __future__ import annotations

import pytest

from sparky.observability.venue_paths import endpoint_template


@pytest.mark.parametrize(("method", "path", "template"), [
    ("post", "/fapi/v1/order?symbol=BTCUSDT&signature=abc", "POST /fapi/v1/order"),
    ("GET", "/fapi/v2/positionRisk", "GET /fapi/v2/positionRisk"),
    ("GET", "/v3/accounts/101-004-1234567-001/openTrades", "GET /v3/accounts/{}/openTrades"),
    ("PUT", "/v3/accounts/101-004-1234567-001/orders/@sp0123abc-sl/cancel", "PUT /v3/accounts/{}/orders/{}/cancel"),
    ("PUT", "/v3/accounts/101-004-1234567-001/positions/EUR_USD/close", "PUT /v3/accounts/{}/positions/{}/close"),
    ("GET", "/v3/instruments/EUR_USD/candles", "GET /v3/instruments/{}/candles"),
    ("DELETE", "/v1/accounts/VA12345678/orders/987654", "DELETE /v1/accounts/{}/orders/{}"),
    ("GET", "", "GET /"),
])
def test_ids_and_instruments_become_placeholders(method: str, path: str, template: str) -> None:
    assert endpoint_template(method, path) == template


@pytest.mark.parametrize("url", ["https://fapi.asterdex.com/fapi/v1/order?symbol=BTCUSDT#x", "/fapi/v1/order#x"])
def test_an_absolute_url_or_a_fragment_leaves_the_path_alone(url: str) -> None:
    assert endpoint_template("POST", url) == "POST /fapi/v1/order"


def test_requests_signed_anew_each_time_share_their_paths_one_cached_template() -> None:
    from sparky.observability.venue_paths import path_template

    path_template.cache_clear()
    for timestamp in range(1700000000000, 1700000000005):
        url = f"/fapi/v2/positionRisk?timestamp={timestamp}&signature={timestamp:x}"
        assert endpoint_template("GET", url) == "GET /fapi/v2/positionRisk"
    assert path_template.cache_info().currsize == 1
