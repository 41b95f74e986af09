"""The options monitor's pure half: Tradier's OTOCO JSON read into legs, and what each look means
for the row. Replies are the recorded shapes in tests/fixtures/tradier_options/monitor_*.json
(accounts/get-account-order for an option OTOCO and a market close; `leg` a list or one object)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from sparky.exchanges.tradier_options.orders import parse_order
from sparky.monitor.option_steps import (
    EXPIRY,
    TIME_EXIT,
    ClosePolicy,
    close_due,
    follow_close,
    follow_otoco,
)
from sparky.store.option_trades import OptionTradeRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tradier_options"
OCC = "SPY261218C00600000"


def reply(name: str) -> Any:
    return json.loads((FIXTURES / f"monitor_{name}.json").read_text(), parse_float=D)


def row(**changes: Any) -> OptionTradeRecord:
    values: dict[str, Any] = dict(
        user_id="u1", underlying_symbol="SPY", option_symbol=OCC, option_type="call", strike_price=D(600),
        expiration_date=date(2026, 12, 18), quantity_contracts=D(2), entry_order_id="7001",
        entry_limit_price=D("2.50"), tp_limit_price=D("3.75"), sl_stop_price=D("1.25"), id="row-1")
    values.update(changes)
    return OptionTradeRecord(**values)


def test_legs_are_known_by_side_and_type_not_by_their_place() -> None:
    order = parse_order(reply("order_otoco_stop_filled"))  # this reply lists the stop before the target
    assert (order.entry.id, order.target.id, order.stop.id) == ("7002", "7003", "7004")
    assert (order.stop.status, order.stop.filled, order.stop.fill_price) == ("filled", D(2), D("1.2"))


def test_a_single_object_leg_is_read_like_a_list_of_one() -> None:
    order = parse_order(reply("order_otoco_single_leg_rejected"))
    assert (order.entry.id, order.entry.status, order.target, order.stop) == ("7002", "rejected", None, None)
    assert follow_otoco(row(), order).changes["status"] == "cancelled"


def test_entry_filled_opens_the_row_with_the_fill_price_and_cost() -> None:
    step = follow_otoco(row(), parse_order(reply("order_otoco_entry_filled")))
    assert (step.changes["status"], step.changes["quantity_contracts"], step.changes["cost_usd"]) == (
        "open", D(2), D("490.00"))  # 2.45 a share × 2 contracts × 100
    assert step.changes["extra_metadata"]["entry_fill_price"] == "2.45"
    assert step.exit is None


def test_a_partial_entry_opens_what_was_bought_and_grows_with_later_fills() -> None:
    first = follow_otoco(row(quantity_contracts=D(2)), parse_order(reply("order_otoco_entry_partial")))
    assert (first.changes["status"], first.changes["quantity_contracts"], first.changes["cost_usd"]) == (
        "open", D(1), D("240.0"))
    opened = row(status="open", quantity_contracts=D(1), extra_metadata=first.changes["extra_metadata"],
                 entry_order=first.changes["entry_order"], tp_leg=first.changes["tp_leg"],
                 sl_leg=first.changes["sl_leg"])
    assert follow_otoco(opened, parse_order(reply("order_otoco_entry_partial"))).changes == {}
    grown = follow_otoco(opened, parse_order(reply("order_otoco_entry_filled")))
    assert grown.changes["quantity_contracts"] == D(2)


@pytest.mark.parametrize("name", ["order_otoco_entry_expired", "order_otoco_single_leg_rejected"])
def test_an_entry_that_ended_unfilled_cancels_the_row(name: str) -> None:
    step = follow_otoco(row(), parse_order(reply(name)))
    assert step.changes["status"] == "cancelled" and step.exit is None


@pytest.mark.parametrize(("name", "reason", "status", "price"), [
    ("order_otoco_target_filled", "TAKE_PROFIT", "closed_tp", D("3.8")),
    ("order_otoco_stop_filled", "STOP_LOSS", "closed_sl", D("1.2")),
])
def test_an_exit_filled_closes_the_row_even_when_the_open_was_not_seen(name: str, reason: str, status: str,
                                                                       price: D) -> None:
    step = follow_otoco(row(), parse_order(reply(name)))  # still pending_entry: both in one look
    assert step.changes["status"] == "open"
    assert (step.exit.reason, step.exit.status, step.exit.quantity, step.exit.leg.fill_price) == (
        reason, status, D(2), price)


def test_an_exit_already_recorded_is_not_recorded_again() -> None:
    done = row(status="open", extra_metadata={"recorded_exit_ids": ["7003"], "entry_fill_price": "2.45"})
    assert follow_otoco(done, parse_order(reply("order_otoco_target_filled"))).exit is None


def test_a_close_that_ended_unfilled_is_forgotten_so_another_can_be_sent() -> None:
    closing = row(status="open", time_exit_order_id="7101", extra_metadata={"close_tag": "t", "close_reason": EXPIRY})
    canceled = reply("order_close_open")
    canceled["order"]["status"] = "canceled"
    step = follow_close(closing, parse_order(canceled))
    assert step.exit is None and step.changes["time_exit_order_id"] is None
    assert "close_tag" not in step.changes["extra_metadata"]
    filled = follow_close(closing, parse_order(reply("order_close_filled")))
    assert (filled.exit.reason, filled.exit.status, filled.exit.quantity) == (EXPIRY, "closed", D(2))


POLICY = ClosePolicy(auto_close_outside_window=True, trading_hours_preset="market-hours", trading_window=None,
                     expiry_cutoff=time(15, 30))


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 12, 14, 15, 0, tzinfo=UTC), None),  # Monday 10:00 New York: in the session
    (datetime(2026, 12, 14, 21, 1, tzinfo=UTC), TIME_EXIT),  # Monday 16:01 New York: the session is over
    (datetime(2026, 12, 18, 20, 29, tzinfo=UTC), None),  # expiration day 15:29 New York (EST, UTC-5)
    (datetime(2026, 12, 18, 20, 30, tzinfo=UTC), EXPIRY),  # expiration day 15:30 New York
    (datetime(2026, 12, 19, 15, 0, tzinfo=UTC), TIME_EXIT),  # the day after: only the window applies
])
def test_close_due_outside_the_window_and_on_expiry_day_past_the_cut_off(now: datetime, expected: str | None) -> None:
    assert close_due(row(status="open"), POLICY, now) == expected


def test_no_close_is_due_while_one_works_or_when_auto_close_is_off() -> None:
    saturday = datetime(2026, 12, 12, 15, 0, tzinfo=UTC)
    assert close_due(row(status="open", time_exit_order_id="7101"), POLICY, saturday) is None
    off = ClosePolicy(False, "market-hours", None, time(15, 30))
    assert close_due(row(status="open"), off, saturday) is None
    assert close_due(row(status="pending_entry"), POLICY, saturday) is None


def test_contracts_sold_by_a_partial_exit_are_not_bought_back_by_the_entrys_later_look() -> None:
    after_partial_exit = row(status="open", quantity_contracts=D(1), cost_usd=D(490),
                             extra_metadata={"entry_fill_price": "2.45", "entry_filled_contracts": "2"})
    step = follow_otoco(after_partial_exit, parse_order(reply("order_otoco_entry_filled")))
    assert "quantity_contracts" not in step.changes and "status" not in step.changes


def test_an_expiry_cut_off_of_none_holds_the_row_to_expiry() -> None:
    held_to_expiry = ClosePolicy(False, "ny-session", None, None)
    assert close_due(row(status="open"), held_to_expiry, datetime(2026, 12, 18, 20, 55, tzinfo=UTC)) is None
