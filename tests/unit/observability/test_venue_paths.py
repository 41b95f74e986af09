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
