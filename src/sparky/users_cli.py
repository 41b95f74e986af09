"""`sparky users …`: manage the local users of embedded mode (the SQLite store in the data dir).

Each subcommand opens the store, does one thing, closes it and prints what it did. Exit status: 0
done, 2 bad input (the reason on stderr, nothing stored), 1 the store could not be used.

Webhook secrets are generated here, printed once and stored only as `secret_digest(secret)` in the
user's `bot_credentials` row (exchange 'webhook', environment 'production'), so the database never
holds a usable secret. Exchange keys are stored as given (the server needs them to sign requests)
and never printed back.

On Supabase, users, plans and keys are managed in the SignalStudio dashboard, not here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sqlite3
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sparky.exchanges.factory import is_supported
from sparky.signals.trading_window import PRESETS, parse_custom_window
from sparky.store.base import StoreUnavailable
from sparky.store.sqlite import SqliteStore
from sparky.store.tenants import (
    DEFAULT_PLAN_LIMITS,
    CredentialRecord,
    LocalUser,
    TradeSettings,
    secret_digest,
)

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
_RESERVED_OPTIONS = {"environment": "--environment", "apiUrl": "--api-url", "access_token": "--access-token"}
_SENSITIVE_OPTION = re.compile(r"key|secret|token|pass|private|seed|mnemonic", re.IGNORECASE)
_ENVIRONMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_WINDOW = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class InputError(Exception):
    """Bad input: reported on stderr with exit status 2; nothing was stored."""


# --- argument types (argparse turns their errors into `usage … error: …` and exit status 2) -------


def _plan(text: str) -> str:
    """A plan name in any case → its canonical spelling."""
    for plan in DEFAULT_PLAN_LIMITS:
        if plan.lower() == text.strip().lower():
            return plan
    raise argparse.ArgumentTypeError(f"unknown plan {text!r}: choose {_plan_names()}")


def _plan_names() -> str:
    names = list(DEFAULT_PLAN_LIMITS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a user id (a UUID)") from None


def _email(text: str) -> str:
    email = text.strip()
    if len(email) > 320 or not _EMAIL.match(email):
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address")
    return email


def _count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 means unlimited), got {text!r}")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0 means unlimited), got {text!r}")
    return value


def _preset(text: str) -> str:
    preset = text.strip().lower()
    if preset not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown preset {text!r}: choose one of {', '.join(PRESETS)}")
    return preset


def _window(text: str) -> list[str]:
    """`HH:MM-HH:MM` (UTC, 00:00–23:59) → ["HH:MM", "HH:MM"], zero-padded."""
    match = _WINDOW.match(text)
    parsed = parse_custom_window([match.group(1), match.group(2)]) if match else None
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a window: expected HH:MM-HH:MM in UTC, e.g. 13:30-20:00 "
            "(a start after the end crosses midnight)"
        )
    return [f"{minutes // 60:02d}:{minutes % 60:02d}" for minutes in parsed]


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _OPTION_KEY.match(key):
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value (e.g. market_type=swap)")
    return key, value


# --- shared plumbing ------------------------------------------------------------------------------


def _database(args: argparse.Namespace) -> tuple[Path, str]:
    """The SQLite file and PRAGMA synchronous: --data-dir, else Settings (SPARKY_DATA_DIR, .env)."""
    from pydantic import ValidationError

    from sparky.config import Settings

    if args.data_dir is not None:
        # only the file name from Settings: the environment must not be able to fail this command
        return Settings.model_construct(sparky_data_dir=Path(args.data_dir)).database_path, "FULL"
    try:
        settings = Settings()
    except ValidationError as err:
        raise InputError(f"invalid settings (or pass --data-dir):\n{err}") from None
    return settings.database_path, settings.sqlite_synchronous


def _run(args: argparse.Namespace) -> int:
    """The handler of every `sparky users` subcommand (what cli.main calls)."""
    name = f"sparky users {args.users_command}"
    action: Callable[[SqliteStore, argparse.Namespace], Awaitable[None]] = args.users_action
    try:
        path, synchronous = _database(args)
        if args.users_command != "add" and not path.exists():
            raise InputError(
                f"no Sparky database at {path}: check --data-dir / SPARKY_DATA_DIR "
                "(`sparky users add` creates it)"
            )
        asyncio.run(_with_store(path, synchronous, action, args))
    except InputError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    except (StoreUnavailable, sqlite3.Error, OSError) as err:
        print(f"{name}: the store at the data dir could not be used: {err}", file=sys.stderr)
        return 1
    return 0


async def _with_store(
    path: Path,
    synchronous: str,
    action: Callable[[SqliteStore, argparse.Namespace], Awaitable[None]],
    args: argparse.Namespace,
) -> None:
    store = SqliteStore(path, synchronous=synchronous)
    await store.open()
    try:
        await action(store, args)
    finally:
        await store.aclose()


async def _require_user(store: SqliteStore, user_id: str) -> LocalUser:
    for user in await store.list_local_users():
        if user.id == user_id:
            return user
    raise InputError(f"no user {user_id} (see `sparky users list`)")


def _exchange(name: str) -> str:
    exchange = name.strip().lower()
    if exchange == WEBHOOK_EXCHANGE or not is_supported(exchange):
        raise InputError(
            f"unknown exchange {name!r}: use paper, aster, oanda, tradier or a ccxt exchange id "
            "(e.g. binanceusdm, bybit)"
        )
    return exchange


def _limit_text(plan: str) -> str:
    """Webhooks a UTC month on this plan (an unknown plan gets Free's limit, as the server does)."""
    limit = DEFAULT_PLAN_LIMITS.get(plan, DEFAULT_PLAN_LIMITS["Free"])
    return "unlimited" if limit is None else f"{limit}/month"


def _plan_text(plan: str) -> str:
    limit = DEFAULT_PLAN_LIMITS.get(plan, DEFAULT_PLAN_LIMITS["Free"])
    return f"{plan} (" + ("unlimited webhooks" if limit is None else f"{limit} webhooks a month") + ")"


def _mask(value: str) -> str:
    """All but the last 4 characters hidden; a value too short to show any of it, all hidden."""
    return "****" + value[-4:] if len(value) >= 8 else "****"


def _alert(secret: str) -> str:
    return json.dumps(
        {"secret": secret, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper",
         "price": "{{close}}", "stop_loss_percent": 2, "take_profit_percent": 4}
    )


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
    print("TradingView alert message (paste into the alert's Message box):")
    print(f"  {_alert(secret)}")


# --- the subcommands --------------------------------------------------------------------------------


async def _add(store: SqliteStore, args: argparse.Namespace) -> None:
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


async def _secret(store: SqliteStore, args: argparse.Namespace) -> None:
    await _require_user(store, args.user_id)
    secret = await _store_new_secret(store, args.user_id)
    print(f"New webhook secret for user {args.user_id}; the old one no longer authenticates "
          "(a running server may accept it until its next secret refresh, SECRET_REFRESH_SEC).")
    print()
    _print_secret(secret)


async def _credentials(store: SqliteStore, args: argparse.Namespace) -> None:
    await _require_user(store, args.user_id)
    exchange = _exchange(args.exchange)
    if exchange == "paper":
        raise InputError("paper needs no credentials: every user has their own paper account")
    environment = args.environment.strip().lower()
    if not _ENVIRONMENT.match(environment):
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
    for key, value in args.option or []:
        if key in _RESERVED_OPTIONS:
            raise InputError(f"--option {key}=… is set with {_RESERVED_OPTIONS[key]}")
        extra[key] = value
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
        f"{k}=****" if _SENSITIVE_OPTION.search(k) else f"{k}={v}"
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
    ("max_trades_per_week", "max_trades_per_week", "max trades per week"),
    ("max_loss_per_week_usd", "max_loss_per_week_usd", "max loss per week usd"),
    ("max_open_positions", "max_open_positions", "max open positions"),
    ("max_signal_age_sec", "max_signal_age_sec", "max signal age sec"),
)


def _setting_text(name: str, value: Any) -> str:
    if name == "trading_window":
        return "-".join(value) + " UTC" if isinstance(value, list) else repr(value)
    if name == "allow_weekends":
        return "yes" if value else "no"
    if name in ("max_trades_per_week", "max_loss_per_week_usd", "max_open_positions") and value == 0:
        return "0 (unlimited)"
    if name == "max_signal_age_sec" and value == 0:
        return "0 (not checked)"
    return str(value)


async def _settings(store: SqliteStore, args: argparse.Namespace) -> None:
    await _require_user(store, args.user_id)
    exchange = _exchange(args.exchange)
    if args.trading_window is not None:
        if args.trading_hours_preset is None:
            args.trading_hours_preset = "custom"  # a window only applies to the custom preset
        elif args.trading_hours_preset != "custom":
            raise InputError(f"--trading-window applies only to the custom preset, not "
                             f"{args.trading_hours_preset!r}")
    current = await store.get_trade_settings(args.user_id, exchange)
    before = current or TradeSettings(user_id=args.user_id, exchange=exchange)
    changes = {
        field: getattr(args, dest)
        for field, dest, _ in _SETTINGS_FIELDS
        if getattr(args, dest) is not None
    }
    after = replace(before, **changes)
    if changes:
        await store.upsert_trade_settings(after)
        print(f"Trade settings of user {args.user_id} on {exchange} (* changed):")
    else:
        state = "stored" if current is not None else "defaults, nothing stored"
        print(f"Trade settings of user {args.user_id} on {exchange} ({state}; no change given):")
    for field, _, label in _SETTINGS_FIELDS:
        mark = "*" if field in changes and getattr(before, field) != changes[field] else " "
        print(f" {mark}{label:<22} {_setting_text(field, getattr(after, field))}")


async def _plan_command(store: SqliteStore, args: argparse.Namespace) -> None:
    user = await _require_user(store, args.user_id)
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


async def _list(store: SqliteStore, args: argparse.Namespace) -> None:
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
    header = ("ID", "EMAIL", "PLAN", "MONTHLY LIMIT", "EXCHANGES")
    rows = [
        (u.id, u.email or "-", u.plan, _limit_text(u.plan), ", ".join(exchanges.get(u.id, [])) or "-")
        for u in users
    ]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(users)} user{'s' if len(users) != 1 else ''}")


# --- argparse wiring --------------------------------------------------------------------------------

_CREDENTIALS_EPILOG = """\
Secrets need not appear in your shell history: when a flag is not given, the key, secret,
passphrase and access token are read from SPARKY_API_KEY, SPARKY_API_SECRET, SPARKY_PASSPHRASE and
SPARKY_ACCESS_TOKEN, e.g.

  read -rs SPARKY_API_SECRET && export SPARKY_API_SECRET
  SPARKY_API_KEY=… sparky users credentials USER_ID bybit --environment testnet

The stored credentials replace any earlier ones of the user for that exchange. Nothing secret is
printed back (the key shows only its last 4 characters).
"""


def add_arguments(subparsers: Any) -> None:
    """Register `users` and its subcommands on the `sparky` subparsers (from add_subparsers)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=None,
                        help="the data directory holding sparky.sqlite3 (default SPARKY_DATA_DIR or ./data)")

    users = subparsers.add_parser(
        "users", help="manage local users (embedded SQLite mode)",
        description="Manage the local users of embedded mode: their webhook secrets, exchange "
        "credentials, risk settings and plans, in the SQLite store of the data dir.",
    )
    commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    def command(name: str, action: Callable[..., Awaitable[None]], **kwargs: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[common], **kwargs)
        parser.set_defaults(handler=_run, users_action=action)
        return parser

    add = command("add", _add, help="create a user with a webhook secret (printed once)",
                  description="Create a user with an active subscription and a new webhook secret. "
                  "The secret is printed once; only its digest is stored.")
    add.add_argument("--email", type=_email, default=None)
    add.add_argument("--plan", type=_plan, default="Free", metavar="{Free,Basic,Premium,Pro}",
                     help="subscription plan (default Free)")
    add.add_argument("--user-id", type=_uuid, default=None, metavar="UUID",
                     help="the user's id (default: a new random UUID)")

    secret = command("secret", _secret, help="rotate a user's webhook secret (printed once)",
                     description="Replace the user's webhook secret with a new one, printed once; "
                     "the old one stops working.")
    secret.add_argument("user_id", type=_uuid, metavar="USER_ID")

    creds = command("credentials", _credentials, help="store a user's exchange credentials",
                    description="Store a user's API credentials for one exchange.",
                    epilog=_CREDENTIALS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    creds.add_argument("user_id", type=_uuid, metavar="USER_ID")
    creds.add_argument("exchange", metavar="EXCHANGE", help="aster, oanda, tradier or a ccxt exchange id")
    creds.add_argument("--environment", default=PRODUCTION,
                       help="the venue's environment: production (default, live), practice (OANDA), "
                       "sandbox (Tradier, ccxt), testnet …")
    creds.add_argument("--api-key", default=None, help="API key (or SPARKY_API_KEY)")
    creds.add_argument("--api-secret", default=None, help="API secret (or SPARKY_API_SECRET)")
    creds.add_argument("--passphrase", default=None, help="API passphrase (or SPARKY_PASSPHRASE)")
    creds.add_argument("--account-id", default=None, help="account id (OANDA, Tradier)")
    creds.add_argument("--access-token", default=None,
                       help="access token, OANDA / Tradier (or SPARKY_ACCESS_TOKEN)")
    creds.add_argument("--api-url", default=None, help="override the venue's base URL")
    creds.add_argument("--option", type=_option, action="append", metavar="KEY=VALUE",
                       help="a venue option (repeatable), e.g. market_type=swap, working_type=MARK_PRICE")

    settings = command("settings", _settings, help="show or change a user's risk settings for an exchange",
                       description="Change the given risk settings of a user on one exchange (the "
                       "others keep their current or default values) and show the result. 0 means "
                       "unlimited for the limits.")
    settings.add_argument("user_id", type=_uuid, metavar="USER_ID")
    settings.add_argument("exchange", metavar="EXCHANGE")
    settings.add_argument("--max-trades-per-week", type=_count, default=None, metavar="N")
    settings.add_argument("--max-loss-per-week-usd", type=_usd, default=None, metavar="USD")
    settings.add_argument("--max-open-positions", type=_count, default=None, metavar="N")
    settings.add_argument("--trading-hours-preset", type=_preset, default=None, metavar="PRESET",
                          help=f"one of {', '.join(PRESETS)}")
    settings.add_argument("--trading-window", type=_window, default=None, metavar="HH:MM-HH:MM",
                          help="UTC window for the custom preset (implies --trading-hours-preset custom)")
    settings.add_argument("--allow-weekends", action=argparse.BooleanOptionalAction, default=None)
    settings.add_argument("--max-signal-age-sec", type=_count, default=None, metavar="N",
                          help="refuse alerts whose timestamp is older (0: not checked)")

    plan = command("plan", _plan_command, help="change a user's plan")
    plan.add_argument("user_id", type=_uuid, metavar="USER_ID")
    plan.add_argument("plan", type=_plan, metavar="PLAN", help=_plan_names())

    command("list", _list, help="list users with plan, monthly limit and exchanges (no secrets)")


def main(argv: list[str] | None = None) -> int:
    """`sparky users …` on its own (as cli.main runs it once wired): argv starts with 'users'."""
    parser = argparse.ArgumentParser(prog="sparky")
    add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
