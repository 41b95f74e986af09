"""The `sparky users` subcommands: each gets the open store and the parsed arguments, does one
thing and prints what it did; bad input raises `InputError` before anything is stored."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import uuid
from dataclasses import replace
from typing import Any

from sparky.cli.users_input import (
    ENVIRONMENT_NAME,
    PRODUCTION,
    RESERVED_OPTIONS,
    RESERVED_USER_ID,
    SECRET_ENV,
    SENSITIVE_OPTION,
    WEBHOOK_EXCHANGE,
    InputError,
)
from sparky.exchanges.factory import is_supported
from sparky.plan_limits import monthly_limit
from sparky.signals.template import template_notes, tradingview_alert
from sparky.signals.trading_window import EXTENDED_HOURS
from sparky.store.base import utcnow
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import DEFAULT_PLAN_LIMITS, CredentialRecord, LocalUser, TradeSettings, secret_digest


async def require_user(store: SqliteStore, user_id: str) -> LocalUser:
    for user in await store.list_local_users():
        if user.id == user_id:
            return user
    raise InputError(f"no user {user_id} (see `sparky users list`)")


def exchange_name(name: str) -> str:
    exchange = name.strip().lower()
    if exchange == WEBHOOK_EXCHANGE or not is_supported(exchange):
        raise InputError(
            f"unknown exchange {name!r}: use paper, aster, oanda, tradier or a ccxt exchange id "
            "(e.g. binanceusdm, bybit)"
        )
    return exchange


def _limit(plan: str) -> int | None:
    """Webhooks a UTC month on this plan (None: unlimited), by the server's own rule: an unknown
    plan gets Free's limit."""
    return monthly_limit(DEFAULT_PLAN_LIMITS, plan)


def _limit_text(plan: str) -> str:
    limit = _limit(plan)
    return "unlimited" if limit is None else f"{limit}/month"


def _usage_text(plan: str, used: int) -> str:
    """This month's count against the plan's limit: `3/5`, or `3` when unlimited."""
    limit = _limit(plan)
    return str(used) if limit is None else f"{used}/{limit}"


def _plan_text(plan: str) -> str:
    limit = _limit(plan)
    return f"{plan} (" + ("unlimited webhooks" if limit is None else f"{limit} webhooks a month") + ")"


def _mask(value: str) -> str:
    """All but the last 4 characters hidden; a value too short to show any of it, all hidden."""
    return "****" + value[-4:] if len(value) >= 8 else "****"


async def _store_new_secret(store: SqliteStore, user_id: str) -> str:
    """A new webhook secret for the user; only its digest is stored (replacing any earlier one)."""
    secret = secrets.token_urlsafe(32)
    current = await store.get_credentials(user_id, WEBHOOK_EXCHANGE, PRODUCTION)
    record = CredentialRecord(user_id=user_id, exchange=WEBHOOK_EXCHANGE, environment=PRODUCTION)
    if current is not None:
        record = replace(record, id=current.id, label=current.label, created_at=current.created_at)
    await store.upsert_credentials(replace(record, webhook_secret=secret_digest(secret)))
    return secret


def _print_secret(secret: str) -> None:
    print("Webhook secret (shown only now: Sparky stores only its SHA-256 digest, so it cannot be "
          "shown again):")
    print(f"  {secret}")
    print()
    print("TradingView alert message (paste into the alert's Message box; TradingView fills in the "
          "{{...}} placeholders):")
    print(f"  {json.dumps(tradingview_alert(secret))}")
    for note in template_notes():
        print(f"  {note}")


# --- the subcommands --------------------------------------------------------------------------------


async def add_user(store: SqliteStore, args: argparse.Namespace) -> None:
    user_id = args.user_id or str(uuid.uuid4())
    if user_id == RESERVED_USER_ID:
        raise InputError(f"{user_id} is reserved for the legacy single user (WEBHOOK_SECRET)")
    users = await store.list_local_users()
    if any(u.id == user_id for u in users):
        raise InputError(f"user {user_id} exists")
    if args.email is not None:
        clash = next((u for u in users if (u.email or "").lower() == args.email.lower()), None)
        if clash is not None:
            raise InputError(f"{args.email} is already user {clash.id}")
    try:
        await store.add_local_user(LocalUser(id=user_id, email=args.email, plan=args.plan))
    except ValueError as err:  # created by someone else in between
        raise InputError(str(err)) from None
    secret = await _store_new_secret(store, user_id)
    email = f", email {args.email}" if args.email else ""
    print(f"Created user {user_id}: plan {_plan_text(args.plan)}{email}")
    print()
    _print_secret(secret)
    print()
    print(f"Lost it? `sparky users secret {user_id}` makes a new one (the old one stops working).")


async def rotate_secret(store: SqliteStore, args: argparse.Namespace) -> None:
    await require_user(store, args.user_id)
    secret = await _store_new_secret(store, args.user_id)
    print(f"New webhook secret for user {args.user_id}; the old one no longer authenticates "
          "(a server running on this data dir notices within about 2 seconds).")
    print()
    _print_secret(secret)


async def store_credentials(store: SqliteStore, args: argparse.Namespace) -> None:
    await require_user(store, args.user_id)
    exchange = exchange_name(args.exchange)
    if exchange == "paper":
        raise InputError("paper needs no credentials: every user has their own paper account")
    environment = args.environment.strip().lower()
    if not ENVIRONMENT_NAME.match(environment):
        raise InputError(f"{args.environment!r} is not an environment (e.g. production, practice, "
                         "sandbox, testnet)")
    if args.api_url is not None and not args.api_url.startswith(("https://", "http://")):
        raise InputError(f"--api-url must start with https:// or http://, got {args.api_url!r}")

    given: dict[str, tuple[str, str]] = {}  # field → (value, where it came from)
    for name, env_var in SECRET_ENV.items():
        flag = getattr(args, name)
        if flag:
            given[name] = (flag, "--" + name.replace("_", "-"))
        elif os.environ.get(env_var):
            given[name] = (os.environ[env_var], env_var)
    if args.account_id:
        given["account_id"] = (args.account_id, "--account-id")

    extra: dict[str, Any] = {}
    for key, option in args.option or []:
        if key in RESERVED_OPTIONS:
            raise InputError(f"--option {key}=… is set with {RESERVED_OPTIONS[key]}")
        extra[key] = option
    if environment != PRODUCTION:
        extra["environment"] = environment
    if args.api_url is not None:
        extra["apiUrl"] = args.api_url
    if "access_token" in given:
        extra["access_token"] = given["access_token"][0]
    if not given and not extra:
        raise InputError("nothing to store: give --api-key/--api-secret (or SPARKY_API_KEY/"
                         "SPARKY_API_SECRET), --access-token, --account-id or --option")

    def value(name: str) -> str | None:
        return given[name][0] if name in given else None

    current = await store.get_credentials(args.user_id, exchange, PRODUCTION)
    record = CredentialRecord(
        user_id=args.user_id,
        exchange=exchange,
        environment=PRODUCTION,
        api_key=value("api_key"),
        api_secret=value("api_secret"),
        passphrase=value("passphrase"),
        account_id=value("account_id"),
        extra_metadata=extra,
    )
    if current is not None:
        record = replace(record, id=current.id, label=current.label, created_at=current.created_at)
    await store.upsert_credentials(record)

    def shown(name: str, secret: bool) -> str:
        if name not in given:
            return "not set"
        text, source = given[name]
        masked = _mask(text) if name == "api_key" else ("set" if secret else text)
        return masked if source.startswith("--") else f"{masked} (from {source})"

    verb = "Replaced" if current is not None else "Stored"
    print(f"{verb} {exchange} credentials for user {args.user_id}:")
    rows = [
        ("environment", environment),
        ("api key", shown("api_key", True)),
        ("api secret", shown("api_secret", True)),
        ("passphrase", shown("passphrase", True)),
        ("access token", shown("access_token", True)),
        ("account id", shown("account_id", False)),
        ("api url", args.api_url or "default"),
    ]
    options = [
        f"{k}=****" if SENSITIVE_OPTION.search(k) else f"{k}={v}"
        for k, v in sorted(args.option or [])
    ]
    if options:
        rows.append(("options", ", ".join(options)))
    for label, text in rows:
        print(f"  {label:<13} {text}")


_SETTINGS_FIELDS = (
    # (TradeSettings field, argparse dest, label)
    ("trading_hours_preset", "trading_hours_preset", "trading hours preset"),
    ("trading_window", "trading_window", "trading window"),
    ("allow_weekends", "allow_weekends", "allow weekends"),
    ("max_trades_per_day", "max_trades_per_day", "max trades per day"),
    ("max_trades_per_week", "max_trades_per_week", "max trades per week"),
    ("max_loss_per_week_usd", "max_loss_per_week_usd", "max loss per week usd"),
    ("max_open_positions", "max_open_positions", "max open positions"),
    ("max_position_size_usd", "max_position_size_usd", "max position size usd"),
    ("max_signal_age_sec", "max_signal_age_sec", "max signal age sec"),
)
_LABELS = {field: label for field, _, label in _SETTINGS_FIELDS}


def _setting_text(settings: TradeSettings, name: str) -> str:
    """What the server enforces for one setting that is set."""
    value = getattr(settings, name)
    if name == "trading_window":
        shown = "-".join(value) + " UTC" if isinstance(value, list) else repr(value)
        if settings.trading_hours_preset == "market-hours" and isinstance(value, list) and len(value) == 2:
            extended = tuple(value) == EXTENDED_HOURS  # the dashboard's "extended hours", New York time
            return f"{'-'.join(value)} America/New_York ({'extended hours' if extended else 'not used: regular session'})"
        return shown if settings.trading_hours_preset == "custom" else f"{shown} (not used: the preset is not custom)"
    if name == "allow_weekends":
        return "yes" if value else "no (Saturday and Sunday are refused)"
    if name in ("max_trades_per_day", "max_trades_per_week", "max_loss_per_week_usd",
                "max_open_positions", "max_position_size_usd") and value == 0:
        return "0 (unlimited)"
    if name == "max_signal_age_sec" and value == 0:
        return "0 (not checked)"
    return str(value)


def _settings_changes(args: argparse.Namespace, current: TradeSettings | None) -> dict[str, Any]:
    """The fields to store: those given (a value) and those to clear (None)."""
    changes = {field: getattr(args, dest) for field, dest, _ in _SETTINGS_FIELDS if getattr(args, dest) is not None}
    for field in args.unset or []:
        if field in changes:
            raise InputError(f"--unset {field.replace('_', '-')} and a value for it: choose one")
        changes[field] = None
    if args.trading_window is not None and changes.get("trading_hours_preset", "custom") != "custom":
        raise InputError(f"--trading-window applies only to the custom preset, not {changes['trading_hours_preset']!r}")
    if args.trading_window is not None:
        changes["trading_hours_preset"] = "custom"  # a window only applies to the custom preset
    preset = changes.get("trading_hours_preset", current.trading_hours_preset if current else None)
    window = changes.get("trading_window", current.trading_window if current else None)
    if preset == "custom" and window is None:
        raise InputError("the custom preset needs a window: add --trading-window HH:MM-HH:MM (UTC)")
    return changes


async def change_settings(store: SqliteStore, args: argparse.Namespace) -> None:
    """Store the settings given; every other one keeps its value, and one never set limits nothing.
    Then show exactly what the server enforces."""
    await require_user(store, args.user_id)
    exchange = exchange_name(args.exchange)
    current = await store.get_trade_settings(args.user_id, exchange)
    changes = _settings_changes(args, current)
    before = current or TradeSettings(user_id=args.user_id, exchange=exchange)
    after = replace(before, **changes)
    if changes:
        await store.upsert_trade_settings(after)
        print(f"Trade settings of user {args.user_id} on {exchange} (* changed):")
    else:
        state = "stored" if current is not None else "nothing stored"
        print(f"Trade settings of user {args.user_id} on {exchange} ({state}; no change given):")
    unset = []
    for field, _, label in _SETTINGS_FIELDS:
        mark = "*" if field in changes and getattr(before, field) != changes[field] else " "
        if getattr(after, field) is not None:
            print(f" {mark}{label:<22} {_setting_text(after, field)}")
        elif mark == "*":
            print(f" *{label:<22} not set (cleared)")
        else:
            unset.append(label)
    if unset and len(unset) == len(_SETTINGS_FIELDS):
        print("  nothing is set: no limit applies on this exchange")
    elif unset:
        print(f"  not set, so not limited: {', '.join(unset)}")


async def change_plan(store: SqliteStore, args: argparse.Namespace) -> None:
    user = await require_user(store, args.user_id)
    try:
        await store.set_plan(args.user_id, args.plan)
    except KeyError:
        raise InputError(f"no user {args.user_id} (see `sparky users list`)") from None
    print(f"User {args.user_id}: plan {_plan_text(args.plan)}, was {user.plan}")


def _credential_exchanges(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT user_id, exchange, environment, extra_metadata FROM bot_credentials"
        " WHERE exchange <> ? ORDER BY exchange, environment",
        (WEBHOOK_EXCHANGE,),
    )
    found = []
    for user_id, exchange, environment, extra in rows:
        try:
            venue_env = (json.loads(extra or "{}") or {}).get("environment")
        except (ValueError, AttributeError):
            venue_env = None
        found.append((user_id, exchange, str(venue_env or environment or PRODUCTION)))
    return found


async def list_users(store: SqliteStore, args: argparse.Namespace) -> None:
    users = await store.list_local_users()
    if not users:
        print("No users yet: `sparky users add` creates one.")
        return
    # the TenantStore port has no "credentials of a user" read yet: one read job on the store
    credentials = await store._call(_credential_exchanges, write=False)
    exchanges: dict[str, list[str]] = {}
    for user_id, exchange, environment in credentials:
        shown = exchange if environment == PRODUCTION else f"{exchange} ({environment})"
        exchanges.setdefault(user_id, []).append(shown)
    now = utcnow()
    used = {u.id: await store.month_request_count(u.id, now) for u in users}
    header = ("ID", "EMAIL", "PLAN", "MONTHLY LIMIT", "THIS MONTH", "EXCHANGES")
    rows = [
        (u.id, u.email or "-", u.plan, _limit_text(u.plan), _usage_text(u.plan, used[u.id]),
         ", ".join(exchanges.get(u.id, [])) or "-")
        for u in users
    ]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(users)} user{'s' if len(users) != 1 else ''}; THIS MONTH counts the webhooks of "
          f"{now:%B %Y} (UTC) as the quota does (those accepted for execution; refusals do not count)")
