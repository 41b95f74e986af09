"""How many price requests the refresh may send a venue per cycle, and how fast.

A cycle's requests for one venue come out of its budget; requests the budget cannot cover wait
for the next cycle (the positions priced longest ago go first, so every account gets its turn).
The pace spaces them so that, whatever the number of users, the server stays well inside the
venue's published limits and leaves room for the orders webhooks send on the same address.

| venue | limit the venue publishes | budget per cycle | pace |
|---|---|---|---|
| aster | 2,400 request weight per minute per address; all-symbol bookTicker weighs 5 | 4 | 2/s |
| oanda | 120 requests per second per address (REST), prices per account | 2,000 | 50/s |
| tradier | 120 market-data requests per minute per access token, quotes per account | 2,000 | 50/s |
| ccxt venues | per address, each its own (ccxt also throttles each client) | 10 | 2/s |
| paper | none: simulated in the process | unlimited | unpaced |

A public venue needs one request per cycle whatever the number of users (one per host and
market type), so its budget only guards against surprises. Per-account venues need one request
per account: at 50 a second, 1,000 accounts take 20 s of a 30 s cycle, under half of OANDA's
per-address limit; Tradier's limit is per token, and each token is asked once per cycle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class VenueBudget:
    #: requests per cycle (None: no limit)
    per_cycle: int | None
    #: requests per second (None: unpaced)
    per_second: float | None


BUDGETS = {
    "aster": VenueBudget(4, 2),
    "oanda": VenueBudget(2000, 50),
    "tradier": VenueBudget(2000, 50),
    "paper": VenueBudget(None, None),
}
#: any other venue is a ccxt id: public tickers, one request per venue per cycle
CCXT_BUDGET = VenueBudget(10, 2)


def budget_for(exchange: str) -> VenueBudget:
    return BUDGETS.get(exchange, CCXT_BUDGET)


class Pace:
    """Spaces a venue's requests at most `per_second`: each caller waits for its own slot."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1 / per_second if per_second else 0.0
        self._clock = clock
        self._next = 0.0

    async def turn(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)  # rate pacing: the wait is the point, not a stand-in for an event
