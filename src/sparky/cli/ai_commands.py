"""The `sparky ai` subcommands: each gets the open store and the parsed arguments, does one thing
and prints what it did; bad input raises `InputError` before anything is stored."""

from __future__ import annotations

import argparse
from decimal import Decimal

from sparky.cli.users_commands import exchange_name, require_user
from sparky.cli.users_input import PRODUCTION, InputError
from sparky.store.ai import PAPER, PAUSED, RUNNING, AiStrategyRecord
from sparky.store.sqlite.store import SqliteStore


async def _venue(store: SqliteStore, user_id: str, name: str) -> str:
    """`paper`, or an exchange the user has credentials for (what the webhook will trade on)."""
    try:
        exchange = exchange_name(name)
    except InputError as err:
        raise InputError(f"--venue: {err}") from None
    if exchange != PAPER and await store.get_credentials(user_id, exchange, PRODUCTION) is None:
        raise InputError(
            f"--venue {exchange}: user {user_id} has no {exchange} credentials; store them with "
            f"`sparky users credentials {user_id} {exchange}`, or use --venue paper"
        )
    return exchange


def _sizes(low: Decimal | None, high: Decimal | None) -> None:
    if low is not None and high is not None and low > high:
        raise InputError(f"--min-position-size-usd {low} is above --max-position-size-usd {high}")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value} USD"


async def add_strategy(store: SqliteStore, args: argparse.Namespace) -> None:
    await require_user(store, args.user_id)
    exchange = await _venue(store, args.user_id, args.venue)
    _sizes(args.min_position_size_usd, args.max_position_size_usd)
    paper = args.paper or exchange == PAPER
    record = AiStrategyRecord(
        user_id=args.user_id,
        name=args.name,
        status=PAUSED,
        risk_profile=args.risk_profile,
        target_assets=list(dict.fromkeys(args.assets)),
        is_paper_trading=paper,
        exchange=exchange,
        min_position_size_usd=args.min_position_size_usd,
        max_position_size_usd=args.max_position_size_usd,
    )
    if args.max_drawdown_percent is not None:  # else the table's defaults
        record.max_drawdown_percent = args.max_drawdown_percent
    if args.max_leverage is not None:
        record.leverage_max = args.max_leverage
    try:
        stored = await store.add_ai_strategy(record)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(f"Added AI strategy {stored.id} for user {stored.user_id} (paused):")
    rows = [
        ("name", stored.name),
        ("venue", stored.exchange or "-"),
        ("paper", "yes: orders go to the user's paper account" if paper else "no: real orders"),
        ("assets", ", ".join(stored.target_assets)),
        ("risk profile", stored.risk_profile),
        ("max drawdown", f"{stored.max_drawdown_percent}%"),
        ("max leverage", f"{stored.leverage_max}x"),
        ("min position", _money(stored.min_position_size_usd)),
        ("max position", _money(stored.max_position_size_usd)),
    ]
    for label, text in rows:
        print(f"  {label:<13} {text}")
    print(f"\nStart it with `sparky ai resume {stored.id}`.")


async def _set_status(store: SqliteStore, strategy_id: str, status: str, verb: str) -> None:
    current = await store.get_ai_strategy(strategy_id)
    if current is None:
        raise InputError(f"no AI strategy {strategy_id} (see `sparky ai list`)")
    if current.status == status:
        print(f"AI strategy {strategy_id} ({current.name}) is already {status}.")
        return
    if current.status == "terminated":
        raise InputError(f"AI strategy {strategy_id} ({current.name}) is terminated: it cannot be {verb}")
    await store.set_ai_strategy_status(strategy_id, status)
    effect = ("the AI worker runs it from its next cycle" if status == RUNNING
              else "the AI worker stops running it from its next cycle (open positions stay as they are)")
    print(f"AI strategy {strategy_id} ({current.name}) of user {current.user_id}: {status}, was "
          f"{current.status}; {effect}.")


async def pause_strategy(store: SqliteStore, args: argparse.Namespace) -> None:
    await _set_status(store, args.strategy_id, PAUSED, "paused")


async def resume_strategy(store: SqliteStore, args: argparse.Namespace) -> None:
    await _set_status(store, args.strategy_id, RUNNING, "resumed")


async def list_strategies(store: SqliteStore, args: argparse.Namespace) -> None:
    if args.user is not None:
        await require_user(store, args.user)
    strategies = await store.list_ai_strategies(user_id=args.user)
    if not strategies:
        print("No AI strategies yet: `sparky ai add` creates one.")
        return
    header = ("ID", "USER", "NAME", "VENUE", "ASSETS", "STATUS", "PAPER")
    rows = [
        (s.id or "-", s.user_id, s.name, s.exchange or "-", ",".join(s.target_assets), s.status,
         "yes" if s.is_paper_trading else "no")
        for s in strategies
    ]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    running = sum(s.status == RUNNING for s in strategies)
    print(f"\n{len(strategies)} AI strateg{'ies' if len(strategies) != 1 else 'y'}, {running} running")
