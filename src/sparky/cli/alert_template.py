"""`sparky alert-template --exchange NAME --style long-only|short-only|long-short`: print the
TradingView alert message for one venue and one kind of strategy, ready to paste.

In embedded mode the message carries the local webhook secret (WEBHOOK_SECRET, config.json's
`webhookSecret`, or the one the first start generated in the data dir); with Supabase every user
has their own, so it shows a placeholder. Exit status: 0 printed, 2 bad input (the choices on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

from sparky.signals.template import SECRET_PLACEHOLDER, STYLES, style_notes, tradingview_alert

EXCHANGE_CHOICES = ("paper, aster, oanda, tradier, tradier_options (long-only: calls) or a CCXT exchange id "
                    "(e.g. binanceusdm, bybit, okx)")


def add_arguments(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("alert-template", help="print the TradingView alert message for a venue")
    parser.add_argument("--exchange", required=True, metavar="NAME", help=f"the venue: {EXCHANGE_CHOICES}")
    parser.add_argument("--style", required=True, choices=STYLES,
                        help="long-only and short-only exits never open the other side; long-short reverses")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    exchange = args.exchange.strip().lower()
    if not _known_exchange(exchange):
        print(f"sparky alert-template: --exchange: unknown exchange {args.exchange[:40]!r}; choose "
              f"{EXCHANGE_CHOICES}", file=sys.stderr)
        return 2
    secret, where = local_secret()
    try:
        message = tradingview_alert(secret, exchange, args.style)
    except ValueError as err:
        print(f"sparky alert-template: --style: {err}", file=sys.stderr)
        return 2
    print(f"TradingView alert message ({exchange}, {args.style}; {where}):")
    print(json.dumps(message))
    print()
    for note in style_notes(args.style, exchange):
        print(f"- {note}")
    return 0


def _known_exchange(name: str) -> bool:
    from sparky.exchanges.factory import is_supported  # ccxt's list: only when a name is checked

    return bool(name) and is_supported(name)


def local_secret() -> tuple[str, str]:
    """The webhook secret the local user's alerts carry, and where it comes from (one phrase)."""
    from sparky.cli.settings_errors import InvalidSettings, load_settings
    from sparky.config import LegacyConfig

    try:
        settings = load_settings()
    except InvalidSettings:
        return SECRET_PLACEHOLDER, "the settings are invalid (see `sparky check`): put your webhook secret in"
    if settings.supabase_url:
        return SECRET_PLACEHOLDER, "Supabase mode: put the user's own webhook secret in"
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value(), "the secret is WEBHOOK_SECRET"
    legacy = LegacyConfig.load(settings.config_path).webhook_secret if settings.config_path else None
    if legacy:
        return legacy, "the secret is config.json's webhookSecret"
    generated = settings.sparky_data_dir / "webhook_secret"
    try:
        value = generated.read_text(encoding="utf-8").strip()
    except OSError:
        value = ""
    if value:
        return value, f"the secret is the one generated in {generated}"
    return SECRET_PLACEHOLDER, "no secret yet: the first `sparky serve` generates one; put it in"
