"""A model's trading decision for one AI strategy, parsed so that it is always safe to act on.

The model is asked for one JSON object (`DECISION_SCHEMA`, generated from `DecisionAnswer`, so the
prompt and the parser cannot disagree). `parse_decision` never raises on what the model wrote:
anything it cannot take exactly as asked becomes HOLD, with `refusal` saying why, so the worker
records the reason and trades nothing. Refused: text that is not one JSON object (JSON inside one
markdown code fence is read), NaN or Infinity, a repeated key, a field that is not in the schema
(including a decision nested inside another object), a wrong type, an unknown action, a confidence
missing or outside 0..1, a symbol that is not one of the strategy's target assets, and an entry
size above the strategy's largest position, above the account's equity or below the strategy's
smallest position. Numbers are read as `Decimal` straight from the JSON text, never via float.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from sparky.ai.risk_profiles import RISK_RULES
from sparky.exchanges.symbols import joined
from sparky.signals.models import MAX_POSITION_USD, alert_symbol
from sparky.store.ai import AiStrategyRecord

#: longer answers are refused unread (a decision is a few hundred characters)
MAX_ANSWER_CHARS = 20_000
MAX_REASONING_CHARS = 2_000
#: the smallest position worth an order: one cent (a far smaller number is a model's slip)
MIN_SIZE_USD = Decimal("0.01")
#: stops beyond half the price and targets at or beyond the whole of it are not sane for a strategy
MAX_STOP_LOSS_PERCENT = Decimal(50)
MAX_TAKE_PROFIT_PERCENT = Decimal(100)


class Action(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    CLOSE = "CLOSE"
    HOLD = "HOLD"

    @property
    def opens(self) -> bool:
        return self in (Action.LONG, Action.SHORT)


def _action(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    name = value.strip().upper()
    if name not in Action.__members__:
        raise ValueError(f"must be one of {', '.join(Action)}, not {value[:40]!r}")
    return name


def _number(low: Decimal, high: Decimal, *, low_inclusive: bool, high_inclusive: bool = True) -> Any:
    """A JSON number (already Decimal) within bounds; anything else refused with the bounds named."""
    bounds = f"{'at least' if low_inclusive else 'above'} {low} and {'at most' if high_inclusive else 'below'} {high:,}"

    def check(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise ValueError("must be a number")
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError("must be a finite number")
        above_low = value >= low if low_inclusive else value > low
        below_high = value <= high if high_inclusive else value < high
        if not (above_low and below_high):
            raise ValueError(f"must be {bounds}, got {_short(value)}")
        return value

    return BeforeValidator(check)


def _short(value: Decimal) -> str:
    text = format(value, "f") if abs(value.adjusted()) < 20 else str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _schema(low: Decimal, high: Decimal, *, exclusive_low: bool = False, exclusive_high: bool = False) -> Any:
    return WithJsonSchema({"type": "number",
                           ("exclusiveMinimum" if exclusive_low else "minimum"): float(low),
                           ("exclusiveMaximum" if exclusive_high else "maximum"): float(high)})


SizeUsd = Annotated[Decimal | None, _number(MIN_SIZE_USD, MAX_POSITION_USD, low_inclusive=True),
                    _schema(MIN_SIZE_USD, MAX_POSITION_USD)]
Confidence = Annotated[Decimal, _number(Decimal(0), Decimal(1), low_inclusive=True), _schema(Decimal(0), Decimal(1))]
StopLoss = Annotated[Decimal | None, _number(Decimal(0), MAX_STOP_LOSS_PERCENT, low_inclusive=False),
                     _schema(Decimal(0), MAX_STOP_LOSS_PERCENT, exclusive_low=True)]
TakeProfit = Annotated[Decimal | None,
                       _number(Decimal(0), MAX_TAKE_PROFIT_PERCENT, low_inclusive=False, high_inclusive=False),
                       _schema(Decimal(0), MAX_TAKE_PROFIT_PERCENT, exclusive_low=True, exclusive_high=True)]


class DecisionAnswer(BaseModel):
    """The JSON object the model answers with (its JSON schema is `DECISION_SCHEMA`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Decision")

    action: Annotated[Literal["LONG", "SHORT", "CLOSE", "HOLD"], BeforeValidator(_action)] = Field(
        description="LONG or SHORT opens a position of size_usd; CLOSE closes this asset's whole position; "
                    "HOLD does nothing")
    symbol: str | None = Field(None, min_length=1, max_length=40,
                               description="one of the strategy's target assets, as listed; required "
                                           "unless the action is HOLD")
    size_usd: SizeUsd = Field(None, description="the position's size in USD; required for LONG and SHORT, "
                                                "ignored otherwise")
    confidence: Confidence = Field(description="how sure you are, from 0 to 1")
    reasoning: str = Field(min_length=1, max_length=MAX_REASONING_CHARS, description="why, in a few sentences")
    stop_loss_percent: StopLoss = Field(None, description="stop loss distance from the entry, in percent")
    take_profit_percent: TakeProfit = Field(None, description="take profit distance from the entry, in percent")

    @model_validator(mode="after")
    def _complete(self) -> DecisionAnswer:
        action = Action(self.action)
        if action is not Action.HOLD and self.symbol is None:
            raise ValueError(f"symbol: is required for {action}")
        if action.opens and self.size_usd is None:
            raise ValueError(f"size_usd: is required for {action}")
        return self


#: the schema text the prompt gives the model (one source of truth: the model above)
DECISION_SCHEMA = json.dumps({key: value for key, value in DecisionAnswer.model_json_schema().items()
                              if key != "description"}, indent=2)


@dataclass(frozen=True)
class Decision:
    """What the worker acts on. `refusal` is None when the model's answer was taken as written;
    otherwise the action is HOLD and `refusal` says what was wrong with the answer."""

    action: Action
    symbol: str | None = None
    size_usd: Decimal | None = None
    confidence: Decimal | None = None
    reasoning: str = ""
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    refusal: str | None = None


def hold(reason: str) -> Decision:
    return Decision(Action.HOLD, refusal=reason)


class _Refused(ValueError):
    pass


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


def _json_text(raw: str) -> str:
    text = raw.strip()
    if text.startswith(("{", "[")):
        return text
    blocks = _FENCE.findall(text)
    if len(blocks) > 1:
        raise _Refused(f"the answer has {len(blocks)} code blocks; one JSON object is expected")
    return blocks[0].strip() if blocks else text


def _no_constants(name: str) -> Any:
    raise _Refused(f"the answer is not JSON: {name} is not a number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the answer repeats the key {key[:40]!r}")
        out[key] = value
    return out


def _load(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw.strip():
        raise _Refused("the answer is empty")
    if len(raw) > MAX_ANSWER_CHARS:
        raise _Refused(f"the answer is longer than {MAX_ANSWER_CHARS:,} characters")
    try:
        data = json.loads(_json_text(raw), parse_float=Decimal, parse_int=Decimal,
                          parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise _Refused(f"the answer is not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise _Refused("the answer is not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise _Refused(f"the answer must be one JSON object, not {type(data).__name__}")
    return data


def _errors(err: ValidationError) -> str:
    parts = []
    for error in err.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"])
        kind = error["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a field of the decision"
        elif kind == "string_type":
            message = "must be a string"
        elif kind == "string_too_short":
            message = "must not be empty"
        elif kind == "string_too_long":
            message = f"must be at most {error.get('ctx', {}).get('max_length')} characters"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def canonical(symbol: str) -> str:
    """The spelling AI strategies keep (`BTC/USDT`, `binance:btcusdt.p` → `BTCUSDT`)."""
    return joined(alert_symbol(symbol))


def _strategy_symbol(symbol: str, strategy: AiStrategyRecord) -> str:
    targets: dict[str, str] = {}
    for asset in strategy.target_assets:
        try:
            targets.setdefault(canonical(asset), asset)
        except ValueError:
            continue  # a stored asset that is no ticker matches nothing
    try:
        key = canonical(symbol)
    except ValueError:
        key = None
    if key not in targets:
        raise _Refused(f"symbol: {symbol[:40]!r} is not one of this strategy's assets "
                       f"({', '.join(strategy.target_assets)})")
    return targets[key]


def _check_size(size: Decimal, strategy: AiStrategyRecord, equity_usd: Decimal | None) -> None:
    most, least = strategy.max_position_size_usd, strategy.min_position_size_usd
    if most is not None and size > most:
        raise _Refused(f"size_usd: {_short(size)} is above the strategy's largest position, {most} USD")
    if least is not None and size < least:
        raise _Refused(f"size_usd: {_short(size)} is below the strategy's smallest position, {least} USD")
    if not isinstance(equity_usd, Decimal) or not equity_usd.is_finite() or equity_usd <= 0:
        raise _Refused("size_usd: the account's equity is not known, so no position is opened")
    if size > equity_usd:
        raise _Refused(f"size_usd: {_short(size)} is above the account's equity, {equity_usd} USD")


def _check_profile(answer: DecisionAnswer, strategy: AiStrategyRecord, equity_usd: Decimal) -> None:
    """The entry rules of the strategy's risk profile, as the prompt states them."""
    rules = RISK_RULES.get(strategy.risk_profile)
    if rules is None:
        raise _Refused(f"the strategy's risk profile {strategy.risk_profile!r} has no rules, so no position is opened")
    profile = f"the {strategy.risk_profile} profile"
    if answer.confidence < rules.min_confidence:
        raise _Refused(f"confidence: {answer.confidence} is below the {rules.min_confidence} {profile} needs "
                       "to open a position")
    share = equity_usd * rules.max_equity_percent / 100
    if answer.size_usd is not None and answer.size_usd > share:
        raise _Refused(f"size_usd: {_short(answer.size_usd)} is above {rules.max_equity_percent}% of the account's "
                       f"equity ({_short(share)} USD), the most {profile} allows")
    if answer.stop_loss_percent is None:
        raise _Refused(f"stop_loss_percent: is required to open a position under {profile}")
    if answer.stop_loss_percent > rules.max_stop_loss_percent:
        raise _Refused(f"stop_loss_percent: {answer.stop_loss_percent} is above the {rules.max_stop_loss_percent}% "
                       f"{profile} allows")


def parse_decision(raw_text: Any, strategy: AiStrategyRecord, equity_usd: Decimal | None) -> Decision:
    """The model's answer as a Decision that is safe to act on; HOLD with `refusal` for anything
    else (see the module docstring). Never raises on the answer."""
    try:
        try:
            answer = DecisionAnswer.model_validate(_load(raw_text))
        except ValidationError as err:
            raise _Refused(_errors(err)) from None
        action = Action(answer.action)
        symbol = None if answer.symbol is None else _strategy_symbol(answer.symbol, strategy)
        if action.opens:
            assert answer.size_usd is not None  # DecisionAnswer requires it for an entry
            _check_size(answer.size_usd, strategy, equity_usd)
            assert equity_usd is not None  # _check_size refuses an unknown equity
            _check_profile(answer, strategy, equity_usd)
    except _Refused as refused:
        return hold(str(refused))
    except (ValueError, TypeError, ArithmeticError) as err:  # a case not foreseen: still never trade on it
        return hold(f"the answer could not be read: {type(err).__name__}")
    opens = action.opens
    return Decision(
        action=action, symbol=symbol, confidence=answer.confidence, reasoning=answer.reasoning,
        size_usd=answer.size_usd if opens else None,
        stop_loss_percent=answer.stop_loss_percent if opens else None,
        take_profit_percent=answer.take_profit_percent if opens else None,
    )
