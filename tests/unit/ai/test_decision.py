"""The model's answer becomes a decision that is safe to act on: taken as written, or HOLD with why."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from sparky.ai.decision import DECISION_SCHEMA, Action, DecisionAnswer, parse_decision
from sparky.store.ai import AiStrategyRecord

EQUITY = D(10_000)


def strategy(**changes) -> AiStrategyRecord:
    fields = dict(user_id="u1", target_assets=["BTCUSDT", "ETH/USDT", "PEPEUSDT"],
                  min_position_size_usd=D(10), max_position_size_usd=D(1000))
    return AiStrategyRecord(**{**fields, **changes})


def answer(**fields) -> str:
    base = {"action": "LONG", "symbol": "BTCUSDT", "size_usd": 250.5, "confidence": 0.8, "stop_loss_percent": 2,
            "reasoning": "RSI recovering above 50 with MACD crossing up."}
    return json.dumps({k: v for k, v in {**base, **fields}.items() if v is not ...})


def test_a_long_is_taken_as_written_with_sizes_in_decimal():
    decision = parse_decision(answer(stop_loss_percent=2.5, take_profit_percent=6), strategy(), EQUITY)
    assert decision.refusal is None
    assert decision.action is Action.LONG
    assert decision.symbol == "BTCUSDT"
    assert decision.size_usd == D("250.5") and isinstance(decision.size_usd, D)
    assert decision.confidence == D("0.8")
    assert decision.stop_loss_percent == D("2.5") and decision.take_profit_percent == D(6)
    assert decision.reasoning == "RSI recovering above 50 with MACD crossing up."


def test_a_short_keeps_the_strategy_spelling_of_its_symbol():
    decision = parse_decision(answer(action="short", symbol="eth-usdt", size_usd=100), strategy(), EQUITY)
    assert (decision.action, decision.symbol, decision.size_usd, decision.refusal) == (Action.SHORT, "ETH/USDT",
                                                                                       D(100), None)


def test_a_close_needs_no_size_and_carries_none():
    decision = parse_decision(answer(action="CLOSE", size_usd=..., stop_loss_percent=3), strategy(), EQUITY)
    assert decision.refusal is None
    assert (decision.action, decision.symbol, decision.size_usd, decision.stop_loss_percent) == (
        Action.CLOSE, "BTCUSDT", None, None)


def test_a_hold_may_name_no_symbol():
    decision = parse_decision(answer(action="HOLD", symbol=..., size_usd=...), strategy(), EQUITY)
    assert (decision.action, decision.symbol, decision.refusal) == (Action.HOLD, None, None)
    assert decision.reasoning.startswith("RSI")


@pytest.mark.parametrize("text", [
    "```json\n" + answer() + "\n```",
    "```\n" + answer() + "\n```",
    "Here is my decision:\n```JSON\n" + answer() + "\n```\nGood luck.",
])
def test_json_in_a_markdown_fence_is_read(text):
    decision = parse_decision(text, strategy(), EQUITY)
    assert (decision.action, decision.size_usd, decision.refusal) == (Action.LONG, D("250.5"), None)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "the answer is empty"),
    ("   \n", "the answer is empty"),
    (None, "the answer is empty"),
    ("x" * 20_001, "the answer is longer than 20,000 characters"),
    ("I think BTC goes up", "the answer is not JSON: Expecting value at line 1 column 1"),
    ('{"action": "LONG",', "the answer is not JSON: Expecting property name enclosed in double quotes "
                           "at line 1 column 19"),
    ("```json\n{}\n```\n```json\n{}\n```", "the answer has 2 code blocks; one JSON object is expected"),
    ("[" + answer() + "]", "the answer must be one JSON object, not list"),
    ('"LONG"', "the answer must be one JSON object, not str"),
    ("[" * 5_000 + "]" * 5_000, "the answer is not JSON: nested too deeply"),
    (answer(size_usd=...).replace("}", ', "size_usd": NaN}'), "the answer is not JSON: NaN is not a number"),
    (answer(size_usd=...).replace("}", ', "size_usd": Infinity}'),
     "the answer is not JSON: Infinity is not a number"),
    (answer().replace("}", ', "action": "SHORT"}'), "the answer repeats the key 'action'"),
])
def test_text_that_is_not_one_json_object_holds(text, reason):
    decision = parse_decision(text, strategy(), EQUITY)
    assert (decision.action, decision.refusal, decision.symbol, decision.size_usd) == (Action.HOLD, reason,
                                                                                       None, None)


@pytest.mark.parametrize(("fields", "reason"), [
    ({"action": "BUY"}, "action: must be one of LONG, SHORT, CLOSE, HOLD, not 'BUY'"),
    ({"action": 1}, "action: must be a string"),
    ({"action": ...}, "action: is required"),
    ({"confidence": ...}, "confidence: is required"),
    ({"confidence": 1.5}, "confidence: must be at least 0 and at most 1, got 1.5"),
    ({"confidence": -0.1}, "confidence: must be at least 0 and at most 1, got -0.1"),
    ({"confidence": "high"}, "confidence: must be a number"),
    ({"confidence": True}, "confidence: must be a number"),
    ({"size_usd": "100"}, "size_usd: must be a number"),
    ({"size_usd": 0}, "size_usd: must be at least 0.01 and at most 10,000,000, got 0"),
    ({"size_usd": -50}, "size_usd: must be at least 0.01 and at most 10,000,000, got -50"),
    ({"size_usd": ...}, "size_usd: is required for LONG"),
    ({"symbol": ...}, "symbol: is required for LONG"),
    ({"symbol": 42}, "symbol: must be a string"),
    ({"reasoning": ""}, "reasoning: must not be empty"),
    ({"reasoning": "x" * 2001}, "reasoning: must be at most 2000 characters"),
    ({"stop_loss_percent": 0}, "stop_loss_percent: must be above 0 and at most 50, got 0"),
    ({"stop_loss_percent": 75}, "stop_loss_percent: must be above 0 and at most 50, got 75"),
    ({"take_profit_percent": 100}, "take_profit_percent: must be above 0 and below 100, got 100"),
    ({"size_usd": {"value": 100}}, "size_usd: must be a number"),
    ({"leverage": 20}, "leverage: is not a field of the decision"),
])
def test_a_field_out_of_the_schema_holds_naming_it(fields, reason):
    decision = parse_decision(answer(**fields), strategy(), EQUITY)
    assert (decision.action, decision.refusal) == (Action.HOLD, reason)


def test_a_decision_nested_in_another_object_holds():
    text = json.dumps({"decision": json.loads(answer())})
    decision = parse_decision(text, strategy(), EQUITY)
    assert decision.action is Action.HOLD
    assert decision.refusal == ("action: is required; confidence: is required; reasoning: is required; "
                                "decision: is not a field of the decision")


@pytest.mark.parametrize(("number", "shown"), [("1e400", "1E+400"), ("1" + "0" * 5000, "1" + "0" * 26 + "...")])
def test_huge_numbers_hold_without_floats(number, shown):
    text = answer(size_usd=1).replace('"size_usd": 1', f'"size_usd": {number}')
    decision = parse_decision(text, strategy(), EQUITY)
    assert decision.refusal == f"size_usd: must be at least 0.01 and at most 10,000,000, got {shown}"


def test_a_symbol_outside_the_target_assets_holds():
    decision = parse_decision(answer(symbol="DOGEUSDT"), strategy(), EQUITY)
    assert decision.refusal == "symbol: 'DOGEUSDT' is not one of this strategy's assets (BTCUSDT, ETH/USDT, PEPEUSDT)"


def test_a_close_of_a_symbol_outside_the_target_assets_holds():
    decision = parse_decision(answer(action="CLOSE", symbol="SOLUSDT"), strategy(), EQUITY)
    assert decision.action is Action.HOLD
    assert decision.refusal.startswith("symbol: 'SOLUSDT' is not one of this strategy's assets")


@pytest.mark.parametrize("spelling", ["BINANCE:BTCUSDT.P", "btc/usdt", "BTC/USDT:USDT", "btc_usdt"])
def test_symbols_compare_in_the_spelling_strategies_keep(spelling):
    decision = parse_decision(answer(symbol=spelling), strategy(), EQUITY)
    assert (decision.refusal, decision.symbol) == (None, "BTCUSDT")


@pytest.mark.parametrize(("size", "equity", "reason"), [
    (1000.01, EQUITY, "size_usd: 1000.01 is above the strategy's largest position, 1000 USD"),
    (9.99, EQUITY, "size_usd: 9.99 is below the strategy's smallest position, 10 USD"),
    (500, D(400), "size_usd: 500 is above the account's equity, 400 USD"),
    (500, None, "size_usd: the account's equity is not known, so no position is opened"),
    (500, D(0), "size_usd: the account's equity is not known, so no position is opened"),
    (500, D("NaN"), "size_usd: the account's equity is not known, so no position is opened"),
])
def test_an_entry_size_outside_the_limits_holds(size, equity, reason):
    decision = parse_decision(answer(size_usd=size), strategy(), equity)
    assert (decision.action, decision.refusal, decision.size_usd) == (Action.HOLD, reason, None)


def test_sizes_at_the_limits_are_taken():
    assert parse_decision(answer(size_usd=1000), strategy(), EQUITY).size_usd == D(1000)
    assert parse_decision(answer(size_usd=10), strategy(), EQUITY).size_usd == D(10)


def test_an_unlimited_strategy_is_held_to_its_profile_share_of_the_equity():
    unlimited = strategy(min_position_size_usd=None, max_position_size_usd=None)
    assert parse_decision(answer(size_usd=2500), unlimited, EQUITY).size_usd == D(2500)
    decision = parse_decision(answer(size_usd=2500.01), unlimited, EQUITY)
    assert decision.refusal == ("size_usd: 2500.01 is above 25% of the account's equity (2500 USD), "
                                "the most the balanced profile allows")


@pytest.mark.parametrize(("profile", "fields", "reason"), [
    ("conservative", {"confidence": 0.74},
     "confidence: 0.74 is below the 0.75 the conservative profile needs to open a position"),
    ("balanced", {"confidence": 0.59},
     "confidence: 0.59 is below the 0.6 the balanced profile needs to open a position"),
    ("aggressive", {"confidence": 0.49},
     "confidence: 0.49 is below the 0.5 the aggressive profile needs to open a position"),
    ("conservative", {"size_usd": 1000.01}, "size_usd: 1000.01 is above the strategy's largest position, 1000 USD"),
    ("conservative", {"stop_loss_percent": 2.5},
     "stop_loss_percent: 2.5 is above the 2% the conservative profile allows"),
    ("aggressive", {"stop_loss_percent": 10.1},
     "stop_loss_percent: 10.1 is above the 10% the aggressive profile allows"),
    ("balanced", {"stop_loss_percent": ...},
     "stop_loss_percent: is required to open a position under the balanced profile"),
])
def test_an_entry_outside_the_risk_profile_holds(profile, fields, reason):
    decision = parse_decision(answer(**fields), strategy(risk_profile=profile), EQUITY)
    assert (decision.action, decision.refusal) == (Action.HOLD, reason)


def test_the_conservative_share_of_the_equity():
    conservative = strategy(risk_profile="conservative", max_position_size_usd=None)
    assert parse_decision(answer(size_usd=1000), conservative, EQUITY).refusal is None
    assert parse_decision(answer(size_usd=1000.5), conservative, EQUITY).refusal == (
        "size_usd: 1000.5 is above 10% of the account's equity (1000 USD), the most the conservative profile allows")


def test_a_hold_or_close_needs_no_confidence_floor_nor_stop():
    for action in ("HOLD", "CLOSE"):
        decision = parse_decision(answer(action=action, confidence=0.1, stop_loss_percent=...), strategy(), EQUITY)
        assert (decision.action, decision.refusal) == (Action(action), None)


def test_a_close_is_not_held_to_the_equity():
    """Closing reduces risk: it is taken even when the account's equity is not known."""
    decision = parse_decision(answer(action="CLOSE", size_usd=...), strategy(), None)
    assert (decision.action, decision.refusal) == (Action.CLOSE, None)


def test_the_schema_text_is_the_parser_model():
    schema = json.loads(DECISION_SCHEMA)
    assert set(schema["properties"]) == set(DecisionAnswer.model_fields)
    assert schema["properties"]["action"]["enum"] == ["LONG", "SHORT", "CLOSE", "HOLD"]
    assert set(schema["required"]) == {"action", "confidence", "reasoning"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["confidence"]["minimum"] == 0 and schema["properties"]["confidence"]["maximum"] == 1
