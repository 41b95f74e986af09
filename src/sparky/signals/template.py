"""The TradingView alert messages Sparky suggests (first-start banner, `sparky users add`,
`sparky alert-template`).

A reversing (long/short) strategy sends `action` = `{{strategy.market_position}}` — the position
after the order (`long`, `short`, `flat`) — rather than `{{strategy.order.action}}`, whose `sell`
for a long-only strategy's exit would open a short. A strategy that trades one side only sends the
order's direction with the position after it (`sentiment`): its exit (`sell` + `flat`) can then only
close the side it holds, and a partial exit is skipped instead of opening anything.
docs/TRADINGVIEW.md explains every placeholder.
"""

from __future__ import annotations

from typing import Any

#: where users read what each placeholder sends at entry, reversal and exit
GUIDE = "docs/TRADINGVIEW.md"

#: shown in place of the secret when the command cannot know it (Supabase mode: each user has their own)
SECRET_PLACEHOLDER = "<your webhook secret>"

LONG_ONLY, SHORT_ONLY, LONG_SHORT = "long-only", "short-only", "long-short"
STYLES = (LONG_ONLY, SHORT_ONLY, LONG_SHORT)

#: what each style's message says about the order: one-sided strategies add `sentiment`
_ACTION_FIELDS = {
    LONG_SHORT: {"action": "{{strategy.market_position}}"},
    LONG_ONLY: {"action": "{{strategy.order.action}}", "sentiment": "{{strategy.market_position}}"},
    SHORT_ONLY: {"action": "{{strategy.order.action}}", "sentiment": "{{strategy.market_position}}"},
}

#: protective exits as percents of the entry price; every venue Sparky trades takes both (attached
#: to the entry or placed after its fill), OANDA also a trailing stop (`use_trailing_stop`)
_EXITS = {"stop_loss_percent": 2, "take_profit_percent": 4}


#: options are bought (a call or a put) and closed, never sold short: a strategy's alert can drive
#: them only as a long-only strategy buying calls; puts and closes are alerts of their own
OPTIONS = "tradier_options"
OPTIONS_STYLES = (LONG_ONLY,)
OPTIONS_EXITS = {"stop_loss_percent": 50, "take_profit_percent": 100}


def tradingview_alert(secret: str, exchange: str = "paper", style: str = LONG_SHORT) -> dict[str, Any]:
    """The alert message of a strategy alert; TradingView fills in the `{{…}}` placeholders."""
    if style not in _ACTION_FIELDS:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    if exchange == OPTIONS:
        if style not in OPTIONS_STYLES:
            raise ValueError(f"{OPTIONS} alerts buy calls or puts and close them: a strategy drives them as "
                             f"{LONG_ONLY} (calls); put alerts are written apart ({GUIDE}, Options alerts)")
        return {"secret": secret, **_ACTION_FIELDS[style], "symbol": "{{ticker}}", "exchange": exchange,
                "right": "call", "size": 5, **OPTIONS_EXITS, "timestamp": "{{timenow}}",
                "alert_id": "{{ticker}}-{{strategy.order.id}}-{{timenow}}"}
    return {
        "secret": secret,
        **_ACTION_FIELDS[style],
        "symbol": "{{ticker}}",
        "exchange": exchange,
        "price": "{{close}}",
        **_EXITS,
        "timestamp": "{{timenow}}",
        "alert_id": "{{ticker}}-{{strategy.order.id}}-{{timenow}}",
    }


def template_notes() -> list[str]:
    """What to tell a user next to the default (long/short) template, one line each."""
    return [
        "The action follows the strategy's position: long or short opens (reversing the other side), "
        "flat closes.",
        "For an indicator alert, write the action yourself (long, short or flat). "
        f"Placeholders and examples: {GUIDE}",
    ]


def style_notes(style: str, exchange: str) -> list[str]:
    """What the template of `style` on `exchange` does, one line each (`sparky alert-template`)."""
    create = "Create the alert on the strategy (Order fills only), Webhook URL https://<your host>/webhook."
    if exchange == OPTIONS:
        return ["buy + long buys a call (the contract nearest the money, the nearest expiration at least a day "
                "away, 5 % of the option buying power); sell + flat closes it: its exits cancelled, the contracts "
                "sold at market; a partial exit (sell + long) is skipped.",
                create,
                "stop_loss_percent / take_profit_percent: of the option's entry price. strike, expiration and "
                "put alerts: " + GUIDE + " (Options alerts)."]
    notes = {
        LONG_SHORT: ["long or short opens that side, reversing the other one (Sparky confirms the close "
                     "first); flat closes whatever is open."],
        LONG_ONLY: ["buy + long opens a long; sell + flat closes the long and never opens a short; "
                    "a partial exit (sell + long) is skipped."],
        SHORT_ONLY: ["sell + short opens a short; buy + flat closes the short and never opens a long; "
                     "a partial exit (buy + short) is skipped."],
    }[style]
    notes.append(create)
    notes.append("stop_loss_percent / take_profit_percent: distance from the entry price; change them to suit "
                 "the strategy (leave take_profit_percent out for no target).")
    if exchange == "oanda":
        notes.append("OANDA also takes a trailing stop: add \"use_trailing_stop\": true, \"trailing_stop_pips\": 20.")
    notes.append(f"Sizing (position_size_usd or quantity) and every field: {GUIDE}")
    return notes
