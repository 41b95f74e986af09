"""Generated secrets for a server started with none configured, and the once-only welcome text."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from sparky.private_files import DIR_MODE, open_private
from sparky.signals.template import template_notes, tradingview_alert


def load_or_create_secret(path: Path) -> tuple[str, bool]:
    """Return (secret, created). A new secret is written with mode 0600."""
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value, False
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value, True


def welcome_text(*, webhook_secret: str | None, admin_token: str | None, port: int, data_dir: Path) -> str:
    """Printed once, when the secrets are generated on the first start."""
    lines = ["", "=" * 72, "Sparky is ready for paper trading.", ""]
    if webhook_secret:
        try_it = {"secret": webhook_secret, "action": "long", "symbol": "BTCUSDT", "exchange": "paper",
                  "price": 27000, "stop_loss_percent": 2, "take_profit_percent": 4}
        lines += [
            f"Webhook secret (saved in {data_dir / 'webhook_secret'}; shown only now):",
            f"  {webhook_secret}",
            "",
            "TradingView alert message (a strategy alert; TradingView fills in the {{...}} placeholders):",
            "  " + json.dumps(tradingview_alert(webhook_secret)),
            *("  " + note for note in template_notes()),
            "",
            "Try it (then send \"action\": \"flat\" to close):",
            f"  curl -s -X POST http://localhost:{port}/webhook -H 'Content-Type: application/json' "
            f"-d '{json.dumps(try_it)}'",
            "",
        ]
    if admin_token:
        lines += [
            f"Admin token for /positions and /health details (saved in {data_dir / 'admin_token'}):",
            f"  {admin_token}",
            f"  curl -s http://localhost:{port}/positions -H 'Authorization: Bearer {admin_token}'",
            "",
        ]
    lines.append("=" * 72)
    return "\n".join(lines)
