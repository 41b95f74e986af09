"""The deployment files (deploy/, ecosystem.config.js) run by the real tools: systemd-analyze, nginx,
openssl, node and PM2. `make test` installs them (scripts/nginx-for-tests.sh, scripts/pm2-for-tests.sh);
a missing one skips its tests, except under CI (CI=true), where it fails them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"


def tool(name: str, *, env: str | None = None, how: str, local: Path | None = None) -> str:
    """The path of the command `name`: from `env` when set, else on PATH (or in /usr/sbin), else
    `local` if it exists; without one the test skips (fails under CI)."""
    found = os.environ.get(env) if env else None
    found = found or shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    found = found or (str(local) if local and local.exists() else None)
    if found:
        return found
    message = f"{name} is not installed ({how})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true: the deployment tests must run", pytrace=False)
    pytest.skip(message)


def sparky_command() -> Path:
    """The `sparky` console script of the interpreter running the tests (the venv's)."""
    return Path(sys.executable).with_name("sparky")
