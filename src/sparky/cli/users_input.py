"""What `sparky users …` accepts: the argument types (argparse turns their errors into a usage
error with exit status 2), the names it reserves, and `InputError` for input refused later."""

from __future__ import annotations

import argparse
import re
import uuid
from decimal import Decimal, InvalidOperation

from sparky.signals.trading_window import PRESETS, parse_custom_window
from sparky.store.tenants import DEFAULT_PLAN_LIMITS

#: the legacy single user of embedded mode (sparky.signals.auth.LOCAL_USER_ID); not a local user
RESERVED_USER_ID = "00000000-0000-0000-0000-000000000000"
WEBHOOK_EXCHANGE = "webhook"
#: the bot_credentials environment the server reads (like the dashboard, it keys every row so)
PRODUCTION = "production"
#: environment variables that keep exchange secrets out of the shell history (a flag wins)
SECRET_ENV = {
    "api_key": "SPARKY_API_KEY",
    "api_secret": "SPARKY_API_SECRET",
    "passphrase": "SPARKY_PASSPHRASE",
    "access_token": "SPARKY_ACCESS_TOKEN",
}
#: extra_metadata keys the dedicated flags own
RESERVED_OPTIONS = {"environment": "--environment", "apiUrl": "--api-url", "access_token": "--access-token"}
SENSITIVE_OPTION = re.compile(r"key|secret|token|pass|private|seed|mnemonic", re.IGNORECASE)
ENVIRONMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_WINDOW = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class InputError(Exception):
    """Bad input: reported on stderr with exit status 2; nothing was stored."""


# --- argument types (argparse turns their errors into `usage … error: …` and exit status 2) -------


def plan_name(text: str) -> str:
    """A plan name in any case → its canonical spelling."""
    for plan in DEFAULT_PLAN_LIMITS:
        if plan.lower() == text.strip().lower():
            return plan
    raise argparse.ArgumentTypeError(f"unknown plan {text!r}: choose {plan_names()}")


def plan_names() -> str:
    names = list(DEFAULT_PLAN_LIMITS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def user_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a user id (a UUID)") from None


def email_address(text: str) -> str:
    email = text.strip()
    if len(email) > 320 or not _EMAIL.match(email):
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address")
    return email


def count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 means unlimited), got {text!r}")
    return value


def usd(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0 means unlimited), got {text!r}")
    return value


def preset(text: str) -> str:
    preset = text.strip().lower()
    if preset not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown preset {text!r}: choose one of {', '.join(PRESETS)}")
    return preset


#: the trade settings `sparky users settings` sets, as their flags name them
SETTING_NAMES = ("trading-hours-preset", "trading-window", "allow-weekends", "max-trades-per-day",
                 "max-trades-per-week", "max-loss-per-week-usd", "max-open-positions", "max-position-size-usd",
                 "max-signal-age-sec")


def setting_name(text: str) -> str:
    """A setting's flag name (`max-open-positions`, with or without `--`) → its field name."""
    name = text.strip().lower().removeprefix("--").replace("_", "-")
    if name not in SETTING_NAMES:
        raise argparse.ArgumentTypeError(f"unknown setting {text!r}: choose one of {', '.join(SETTING_NAMES)}")
    return name.replace("-", "_")


def utc_window(text: str) -> list[str]:
    """`HH:MM-HH:MM` (UTC, 00:00–23:59) → ["HH:MM", "HH:MM"], zero-padded."""
    match = _WINDOW.match(text)
    parsed = parse_custom_window([match.group(1), match.group(2)]) if match else None
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a window: expected HH:MM-HH:MM in UTC, e.g. 13:30-20:00 "
            "(a start after the end crosses midnight)"
        )
    return [f"{minutes // 60:02d}:{minutes % 60:02d}" for minutes in parsed]


def venue_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _OPTION_KEY.match(key):
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value (e.g. market_type=swap)")
    return key, value
