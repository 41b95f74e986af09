"""Settings for a command, or one line per bad setting named as the user wrote it (no traceback)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from sparky.config import Settings

#: never echoed back: a typo'd secret is still mostly the secret
SECRET_FIELDS = frozenset({"webhook_secret", "admin_token", "supabase_service_role_key", "signalstudio_forward_secret",
                           "groq_api_key"})


class InvalidSettings(Exception):
    """The settings cannot be used; str() is one line per problem, each naming the setting."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise InvalidSettings("\n".join(describe(error) for error in err.errors())) from None
    except SettingsError as err:
        # pydantic-settings could not decode a JSON setting (PLAN_LIMITS, PAPER_SYMBOL_RULES)
        match = re.search(r'field "(\w+)"', str(err))
        name = match.group(1).upper() if match else "a setting"
        raise InvalidSettings(f"{name}: not valid JSON ({err.__cause__ or err})") from None


def describe(error: Any) -> str:
    """`LOG_LEVEL: Input should be 'DEBUG', … (got 'garbage')` from one pydantic error."""
    message = str(error["msg"]).removeprefix("Value error, ")
    location = [str(part) for part in error.get("loc", ())]
    if not location:  # a rule across settings: its message names them
        return message
    field, *inside = location
    name = field.upper() + "".join(f"[{part}]" for part in inside if not _is_type_tag(part))
    shown = error.get("input")
    if field in SECRET_FIELDS or isinstance(shown, dict) or error["type"] == "value_error":
        return f"{name}: {message}"
    return f"{name}: {message} (got {str(shown)[:80]!r})"


def _is_type_tag(part: str) -> bool:
    """pydantic adds the union member tried (`int`, `function-after[...]`) to the location."""
    return part in ("int", "str", "float", "decimal", "bool", "none", "is-instance[Path]") or "[" in part
