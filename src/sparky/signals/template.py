"""The TradingView alert message Sparky suggests (first-start banner, `sparky users add`).

`action` is `{{strategy.market_position}}` — the position after the order (`long`, `short`,
`flat`) — rather than `{{strategy.order.action}}`, whose `sell` for a long-only strategy's exit
would open a short. docs/TRADINGVIEW.md explains every placeholder.
"""

from __future__ import annotations

from typing import Any

#: where users read what each placeholder sends at entry, reversal and exit
GUIDE = "docs/TRADINGVIEW.md"


def tradingview_alert(secret: str, exchange: str = "paper") -> dict[str, Any]:
    """The alert message for a strategy alert; TradingView fills in the `{{…}}` placeholders."""
    return {
        "secret": secret,
        "action": "{{strategy.market_position}}",
        "symbol": "{{ticker}}",
        "exchange": exchange,
        "price": "{{close}}",
        "stop_loss_percent": 2,
        "take_profit_percent": 4,
        "timestamp": "{{timenow}}",
        "alert_id": "{{ticker}}-{{strategy.order.id}}-{{timenow}}",
    }


def template_notes() -> list[str]:
    """What to tell a user next to the template, one line each."""
    return [
        "The action follows the strategy's position: long or short opens (reversing the other side), "
        "flat closes.",
        "For an indicator alert, write the action yourself (long, short or flat). "
        f"Placeholders and examples: {GUIDE}",
    ]
