"""`sparky users …` end to end: the real commands (argv in, exit status and output out) against a real
SqliteStore in tmp_path, then the rows read back through the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sparky.cli import users as users_cli
from sparky.exchanges.accounts import credentials_of
from sparky.store.base import RequestStatus, utcnow
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import DEFAULT_PLAN_LIMITS, TradeSettings, month_bounds, secret_digest
from tests.conftest import make_settings, running
from tests.store_contract import make_request

T = TypeVar("T")
UNKNOWN_USER = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
SECRET_VARS = ("SPARKY_API_KEY", "SPARKY_API_SECRET", "SPARKY_PASSPHRASE", "SPARKY_ACCESS_TOKEN")


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)


class Cli:
    """Runs `sparky users <command> --data-dir <tmp> …` and reads the store afterwards."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self.capsys = capsys

    @property
    def db(self) -> Path:
        return self.data_dir / "sparky.sqlite3"

    def __call__(self, command: str, *argv: str) -> tuple[int, str, str]:
        try:
            code = users_cli.main(["users", command, "--data-dir", str(self.data_dir), *argv])
        except SystemExit as exit_:  # argparse refusing an argument
            code = exit_.code
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def ok(self, command: str, *argv: str) -> str:
        code, out, err = self(command, *argv)
        assert (code, err) == (0, ""), err
        return out

    def add(self, *argv: str) -> tuple[str, str, str]:
        """A new user: (user id, secret, output)."""
        out = self.ok("add", *argv)
        return user_id_of(out), secret_of(out), out

    def read(self, work: Callable[[SqliteStore], Awaitable[T]]) -> T:
        async def go() -> T:
            store = SqliteStore(self.db)
            await store.open()
            try:
                return await work(store)
            finally:
                await store.aclose()

        return asyncio.run(go())

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        # closed at once (sqlite3's own `with` only commits): an open reader would keep the store's
        # last close from checkpointing the WAL into the file the secret checks read
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return conn.execute(sql, args).fetchall()

    def file_bytes(self) -> bytes:
        """Every file in the data dir (the database, its WAL if any)."""
        return b"".join(p.read_bytes() for p in sorted(self.data_dir.rglob("*")) if p.is_file())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


def user_id_of(out: str) -> str:
    first = out.splitlines()[0]
    assert first.startswith("Created user ")
    return str(uuid.UUID(first.removeprefix("Created user ").split(":")[0]))


def alert_of(out: str) -> dict[str, Any]:
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("TradingView alert message"))
    return json.loads(lines[index + 1])


def secret_of(out: str) -> str:
    secret = alert_of(out)["secret"]
    assert isinstance(secret, str) and len(secret) >= 40
    return secret


# --- add ------------------------------------------------------------------------------------------


def test_add_prints_the_secret_once_and_stores_only_its_digest(cli: Cli) -> None:
    user_id, secret, out = cli.add("--email", "ada@example.com", "--plan", "basic")

    assert alert_of(out) | {"secret": "x"} == {
        "secret": "x", "action": "{{strategy.market_position}}", "symbol": "{{ticker}}", "exchange": "paper",
        "price": "{{close}}", "stop_loss_percent": 2, "take_profit_percent": 4, "timestamp": "{{timenow}}",
        "alert_id": "{{ticker}}-{{strategy.order.id}}-{{timenow}}",
    }
    assert "flat closes" in out
    assert f"  {secret}\n" in out
    assert "cannot be shown again" in out
    assert "plan Basic (75 webhooks a month)" in out

    users = cli.read(lambda s: s.list_local_users())
    assert [(u.id, u.email, u.plan) for u in users] == [(user_id, "ada@example.com", "Basic")]
    assert cli.read(lambda s: s.subscription_plan(user_id)) == "Basic"
    row = cli.read(lambda s: s.get_credentials(user_id, "webhook", "production"))
    assert row is not None and row.webhook_secret == secret_digest(secret)
    assert (row.api_key, row.api_secret, row.passphrase) == (None, None, None)
    assert cli.read(lambda s: s.find_webhook_secret_owner(secret)) == user_id
    assert cli.read(lambda s: s.find_webhook_secret_owner(secret_digest(secret))) is None
    assert secret.encode() not in cli.file_bytes()
    assert secret_digest(secret).encode() in cli.file_bytes()

    # never shown again: not by list, not by another add
    assert secret not in cli.ok("list")
    assert secret not in cli.add()[2]


def test_add_defaults_to_free_and_takes_a_given_user_id(cli: Cli) -> None:
    wanted = uuid.uuid4()
    user_id, secret, out = cli.add("--user-id", str(wanted).upper())

    assert user_id == str(wanted)
    assert "plan Free (5 webhooks a month)" in out
    users = cli.read(lambda s: s.list_local_users())
    assert [(u.id, u.email, u.plan) for u in users] == [(str(wanted), None, "Free")]
    assert cli.read(lambda s: s.find_webhook_secret_owner(secret)) == str(wanted)


def test_each_user_gets_their_own_secret(cli: Cli) -> None:
    first, first_secret, _ = cli.add()
    second, second_secret, _ = cli.add()

    assert first != second and first_secret != second_secret
    assert cli.read(lambda s: s.webhook_secret_owners()) == {
        secret_digest(first_secret): first,
        secret_digest(second_secret): second,
    }


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--plan", "Gold"], "unknown plan 'Gold'"),
        (["--plan", ""], "unknown plan"),
        (["--user-id", "not-a-uuid"], "is not a user id"),
        (["--email", "no-at-sign"], "is not an email address"),
        (["--user-id", "00000000-0000-0000-0000-000000000000"], "reserved for the legacy single user"),
    ],
)
def test_add_refuses_bad_input_and_stores_nothing(cli: Cli, argv: list[str], reason: str) -> None:
    code, out, err = cli("add", *argv)

    assert code == 2 and reason in err and out == ""
    if cli.db.exists():  # argparse refuses before the store is opened; the rest after
        assert cli.rows("SELECT count(*) FROM users") == [(0,)]
        assert cli.rows("SELECT count(*) FROM bot_credentials") == [(0,)]


def test_add_refuses_an_existing_id_or_email(cli: Cli) -> None:
    user_id, secret, _ = cli.add("--email", "ada@example.com")

    code, _, err = cli("add", "--user-id", user_id)
    assert code == 2 and f"user {user_id} exists" in err
    code, _, err = cli("add", "--email", "ADA@example.com")
    assert code == 2 and f"is already user {user_id}" in err

    assert cli.rows("SELECT count(*) FROM users") == [(1,)]
    assert cli.rows("SELECT count(*) FROM bot_credentials") == [(1,)]
    assert cli.read(lambda s: s.find_webhook_secret_owner(secret)) == user_id


# --- secret ---------------------------------------------------------------------------------------


def test_secret_rotation_invalidates_the_old_secret(cli: Cli) -> None:
    user_id, old, _ = cli.add()
    row_id = cli.rows("SELECT id FROM bot_credentials WHERE user_id = ?", user_id)

    out = cli.ok("secret", user_id)
    new = secret_of(out)

    assert new != old and old not in out
    assert "cannot be shown again" in out and "old one no longer authenticates" in out
    assert cli.read(lambda s: s.find_webhook_secret_owner(old)) is None
    assert cli.read(lambda s: s.find_webhook_secret_owner(new)) == user_id
    assert cli.read(lambda s: s.webhook_secret_owners()) == {secret_digest(new): user_id}
    # the same row, replaced in place
    assert cli.rows("SELECT id FROM bot_credentials WHERE user_id = ?", user_id) == row_id
    data = cli.file_bytes()
    assert new.encode() not in data and secret_digest(old).encode() not in data


def test_secret_for_an_unknown_user_is_refused(cli: Cli) -> None:
    user_id, secret, _ = cli.add()

    code, out, err = cli("secret", UNKNOWN_USER)
    assert code == 2 and f"no user {UNKNOWN_USER}" in err and out == ""
    code, _, err = cli("secret", "nope")
    assert code == 2 and "is not a user id" in err

    assert cli.read(lambda s: s.webhook_secret_owners()) == {secret_digest(secret): user_id}


# --- credentials ----------------------------------------------------------------------------------


def test_credentials_are_stored_and_not_echoed(cli: Cli) -> None:
    user_id, _, _ = cli.add()
    key, api_secret, passphrase = "AKIA-public-key-9XYZ", "very-secret-value", "pass-phrase-123"

    out = cli.ok(
        "credentials", user_id, "BinanceUSDM",
        "--api-key", key, "--api-secret", api_secret, "--passphrase", passphrase,
        "--account-id", "acct-7", "--api-url", "https://testnet.example.com",
        "--option", "market_type=swap", "--option", "recv_window=5000",
    )

    record = cli.read(lambda s: s.get_credentials(user_id, "binanceusdm", "production"))
    assert record is not None
    assert (record.api_key, record.api_secret, record.passphrase, record.account_id) == (
        key, api_secret, passphrase, "acct-7"
    )
    assert record.webhook_secret is None
    assert record.extra_metadata == {
        "apiUrl": "https://testnet.example.com", "market_type": "swap", "recv_window": "5000"
    }
    venue = credentials_of(record)
    assert (venue.environment, venue.base_url) == ("production", "https://testnet.example.com")

    assert "Stored binanceusdm credentials" in out
    assert "****9XYZ" in out and "acct-7" in out and "market_type=swap" in out
    for secret in (key, api_secret, passphrase):
        assert secret not in out


def test_credentials_replace_the_earlier_ones(cli: Cli) -> None:
    user_id, _, _ = cli.add()
    cli.ok("credentials", user_id, "bybit", "--api-key", "first-key-1111", "--api-secret", "s1",
           "--option", "market_type=swap")

    out = cli.ok("credentials", user_id, "bybit", "--api-key", "second-key-2222", "--api-secret", "s2")

    assert "Replaced bybit credentials" in out
    record = cli.read(lambda s: s.get_credentials(user_id, "bybit", "production"))
    assert record is not None
    assert (record.api_key, record.api_secret, record.extra_metadata) == ("second-key-2222", "s2", {})
    assert cli.rows("SELECT count(*) FROM bot_credentials WHERE exchange = 'bybit'") == [(1,)]


def test_credentials_from_the_environment_and_a_venue_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, _, _ = cli.add()
    monkeypatch.setenv("SPARKY_API_KEY", "env-key-ABCD")
    monkeypatch.setenv("SPARKY_API_SECRET", "env-secret-value")
    monkeypatch.setenv("SPARKY_ACCESS_TOKEN", "env-access-token")

    out = cli.ok("credentials", user_id, "oanda", "--environment", "Practice", "--account-id", "101-001")

    # the server reads the 'production' row; the venue environment rides in extra_metadata
    record = cli.read(lambda s: s.get_credentials(user_id, "oanda", "production"))
    assert record is not None
    assert (record.api_key, record.api_secret, record.account_id) == (
        "env-key-ABCD", "env-secret-value", "101-001"
    )
    assert record.extra_metadata == {"environment": "practice", "access_token": "env-access-token"}
    venue = credentials_of(record)
    assert (venue.environment, venue.access_token) == ("practice", "env-access-token")

    assert "from SPARKY_API_KEY" in out and "from SPARKY_API_SECRET" in out
    assert "env-secret-value" not in out and "env-access-token" not in out and "env-key" not in out


def test_credentials_flags_win_over_the_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id, _, _ = cli.add()
    monkeypatch.setenv("SPARKY_API_KEY", "env-key-AAAA")

    cli.ok("credentials", user_id, "aster", "--api-key", "flag-key-BBBB", "--api-secret", "x")

    record = cli.read(lambda s: s.get_credentials(user_id, "aster", "production"))
    assert record is not None and record.api_key == "flag-key-BBBB"


def test_credentials_help_names_the_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        users_cli.main(["users", "credentials", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "SPARKY_API_KEY" in out and "SPARKY_API_SECRET" in out and "shell history" in out


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["nosuchexchange", "--api-key", "k"], "unknown exchange 'nosuchexchange'"),
        (["webhook", "--api-key", "k"], "unknown exchange 'webhook'"),
        (["paper", "--api-key", "k"], "paper needs no credentials"),
        (["bybit"], "nothing to store"),
        (["bybit", "--api-key", "k", "--environment", "no spaces"], "is not an environment"),
        (["bybit", "--api-key", "k", "--api-url", "ftp://x"], "--api-url must start with"),
        (["bybit", "--api-key", "k", "--option", "novalue"], "is not key=value"),
        (["bybit", "--api-key", "k", "--option", "environment=testnet"], "is set with --environment"),
    ],
)
def test_credentials_refuse_bad_input_and_store_nothing(
    cli: Cli, argv: list[str], reason: str
) -> None:
    user_id, _, _ = cli.add()

    code, out, err = cli("credentials", user_id, *argv)

    assert code == 2 and reason in err and out == ""
    assert cli.rows("SELECT exchange FROM bot_credentials") == [("webhook",)]


def test_credentials_for_an_unknown_user_are_refused(cli: Cli) -> None:
    cli.add()

    code, _, err = cli("credentials", UNKNOWN_USER, "bybit", "--api-key", "k")

    assert code == 2 and f"no user {UNKNOWN_USER}" in err
    assert cli.rows("SELECT exchange FROM bot_credentials") == [("webhook",)]


# --- settings -------------------------------------------------------------------------------------


def test_settings_are_updated_partially(cli: Cli) -> None:
    user_id, _, _ = cli.add()

    out = cli.ok("settings", user_id, "Bybit", "--max-trades-per-week", "10",
                 "--max-loss-per-week-usd", "250.50")
    assert "*max trades per week    10" in out

    first = cli.read(lambda s: s.get_trade_settings(user_id, "bybit"))
    assert first == TradeSettings(user_id=user_id, exchange="bybit", max_trades_per_week=10,
                                  max_loss_per_week_usd=Decimal("250.50"), id=first.id)

    cli.ok("settings", user_id, "bybit", "--max-open-positions", "1", "--allow-weekends",
           "--max-signal-age-sec", "0")
    second = cli.read(lambda s: s.get_trade_settings(user_id, "bybit"))
    assert second is not None
    assert (second.max_trades_per_week, second.max_loss_per_week_usd) == (10, Decimal("250.50"))
    assert (second.max_open_positions, second.allow_weekends, second.max_signal_age_sec) == (1, True, 0)

    out = cli.ok("settings", user_id, "bybit", "--trading-window", "22:00-2:00", "--no-allow-weekends")
    third = cli.read(lambda s: s.get_trade_settings(user_id, "bybit"))
    assert third is not None
    assert (third.trading_hours_preset, third.trading_window, third.allow_weekends) == (
        "custom", ["22:00", "02:00"], False
    )
    assert third.max_open_positions == 1
    assert "22:00-02:00 UTC" in out

    cli.ok("settings", user_id, "bybit", "--trading-hours-preset", "NY-Session")
    fourth = cli.read(lambda s: s.get_trade_settings(user_id, "bybit"))
    assert fourth is not None and fourth.trading_hours_preset == "ny-session"
    assert cli.rows("SELECT count(*) FROM trade_settings_exchange") == [(1,)]


def test_settings_take_the_dashboard_presets(cli: Cli) -> None:
    user_id, _, _ = cli.add()
    for preset in ("market-hours", "forex-hours"):
        cli.ok("settings", user_id, "tradier", "--trading-hours-preset", preset)
        stored = cli.read(lambda s: s.get_trade_settings(user_id, "tradier"))
        assert stored is not None and stored.trading_hours_preset == preset


def test_the_day_limit_and_the_size_cap_are_stored_and_shown(cli: Cli) -> None:
    user_id, _, _ = cli.add()

    out = cli.ok("settings", user_id, "paper", "--max-trades-per-day", "2", "--max-position-size-usd", "500.50")

    assert " *max trades per day     2\n" in out
    assert " *max position size usd  500.50\n" in out
    stored = cli.read(lambda s: s.get_trade_settings(user_id, "paper"))
    assert (stored.max_trades_per_day, stored.max_position_size_usd) == (2, Decimal("500.50"))
    cleared = cli.ok("settings", user_id, "paper", "--unset", "max-position-size-usd", "--max-trades-per-day", "0")
    assert " *max trades per day     0 (unlimited)\n" in cleared
    assert " *max position size usd  not set (cleared)\n" in cleared


def test_settings_without_flags_show_and_store_nothing(cli: Cli) -> None:
    user_id, _, _ = cli.add()

    out = cli.ok("settings", user_id, "paper")

    assert out == (f"Trade settings of user {user_id} on paper (nothing stored; no change given):\n"
                   "  nothing is set: no limit applies on this exchange\n")
    assert cli.read(lambda s: s.get_trade_settings(user_id, "paper")) is None


def test_settings_store_and_show_only_what_the_user_set(cli: Cli) -> None:
    user_id, _, _ = cli.add()

    out = cli.ok("settings", user_id, "bybit", "--max-trades-per-week", "10")

    assert out == (
        f"Trade settings of user {user_id} on bybit (* changed):\n"
        " *max trades per week    10\n"
        "  not set, so not limited: trading hours preset, trading window, allow weekends, max trades per day, "
        "max loss per week usd, max open positions, max position size usd, max signal age sec\n"
    )
    columns = ("trading_hours_preset", "trading_window", "max_trades_per_week", "allow_weekends",
               "max_loss_per_week_usd", "max_open_positions", "max_signal_age_sec", "auto_close_outside_window",
               "strike_tolerance_percent", "entry_limit_offset_percent")
    assert cli.rows(f"SELECT {', '.join(columns)} FROM trade_settings_exchange") == [
        (None, None, 10, None, None, None, None, None, None, None)
    ]
    # asking again shows the same: what is stored is what is enforced
    again = cli.ok("settings", user_id, "bybit")
    assert again.splitlines()[1:] == [line.replace("*", " ") for line in out.splitlines()[1:]]


def test_settings_can_be_cleared_again(cli: Cli) -> None:
    user_id, _, _ = cli.add()
    cli.ok("settings", user_id, "bybit", "--max-open-positions", "2", "--no-allow-weekends",
           "--trading-window", "13:30-20:00")

    out = cli.ok("settings", user_id, "bybit", "--unset", "max-open-positions", "--unset", "allow_weekends")

    assert out == (
        f"Trade settings of user {user_id} on bybit (* changed):\n"
        "  trading hours preset   custom\n"
        "  trading window         13:30-20:00 UTC\n"
        " *allow weekends         not set (cleared)\n"
        " *max open positions     not set (cleared)\n"
        "  not set, so not limited: max trades per day, max trades per week, max loss per week usd, "
        "max position size usd, max signal age sec\n"
    )
    stored = cli.read(lambda s: s.get_trade_settings(user_id, "bybit"))
    assert stored == TradeSettings(user_id=user_id, exchange="bybit", trading_hours_preset="custom",
                                   trading_window=["13:30", "20:00"], id=stored.id)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--max-trades-per-week", "-1"], "must be >= 0"),
        (["--max-trades-per-week", "1.5"], "must be a whole number"),
        (["--max-loss-per-week-usd", "-0.01"], "must be a finite number >= 0"),
        (["--max-loss-per-week-usd", "nan"], "must be a finite number >= 0"),
        (["--max-loss-per-week-usd", "lots"], "must be a number"),
        (["--max-open-positions", "-3"], "must be >= 0"),
        (["--max-trades-per-day", "-1"], "must be >= 0"),
        (["--max-trades-per-day", "two"], "must be a whole number"),
        (["--max-position-size-usd", "-500"], "must be a finite number >= 0"),
        (["--max-position-size-usd", "inf"], "must be a finite number >= 0"),
        (["--max-position-size-usd", "lots"], "must be a number"),
        (["--max-signal-age-sec", "-10"], "must be >= 0"),
        (["--trading-hours-preset", "always"], "unknown preset 'always'"),
        (["--trading-window", "9-17"], "is not a window"),
        (["--trading-window", "24:00-01:00"], "is not a window"),
        (["--trading-window", "10:60-11:00"], "is not a window"),
        (["--trading-window", "10:00"], "is not a window"),
        (["--trading-hours-preset", "24/7", "--trading-window", "10:00-11:00"],
         "applies only to the custom preset"),
        (["--trading-hours-preset", "custom"], "the custom preset needs a window"),
        (["--unset", "max-open-positions"], "choose one"),
        (["--unset", "weekends"], "unknown setting 'weekends'"),
    ],
)
def test_settings_refuse_bad_input_and_store_nothing(cli: Cli, argv: list[str], reason: str) -> None:
    user_id, _, _ = cli.add()

    code, out, err = cli("settings", user_id, "bybit", "--max-open-positions", "7", *argv)

    assert code == 2 and reason in err and out == ""
    assert cli.read(lambda s: s.get_trade_settings(user_id, "bybit")) is None


@pytest.mark.parametrize(
    ("user", "exchange", "reason"),
    [("known", "nosuchexchange", "unknown exchange"), ("unknown", "bybit", "no user")],
)
def test_settings_for_an_unknown_user_or_exchange_are_refused(
    cli: Cli, user: str, exchange: str, reason: str
) -> None:
    user_id, _, _ = cli.add()
    target = user_id if user == "known" else UNKNOWN_USER

    code, _, err = cli("settings", target, exchange, "--max-open-positions", "2")

    assert code == 2 and reason in err
    assert cli.rows("SELECT count(*) FROM trade_settings_exchange") == [(0,)]


# --- plan -----------------------------------------------------------------------------------------


def test_plan_changes(cli: Cli) -> None:
    user_id, _, _ = cli.add()

    out = cli.ok("plan", user_id, "premium")

    assert "plan Premium (300 webhooks a month), was Free" in out
    assert cli.read(lambda s: s.subscription_plan(user_id)) == "Premium"
    cli.ok("plan", user_id, "Pro")
    assert cli.read(lambda s: s.subscription_plan(user_id)) == "Pro"
    assert cli.rows("SELECT count(*) FROM subscriptions") == [(1,)]


@pytest.mark.parametrize(
    ("target", "plan", "reason"),
    [("known", "Gold", "unknown plan 'Gold'"), ("unknown", "Basic", "no user")],
)
def test_plan_refuses_bad_input(cli: Cli, target: str, plan: str, reason: str) -> None:
    user_id, _, _ = cli.add()

    code, _, err = cli("plan", user_id if target == "known" else UNKNOWN_USER, plan)

    assert code == 2 and reason in err
    assert cli.rows("SELECT user_id, plan FROM subscriptions") == [(user_id, "Free")]


# --- list -----------------------------------------------------------------------------------------


def test_list_shows_users_plans_limits_and_exchanges_but_no_secrets(cli: Cli) -> None:
    ada, ada_secret, _ = cli.add("--email", "ada@example.com", "--plan", "Pro")
    bob, bob_secret, _ = cli.add()
    cli.ok("credentials", ada, "bybit", "--api-key", "ada-key-1234", "--api-secret", "ada-api-secret")
    cli.ok("credentials", ada, "oanda", "--environment", "practice", "--access-token", "ada-token")

    out = cli.ok("list")

    lines = out.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "PLAN", "MONTHLY", "LIMIT", "THIS", "MONTH", "EXCHANGES"]
    assert lines[1].split() == [ada, "ada@example.com", "Pro", "unlimited", "0", "bybit,", "oanda", "(practice)"]
    assert lines[2].split() == [bob, "-", "Free", f"{DEFAULT_PLAN_LIMITS['Free']}/month",
                                f"0/{DEFAULT_PLAN_LIMITS['Free']}", "-"]
    assert "2 users" in out
    for secret in (ada_secret, bob_secret, "ada-key-1234", "ada-api-secret", "ada-token", "sha256:"):
        assert secret not in out


def test_list_shows_this_months_usage_as_the_quota_counts_it(cli: Cli) -> None:
    free, free_secret, _ = cli.add("--plan", "Free")  # 5 webhooks a month
    pro, pro_secret, _ = cli.add("--plan", "Pro")  # unlimited
    limit = DEFAULT_PLAN_LIMITS["Free"]

    async def send_alerts() -> list[int]:
        async with running(make_settings(cli.data_dir)) as sparky:
            statuses = []
            for secret, count in ((free_secret, limit + 2), (pro_secret, 3)):
                for i in range(count):
                    response = await sparky.client.post("/webhook", json={
                        "secret": secret, "exchange": "paper", "action": "buy", "symbol": "BTCUSDT",
                        "price": 27000 + i})
                    statuses.append(response.status_code)
            last_month = make_request(user_id=free, status=RequestStatus.SUCCESS,
                                      created_at=month_bounds(utcnow())[0] - timedelta.resolution)
            await sparky.services.store.insert_webhook_request(last_month)  # not this month's
            return statuses

    with cli.capsys.disabled():  # the app's logger must not keep this test's captured stderr
        statuses = asyncio.run(send_alerts())
    assert statuses == [200] * limit + [429, 429] + [200] * 3  # the two entries over the quota are refused

    rows = {line.split()[0]: line.split() for line in cli.ok("list").splitlines()[1:] if line.strip()}
    assert rows[free][4] == f"{limit}/{limit}"  # the refused ones are not counted, nor last month's
    assert rows[pro][4] == "3"


def test_list_of_an_empty_store(cli: Cli) -> None:
    cli.read(lambda s: s.ping())  # creates the database, with no users

    assert "No users yet" in cli.ok("list")


@pytest.mark.parametrize("argv", [["list"], ["plan", UNKNOWN_USER, "Pro"], ["secret", UNKNOWN_USER]])
def test_commands_other_than_add_need_an_existing_database(cli: Cli, argv: list[str]) -> None:
    code, out, err = cli(*argv)

    assert code == 2 and "no Sparky database at" in err and out == ""
    assert not cli.data_dir.exists()


# --- wiring ---------------------------------------------------------------------------------------


def test_the_data_dir_defaults_to_sparky_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SPARKY_ENV", "test")
    monkeypatch.setenv("SPARKY_DATA_DIR", str(tmp_path / "from-env"))

    assert users_cli.main(["users", "add"]) == 0

    secret = secret_of(capsys.readouterr().out)
    cli = Cli(tmp_path / "from-env", capsys)
    assert cli.read(lambda s: s.find_webhook_secret_owner(secret)) is not None


def test_users_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        users_cli.main(["users"])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_an_unusable_store_exits_1_without_a_traceback(cli: Cli) -> None:
    cli.data_dir.parent.mkdir(parents=True, exist_ok=True)
    cli.data_dir.write_text("a file, not a directory")

    code, out, err = cli("add")

    assert code == 1 and "could not be used" in err and out == ""
