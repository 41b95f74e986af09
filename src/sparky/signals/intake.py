"""Turn a raw request body into a dict of alert fields.

TradingView sends `text/plain` whenever it does not consider the message JSON, so the body is
parsed by its content, whatever the header says. Form-urlencoded bodies are accepted as the
original did. Numbers are parsed as `Decimal` so prices keep every digit the alert carried.
Every body is read within the limits of `signals/bounds.py`, whatever its type.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from sparky.errors import BadRequest
from sparky.signals.bounds import MAX_KEYS, Refused, Screened, loads, may_need_screening, screen

_JSON_HINT = ('The alert message must be a JSON object, e.g. {"secret": "...", "action": "buy", '
              '"symbol": "BTCUSDT", "exchange": "paper"}')


def read_body(raw: bytes, content_type: str | None) -> Screened:
    """The body's fields, and the first value the limits refused (left out of the fields).

    Raises `BadRequest` when there is no object of fields to speak of (not UTF-8, not JSON, too
    deeply nested, too many values or fields).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("Body is not UTF-8 text", field="body") from None
    text = text.strip()
    if not text:
        raise BadRequest("Empty request body", field="body", hint="Send the alert as a JSON object")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" and not text.startswith("{"):
        return screen(_form_fields(text))
    try:
        data, refused = loads(text)
    except json.JSONDecodeError as err:
        raise BadRequest(f"Body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})",
                         field="body", hint=_JSON_HINT) from None
    if isinstance(data, Refused) and text.startswith("{"):
        raise BadRequest(f"Body has more than {MAX_KEYS} fields", field="body")
    if not isinstance(data, dict):
        raise BadRequest("Body must be a JSON object", field="body")
    return screen(data) if may_need_screening(text, refused) else Screened(data)


def _form_fields(text: str) -> dict[str, Any]:
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_KEYS))
    except ValueError:  # the only one parse_qsl raises without strict_parsing: too many fields
        raise BadRequest(f"Form body has more than {MAX_KEYS} fields", field="body") from None
    if not fields:
        raise BadRequest("Form body has no fields", field="body")
    return fields


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body's fields; any refused value is a `BadRequest` naming its field."""
    body = read_body(raw, content_type)
    if body.refusal is not None:
        raise body.refusal
    return body.fields
