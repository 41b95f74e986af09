"""RSS of a server whose local users each hold their own Aster keys and each sent one webhook.

The users are written through Sparky's own store API (the one `sparky users add` and
`sparky users credentials` use), by a subprocess running the tree under test:
`python bench/venue_users.py DATA_DIR USERS SIM_URL PREFIX` prints their webhook secrets as JSON.
User i trades with API key `<PREFIX>u<i>` (secret `<key>-secret`, as the simulator expects) on
S<i mod 200>USDT; each measured run has its own prefix, so its users start flat on the simulator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from common import BENCH, rss_mib

CONCURRENCY = 20


async def make_users(data_dir: Path, users: int, sim_url: str, prefix: str) -> list[str]:
    import secrets

    from sparky.store.sqlite.store import SqliteStore
    from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest

    store = SqliteStore(data_dir / "sparky.sqlite3", synchronous="NORMAL")  # set-up only, not measured
    await store.open()
    made = []
    try:
        for i in range(users):
            user_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(32)
            await store.add_local_user(LocalUser(id=user_id, email=None, plan="Pro"))
            await store.upsert_credentials(CredentialRecord(user_id=user_id, exchange="webhook",
                                                            webhook_secret=secret_digest(secret)))
            await store.upsert_credentials(CredentialRecord(
                user_id=user_id, exchange="aster", api_key=f"{prefix}u{i}", api_secret=f"{prefix}u{i}-secret",
                extra_metadata={"apiUrl": sim_url}))
            made.append(secret)
    finally:
        await store.aclose()
    return made


async def send_all(url: str, secrets: list[str]) -> list[str]:
    from venue_http import failure, open_body

    failures: list[str] = []
    queue = list(enumerate(secrets))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            i, secret = queue.pop()
            response = await client.post("/webhook", json=open_body(f"S{i % 200}USDT", f"u{i}", secret))
            why = failure(response, "opened")
            if why:
                failures.append(why)

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return failures


def measure(src: Path, sim, users: int, server_env, server_class, prefix: str) -> dict:
    """Users made, server started on their data dir, RSS idle, one webhook each, RSS after."""
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="sparky-users-"))
    started = time.monotonic()
    made = subprocess.run([sys.executable, str(BENCH / "venue_users.py"), str(data_dir), str(users), sim.url, prefix],
                          env=server_env(src, data_dir), capture_output=True, text=True, check=True)
    secrets = json.loads(made.stdout)
    setup_s = round(time.monotonic() - started, 1)
    server = server_class(src, sim, "bench-users-legacy", data_dir)
    try:
        idle = rss_mib(server.process.pid)
        sim.reset()
        started = time.monotonic()
        failures = asyncio.run(send_all(server.url, secrets))
        elapsed = time.monotonic() - started
        server.wait_idle()
        after = rss_mib(server.process.pid)
        requests = sim.stats()["requests"]
    finally:
        server.stop()
    return {"users": users, "setup_s": setup_s, "rss_mib_idle": idle, "rss_mib_after": after,
            "webhooks_per_sec": round(users / elapsed, 1), "failed": len(failures),
            # a user's first webhook: their adapter is built, the clock synced, the rules loaded
            "venue_requests_per_webhook": {k: round(v / users, 2) for k, v in sorted(requests.items())},
            "first_failure": failures[0] if failures else None}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(make_users(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]))))
