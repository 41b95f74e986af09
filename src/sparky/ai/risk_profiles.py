"""What each risk profile of an AI strategy allows: stated to the model in the prompt and enforced on
its answer by the parser (one table, so the two cannot disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class RiskRules:
    #: a LONG or SHORT needs at least this confidence (0..1)
    min_confidence: Decimal
    #: the largest position as a share of the account's equity, in percent
    max_equity_percent: Decimal
    #: an entry must give a stop loss no further than this, in percent
    max_stop_loss_percent: Decimal
    summary: str


#: keyed by `ai_strategies.risk_profile` (store/ai.py RISK_PROFILES)
RISK_RULES: dict[str, RiskRules] = {
    "conservative": RiskRules(Decimal("0.75"), Decimal(10), Decimal(2),
                              "Preserve capital first. Trade only clear trends confirmed by several indicators; "
                              "HOLD whenever in doubt."),
    "balanced": RiskRules(Decimal("0.6"), Decimal(25), Decimal(5),
                          "Balance return and risk. Trade setups where indicators mostly agree."),
    "aggressive": RiskRules(Decimal("0.5"), Decimal(50), Decimal(10),
                            "Seek return and accept larger swings. Momentum and breakout trades are allowed."),
}
