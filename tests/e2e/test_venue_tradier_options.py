"""`exchange: "tradier_options"` through the real app: contract selection, sizing, the one OTOCO
order Tradier receives (read back from the HTTP form), the trade row, closes, and refusals that
send nothing. Tradier is the scripted account of tests/unit/exchanges/tradier_options/fake.py."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import respx

from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.store.base import RequestStatus, StoreUnavailable
from sparky.store.tenants import CredentialRecord, LocalUser, TradeSettings, secret_digest
from tests.conftest import SECRET, Sparky
from tests.unit.exchanges.tradier_options.fake import ACCOUNT, ORDERS, TOKEN, FakeOptionsTradier, fixture, listed, occ

ALICE = "11111111-1111-4111-8111-111111111111"
ALICE_SECRET = "alice-options-secret-5b1e"


def config(tmp_path: Path, name: str = "tradierOptions", **section: Any) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({name: {"accountId": ACCOUNT, "accessToken": TOKEN, "environment": "sandbox",
                                       **section}}))
    return path


async def alert(sparky: Sparky, **fields: Any) -> dict[str, Any]:
    body = {"secret": SECRET, "exchange": "tradier_options", **fields}
    response = await sparky.client.post("/webhook", json=body)
    return {"status": response.status_code, **response.json()}


@pytest.fixture
def venue():
    with respx.mock(assert_all_called=False) as router:
        yield FakeOptionsTradier(router)


async def test_a_call_alert_buys_one_otoco_on_the_tick_and_records_the_trade(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", right="call", strike=500, size=10,
                             stop_loss_percent=50, take_profit_percent=100, strategy="SPY calls")
        rows = await sparky.services.store.option_trades()
    assert result["status"] == 200, result
    expiration = listed(1)  # the nearest at least one day away: never today's by accident
    option_symbol = occ("SPY", expiration, "call", 500)
    # ask 2.34 + 2% = 2.3868 → 2.39 (up, SPY trades in pennies below $3); target 4.78 → 4.75 (nickels from $3, down); stop 1.195 → 1.20 (up)
    # size: 10% of the margin account's option buying power 6363.86 = 636.39 → 2 contracts at 2.39 x 100
    tag = venue.forms[0]["tag"]
    assert venue.forms == [{
        "class": "otoco", "tag": tag,
        "symbol[0]": "SPY", "option_symbol[0]": option_symbol, "side[0]": "buy_to_open", "quantity[0]": "2",
        "type[0]": "limit", "duration[0]": "day", "price[0]": "2.39",
        "symbol[1]": "SPY", "option_symbol[1]": option_symbol, "side[1]": "sell_to_close", "quantity[1]": "2",
        "type[1]": "limit", "duration[1]": "gtc", "price[1]": "4.75",
        "symbol[2]": "SPY", "option_symbol[2]": option_symbol, "side[2]": "sell_to_close", "quantity[2]": "2",
        "type[2]": "stop", "duration[2]": "gtc", "stop[2]": "1.20",
    }]
    assert tag == f"sp{result['request_id'].replace('-', '')[:24]}-e"
    assert result["action"] == "order_placed" and result["option"] == {
        "option_symbol": option_symbol, "underlying": "SPY", "right": "call", "strike": "500",
        "expiration": expiration.isoformat(), "contracts": "2", "contract_size": 100, "entry_limit_price": "2.39",
        "take_profit_price": "4.75", "stop_price": "1.20", "cost_usd": "478.00", "order_id": "1001",
        "status": "pending_entry", "trade_id": rows[0].id}
    [row] = rows
    assert (row.user_id, row.status, row.option_symbol, row.option_type, row.strike_price, row.expiration_date) == (
        "00000000-0000-0000-0000-000000000000", "pending_entry", option_symbol, "call", D(500), expiration)
    assert (row.quantity_contracts, row.entry_order_id, row.tp_order_id, row.sl_order_id) == (D(2), "1001", "1003",
                                                                                             "1004")
    assert (row.entry_limit_price, row.tp_limit_price, row.sl_stop_price, row.cost_usd) == (
        D("2.39"), D("4.75"), D("1.20"), D("478.00"))
    assert row.strategy == "SPY calls" and row.entry_order["class"] == "otoco"
    assert row.extra_metadata["environment"] == "sandbox" and row.extra_metadata["request_id"] == result["request_id"]
    assert row.config_snapshot["min_days_to_expiry"] == 1 and row.config_snapshot["stop_loss_percent"] == "50"
    assert TOKEN not in json.dumps([row.config_snapshot, row.extra_metadata])


async def test_an_otoco_taken_despite_an_unclear_reply_is_found_by_its_tag_and_recorded(start, tmp_path,
                                                                                        venue) -> None:
    """Tradier may answer 200 with `errors` and still take the order: it is looked up by its tag
    (an option order, whatever the underlying), never reported refused while it works."""
    venue.unclear_reply = True
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", right="call", strike=500, size=10)
        [row] = await sparky.services.store.option_trades()
    assert result["status"] == 200 and result["action"] == "order_placed", result
    assert len(venue.forms) == 1 and row.entry_order_id == result["option"]["order_id"] == "1001"
    assert (row.tp_order_id, row.sl_order_id) == ("1003", "1004")


async def test_a_put_without_strike_is_bought_at_the_money_with_prices_across_three_dollars(start, tmp_path,
                                                                                           venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="buy", underlying="SPY", option_type="put", quantity=1,
                             expiration=listed(2).isoformat())
    assert result["status"] == 200, result
    form = venue.forms[0]
    # SPY last 501.20: strike 500 is nearest; ask 3.07 + 2% = 3.1314 → 3.15 (nickels from $3);
    # target +100% (the default) = 6.30; stop -50% = 1.575 → 1.58 (pennies below $3, up)
    assert (form["option_symbol[0]"], form["quantity[0]"]) == (occ("SPY", listed(2), "put", 500), "1")
    assert (form["price[0]"], form["price[1]"], form["stop[2]"]) == ("3.15", "6.30", "1.58")


@pytest.mark.parametrize("balances, contracts", [
    ("balances_margin.json", "13"),  # margin.option_buying_power 6363.86 x 50% / 239
    ("balances_cash.json", "9"),     # cash.cash_available 4343.38 x 50% / 239
    ("balances_pdt.json", "5"),      # pdt.option_buying_power 2500.50 x 50% / 239
])  # fmt: skip
async def test_size_is_a_share_of_the_option_buying_power_where_tradier_states_it(start, tmp_path, venue, balances,
                                                                                  contracts) -> None:
    venue.balances = fixture(balances)
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", strike=500, sizePercent=50)
    assert result["status"] == 200, result
    assert venue.forms[0]["quantity[0]"] == venue.forms[0]["quantity[2]"] == contracts


async def test_position_size_usd_buys_whole_contracts_and_a_budget_below_one_is_refused(start, tmp_path,
                                                                                        venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        refused = await alert(sparky, action="buy", symbol="SPY", strike=500, position_size_usd=238)
        assert venue.posted() == []  # never rounded up to one contract
        bought = await alert(sparky, action="buy", symbol="SPY", strike=500, position_size_usd=720)
        [_, rejected] = await sparky.services.store.list_webhook_requests()
    assert (refused["status"], refused["field"]) == (400, "position_size_usd")
    assert "buys no contract at $239.00" in refused["error"] and rejected.status is RequestStatus.REJECTED
    assert bought["status"] == 200 and venue.forms[0]["quantity[0]"] == "3"


@pytest.mark.parametrize("body, expiration_index", [
    ("expirations.json-shaped list", 1),
    ("single", 1),
])  # fmt: skip
async def test_expirations_listed_as_a_list_or_a_single_date(start, tmp_path, venue, body, expiration_index) -> None:
    if body == "single":
        venue.expirations_body = {"expirations": {"date": listed(1).isoformat()}}
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=1)
    assert result["status"] == 200, result
    assert result["option"]["expiration"] == listed(expiration_index).isoformat()


async def test_min_days_to_expiry_zero_allows_todays_expiration(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path, minDaysToExpiry=0)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=1)
    assert result["option"]["expiration"] == listed(0).isoformat()


@pytest.mark.parametrize("fields, expirations, field, words", [
    ({"expiration": "2031-01-17"}, None, "expiration", "is not a listed SPY expiration"),
    ({}, "null", "symbol", "lists no option expirations"),
    ({"strike": 560}, None, "strike", "No listed SPY call strike within 5% of strike 560 (nearest: 505)"),
    ({"right": "straddle"}, None, "right", "must be call or put"),
    ({"expiration": "19/06/2026"}, None, "expiration", "YYYY-MM-DD"),
    ({"expiration": "2026-02-30"}, None, "expiration", "YYYY-MM-DD"),
    ({"quantity": "1.5"}, None, "quantity", "whole number of contracts"),
    ({"action": "sell"}, None, "action", "sell is not an options action"),
    ({"option_symbol": "QQQ260619C00400000"}, None, "option_symbol", "is not an option on SPY"),
    ({"quantity": None, "size": 0}, None, "size", "percent of the option buying power"),
    ({"quantity": None}, None, "size", "needs its size"),
])  # fmt: skip
async def test_bad_option_alerts_are_400s_naming_the_field_and_send_nothing(start, tmp_path, venue, fields,
                                                                            expirations, field, words) -> None:
    if expirations == "null":
        venue.expirations_body = fixture("expirations_null.json")
    body = {"action": "buy", "symbol": "SPY", "strike": 500, "quantity": 1, **fields}
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, **{k: v for k, v in body.items() if v is not None})
        [row] = await sparky.services.store.list_webhook_requests()
        rows = await sparky.services.store.option_trades()
    assert (result["status"], result["field"]) == (400, field), result
    assert words in result["error"]
    assert venue.posted() == [] and rows == []
    assert row.status is RequestStatus.REJECTED


async def test_a_chain_of_one_contract_as_a_single_object_and_an_empty_chain(start, tmp_path, venue) -> None:
    venue.chain_name = "chain_single.json"
    async with start(config_path=config(tmp_path)) as sparky:
        one = await alert(sparky, action="buy", symbol="SPY", quantity=1)
        venue.chain_name = "chain_null.json"
        none = await alert(sparky, action="buy", symbol="SPY", quantity=2)
    assert one["status"] == 200 and one["option"]["strike"] == "500"
    assert (none["status"], none["field"]) == (400, "expiration") and len(venue.forms) == 1


async def test_close_by_option_symbol_cancels_the_exits_then_sells_what_is_held_at_market(start, tmp_path,
                                                                                         venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        opened = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=3)
        venue.fill_entry(1001, 2)  # partly filled: the rest of the entry and both exits are working
        venue.calls.clear()
        venue.forms.clear()
        option_symbol = opened["option"]["option_symbol"]
        closed = await alert(sparky, action="close", option_symbol=option_symbol)
        [row] = await sparky.services.store.option_trades()
    assert closed["status"] == 200 and closed["action"] == "close_placed", closed
    assert venue.posted() == [("DELETE", f"{ORDERS}/1001"), ("POST", ORDERS)]
    assert venue.forms == [{"class": "option", "symbol": "SPY", "option_symbol": option_symbol,
                            "side": "sell_to_close", "quantity": "2", "type": "market", "duration": "day",
                            "tag": f"sp{closed['request_id'].replace('-', '')[:24]}-x"}]
    assert closed["closes"] == [{"trade_id": row.id, "option_symbol": option_symbol, "cancelled_order_id": "1001",
                                 "contracts": "2", "close_order_id": "1011", "status": "pending_entry"}]
    assert row.time_exit_order_id == "1011" and row.extra_metadata["close_request_id"] == closed["request_id"]


async def test_close_by_underlying_closes_every_open_trade_of_the_user_on_it(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=1)
        await alert(sparky, action="buy", symbol="SPY", strike=495, right="put", quantity=2)
        await alert(sparky, action="buy", symbol="SPY", strike=505, quantity=1)
        venue.fill_entry(1001, 1)
        venue.fill_entry(1011, 2)  # the third entry never filled: cancelled, nothing to sell
        venue.forms.clear()
        venue.calls.clear()
        closed = await alert(sparky, action="close", underlying="SPY")
        rows = await sparky.services.store.option_trades()
    assert closed["status"] == 200, closed
    assert venue.posted() == [("DELETE", f"{ORDERS}/1001"), ("POST", ORDERS), ("DELETE", f"{ORDERS}/1011"),
                              ("POST", ORDERS), ("DELETE", f"{ORDERS}/1021")]
    assert [(f["option_symbol"], f["quantity"], f["type"], f["side"]) for f in venue.forms] == [
        (occ("SPY", listed(1), "call", 500), "1", "market", "sell_to_close"),
        (occ("SPY", listed(1), "put", 495), "2", "market", "sell_to_close")]
    assert [r.status for r in rows] == ["pending_entry", "pending_entry", "cancelled"]


async def test_a_close_with_nothing_open_sends_nothing(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        result = await alert(sparky, action="close", symbol="SPY")
    assert (result["status"], result["action"], result["success"]) == (200, "skipped", True)
    assert venue.posted() == []


@pytest.mark.parametrize("environment, host", [("live", "api.tradier.com"), ("sandbox", "sandbox.tradier.com")])
async def test_live_and_sandbox_accounts_use_their_own_host(start, tmp_path, venue, environment, host) -> None:
    async with start(config_path=config(tmp_path, name="tradier_options", environment=environment)) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=1)
        [row] = await sparky.services.store.option_trades()
    assert result["status"] == 200 and venue.hosts() == {host}
    assert row.extra_metadata["environment"] == environment


async def test_the_exchanges_page_lists_tradier_options_with_its_capabilities(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        listing = (await sparky.client.get("/exchanges", headers={"Authorization": "Bearer test-admin-token"}))
    names = {e["name"]: e["capabilities"] for e in listing.json()["exchanges"]}
    assert names["tradier_options"]["options"] is True
    assert "tradier_options" in listing.json()["supported"]["native"]


# -- a multi-tenant user ------------------------------------------------------------------------------


async def tenant(sparky: Sparky, *credentials: CredentialRecord) -> None:
    store = sparky.services.store
    await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
    await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(ALICE_SECRET)))
    for record in credentials:
        await store.upsert_credentials(record)
    await sparky.services.secrets.refresh()


@pytest.mark.parametrize("stored_as", ["tradier", "tradier_options"])
async def test_a_users_options_alert_reaches_the_options_executor_with_their_tradier_keys(start, venue,
                                                                                         stored_as) -> None:
    async with start() as sparky:
        await tenant(sparky, CredentialRecord(ALICE, stored_as, api_key=TOKEN, account_id=ACCOUNT,
                                              extra_metadata={"environment": "sandbox"}))
        response = await sparky.client.post("/webhook", json={
            "secret": ALICE_SECRET, "exchange": "tradier_options", "symbol": "SPY", "action": "buy",
            "right": "call", "strike": 500, "quantity": 1})
        rows = await sparky.services.store.option_trades(user_id=ALICE)
    assert response.status_code == 200, response.text
    assert [f["class"] for f in venue.forms] == ["otoco"]  # no equities order
    assert venue.forms[0]["side[0]"] == "buy_to_open" and "equity" not in json.dumps(venue.forms)
    assert [r.user_id for r in rows] == [ALICE] and venue.hosts() == {"sandbox.tradier.com"}


async def test_a_user_without_tradier_keys_gets_a_400_naming_the_exchange(start, venue) -> None:
    async with start() as sparky:
        await tenant(sparky)
        response = await sparky.client.post("/webhook", json={
            "secret": ALICE_SECRET, "exchange": "tradier_options", "symbol": "SPY", "action": "buy", "quantity": 1})
    assert response.status_code == 400
    assert response.json()["error"] == "No credentials stored for tradier_options" and venue.posted() == []


async def test_options_settings_come_from_the_environment_under_the_legacy_section(start, tmp_path, venue) -> None:
    settings = OptionsSettings(strike_tolerance_percent=D("0.1"), entry_limit_offset_percent=D(0))
    async with start(config_path=config(tmp_path, strikeTolerance=5), tradier_options=settings) as sparky:
        result = await alert(sparky, action="buy", symbol="SPY", strike=501, quantity=1)
    assert result["status"] == 200, result  # the section's 5% tolerance wins over the environment's 0.1%
    assert venue.forms[0]["price[0]"] == "2.34"  # the environment's 0% offset: at the ask


# -- exactly once across a crash ----------------------------------------------------------------------


async def test_an_entry_sent_before_a_crash_is_recorded_on_restart_and_never_sent_again(start, tmp_path, venue,
                                                                                      monkeypatch) -> None:
    path = config(tmp_path)
    async with start(config_path=path) as sparky:
        store = sparky.services.store

        async def lost(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("database lost")

        for write in ("add_option_trade", "finish_execution", "finish_webhook_request"):
            monkeypatch.setattr(store, write, lost)  # from the row on, nothing reaches the database
        first = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=2)
        monkeypatch.undo()
    assert first["action"] == "unrecorded" and len(venue.forms) == 1
    async with start(config_path=path) as sparky:  # recovery resumes the pending request
        request = await sparky.services.store.get_webhook_request(first["request_id"])
        [row] = await sparky.services.store.option_trades()
    assert [f["class"] for f in venue.forms] == ["otoco"]  # looked up by its tag, never sent twice
    assert request.status is RequestStatus.SUCCESS and request.result["option"]["trade_id"] == row.id
    assert (row.option_symbol, row.quantity_contracts, row.entry_order_id, row.entry_limit_price,
            row.tp_limit_price, row.sl_stop_price) == (occ("SPY", listed(1), "call", 500), D(2), "1001", D("2.39"),
                                                       D("4.75"), D("1.20"))
    assert row.extra_metadata["request_id"] == first["request_id"] and row.extra_metadata["resumed"] is True


async def test_a_users_dashboard_trade_settings_for_tradier_options_apply_to_their_entries(start, venue) -> None:
    async with start() as sparky:
        await tenant(sparky, CredentialRecord(ALICE, "tradier", api_key=TOKEN, account_id=ACCOUNT,
                                              extra_metadata={"environment": "sandbox"}))
        await sparky.services.store.upsert_trade_settings(TradeSettings(
            ALICE, "tradier_options", trading_hours_preset="24/7", allow_weekends=True,
            strike_tolerance_percent=D(1), entry_limit_offset_percent=D(0), position_size_percent=D(10)))
        far = await sparky.client.post("/webhook", json={
            "secret": ALICE_SECRET, "exchange": "tradier_options", "symbol": "SPY", "action": "buy", "strike": 512})
        near = await sparky.client.post("/webhook", json={
            "secret": ALICE_SECRET, "exchange": "tradier_options", "symbol": "SPY", "action": "buy", "strike": 502})
    # the dashboard's 1% (5.12) refuses 505 for 512, which the default 5% would take
    assert far.status_code == 400 and far.json()["field"] == "strike" and "within 1%" in far.json()["error"]
    # offset 0: at the ask 2.34; 10% of 6363.86 = 636.39 → 2 contracts at 234
    assert near.status_code == 200 and near.json()["option"]["strike"] == "500"
    assert [(f["price[0]"], f["quantity[0]"]) for f in venue.forms] == [("2.34", "2")]
    assert near.json()["option"]["contracts"] == "2"


async def test_a_second_close_while_the_first_close_order_works_sells_nothing_more(start, tmp_path, venue) -> None:
    async with start(config_path=config(tmp_path)) as sparky:
        opened = await alert(sparky, action="buy", symbol="SPY", strike=500, quantity=2)
        venue.fill_entry(1001, 2)
        first = await alert(sparky, action="close", option_symbol=opened["option"]["option_symbol"])
        venue.calls.clear()
        again = await alert(sparky, action="close", symbol="SPY", alert_id="close-again")
    assert first["closes"][0]["close_order_id"] == "1011"
    assert again["status"] == 200 and again["closes"][0]["close_order_id"] == "1011"
    assert venue.posted() == []  # the first close's market order (pending) is not sold again
