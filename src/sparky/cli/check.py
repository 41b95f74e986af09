"""`sparky check`: a doctor for the configuration, one line per finding (`ok`, `warn`, `FAIL`,
what was checked and how to fix it), safe to run beside a running server.

In order: the settings (the validation `sparky serve` does, its errors as it prints them), the
secrets, the data dir and whether a server holds it, the store and its schema or migrations,
Redis when REDIS_URL is set, and every venue with keys (read-only calls, each with a timeout).
Nothing is written and no order is ever sent. Exit status: 0 when nothing failed (warnings
allowed), 1 when something did, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio

from sparky.cli.findings import FAIL, Finding, fail, ok

DEFAULT_VENUE_TIMEOUT = 10.0


def add_arguments(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("check", help="check the settings, store, Redis and venues; change nothing")
    parser.add_argument("--venue-timeout", type=_seconds, default=DEFAULT_VENUE_TIMEOUT, metavar="SECONDS",
                        help=f"how long each venue gets to answer (default {DEFAULT_VENUE_TIMEOUT:g})")
    parser.set_defaults(handler=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: give between 0 and 300 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    from sparky.logging import configure_logging

    configure_logging("WARNING", "console")  # on stderr: the venues' routine events would bury the findings
    findings = asyncio.run(collect(args.venue_timeout))
    for finding in findings:
        print(finding.line())
    failed = sum(1 for f in findings if f.level == FAIL)
    print(f"{failed} failed" if failed else "nothing failed")
    return 1 if failed else 0


async def collect(venue_timeout: float) -> list[Finding]:
    from sparky.cli.settings_errors import InvalidSettings, load_settings

    try:
        settings = load_settings()
    except InvalidSettings as err:
        # as `sparky serve` prints them; everything after needs the settings
        return [fail("settings", line) for line in str(err).splitlines()]
    from sparky.cli import check_local, check_venues

    findings = [ok("settings", "valid (as `sparky serve` reads them)")]
    findings += check_local.secrets(settings)
    findings += check_local.data_dir(settings)
    findings += await check_local.store(settings)
    findings += await asyncio.to_thread(check_local.migrations, settings)
    findings += await check_local.redis(settings)
    findings += await check_venues.venues(settings, timeout=venue_timeout)
    return findings
