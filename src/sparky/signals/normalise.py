"""Validate alert fields into a `Signal`, with errors that name the field."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydantic import ValidationError

from sparky.errors import BadRequest
from sparky.signals.models import Signal
from sparky.signals.options import CANONICAL as OPTION_NAMES

#: fields that never reach the typed signal or the stored payload
SECRET_FIELDS = ("secret", "webhook_secret", "webhookSecret")


def _canonical_names() -> dict[str, str]:
    """alias → field name, so errors always name the field as documented."""
    names = {}
    for name, info in Signal.model_fields.items():
        names[name] = name
        choices = getattr(info.validation_alias, "choices", ())
        for alias in choices:
            names[str(alias)] = name
    return names


_CANONICAL = _canonical_names()


def _field_name(error: Any) -> str:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    if loc and loc[0] == "option":  # the option terms are the alert's own top-level fields
        loc = [OPTION_NAMES.get(part, part) for part in loc[1:]]
    if loc:
        return _CANONICAL.get(loc[0], loc[0])
    message = str(error.get("msg", ""))
    head = message.removeprefix("Value error, ").split(":", 1)[0]
    return head if head.isidentifier() else "body"


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    field = _field_name(error)
    if error.get("type") == "missing":
        message = "is required"
    message = message.removeprefix(f"{field}: ")
    return f"Invalid field '{field}': {message}"


def build_signal(fields: dict[str, Any], supported: Collection[str] | Callable[[str], bool],
                 available: Collection[str] | None = None) -> Signal:
    """Validate `fields`; `supported` says which exchanges this sender may use."""
    try:
        signal = Signal.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise BadRequest(_message(first), field=_field_name(first)) from None
    accepts = supported if callable(supported) else supported.__contains__
    if not accepts(signal.exchange):
        names = available if available is not None else supported
        raise BadRequest(
            f'Exchange "{signal.exchange}" not supported. Available exchanges: ' + ", ".join(sorted(names)),
            field="exchange",
        )
    return signal


def public_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """The body as received, minus secrets: what `webhook_requests.payload` keeps."""
    return {key: value for key, value in fields.items() if key not in SECRET_FIELDS}
