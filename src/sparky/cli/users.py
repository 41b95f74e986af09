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
from typing import Any

from sparky.cli.local_store import command_group, run_on_store
from sparky.cli.users_commands import (
    add_user,
    change_plan,
    change_settings,
    list_users,
    rotate_secret,
    store_credentials,
)
from sparky.cli.users_input import (
    PRODUCTION,
    count,
    email_address,
    plan_name,
    plan_names,
    preset,
    setting_name,
    usd,
    user_uuid,
    utc_window,
    venue_option,
)
from sparky.signals.trading_window import PRESETS


def _run(args: argparse.Namespace) -> int:
    """The handler of every `sparky users` subcommand (what cli.main calls)."""
    return run_on_store(f"sparky users {args.users_command}", args, args.users_action,
                        creates=args.users_command == "add")


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
    command = command_group(
        subparsers, "users", handler=_run, action_key="users_action",
        help="manage local users (embedded SQLite mode)",
        description="Manage the local users of embedded mode: their webhook secrets, exchange "
        "credentials, risk settings and plans, in the SQLite store of the data dir.",
    )

    add = command("add", add_user, help="create a user with a webhook secret (printed once)",
                  description="Create a user with an active subscription and a new webhook secret. "
                  "The secret is printed once; only its digest is stored.")
    add.add_argument("--email", type=email_address, default=None)
    add.add_argument("--plan", type=plan_name, default="Free", metavar="{Free,Basic,Premium,Pro}",
                     help="subscription plan (default Free)")
    add.add_argument("--user-id", type=user_uuid, default=None, metavar="UUID",
                     help="the user's id (default: a new random UUID)")

    secret = command("secret", rotate_secret, help="rotate a user's webhook secret (printed once)",
                     description="Replace the user's webhook secret with a new one, printed once; "
                     "the old one stops working.")
    secret.add_argument("user_id", type=user_uuid, metavar="USER_ID")

    creds = command("credentials", store_credentials, help="store a user's exchange credentials",
                    description="Store a user's API credentials for one exchange.",
                    epilog=_CREDENTIALS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    creds.add_argument("user_id", type=user_uuid, metavar="USER_ID")
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
    creds.add_argument("--option", type=venue_option, action="append", metavar="KEY=VALUE",
                       help="a venue option (repeatable), e.g. market_type=swap, working_type=MARK_PRICE")

    settings = command("settings", change_settings, help="show or change a user's risk settings for an exchange",
                       description="Change the given risk settings of a user on one exchange (the "
                       "others keep their current values) and show what is enforced. A setting "
                       "never given limits nothing; 0 means unlimited for the limits.")
    settings.add_argument("user_id", type=user_uuid, metavar="USER_ID")
    settings.add_argument("exchange", metavar="EXCHANGE")
    settings.add_argument("--max-trades-per-day", type=count, default=None, metavar="N",
                          help="entries per UTC day (0: unlimited)")
    settings.add_argument("--max-trades-per-week", type=count, default=None, metavar="N")
    settings.add_argument("--max-loss-per-week-usd", type=usd, default=None, metavar="USD")
    settings.add_argument("--max-open-positions", type=count, default=None, metavar="N")
    settings.add_argument("--max-position-size-usd", type=usd, default=None, metavar="USD",
                          help="an entry asking for more is entered at this size (0: no cap)")
    settings.add_argument("--trading-hours-preset", type=preset, default=None, metavar="PRESET",
                          help=f"one of {', '.join(PRESETS)}")
    settings.add_argument("--trading-window", type=utc_window, default=None, metavar="HH:MM-HH:MM",
                          help="UTC window for the custom preset (implies --trading-hours-preset custom)")
    settings.add_argument("--allow-weekends", action=argparse.BooleanOptionalAction, default=None)
    settings.add_argument("--max-signal-age-sec", type=count, default=None, metavar="N",
                          help="refuse alerts whose timestamp is older (0: not checked); the server's "
                          "MAX_SIGNAL_AGE_SEC applies to every user in any case")
    settings.add_argument("--unset", type=setting_name, action="append", default=None, metavar="SETTING",
                          help="clear a setting so it limits nothing (repeatable), e.g. --unset "
                          "max-open-positions")

    plan = command("plan", change_plan, help="change a user's plan")
    plan.add_argument("user_id", type=user_uuid, metavar="USER_ID")
    plan.add_argument("plan", type=plan_name, metavar="PLAN", help=plan_names())

    command("list", list_users, help="list users with plan, monthly limit and exchanges (no secrets)")

    from sparky.cli.notify import set_channels

    channels = command("channels", set_channels, help="show, set or clear a user's notification channels",
                       description="A user's own notification channels (apprise URLs: discord://…, "
                       "tgram://…, mailto://…); given URLs replace the earlier ones. The URLs are "
                       "never printed back (they hold the channels' tokens). docs/NOTIFICATIONS.md")
    channels.add_argument("user_id", type=user_uuid, metavar="USER_ID")
    channels.add_argument("urls", nargs="*", metavar="URL")
    channels.add_argument("--clear", action="store_true", help="remove every channel of the user")


def main(argv: list[str] | None = None) -> int:
    """`sparky users …` on its own (as cli.main runs it once wired): argv starts with 'users'."""
    parser = argparse.ArgumentParser(prog="sparky")
    add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
