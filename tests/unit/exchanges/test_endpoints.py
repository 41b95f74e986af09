"""A tenant's base URL: only one of the venue's official hosts, in a plain https form."""

from __future__ import annotations

import pytest

from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.endpoints import BaseUrlRefused, official_base_url, tenant_credentials
from sparky.exchanges.factory import official_hosts


@pytest.mark.parametrize(("exchange", "hosts"), [
    ("aster", {"fapi.asterdex.com"}),
    ("oanda", {"api-fxtrade.oanda.com", "api-fxpractice.oanda.com"}),
    ("tradier", {"api.tradier.com", "sandbox.tradier.com"}),
])
def test_native_venues_list_their_live_and_practice_hosts(exchange: str, hosts: set[str]) -> None:
    assert official_hosts(exchange) == hosts


def test_ccxt_venues_list_the_hosts_ccxt_has_for_them() -> None:
    assert official_hosts("bybit") == {"api.bybit.com", "api-testnet.bybit.com"}
    binance = official_hosts("binanceusdm")
    assert {"fapi.binance.com", "testnet.binancefuture.com", "demo-fapi.binance.com"} <= binance
    assert official_hosts("okx") == {"www.okx.com"}  # ccxt's {hostname} filled in


@pytest.mark.parametrize(("exchange", "url", "expected"), [
    ("oanda", "https://api-fxtrade.oanda.com", "https://api-fxtrade.oanda.com"),
    ("oanda", " https://API-FXPRACTICE.oanda.com/ ", "https://api-fxpractice.oanda.com"),
    ("tradier", "https://sandbox.tradier.com/v1/", "https://sandbox.tradier.com/v1"),
    ("tradier", "https://api.tradier.com:443/v1", "https://api.tradier.com/v1"),
    ("bybit", "https://api-testnet.bybit.com", "https://api-testnet.bybit.com"),
])
def test_an_official_host_is_kept_in_one_plain_form(exchange: str, url: str, expected: str) -> None:
    assert official_base_url(exchange, url) == expected


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:8200", "127.0.0.1 is not one of aster's official hosts"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is not one"),
    ("https://fapi.asterdex.com.evil.example", "fapi.asterdex.com.evil.example is not one"),
    ("https://fapi.asterdex.com.", "is not one"),
    ("https://fapi.asterdex.com@127.0.0.1", "127.0.0.1 is not one"),
    ("https://fapi.asterdex.com\\@127.0.0.1", "is not one"),
    ("https://[::1]/", "::1 is not one"),
    ("fapi.asterdex.com", "no host is not one"),
    ("", "no host is not one"),
    ("http://fapi.asterdex.com", "https://"),
    ("https://user:pw@fapi.asterdex.com", "without a user or a port"),
    ("https://fapi.asterdex.com:8443", "without a user or a port"),
    ("https://fapi.asterdex.com:notaport", "not a URL"),
    ("https://fapi.asterdex.com/../admin", "plain path"),
    ("https://fapi.asterdex.com/%2e%2e/admin", "plain path"),
    ("https://fapi.asterdex.com/v1?x=1", "plain path"),
    ("https://fapi.asterdex.com/#x", "plain path"),
    ("https://fapi.asterdex.com/a\r\nb", "plain path"),
])
def test_anything_else_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(BaseUrlRefused) as refused:
        official_base_url("aster", url)
    assert reason in refused.value.message and refused.value.field == "exchange"
    assert "https://fapi.asterdex.com" in refused.value.hint
    assert "\n" not in refused.value.message


@pytest.mark.parametrize("value", [{"url": "https://fapi.asterdex.com"}, 443, ["https://fapi.asterdex.com"]])
def test_a_base_url_that_is_no_text_is_refused(value) -> None:
    with pytest.raises(BaseUrlRefused, match="not a URL"):
        tenant_credentials(VenueCredentials("aster", base_url=value))


def test_credentials_without_a_base_url_are_left_alone() -> None:
    credentials = VenueCredentials("aster", api_key="k")
    assert tenant_credentials(credentials) is credentials
