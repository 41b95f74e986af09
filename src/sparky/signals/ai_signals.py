"""The webhook side of AI signals (docs/AI_WORKER.md): an alert naming `ai_strategy_id` acts for
that AI strategy, so the strategy must be the sender's own, and a paper strategy trades on the
user's paper account only, whatever venue the body names.

Checked for every sender once the alert is validated and before it is recorded as accepted: a
refusal is a 400 naming the field, recorded as `rejected`, and nothing is executed. Unknown ids and
other users' ids get the same answer, so nobody can learn which ids exist.
"""

from __future__ import annotations

from sparky.errors import BadRequest, ServiceUnavailable
from sparky.signals.models import Signal
from sparky.store.ai import PAPER, AiStore
from sparky.store.base import Store, StoreUnavailable


async def check_ai_signal(store: Store, user_id: str, signal: Signal) -> None:
    """BadRequest when `signal.ai_strategy_id` is not an AI strategy of `user_id`, or names a paper
    strategy while the signal is for a live venue; ServiceUnavailable when it cannot be read."""
    if signal.ai_strategy_id is None:
        return
    if not isinstance(store, AiStore):
        raise BadRequest("Invalid field 'ai_strategy_id': this server keeps no AI strategies", field="ai_strategy_id")
    try:
        strategy = await store.get_ai_strategy(signal.ai_strategy_id)
    except StoreUnavailable as err:
        raise ServiceUnavailable("The AI strategy could not be checked; nothing was recorded or executed, "
                                 "retry shortly") from err
    if strategy is None or strategy.user_id != user_id:
        raise BadRequest(f"Invalid field 'ai_strategy_id': {signal.ai_strategy_id} is not one of your AI strategies",
                         field="ai_strategy_id")
    if strategy.is_paper_trading and signal.exchange != PAPER:
        raise BadRequest(f"Invalid field 'exchange': paper strategy '{strategy.name}' ({strategy.id}) may only trade "
                         f"on paper, not on {signal.exchange}", field="exchange",
                         hint='Send its signals with "exchange": "paper"')
