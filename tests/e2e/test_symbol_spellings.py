"""One instrument, one spelling, through the real app on the paper venue and for tenants."""

from __future__ import annotations

from decimal import Decimal as D

from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import MAX_SYMBOL_LENGTH, RequestStatus
from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import Sparky

ALICE, ALICE_SECRET = "33333333-3333-4333-8333-333333333333", "alice-secret-5b2c9e"


async def test_paper_spellings_of_a_pair_are_one_position(sparky: Sparky) -> None:
    opened = await sparky.alert(action="buy", symbol="EUR/USD", price=1.1, quantity=1000, stop_loss_percent=1)
    assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
    assert opened.json()["position"]["symbol"] == "EURUSD"
    held = await sparky.alert(action="buy", symbol="EUR_USD", price=1.1, quantity=1000, alert_id="again")
    assert held.json()["action"] == "skipped", held.text  # the same position, already open
    closed = await sparky.alert(action="close", symbol="OANDA:EURUSD", price=1.2)
    assert closed.json()["action"] == "closed", closed.text
    assert await sparky.paper.positions() == []
    assert await sparky.services.store.list_positions() == []
    [trade] = await sparky.services.store.list_trades()
    assert (trade.symbol, trade.pnl_usd) == ("EURUSD", D(100))
    rows = await sparky.services.store.list_webhook_requests(user_id=LOCAL_USER_ID)
    assert [row.symbol for row in rows] == ["EURUSD"] * 3


async def test_a_tenant_without_stored_credentials_keeps_the_alerts_spelling(start) -> None:
    """No adapter can be built to name the symbol: the signal goes on as it came, and the
    executor answers as it always has."""
    async with start() as sparky:
        await sparky.services.store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
        await sparky.services.store.upsert_credentials(
            CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(ALICE_SECRET)))
        await sparky.services.secrets.refresh()
        response = await sparky.client.post("/webhook", json={
            "secret": ALICE_SECRET, "exchange": "oanda", "symbol": "EUR/USD", "action": "buy", "quantity": 1000})
        assert response.status_code == 400
        assert response.json()["error"] == "No credentials stored for oanda"
        [row] = await sparky.services.store.list_webhook_requests(user_id=ALICE)
        assert (row.symbol, row.status) == ("EUR/USD", RequestStatus.REJECTED)


async def test_a_venue_spelling_longer_than_the_store_keeps_is_refused_before_any_order(sparky: Sparky,
                                                                                       monkeypatch) -> None:
    """An order is never placed for a position whose symbol could not be written down."""
    long_name = "EURUSD-" + "X" * (MAX_SYMBOL_LENGTH - 6)  # one character more than the store keeps

    async def venue_spelling(symbol: str) -> str:  # a venue whose instrument ids are that long
        return long_name

    monkeypatch.setattr(sparky.paper, "canonical_symbol", venue_spelling)
    response = await sparky.alert(action="buy", symbol="EURUSD", price=1.1, quantity=1000, stop_loss_percent=1)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["action"], body["field"]) == ("rejected", "symbol")
    assert f"longer than the {MAX_SYMBOL_LENGTH} characters Sparky records" in body["message"]
    assert await sparky.paper.positions() == [] and await sparky.paper.open_orders() == []
    [row] = await sparky.services.store.list_webhook_requests(user_id=LOCAL_USER_ID)
    assert (row.status, row.symbol, row.http_status) == (RequestStatus.REJECTED, "EURUSD", 400)
