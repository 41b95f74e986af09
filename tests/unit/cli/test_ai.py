"""`sparky ai …` end to end: the real commands (argv in, exit status and output out) against a real
SqliteStore in tmp_path, then the rows read back through the store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sparky.cli.main import main
from sparky.store.ai import AiStrategyRecord
from sparky.store.sqlite.store import SqliteStore

T = TypeVar("T")
UNKNOWN = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"


class Cli:
    """Runs `sparky <family> <command> … --data-dir <tmp>` and reads the store afterwards."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self.capsys = capsys

    def __call__(self, family: str, command: str, *argv: str) -> tuple[int, str, str]:
        try:
            code = main([family, command, "--data-dir", str(self.data_dir), *argv])
        except SystemExit as exit_:  # argparse refusing an argument
            code = exit_.code
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def ok(self, family: str, command: str, *argv: str) -> str:
        code, out, err = self(family, command, *argv)
        assert (code, err) == (0, ""), err
        return out

    def user(self) -> str:
        first = self.ok("users", "add").splitlines()[0]
        return str(uuid.UUID(first.removeprefix("Created user ").split(":")[0]))

    def add(self, user_id: str, *argv: str) -> str:
        """A new strategy's id."""
        first = self.ok("ai", "add", user_id, *argv).splitlines()[0]
        return str(uuid.UUID(first.removeprefix("Added AI strategy ").split()[0]))

    def read(self, work: Callable[[SqliteStore], Awaitable[T]]) -> T:
        async def go() -> T:
            store = SqliteStore(self.data_dir / "sparky.sqlite3")
            await store.open()
            try:
                return await work(store)
            finally:
                await store.aclose()

        return asyncio.run(go())

    def strategies(self) -> list[AiStrategyRecord]:
        return self.read(lambda s: s.list_ai_strategies())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


@pytest.fixture
def user(cli: Cli) -> str:
    return cli.user()


# --- add ------------------------------------------------------------------------------------------


def test_add_stores_every_setting_paused(cli: Cli, user: str) -> None:
    out = cli.ok("ai", "add", user, "--name", "Momentum", "--venue", "PAPER", "--assets", "btc/usdt,BINANCE:ETHUSDT.P",
                 "--assets", "SOL-USDT,BTCUSDT", "--risk-profile", "Moderate", "--max-drawdown-percent", "12.5",
                 "--max-leverage", "3", "--min-position-size-usd", "25", "--max-position-size-usd", "250.75")
    [stored] = cli.strategies()
    assert (stored.user_id, stored.name, stored.exchange, stored.status) == (user, "Momentum", "paper", "paused")
    assert stored.target_assets == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # one spelling, each once
    assert (stored.risk_profile, stored.max_drawdown_percent, stored.leverage_max) == ("balanced", Decimal("12.5"), 3)
    assert (stored.min_position_size_usd, stored.max_position_size_usd) == (Decimal(25), Decimal("250.75"))
    assert stored.is_paper_trading is True  # the paper venue trades on paper
    assert out.splitlines()[0] == f"Added AI strategy {stored.id} for user {user} (paused):"
    assert f"sparky ai resume {stored.id}" in out
    assert cli.read(lambda s: s.running_ai_strategies()) == []


def test_add_on_an_exchange_the_user_has_trades_for_real_unless_paper(cli: Cli, user: str) -> None:
    cli.ok("users", "credentials", user, "aster", "--api-key", "k" * 16, "--api-secret", "s" * 16)
    live = cli.add(user, "--venue", "aster", "--assets", "BTCUSDT")
    paper = cli.add(user, "--venue", "aster", "--assets", "BTCUSDT", "--paper")
    stored = {s.id: s for s in cli.strategies()}
    assert (stored[live].exchange, stored[live].is_paper_trading) == ("aster", False)
    assert (stored[paper].exchange, stored[paper].is_paper_trading) == ("aster", True)
    # the table's defaults where no flag was given
    assert (stored[live].name, stored[live].risk_profile, stored[live].max_drawdown_percent,
            stored[live].leverage_max) == ("My AI Strategy", "balanced", Decimal(20), 10)
    assert (stored[live].min_position_size_usd, stored[live].max_position_size_usd) == (None, None)


GOOD = ["--venue", "paper", "--assets", "BTCUSDT"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["not-a-uuid", *GOOD], "is not a user id"),
        ([UNKNOWN, *GOOD], f"no user {UNKNOWN}"),
        (["{user}", "--assets", "BTCUSDT"], "the following arguments are required: --venue"),
        (["{user}", "--venue", "paper"], "the following arguments are required: --assets"),
        (["{user}", "--venue", "nowhere", "--assets", "BTCUSDT"], "--venue: unknown exchange 'nowhere'"),
        (["{user}", "--venue", "webhook", "--assets", "BTCUSDT"], "--venue: unknown exchange 'webhook'"),
        (["{user}", "--venue", "bybit", "--assets", "BTCUSDT"], "--venue bybit: user {user} has no bybit credentials"),
        (["{user}", "--venue", "paper", "--assets", ""], "argument --assets: '' has an empty symbol"),
        (["{user}", "--venue", "paper", "--assets", "BTCUSDT,,ETHUSDT"], "argument --assets:"),
        (["{user}", "--venue", "paper", "--assets", "BTC USDT"], "argument --assets: 'BTC USDT' is not a plausible"),
        (["{user}", *GOOD, "--risk-profile", "yolo"], "argument --risk-profile: unknown risk profile 'yolo'"),
        (["{user}", *GOOD, "--max-drawdown-percent", "0"], "argument --max-drawdown-percent: must be a number above 0"),
        (["{user}", *GOOD, "--max-drawdown-percent", "100.5"], "argument --max-drawdown-percent:"),
        (["{user}", *GOOD, "--max-drawdown-percent", "NaN"], "argument --max-drawdown-percent:"),
        (["{user}", *GOOD, "--max-drawdown-percent", "lots"], "argument --max-drawdown-percent:"),
        (["{user}", *GOOD, "--max-leverage", "0"], "argument --max-leverage: must be a whole number from 1 to 125"),
        (["{user}", *GOOD, "--max-leverage", "126"], "argument --max-leverage:"),
        (["{user}", *GOOD, "--max-leverage", "2.5"], "argument --max-leverage:"),
        (["{user}", *GOOD, "--min-position-size-usd", "0"], "argument --min-position-size-usd: must be an amount"),
        (["{user}", *GOOD, "--min-position-size-usd", "-5"], "argument --min-position-size-usd:"),
        (["{user}", *GOOD, "--min-position-size-usd", "ten"], "argument --min-position-size-usd:"),
        (["{user}", *GOOD, "--max-position-size-usd", "Infinity"], "argument --max-position-size-usd:"),
        (["{user}", *GOOD, "--max-position-size-usd", "10000001"], "argument --max-position-size-usd:"),
        (["{user}", *GOOD, "--min-position-size-usd", "500", "--max-position-size-usd", "100"],
         "--min-position-size-usd 500 is above --max-position-size-usd 100"),
        (["{user}", *GOOD, "--name", "  "], "argument --name: must be 1 to 100 printable characters"),
        (["{user}", *GOOD, "--name", "x" * 101], "argument --name:"),
        (["{user}", *GOOD, "--name", "tab\there"], "argument --name:"),
        (["{user}", *GOOD, "--paper=yes"], "argument --paper: ignored explicit argument 'yes'"),
    ],
)
def test_add_refuses_bad_input_naming_the_flag_and_stores_nothing(cli: Cli, user: str, argv: list[str],
                                                                   reason: str) -> None:
    code, out, err = cli("ai", "add", *(a.replace("{user}", user) for a in argv))
    assert code == 2 and reason.replace("{user}", user) in err and out == ""
    assert cli.strategies() == []


def test_no_database_is_bad_input(cli: Cli) -> None:
    code, _, err = cli("ai", "list")
    assert code == 2 and "no Sparky database at" in err


# --- list -----------------------------------------------------------------------------------------


def test_list_shows_id_user_name_venue_assets_status_paper(cli: Cli, user: str) -> None:
    other = cli.user()
    first = cli.add(user, "--name", "Momentum", "--venue", "paper", "--assets", "BTCUSDT,ETHUSDT")
    second = cli.add(other, "--name", "Carry", "--venue", "paper", "--assets", "SOLUSDT")
    cli.ok("ai", "resume", second)

    lines = cli.ok("ai", "list").splitlines()
    assert lines[0].split() == ["ID", "USER", "NAME", "VENUE", "ASSETS", "STATUS", "PAPER"]
    assert lines[1].split() == [first, user, "Momentum", "paper", "BTCUSDT,ETHUSDT", "paused", "yes"]
    assert lines[2].split() == [second, other, "Carry", "paper", "SOLUSDT", "running", "yes"]
    assert lines[-1] == "2 AI strategies, 1 running"

    mine = cli.ok("ai", "list", "--user", user).splitlines()
    assert [line.split()[0] for line in mine[1:-2]] == [first]


def test_list_refuses_a_bad_or_unknown_user_and_says_when_empty(cli: Cli, user: str) -> None:
    assert "No AI strategies yet" in cli.ok("ai", "list")
    code, _, err = cli("ai", "list", "--user", "nobody")
    assert code == 2 and "argument --user: 'nobody' is not a user id" in err
    code, _, err = cli("ai", "list", "--user", UNKNOWN)
    assert code == 2 and f"no user {UNKNOWN}" in err


# --- pause / resume -------------------------------------------------------------------------------


def test_resume_then_pause(cli: Cli, user: str) -> None:
    strategy = cli.add(user, *GOOD)

    out = cli.ok("ai", "resume", strategy)
    assert "running, was paused" in out
    assert [s.id for s in cli.read(lambda s: s.running_ai_strategies())] == [strategy]
    assert "already running" in cli.ok("ai", "resume", strategy)

    out = cli.ok("ai", "pause", strategy)
    assert "paused, was running" in out
    assert cli.read(lambda s: s.running_ai_strategies()) == []


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_pause_and_resume_refuse_a_bad_or_unknown_id(cli: Cli, user: str, command: str) -> None:
    cli.add(user, *GOOD)
    code, _, err = cli("ai", command, "not-a-uuid")
    assert code == 2 and "argument STRATEGY_ID: 'not-a-uuid' is not an AI strategy id" in err
    code, _, err = cli("ai", command, UNKNOWN)
    assert code == 2 and f"no AI strategy {UNKNOWN}" in err
    assert [s.status for s in cli.strategies()] == ["paused"]


def test_a_terminated_strategy_is_not_resumed(cli: Cli, user: str) -> None:
    strategy = cli.add(user, *GOOD)
    cli.read(lambda s: s.set_ai_strategy_status(strategy, "terminated"))
    code, _, err = cli("ai", "resume", strategy)
    assert code == 2 and "is terminated: it cannot be resumed" in err
    assert [s.status for s in cli.strategies()] == ["terminated"]


def test_a_change_reaches_a_running_servers_store_at_once(cli: Cli, user: str) -> None:
    strategy = cli.add(user, *GOOD)

    async def server_sees_resume() -> tuple[list[Any], bool]:
        store = SqliteStore(cli.data_dir / "sparky.sqlite3")  # the server's own connection
        await store.open()
        try:
            marker = await store.external_change_marker()
            assert await store.running_ai_strategies() == []
            await asyncio.to_thread(cli.ok, "ai", "resume", strategy)  # another writer, as the CLI is
            changed = await store.external_change_marker() != marker  # what store_watch.py acts on
            return [s.id for s in await store.running_ai_strategies()], changed
        finally:
            await store.aclose()

    assert asyncio.run(server_sees_resume()) == ([strategy], True)
