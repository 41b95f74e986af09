"""`sparky check`'s venue findings: each venue the local user trades on (config.json sections) and
each set of keys stored with `sparky users credentials`, reached with read-only calls only — the
venue's clock where it publishes one, then the account's balance (which proves the keys) — each
within its own timeout. Nothing here can place, change or cancel an order."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sparky.cli.findings import Finding, fail, ok, warn
from sparky.config import LegacyConfig, Settings
from sparky.exchanges.base import Exchange
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.http import HttpClientPool

#: a clock further than this from the venue's: Aster and the Binance-style venues refuse signed
#: requests outside their window (5 s by default), and alert ages are measured with this clock
MAX_SKEW_SEC = 1.0

Build = Callable[[HttpClientPool], Exchange]


async def venues(settings: Settings, *, timeout: float) -> list[Finding]:
    from sparky.exchanges.factory import create_adapter, is_supported

    findings: list[Finding] = []
    targets: list[tuple[str, Build]] = []
    for name, section in LegacyConfig.load(settings.config_path).exchanges.items():
        if name == "paper":
            continue
        subject = f"venue {name} (config.json)"
        if not is_supported(name):
            findings.append(warn(subject, "not a venue Sparky knows, so it is left out: use paper, aster, oanda, "
                                          "tradier or a CCXT exchange id as the section's name"))
            continue
        targets.append((subject, partial(_from_section, create_adapter, name, section)))
    if not settings.supabase_url:  # with Supabase the keys are each tenant's own, not the operator's
        targets.extend(_stored_keys(settings.database_path, create_adapter))
    if not targets:
        return [*findings, ok("venues", "paper only (simulated on this machine): no keys to check")]
    http = HttpClientPool()
    try:
        findings += await asyncio.gather(*(_probe(subject, build, http, timeout) for subject, build in targets))
    finally:
        await http.aclose()
    return findings


def _from_section(create_adapter: Callable[..., Exchange], name: str, section: Any, http: HttpClientPool) -> Exchange:
    """The adapter of a config.json section (its credentials read only when the check runs)."""
    from sparky.exchanges.factory import credentials_from_section

    return create_adapter(credentials_from_section(name, section), http)


def _stored_keys(database: Path, create_adapter: Callable[..., Exchange]) -> list[tuple[str, Build]]:
    """The keys `sparky users credentials` stored, read without opening the store for writing."""
    if not database.exists():
        return []
    from sparky.exchanges.accounts import credentials_of
    from sparky.store.sqlite.codec import tenant_from_row
    from sparky.store.tenants import CredentialRecord

    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM bot_credentials WHERE exchange <> 'webhook' "
                                "ORDER BY exchange, user_id").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []  # the store finding says why the database cannot be read
    targets: list[tuple[str, Build]] = []
    for row in rows:
        record = tenant_from_row(CredentialRecord, row)
        credentials = credentials_of(record)
        subject = f"venue {record.exchange} ({credentials.environment}, user {record.user_id})"
        targets.append((subject, partial(create_adapter, credentials)))
    return targets


async def _probe(subject: str, build: Build, http: HttpClientPool, timeout: float) -> Finding:
    try:
        exchange = build(http)
    except Exception as err:  # noqa: BLE001 - a section or row that cannot make an adapter
        return fail(subject, f"cannot be set up ({err}): fix its keys or options")
    try:
        async with asyncio.timeout(timeout):
            skew = await _clock_skew(exchange)
            balance = await exchange.balance()
    except TimeoutError:
        return fail(subject, f"no answer within {timeout:g} s: check the network, the venue's status page and "
                             "its base URL / environment")
    except ExchangeError as err:
        return fail(subject, f"{err}: check the API key, secret and environment (live or demo)")
    except Exception as err:  # noqa: BLE001 - anything else the venue's client raised
        return fail(subject, f"{type(err).__name__}: {err}")
    finally:
        await exchange.aclose()
    reached = f"keys accepted, {balance.available.normalize():f} {balance.currency} available"
    if skew is None:
        return ok(subject, f"{reached}; the venue publishes no clock")
    clock = f"this machine's clock is {abs(skew):.2f} s {'behind' if skew > 0 else 'ahead of'} the venue's"
    if abs(skew) > MAX_SKEW_SEC:
        return warn(subject, f"{reached}; {clock}: synchronise it (chrony or systemd-timesyncd), or signed "
                             "requests and fresh alerts may be refused")
    return ok(subject, f"{reached}; {clock}")


async def _clock_skew(exchange: Exchange) -> float | None:
    """Seconds the venue's clock is ahead of ours, measured at the middle of the request."""
    sent = time.time()
    venue = await exchange.server_time()
    received = time.time()
    if venue is None:
        return None
    middle = datetime.fromtimestamp((sent + received) / 2, UTC)
    return (venue - middle).total_seconds()
