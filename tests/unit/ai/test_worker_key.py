"""The AI worker's signing key in the data dir (no SIGNALSTUDIO_FORWARD_SECRET): made once, 0600,
the same for every process that asks; the server believes forwards signed with it, and only when no
forward secret is set."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from sparky.ai.worker_key import load_or_create_worker_key
from sparky.errors import Unauthorized
from sparky.signals.auth import Authenticator, SecretDirectory, sign_forward

ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


def test_every_process_asking_at_once_gets_the_one_key_written_0600(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        keys = list(pool.map(load_or_create_worker_key, [tmp_path] * 8))
    assert len(set(keys)) == 1 and len(keys[0]) >= 40
    assert (tmp_path / "ai_worker_key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_worker_key(tmp_path) == keys[0]


class _Users(SecretDirectory):
    def __init__(self) -> None:
        super().__init__(None)

    async def user_exists(self, user_id: str) -> bool:
        return user_id == ALICE


def _signed(key: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"user_id": ALICE, "action": "buy", "symbol": "BTCUSDT"}).encode()
    return raw, {"x-sparky-signature": sign_forward(key, raw, int(time.time()))}


async def test_a_forward_signed_with_the_worker_key_acts_for_its_user() -> None:
    raw, headers = _signed("worker-key")
    principal = await Authenticator([], _Users(), worker_key="worker-key").authenticate(
        json.loads(raw), raw, headers)
    assert principal.user_id == ALICE


@pytest.mark.parametrize(("forward_secret", "worker_key"), [("dashboard-key", None), (None, "another-data-dir")])
async def test_a_forward_signed_with_a_key_the_server_does_not_hold_is_refused(
        forward_secret: str | None, worker_key: str | None) -> None:
    raw, headers = _signed("worker-key")
    with pytest.raises(Unauthorized, match="invalid or expired forward signature"):
        await Authenticator([], _Users(), forward_secret=forward_secret, worker_key=worker_key).authenticate(
            json.loads(raw), raw, headers)
