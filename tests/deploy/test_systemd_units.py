"""deploy/systemd: both units pass `systemd-analyze verify`, keep their hardening and stay within an
exposure score of `systemd-analyze security`.

systemd-analyze refuses a unit whose ExecStart binary does not exist, and /opt/sparky is where the
units expect the checkout, not where the tests run: each test checks a copy of the unit in a temp dir
whose ExecStart names this virtualenv's `sparky` instead. Nothing else of the unit is changed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sparky.app import DRAIN_SECONDS
from sparky.cli.serve import GRACEFUL_SHUTDOWN_SECONDS
from tests.deploy.conftest import DEPLOY, sparky_command, tool

UNITS = ("sparky.service", "sparky-ai-worker.service")
INSTALLED_COMMAND = "/opt/sparky/.venv/bin/sparky"
#: `systemd-analyze security` scores 0 (locked down) to 10 (unprotected); ≤ 2 is "OK" (the units: 1.1)
MAX_EXPOSURE = 2.0

#: what every unit must keep: removing or weakening one of these fails the test
HARDENING = {
    "User": "sparky",
    "Group": "sparky",
    "EnvironmentFile": "/etc/sparky/sparky.env",
    "StateDirectory": "sparky",
    "Environment": "SPARKY_DATA_DIR=/var/lib/sparky",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/sparky",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "ProtectHome": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
}


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every `Key=value` of the unit (a key may repeat), comments and section headers left out."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def checkable_copy(unit: str, directory: Path) -> Path:
    """The unit with ExecStart pointing at a `sparky` that exists here (see the module's docstring)."""
    text = (DEPLOY / "systemd" / unit).read_text()
    assert text.count(INSTALLED_COMMAND) == 1, f"{unit}: ExecStart should run {INSTALLED_COMMAND}"
    assert sparky_command().exists(), f"no {sparky_command()}: install the package into the venv"
    copy = directory / unit
    copy.write_text(text.replace(INSTALLED_COMMAND, str(sparky_command())))
    return copy


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_passes_systemd_analyze_verify_without_a_warning(unit: str, tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", how="Debian package systemd; scripts/nginx-for-tests.sh installs it")
    result = subprocess.run([analyze, "verify", str(checkable_copy(unit, tmp_path))],
                            capture_output=True, text=True, timeout=60)
    # an unknown or misspelt key is only a warning to systemd (it ignores the line): none is allowed
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_keeps_its_user_data_dir_and_hardening(unit: str) -> None:
    settings = unit_settings((DEPLOY / "systemd" / unit).read_text())
    missing = {key: value for key, value in HARDENING.items() if value not in settings.get(key, [])}
    assert missing == {}
    assert re.fullmatch(r"\d+[MG]", settings["MemoryMax"][-1])
    assert settings["ExecStart"][0].startswith(INSTALLED_COMMAND + " ")


def test_the_server_listens_on_loopback_and_believes_only_the_local_proxy() -> None:
    settings = unit_settings((DEPLOY / "systemd" / "sparky.service").read_text())
    assert settings["ExecStart"] == [f"{INSTALLED_COMMAND} serve --host 127.0.0.1 --forwarded-allow-ips 127.0.0.1"]


def test_the_server_is_given_longer_to_stop_than_its_shutdown_takes() -> None:
    settings = unit_settings((DEPLOY / "systemd" / "sparky.service").read_text())
    # open connections first, then the executions in flight: a SIGKILL before both end cuts an execution
    assert int(settings["TimeoutStopSec"][-1]) > GRACEFUL_SHUTDOWN_SECONDS + DRAIN_SECONDS
    worker = unit_settings((DEPLOY / "systemd" / "sparky-ai-worker.service").read_text())
    assert worker["ExecStart"] == [f"{INSTALLED_COMMAND} ai-worker"]
    assert int(worker["TimeoutStopSec"][-1]) >= int(settings["TimeoutStopSec"][-1])


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_exposure_score_stays_low(unit: str, tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", how="Debian package systemd; scripts/nginx-for-tests.sh installs it")
    result = subprocess.run([analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE * 10:.0f}", "--no-pager",
                             str(checkable_copy(unit, tmp_path))], capture_output=True, text=True, timeout=60)
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score, result.stdout + result.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE
    assert result.returncode == 0, result.stderr  # --threshold counts in tenths
