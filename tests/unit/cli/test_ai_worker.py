"""`sparky ai-worker`: its settings and flags refused with status 2 naming them, and the command's
run (parts built, cycles, real SIGTERM/SIGINT, exit status) beside a server holding the data dir."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sparky.ai.contracts import StepOutcome
from sparky.cli.ai_worker import run_worker
from sparky.cli.main import main
from sparky.cli.settings_errors import load_settings
from sparky.config import Settings
from sparky.data_dir_lock import DataDirLock
from sparky.store.ai import AiStrategyRecord
from sparky.store.base import StoreUnavailable
from sparky.store.sqlite.store import SqliteStore
from tests.ai_worker_doubles import MarketFactory, StandInStep, add_running, open_store
from tests.conftest import make_settings

WAIT = 10.0


@pytest.fixture
def clean_env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """tests/unit/conftest.py's, with the data dir in this test's own directory."""
    clean_env.setenv("SPARKY_DATA_DIR", str(tmp_path / "data"))
    return clean_env


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("AI_CYCLE_SEC", "0", "AI_CYCLE_SEC: Input should be greater than or equal to 5"),
    ("AI_CYCLE_SEC", "-45", "AI_CYCLE_SEC: Input should be greater than or equal to 5"),
    ("AI_CYCLE_SEC", "3601", "AI_CYCLE_SEC: Input should be less than or equal to 3600"),
    ("AI_CYCLE_SEC", "inf", "AI_CYCLE_SEC: Input should be a finite number"),
    ("AI_CYCLE_SEC", "a minute", "AI_CYCLE_SEC: Input should be a valid number"),
    ("AI_CONCURRENCY", "0", "AI_CONCURRENCY: Input should be greater than or equal to 1"),
    ("AI_CONCURRENCY", "501", "AI_CONCURRENCY: Input should be less than or equal to 500"),
    ("AI_CONCURRENCY", "2.5", "AI_CONCURRENCY: Input should be a valid integer"),
    ("AI_CONCURRENCY", "ten", "AI_CONCURRENCY: Input should be a valid integer"),
])
def test_a_bad_ai_setting_exits_2_naming_it_before_anything_starts(
        clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        setting: str, value: str, says: str) -> None:
    clean_env.setenv(setting, value)
    assert main(["ai-worker"]) == 2
    printed = capsys.readouterr().err
    assert printed.startswith("sparky: invalid settings:\n") and says in printed, printed
    assert "Traceback" not in printed
    assert not (tmp_path / "data").exists()  # nothing created


def test_the_ai_settings_default_to_a_45_second_cycle_and_10_strategies_at_once(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)
    assert (settings.ai_cycle_sec, settings.ai_concurrency) == (45, 10)
    clean_env.setenv("AI_CYCLE_SEC", "12.5")
    clean_env.setenv("AI_CONCURRENCY", "25")
    settings = load_settings(_env_file=None)
    assert (settings.ai_cycle_sec, settings.ai_concurrency) == (12.5, 25)


@pytest.mark.parametrize("value", ["", "   ", "x" * 101, "worker\n1"])
def test_a_bad_worker_id_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ai-worker", "--worker-id", value])
    assert exited.value.code == 2
    assert "--worker-id must be 1 to 100 printable characters" in capsys.readouterr().err


@dataclass
class Parts:
    """What `build_ai_parts` hands the command (ai/wiring.py), with a stand-in step."""

    store: SqliteStore
    step: Any
    new_market_data: Any
    closed: bool = False

    async def aclose(self) -> None:
        self.closed = True
        await self.store.aclose()


def builder(parts: Parts) -> Any:
    async def build(settings: Settings) -> Parts:
        return parts

    return build


async def stand_in_parts(data_dir: Path, behaviour: Any) -> tuple[Parts, list[str]]:
    store = await open_store(data_dir / "sparky.sqlite3")
    ids = await add_running(store, 3)
    return Parts(store, StandInStep(behaviour), MarketFactory()), ids


def handler_installed(signum: int) -> bool:
    return signal.getsignal(signum) not in (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler)


async def test_sigterm_lets_the_cycle_finish_then_the_command_exits_0_beside_a_server_holding_the_data_dir(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    released = asyncio.Event()

    async def waits(strategy: AiStrategyRecord) -> StepOutcome:
        await released.wait()
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()))

    parts, ids = await stand_in_parts(data_dir, waits)
    with DataDirLock.acquire(data_dir):  # `sparky serve` holds it; the worker must not need it
        command = asyncio.create_task(run_worker(make_settings(data_dir), "worker-1", builder(parts)))
        await parts.step.wait_for_calls(3)
        assert handler_installed(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        assert not command.done()
        released.set()
        status = await asyncio.wait_for(command, WAIT)

    assert status == 0 and parts.closed
    assert sorted(parts.step.done) == sorted(ids) and len(parts.step.calls) == 3
    reopened = await open_store(data_dir / "sparky.sqlite3")
    try:
        [beat] = await reopened.ai_worker_heartbeats()
    finally:
        await reopened.aclose()
    assert (beat.worker_id, beat.strategies, beat.decisions, beat.errors) == ("worker-1", 3, 3, 0)
    assert not handler_installed(signal.SIGTERM)  # handed back


async def test_a_second_sigint_cuts_the_cycle_short_and_exits_130(tmp_path: Path) -> None:
    never = asyncio.Event()

    async def hangs(strategy: AiStrategyRecord) -> StepOutcome:
        await never.wait()
        raise AssertionError("never released")

    parts, _ = await stand_in_parts(tmp_path, hangs)
    command = asyncio.create_task(run_worker(make_settings(tmp_path), "worker-1", builder(parts)))
    await parts.step.wait_for_calls(3)
    assert handler_installed(signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(command, WAIT) == 128 + signal.SIGINT
    assert parts.closed and parts.step.done == []


@pytest.mark.parametrize(("error", "status", "says"), [
    (ValueError("GROQ_MODEL is not set: the AI worker needs a model"), 2,
     "sparky: invalid settings:\nGROQ_MODEL is not set"),
    (StoreUnavailable("SQLite store: unable to open database file"), 1,
     "sparky: the AI worker could not start: StoreUnavailable: SQLite store: unable to open database file"),
])
async def test_parts_that_cannot_be_built_exit_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], error: Exception, status: int, says: str) -> None:
    async def refuses(settings: Settings) -> Parts:
        raise error

    assert await run_worker(make_settings(tmp_path), "worker-1", refuses) == status
    assert says in capsys.readouterr().err
