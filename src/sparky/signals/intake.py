"""Turn a raw request body into a dict of alert fields.

TradingView sends `text/plain` whenever it does not consider the message JSON, so the body is
parsed by its content, whatever the header says. Form-urlencoded bodies are accepted as the
original did. Numbers are parsed as `Decimal` so prices keep every digit the alert carried.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from sparky.errors import BadRequest


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"Body is not valid JSON: {name} is not a number JSON allows")


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("Body is not UTF-8 text") from None
    text = text.strip()
    if not text:
        raise BadRequest("Empty request body", hint="Send the alert as a JSON object")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" and not text.startswith("{"):
        fields = dict(parse_qsl(text, keep_blank_values=True))
        if not fields:
            raise BadRequest("Form body has no fields")
        return fields
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise BadRequest(
            f"Body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})",
            hint='The alert message must be a JSON object, e.g. {"secret": "...", "action": "buy", '
            '"symbol": "BTCUSDT", "exchange": "paper"}',
        ) from None
    if not isinstance(data, dict):
        raise BadRequest("Body must be a JSON object")
    return data
