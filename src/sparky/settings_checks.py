"""Checks on single settings that pydantic's types cannot express, each failing with what to set.

`Settings` (config.py) calls these from its validators; the CLI turns the failures into one line
per setting, named as the user wrote it (LOG_LEVEL, not log_level).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

#: optional settings where an empty value (`LOG_FORMAT=` as in .env.example) means "not set"
BLANK_MEANS_UNSET = (
    "webhook_secret", "admin_token", "config_path", "redis_url", "supabase_url", "supabase_service_role_key",
    "signalstudio_forward_secret", "log_format",
)
#: enum-like settings compared without regard to case (`LOG_LEVEL=debug`, `SQLITE_SYNCHRONOUS=normal`)
ANY_CASE = ("log_level", "sqlite_synchronous", "sparky_env", "log_format")
CASE_UPPER = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FULL", "NORMAL"}

PAPER_RULE_FIELDS = {"tick_size", "step_size", "min_quantity", "min_notional"}
PAPER_RULE_EXAMPLE = '{"BTCUSDT": {"tick_size": "0.1", "step_size": "0.001"}}'


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def normalise_case(value: Any) -> Any:
    """The spelling the Literal types list: upper-case levels and modes, lower-case names."""
    if not isinstance(value, str):
        return value
    word = value.strip()
    return word.upper() if word.upper() in CASE_UPPER else word.lower()


def listen_host(value: str) -> str:
    host = value.strip()
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise ValueError("must be an address to listen on, such as 0.0.0.0 (every interface) or 127.0.0.1 "
                         f"(this machine only), got {value!r}")
    return host


def data_dir(value: Any) -> Any:
    """Before conversion to Path, which would read an empty SPARKY_DATA_DIR as the current directory."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must name a directory (default ./data)")
    if isinstance(value, str | Path) and Path(value).exists() and not Path(value).is_dir():
        raise ValueError(f"{value} exists and is not a directory")
    return value


def config_file(path: Path, load: Callable[[Path], object]) -> Path:
    """The legacy config.json must exist and parse: a typo must not start a server without its venues."""
    if not path.exists():
        raise ValueError(f"{path} does not exist (unset CONFIG_PATH to run without a config.json)")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        load(path)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ValueError(f"{path}: {where}: {first['msg']}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} cannot be read: {err}") from None
    return path


def url(value: str | None, schemes: tuple[str, ...], example: str) -> str | None:
    if value is None:
        return None
    if not value.strip().lower().startswith(tuple(f"{s}://" for s in schemes)):
        raise ValueError(f"must be a URL such as {example}")
    return value.strip()


def paper_symbol_rules(rules: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    """Every symbol needs a positive tick_size and step_size; the minimums are optional."""
    for symbol, fields in rules.items():
        unknown = sorted(set(fields) - PAPER_RULE_FIELDS)
        if unknown:
            raise ValueError(f"{symbol}: unknown {', '.join(unknown)} (known: {', '.join(sorted(PAPER_RULE_FIELDS))})")
        missing = [name for name in ("tick_size", "step_size") if name not in fields]
        if missing:
            raise ValueError(f"{symbol}: {' and '.join(missing)} missing, e.g. {PAPER_RULE_EXAMPLE}")
        for name, number in fields.items():
            if number < 0 or (number == 0 and name in ("tick_size", "step_size")):
                raise ValueError(f"{symbol}: {name} must be {'positive' if 'size' in name else '0 or more'}")
    return rules
