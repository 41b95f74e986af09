"""`sparky check` through the real command: each finding both ways, the exit status, and that it
never writes, never holds the data dir's lock and never sends an order."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import respx

import sparky
import sparky.exchanges.ccxt.adapter as ccxt_adapter
from sparky.cli import users as users_cli
from sparky.cli.main import main
from sparky.data_dir_lock import DataDirLock
from sparky.store.sqlite.store import SqliteStore
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster
from tests.unit.exchanges.ccxt.test_ccxt import KEY as CCXT_KEY
from tests.unit.exchanges.ccxt.test_ccxt import SECRET as CCXT_SECRET
from tests.unit.exchanges.ccxt.test_ccxt import BinanceVenue

SETTINGS = ("WEBHOOK_SECRET", "ADMIN_TOKEN", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "CONFIG_PATH", "HOST",
            "SPARKY_ENV", "REDIS_URL", "DATABASE_URL", "SIGNALSTUDIO_FORWARD_SECRET", "LOG_LEVEL")
STRONG = "k3J9-qQx2_Lw8vTz5mNb7RcY"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> pytest.MonkeyPatch:
    """The settings as `sparky serve` reads them: no .env, this test's data dir, strong secrets."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARKY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WEBHOOK_SECRET", STRONG)
    monkeypatch.setenv("ADMIN_TOKEN", STRONG[::-1])
    return monkeypatch


@pytest.fixture
def database(data_dir: Path) -> Path:
    """A data dir as a server leaves it: the store made, one webhook recorded."""
    async def make() -> None:
        store = SqliteStore(data_dir / "sparky.sqlite3")
        await store.open()
        await store.aclose()

    asyncio.run(make())
    return data_dir / "sparky.sqlite3"


def command(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m sparky ARGV` as a user runs it, from the sources under test (the tests change directory)."""
    source = str(Path(sparky.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "sparky", *argv], capture_output=True, text=True, env=env,
                          timeout=60)


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, list[str]]]:
    """The exit status and the findings by subject: ["ok: text", …]."""
    status = main(["check", *argv])
    out = capsys.readouterr().out
    findings: dict[str, list[str]] = {}
    for line in out.splitlines()[:-1]:
        match = re.fullmatch(r"(ok|warn|FAIL)\s+([^:]+): (.*)", line)
        assert match, out
        level, subject, text = match.groups()
        findings.setdefault(subject, []).append(f"{level}: {text}")
    assert out.splitlines()[-1] == ("nothing failed" if status == 0 else
                                    f"{sum(f.startswith('FAIL') for fs in findings.values() for f in fs)} failed")
    return status, findings


def test_a_good_configuration_is_ok_throughout_and_exits_0(env, database: Path, capsys) -> None:
    status, found = check(capsys)

    assert status == 0
    assert found["settings"] == ["ok: valid (as `sparky serve` reads them)"]
    assert found["secrets"] == ["ok: WEBHOOK_SECRET, ADMIN_TOKEN long enough and not placeholders"]
    assert found["data dir lock"] == ["ok: free: no server is running on this data dir"]
    assert found["store"] == [f"ok: SQLite at {database} opens (0 webhook requests)"]
    assert found["schema"] == ["ok: every table and column of this version is there"]
    assert found["venues"] == ["ok: paper only (simulated on this machine): no keys to check"]
    assert "redis" not in found and "migrations" not in found


def test_a_bad_setting_fails_as_serve_prints_it_and_exits_1(env, capsys) -> None:
    env.setenv("LOG_LEVEL", "loud")
    env.setenv("RECONCILE_FAST_SEC", "-1")

    status, found = check(capsys)

    assert status == 1
    assert sorted(found["settings"]) == [
        "FAIL: LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (got 'loud')",
        "FAIL: RECONCILE_FAST_SEC: Input should be greater than 0 (got '-1')",
    ]
    assert set(found) == {"settings"}  # nothing else can be checked without the settings
    served = command("serve")
    assert served.returncode == 2
    assert sorted(served.stderr.splitlines()[1:]) == sorted(line.removeprefix("FAIL: ") for line in found["settings"])


def test_a_short_secret_is_a_warning_on_loopback_and_a_failure_when_exposed(env, database: Path, capsys) -> None:
    env.setenv("WEBHOOK_SECRET", "changeme")
    env.setenv("HOST", "127.0.0.1")

    status, found = check(capsys)
    assert status == 0
    assert found["secrets"][0].startswith("warn: WEBHOOK_SECRET is a placeholder: accepted only while HOST is a "
                                          "loopback address")

    env.setenv("HOST", "0.0.0.0")
    status, found = check(capsys)
    assert status == 1
    assert found["settings"][0].startswith("FAIL: refusing to listen on 0.0.0.0, which other machines can reach, "
                                           "with guessable secrets: WEBHOOK_SECRET is a placeholder")


def test_a_running_server_is_a_warning_naming_its_pid_and_check_leaves_the_lock_free(env, database: Path,
                                                                                    capsys) -> None:
    with DataDirLock.acquire(database.parent):  # a server holds the data dir
        checked = command("check")
    assert checked.returncode == 0, checked.stdout
    assert f"warn  data dir lock: in use by pid {os.getpid()}: a server is running on this data dir" in checked.stdout
    assert f"ok    store: SQLite at {database} opens (0 webhook requests)" in checked.stdout

    status, found = check(capsys)  # no server now: the check took nothing a server would need
    assert status == 0 and found["data dir lock"] == ["ok: free: no server is running on this data dir"]
    with DataDirLock.acquire(database.parent):
        pass


def test_a_missing_data_dir_and_database_are_warnings(env, data_dir: Path, capsys) -> None:
    status, found = check(capsys)

    assert status == 0
    assert found["data dir"] == [f"warn: {data_dir} does not exist yet: the first `sparky serve` creates it"]
    assert found["store"][0].startswith(f"warn: no database yet at {data_dir / 'sparky.sqlite3'}")
    assert not data_dir.exists()  # check creates nothing


def test_a_database_that_does_not_read_fails(env, data_dir: Path, capsys) -> None:
    data_dir.mkdir()
    (data_dir / "sparky.sqlite3").write_bytes(b"this is not a database" * 100)

    status, found = check(capsys)

    assert status == 1
    assert found["store"][0].startswith(f"FAIL: the SQLite database at {data_dir / 'sparky.sqlite3'} cannot be read "
                                        "(file is not a database)")


def test_a_database_made_by_an_older_version_is_a_warning_naming_what_the_next_start_adds(env, database: Path,
                                                                                         capsys) -> None:
    conn = sqlite3.connect(database)
    conn.execute("ALTER TABLE webhook_requests DROP COLUMN source_ip")
    conn.execute("DROP TABLE notification_preferences")
    conn.close()

    status, found = check(capsys)

    assert status == 0
    assert found["schema"] == ["warn: the database lacks webhook_requests.source_ip, notification_preferences: the next "
                               "`sparky serve` adds them (made by an older Sparky)"]
    columns = [row[1] for row in sqlite3.connect(database).execute("PRAGMA table_info(webhook_requests)")]
    assert "source_ip" not in columns  # check reads only: the server adds it


def test_redis_not_answering_fails(env, database: Path, capsys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    env.setenv("REDIS_URL", f"redis://:hunter2-password@127.0.0.1:{port}/0")

    status, found = check(capsys)

    assert status == 1
    [line] = found["redis"]
    assert line.startswith(f"FAIL: redis://:***@127.0.0.1:{port}/0 does not answer (ConnectionError")
    assert "start Redis, fix REDIS_URL, or unset it" in line and "hunter2" not in line


def test_supabase_mode_reads_webhook_requests_and_asks_for_database_url(env, capsys) -> None:
    env.setenv("SUPABASE_URL", "https://project.supabase.co")
    env.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-role-key-of-the-project")
    with respx.mock(assert_all_called=False) as venue:
        read = venue.get(url__startswith="https://project.supabase.co/rest/v1/webhook_requests").mock(
            return_value=httpx.Response(200, json=[]))
        status, found = check(capsys)
        assert read.called

        assert status == 0
        assert found["store"] == ["ok: Supabase at https://project.supabase.co answers a read of webhook_requests"]
        assert found["migrations"][0].startswith("warn: not checked: set DATABASE_URL")

        read.mock(return_value=httpx.Response(401, json={"message": "Invalid API key"}))
        status, found = check(capsys)
    assert status == 1
    assert found["store"][0].startswith("FAIL: Supabase at https://project.supabase.co does not answer a read")


# --- venues ---------------------------------------------------------------------------------------


def aster_config(tmp_path: Path, secret: str = SECRET) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": secret}}))
    return config


class TickingAster(FakeAster):
    """The scripted venue with a clock that runs, `offset_ms` from ours."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms
        super().__init__()

    @property
    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    @server_ms.setter
    def server_ms(self, value: int) -> None:
        pass  # FakeAster's fixed clock: this one runs


def venue_at(offset_ms: int) -> FakeAster:
    return TickingAster(offset_ms)


def read_only(venue: FakeAster) -> None:
    assert venue.calls() and all(call.startswith("GET ") for call in venue.calls())  # never an order


def test_a_venue_answering_with_its_clock_close_to_ours_is_ok(env, database: Path, tmp_path: Path, capsys) -> None:
    env.setenv("CONFIG_PATH", str(aster_config(tmp_path)))
    venue = venue_at(250)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        status, found = check(capsys)

    assert status == 0
    [line] = found["venue aster (config.json)"]
    assert re.fullmatch(r"ok: keys accepted, 23\.72469206 USDT available; this machine's clock is 0\.2\d s behind "
                        r"the venue's", line), line
    read_only(venue)
    assert {"GET /fapi/v1/time", "GET /fapi/v2/balance"} <= set(venue.calls())


def test_a_venue_whose_clock_is_seconds_off_is_a_warning(env, database: Path, tmp_path: Path, capsys) -> None:
    env.setenv("CONFIG_PATH", str(aster_config(tmp_path)))
    venue = venue_at(-3000)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        status, found = check(capsys)

    assert status == 0
    [line] = found["venue aster (config.json)"]
    assert re.match(r"warn: keys accepted, .*; this machine's clock is (2\.9\d|3\.0\d) s ahead of the venue's: "
                    r"synchronise it", line), line


def test_a_venue_refusing_the_keys_fails(env, database: Path, tmp_path: Path, capsys) -> None:
    env.setenv("CONFIG_PATH", str(aster_config(tmp_path, secret="not-the-secret")))
    venue = venue_at(0)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        status, found = check(capsys)

    assert status == 1
    [line] = found["venue aster (config.json)"]
    assert line.startswith("FAIL: ") and line.endswith("check the API key, secret and environment (live or demo)")
    assert "-1022" in line or "Signature" in line
    read_only(venue)


def test_a_venue_that_never_answers_fails_after_its_timeout(env, database: Path, tmp_path: Path, capsys) -> None:
    env.setenv("CONFIG_PATH", str(aster_config(tmp_path)))
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=hang)
        status, found = check(capsys, "--venue-timeout", "0.3")

    assert status == 1
    assert found["venue aster (config.json)"] == [
        "FAIL: no answer within 0.3 s: check the network, the venue's status page and its base URL / environment"]


def test_keys_stored_for_a_local_user_are_checked_too(env, data_dir: Path, capsys) -> None:
    user = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
    assert users_cli.main(["users", "add", "--data-dir", str(data_dir), "--user-id", user]) == 0
    assert users_cli.main(["users", "credentials", user, "aster", "--data-dir", str(data_dir), "--api-key", KEY,
                           "--api-secret", SECRET, "--api-url", BASE]) == 0
    capsys.readouterr()
    venue = venue_at(100)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        status, found = check(capsys)

    assert status == 0
    assert found[f"venue aster (production, user {user})"][0].startswith("ok: keys accepted, 23.72469206 USDT")
    read_only(venue)


def test_an_unknown_config_section_is_a_warning(env, database: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"webhookSecret": STRONG, "notavenue": {"apiKey": "k"}}))
    env.setenv("CONFIG_PATH", str(config))

    status, found = check(capsys)

    assert status == 0
    assert found["venue notavenue (config.json)"][0].startswith("warn: not a venue Sparky knows")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "301"])
def test_a_bad_venue_timeout_exits_2_naming_the_flag(env, capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--venue-timeout", value])
    assert exited.value.code == 2
    assert "--venue-timeout" in capsys.readouterr().err


class TickingBinance(BinanceVenue):
    """The scripted binanceusdm with a clock that runs, `offset_ms` from ours."""

    offset_ms = 0

    def answer(self, request):  # noqa: ANN001, ANN201 - the harness's signature
        if (request.method, request.path) == ("GET", "/fapi/v1/time"):
            return 200, {"serverTime": int(time.time() * 1000) + self.offset_ms}
        return super().answer(request)


def test_a_ccxt_venue_is_reached_with_its_clock_and_balance(env, database: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    venue = TickingBinance()
    venue.offset_ms = 1500
    monkeypatch.setattr(ccxt_adapter, "default_factory", venue._factory)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"binanceusdm": {"apiKey": CCXT_KEY, "apiSecret": CCXT_SECRET}}))
    env.setenv("CONFIG_PATH", str(config))

    status, found = check(capsys)

    assert status == 0
    [line] = found["venue binanceusdm (config.json)"]
    assert re.match(r"warn: keys accepted, [\d.]+ USDT available; this machine's clock is 1\.[45]\d s behind the "
                    r"venue's", line), line
    assert {(r.method, r.path) for r in venue.requests} >= {("GET", "/fapi/v1/time"), ("GET", "/fapi/v3/account")}
    assert venue.order_posts() == [] and all(r.method == "GET" for r in venue.requests)


def test_a_data_dir_whose_name_has_uri_characters_is_read(env, tmp_path: Path, capsys) -> None:
    data = tmp_path / "sparky #1?mode=ro%20"
    env.setenv("SPARKY_DATA_DIR", str(data))

    async def make() -> None:
        store = SqliteStore(data / "sparky.sqlite3")
        await store.open()
        await store.aclose()

    asyncio.run(make())
    status, found = check(capsys)

    assert status == 0 and found["store"] == [f"ok: SQLite at {data / 'sparky.sqlite3'} opens (0 webhook requests)"]
