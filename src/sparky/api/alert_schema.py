"""The alert's JSON schema for the API docs (`/docs`, `/openapi.json`), made from `Signal`.

POST /webhook reads its raw body itself (JSON, JSON sent as text/plain, or a form), so FastAPI
cannot infer the body; the route declares this schema instead. It is derived from the model the
webhook validates with, so a field added there shows up here; what the model does not say is
added: the `secret` (taken out before validation), and the words `action` and `sentiment` accept
(the model lists the actions they resolve to).
"""

from __future__ import annotations

from typing import Any

from sparky.signals.actions import ACTION_ALIASES, SENTIMENT_ALIASES
from sparky.signals.models import Signal

SECRET_FIELD = {
    "type": "string",
    "description": "Your webhook secret (WEBHOOK_SECRET, or a user's own). Not needed on SignalStudio forwards "
                   "signed with X-Sparky-Signature.",
}
ACTION_FIELD = {
    "type": "string",
    "enum": sorted(ACTION_ALIASES),
    "description": "What to do (any case): long/buy opens a long, short/sell a short (reversing the other side); "
                   "close/flat/exit closes; close_long / close_short close that side only",
}
SENTIMENT_FIELD = {
    "anyOf": [{"type": "string", "enum": sorted(SENTIMENT_ALIASES)}, {"type": "null"}],
    "description": "The position after the order ({{strategy.market_position}}): with action buy/sell, an exit "
                   "ending flat only closes, a partial exit is skipped",
}


def alert_schema() -> dict[str, Any]:
    schema = Signal.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})
    properties = {name: _inline(value, definitions) for name, value in schema["properties"].items()}
    properties.update(action=ACTION_FIELD, sentiment=SENTIMENT_FIELD)
    return {
        "title": "Alert",
        "type": "object",
        "description": "A TradingView alert message (docs/TRADINGVIEW.md). Numbers may be JSON numbers or strings; "
                       "fields not listed are ignored (kept in the request's record).",
        "properties": {"secret": SECRET_FIELD, **properties},
        "required": schema.get("required", []),
        "additionalProperties": True,
    }


def _inline(value: Any, definitions: dict[str, Any]) -> Any:
    """`value` with every `#/$defs/…` reference replaced by the definition (the docs have no $defs)."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return {**_inline(definitions[ref.removeprefix("#/$defs/")], definitions), **rest}
        return {key: _inline(item, definitions) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline(item, definitions) for item in value]
    return value
