"""`sparky alert-template`: what it prints, filled in as TradingView fills it, is accepted by the
real webhook and trades the strategy's style — an exit of a one-sided strategy never opens the
other side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx

from sparky.cli.main import main
from sparky.exchanges.base import OrderKind, Side
from tests.conftest import SECRET
from tests.support import LONG_ONLY, LONG_SHORT, SHORT_ONLY, message_after, on_aster, orders, render, send


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> pytest.MonkeyPatch:
    """The command reads the settings as `sparky serve` would: no .env, this test's data dir."""
    monkeypatch.chdir(tmp_path)
    for name in ("WEBHOOK_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "CONFIG_PATH", "HOST", "SPARKY_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARKY_DATA_DIR", str(data_dir))
    return monkeypatch


def template(capsys: pytest.CaptureFixture[str], exchange: str, style: str) -> str:
    assert main(["alert-template", "--exchange", exchange, "--style", style]) == 0
    return message_after(capsys.readouterr().out, "TradingView alert message")


@pytest.mark.parametrize(("style", "strategy", "actions", "entry_sides"), [
    ("long-only", LONG_ONLY, ["opened", "closed"], [Side.BUY]),
    ("short-only", SHORT_ONLY, ["opened", "closed"], [Side.SELL]),
    ("long-short", LONG_SHORT, ["opened", "reversed", "closed"], [Side.BUY, Side.SELL]),
])
async def test_each_style_filled_in_trades_the_strategy_on_paper_and_its_exit_closes(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start, style: str, strategy: list,
    actions: list[str], entry_sides: list[Side],
) -> None:
    environment.setenv("WEBHOOK_SECRET", SECRET)
    message = template(capsys, "paper", style)
    assert json.loads(message)["secret"] == SECRET  # embedded mode: the local secret, ready to paste

    async with start() as sparky:
        answers = await send(sparky, orders(message, strategy))

        assert [a["action"] for a in answers] == actions
        assert await sparky.paper.positions() == []
        assert [r.side for r in sparky.paper.requests if not r.reduce_only] == entry_sides
        exit_order = sparky.paper.requests[-1]
        assert (exit_order.kind, exit_order.reduce_only) == (OrderKind.MARKET, True)
        rows = [await sparky.services.store.get_webhook_request(a["request_id"]) for a in answers]
        assert [r.payload["alert_id"] for r in rows] == [f"BTCUSDT-{order[1]}-{rows[0].payload['timestamp']}"
                                                         for order in strategy]


@pytest.mark.parametrize(("style", "held", "partial"), [
    ("long-only", ("buy", "Long", "long", "27000"), ("sell", "Trim", "long", "27100")),
    ("short-only", ("sell", "Short", "short", "27000"), ("buy", "Trim", "short", "26900")),
])
async def test_a_one_sided_template_skips_a_partial_exit_and_its_exit_with_nothing_open_opens_nothing(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start, style: str, held: tuple,
    partial: tuple,
) -> None:
    environment.setenv("WEBHOOK_SECRET", SECRET)
    message = template(capsys, "paper", style)
    exit_ = (partial[0], "Close", "flat", "27000")

    async with start() as sparky:
        nothing_open = await send(sparky, orders(message, [exit_]))
        assert nothing_open[0]["action"] == "skipped" and sparky.paper.requests == []

        answers = await send(sparky, orders(message, [held, partial]))
        assert [a["action"] for a in answers] == ["opened", "skipped"]
        position = await sparky.paper.position("BTCUSDT")
        assert position is not None and position.side is Side(held[0])
        assert len([r for r in sparky.paper.requests if not r.reduce_only]) == 1


async def test_the_aster_template_opens_and_closes_on_aster(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start, tmp_path: Path,
) -> None:
    environment.setenv("WEBHOOK_SECRET", SECRET)
    message = template(capsys, "aster", "long-only")
    async with on_aster(start, tmp_path) as (sparky, venue):
        bodies = orders(message, LONG_ONLY)
        assert {body["exchange"] for body in bodies} == {"aster"}
        answers = await send(sparky, bodies)

    assert [a["action"] for a in answers] == ["opened", "closed"]
    assert [(o.side, o.kind, o.reduce_only) for o in venue.sent_orders() if o.kind is OrderKind.MARKET] == [
        (Side.BUY, OrderKind.MARKET, False), (Side.SELL, OrderKind.MARKET, True)]
    assert venue.positions == {}


@pytest.mark.parametrize("exchange", ["aster", "oanda", "tradier", "bybit"])
def test_every_venue_gets_the_same_fields_with_its_name(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exchange: str,
) -> None:
    environment.setenv("WEBHOOK_SECRET", SECRET)
    for style in ("long-only", "short-only", "long-short"):
        paper = json.loads(template(capsys, "paper", style))
        venue = json.loads(template(capsys, exchange.upper(), style))
        assert venue == {**paper, "exchange": exchange}
        assert {"stop_loss_percent", "take_profit_percent", "alert_id", "timestamp"} <= set(venue)


def test_the_secret_is_the_generated_one_in_embedded_mode_and_a_placeholder_with_supabase(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path,
) -> None:
    assert json.loads(template(capsys, "paper", "long-short"))["secret"] == "<your webhook secret>"  # none yet

    data_dir.mkdir(parents=True)
    (data_dir / "webhook_secret").write_text("generated-secret-of-the-first-start\n")
    assert json.loads(template(capsys, "paper", "long-short"))["secret"] == "generated-secret-of-the-first-start"

    environment.setenv("SUPABASE_URL", "https://project.supabase.co")
    environment.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-role-key-of-the-project")
    assert json.loads(template(capsys, "paper", "long-short"))["secret"] == "<your webhook secret>"


@pytest.mark.parametrize("exchange", ["nasdaq", " ", "binance-futures"])
def test_an_unknown_exchange_exits_2_naming_the_choices(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exchange: str,
) -> None:
    assert main(["alert-template", "--exchange", exchange, "--style", "long-only"]) == 2
    captured = capsys.readouterr()
    assert "--exchange: unknown exchange" in captured.err
    assert "paper, aster, oanda, tradier, tradier_options (long-only: calls) or a CCXT exchange id" in captured.err and captured.out == ""


@pytest.mark.parametrize(("argv", "named"), [
    (["--exchange", "paper", "--style", "both"], "'long-only', 'short-only', 'long-short'"),
    (["--style", "long-only"], "--exchange"),
    (["--exchange", "paper"], "--style"),
])
def test_an_unknown_or_missing_style_or_exchange_exits_2_naming_it(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], named: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["alert-template", *argv])
    captured = capsys.readouterr()
    assert exited.value.code == 2 and named in captured.err and captured.out == ""


async def test_the_options_template_buys_a_call_on_the_strategys_entry_and_its_exit_closes_it(
        environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start: Any, tmp_path: Path) -> None:
    from tests.e2e.test_venue_tradier_options import config
    from tests.unit.exchanges.tradier_options.fake import FakeOptionsTradier

    message = template(capsys, "tradier_options", "long-only")
    long_only = [("buy", "Long", "long", "500.12"), ("sell", "Close entry(s) order Long", "flat", "505.40")]
    bodies = [{**render(message, ticker="SPY", strategy_order_action=action, strategy_order_id=order_id,
                        strategy_market_position=position, close=close), "secret": SECRET}
              for action, order_id, position, close in long_only]
    with respx.mock(assert_all_called=False) as router:
        venue = FakeOptionsTradier(router)
        async with start(config_path=config(tmp_path)) as sparky:
            opened = (await sparky.client.post("/webhook", json=bodies[0])).json()
            assert "option" in opened, opened
            venue.fill_entry(int(opened["option"]["order_id"]), int(opened["option"]["contracts"]))
            closed = (await sparky.client.post("/webhook", json=bodies[1])).json()
    assert (opened["action"], opened["option"]["right"]) == ("order_placed", "call"), opened
    assert closed["action"] == "close_placed", closed
    sides = [(form.get("class"), form.get("side[0]") or form.get("side")) for form in venue.forms]
    assert sides == [("otoco", "buy_to_open"), ("option", "sell_to_close")]


@pytest.mark.parametrize("style", ["short-only", "long-short"])
def test_an_options_template_for_a_style_options_cannot_trade_exits_2_saying_why(
        environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], style: str) -> None:
    assert main(["alert-template", "--exchange", "tradier_options", "--style", style]) == 2
    error = capsys.readouterr().err
    assert "--style" in error and "long-only" in error and "calls" in error
