"""ecosystem.config.js: what PM2 reads from it (through node), and the web server run by a real PM2
(its own PM2_HOME, a free port, a temp data dir) until /health answers and a stop that drains."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sparky.app import DRAIN_SECONDS
from sparky.cli.serve import GRACEFUL_SHUTDOWN_SECONDS
from tests.deploy.conftest import REPOSITORY, sparky_command, tool
from tests.e2e.test_serve import free_port

ECOSYSTEM = REPOSITORY / "ecosystem.config.js"
SECRET = "pm2-test-webhook-secret-8f1e2d"
#: a generous bound on PM2 starting the server (about a second here)
WAIT_SEC = 60
PRINT_CONFIG = "process.stdout.write(JSON.stringify(require(process.argv[1])))"
NODE_HOW = "Debian package nodejs; scripts/pm2-for-tests.sh installs it with npm"


def load_ecosystem(env_file: Path, log_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPARKY_ENV_FILE": str(env_file), "SPARKY_LOG_DIR": str(log_dir)}
    return subprocess.run([tool("node", how=NODE_HOW), "-e", PRINT_CONFIG, str(ECOSYSTEM)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_ecosystem_declares_the_server_and_the_ai_worker(tmp_path: Path) -> None:
    env_file = tmp_path / "sparky.env"
    env_file.write_text("# settings\nPORT=3001\nexport LOG_FORMAT=json\n\nWEBHOOK_SECRET=\"quoted secret value\"\n"
                        'PLAN_RATE_LIMITS={"Free": "10/minute"}\n')
    loaded = load_ecosystem(env_file, tmp_path / "logs")
    assert loaded.returncode == 0, loaded.stderr
    apps = {app["name"]: app for app in json.loads(loaded.stdout)["apps"]}
    assert set(apps) == {"sparky", "sparky-ai-worker"}
    server, worker = apps["sparky"], apps["sparky-ai-worker"]
    assert server["args"] == ["serve", "--host", "127.0.0.1", "--forwarded-allow-ips", "127.0.0.1"]
    assert worker["args"] == ["ai-worker"]
    for app in (server, worker):
        assert app["script"] == str(REPOSITORY / ".venv" / "bin" / "sparky")
        assert (app["interpreter"], app["exec_mode"], app["instances"]) == ("none", "fork", 1)
        assert app["autorestart"] is True and app["exp_backoff_restart_delay"] > 0 and app["max_restarts"] > 0
        assert app["max_memory_restart"] == "1G"
        assert app["stop_exit_codes"] == [2]  # refused settings: a restart cannot fix them
        assert app["env"] == {"PORT": "3001", "LOG_FORMAT": "json", "WEBHOOK_SECRET": "quoted secret value",
                              "PLAN_RATE_LIMITS": '{"Free": "10/minute"}'}
        assert app["out_file"] == str(tmp_path / "logs" / f"{app['name']}.out.log")
        assert app["error_file"] == str(tmp_path / "logs" / f"{app['name']}.err.log")
    # PM2's SIGKILL must not come before open connections close and executions in flight end
    assert server["kill_timeout"] > (GRACEFUL_SHUTDOWN_SECONDS + DRAIN_SECONDS) * 1000
    assert worker["kill_timeout"] >= server["kill_timeout"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the settings file {file} (SPARKY_ENV_FILE): ENOENT"),
    ("PORT=3000\nthis is not a setting\n", "{file} line 2 is not KEY=VALUE (SPARKY_ENV_FILE): this is not a setting"),
    ("PORT=3000\n1PORT=3000\n", "{file} line 2 is not KEY=VALUE (SPARKY_ENV_FILE): 1PORT=3000"),
])
def test_a_missing_or_malformed_env_file_stops_pm2_with_the_reason(tmp_path: Path, content, message) -> None:
    env_file = tmp_path / "sparky.env"
    if content is not None:
        env_file.write_text(content)
    loaded = load_ecosystem(env_file, tmp_path / "logs")
    assert loaded.returncode != 0 and loaded.stdout == ""
    assert "sparky: " + message.format(file=env_file) in loaded.stderr


@pytest.fixture
def pm2() -> Iterator[tuple[str, dict[str, str]]]:
    """The pm2 command and the environment of a PM2 of its own; its daemon is killed afterwards."""
    command = tool("pm2", env="SPARKY_TEST_PM2", how="npm package pm2; scripts/pm2-for-tests.sh installs it",
                   local=REPOSITORY / ".cache" / "pm2" / "node_modules" / ".bin" / "pm2")
    # a short path: PM2's sockets live in PM2_HOME and a socket path may not pass 107 bytes
    home = tempfile.mkdtemp(prefix="sparky-pm2-")
    env = {**os.environ, "PM2_HOME": home}
    try:
        yield command, env
    finally:
        subprocess.run([command, "delete", "all"], env=env, capture_output=True, timeout=120)
        subprocess.run([command, "kill"], env=env, capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", home], check=False)


def wait_for_health(url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + WAIT_SEC
    while True:
        try:
            return httpx.get(f"{url}/health", timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                text = log.read_text() if log.exists() else "(no log)"
                raise AssertionError(f"no answer from {url} within {WAIT_SEC} s; the server's log:\n{text}") from None
            time.sleep(0.2)  # polling a port that is not open yet


def test_pm2_runs_the_server_from_the_ecosystem_and_stops_it_gracefully(pm2, tmp_path: Path) -> None:
    command, env = pm2
    port = free_port()
    env_file, log_dir = tmp_path / "sparky.env", tmp_path / "logs"
    env_file.write_text(f"PORT={port}\nSPARKY_DATA_DIR={tmp_path / 'data'}\nWEBHOOK_SECRET={SECRET}\n"
                        "LOG_FORMAT=json\n")
    env.update(SPARKY_ENV_FILE=str(env_file), SPARKY_LOG_DIR=str(log_dir),
               SPARKY_VENV=str(sparky_command().parent.parent))
    started = subprocess.run([command, "start", str(ECOSYSTEM), "--only", "sparky"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    log = log_dir / "sparky.err.log"

    health = wait_for_health(f"http://127.0.0.1:{port}", log)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    alert = {"secret": SECRET, "exchange": "paper", "action": "close", "symbol": "BTCUSDT"}
    assert httpx.post(f"http://127.0.0.1:{port}/webhook", json=alert, timeout=10).status_code == 200
    listed = subprocess.run([command, "jlist"], env=env, capture_output=True, text=True, timeout=60)
    [app] = json.loads(listed.stdout)
    assert (app["name"], app["pm2_env"]["status"], app["pm2_env"]["exec_interpreter"]) == ("sparky", "online", "none")
    assert app["pm2_env"]["pm_exec_path"] == str(sparky_command())
    assert (tmp_path / "data" / "server_id").exists()  # the data dir the env file names

    stopped = subprocess.run([command, "stop", "sparky"], env=env, capture_output=True, text=True, timeout=180)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    # the server drained and closed its clients: it was signalled, not killed
    assert '"event": "shutdown.complete"' in log.read_text()
