"""`sparky ai …`: manage local users' AI strategies (embedded mode: the SQLite store in the data dir).

Each subcommand opens the store, does one thing, closes it and prints what it did. Exit status: 0
done, 2 bad input (the reason on stderr, naming the flag; nothing stored), 1 the store could not
be used. The AI worker reads the strategies from the store every cycle, so a change applies from
its next cycle. On Supabase, AI strategies are managed in the SignalStudio dashboard.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparky.cli.ai_commands import add_strategy, list_strategies, pause_strategy, resume_strategy
from sparky.cli.ai_input import (
    MAX_LEVERAGE,
    assets,
    leverage,
    percent,
    position_usd,
    risk_profile,
    strategy_name,
)
from sparky.cli.local_store import command_group, run_on_store
from sparky.cli.users_input import user_uuid


def _run(args: argparse.Namespace) -> int:
    """The handler of every `sparky ai` subcommand (what cli.main calls)."""
    return run_on_store(f"sparky ai {args.ai_command}", args, args.ai_action)


def strategy_uuid(text: str) -> str:
    try:
        return user_uuid(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an AI strategy id (a UUID)") from None


def add_arguments(subparsers: Any) -> None:
    """Register `ai` and its subcommands on the `sparky` subparsers (from add_subparsers)."""
    command = command_group(
        subparsers, "ai", handler=_run, action_key="ai_action",
        help="manage local users' AI strategies (embedded SQLite mode)",
        description="Manage the AI strategies the AI worker runs for local users: what they trade, "
        "where, with which limits, and whether they run.",
    )

    add = command("add", add_strategy, help="add an AI strategy for a user (paused until resumed)",
                  description="Add an AI strategy for a local user. It starts paused: "
                  "`sparky ai resume ID` lets the AI worker run it.")
    add.add_argument("user_id", type=user_uuid, metavar="USER_ID")
    add.add_argument("--name", type=strategy_name, default="My AI Strategy")
    add.add_argument("--venue", required=True, metavar="EXCHANGE",
                     help="paper, or an exchange the user has credentials for (aster, oanda, a ccxt id …)")
    add.add_argument("--assets", type=assets, action="extend", required=True, metavar="SYMBOLS",
                     help="symbols to trade, separated by commas (repeatable), e.g. BTCUSDT,ETHUSDT")
    add.add_argument("--risk-profile", type=risk_profile, default="balanced",
                     metavar="{conservative,moderate,aggressive}",
                     help="default moderate (stored as balanced, the dashboard's name)")
    add.add_argument("--max-drawdown-percent", type=percent, default=None, metavar="PERCENT",
                     help="the drawdown at which the strategy stops trading (default 20)")
    add.add_argument("--max-leverage", type=leverage, default=None, metavar="N",
                     help=f"1 to {MAX_LEVERAGE} (default 10)")
    add.add_argument("--min-position-size-usd", type=position_usd, default=None, metavar="USD",
                     help="the smallest position it opens (default: not limited)")
    add.add_argument("--max-position-size-usd", type=position_usd, default=None, metavar="USD",
                     help="the largest position it opens (default: not limited)")
    add.add_argument("--paper", action="store_true",
                     help="send its orders to the user's paper account instead of the venue")

    listing = command("list", list_strategies, help="list AI strategies (id, user, name, venue, assets, status, paper)")
    listing.add_argument("--user", type=user_uuid, default=None, metavar="USER_ID", help="only this user's")

    for name, action, text in (("pause", pause_strategy, "stop the AI worker running a strategy"),
                               ("resume", resume_strategy, "let the AI worker run a strategy")):
        parser = command(name, action, help=text)
        parser.add_argument("strategy_id", type=strategy_uuid, metavar="STRATEGY_ID")


def main(argv: list[str] | None = None) -> int:
    """`sparky ai …` on its own: argv starts with 'ai'."""
    parser = argparse.ArgumentParser(prog="sparky")
    add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
