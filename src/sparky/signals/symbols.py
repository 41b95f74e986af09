"""One instrument, one spelling: an alert's symbol becomes the venue's own instrument id.

`EURUSD`, `EUR_USD` and `EUR/USD` are one OANDA instrument; `BTCUSDT` and `BTC/USDT:USDT` one
Bybit market. The venue's canonical spelling (`Exchange.canonical_symbol`) replaces the alert's
before the signal is admitted, deduplicated, keyed for per-symbol ordering, recorded or executed,
so every spelling reaches the same position, the same serialised slot and the same rows.

- The venue does not list the symbol: 400 naming `symbol`, recorded as rejected, nothing executed.
- The venue cannot be reached to tell (markets not loaded, rate limited): 503, nothing recorded or
  executed, so the alert can be sent again.
- The adapter cannot be built (no credentials stored, a bad option) or refuses the keys: the
  alert's spelling is kept, and the executor reports that failure as it always has.
- The venue's spelling is longer than the store records (`MAX_SYMBOL_LENGTH`): 400 naming
  `symbol`, recorded as rejected, nothing executed; an order must never be placed for a position
  that cannot be written down. (Alerts are held to shorter symbols by `Signal`.)
"""

from __future__ import annotations

from typing import Any

import structlog

from sparky.errors import BadRequest, ServiceUnavailable, SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError, UnknownSymbol
from sparky.signals.models import Signal
from sparky.store.base import MAX_SYMBOL_LENGTH, StoreUnavailable

log = structlog.get_logger("sparky.symbols")


async def with_canonical_symbol(accounts: ExchangeAccounts, user_id: str, signal: Signal) -> Signal:
    """`signal` with the venue's spelling of its symbol (see the module docstring)."""
    try:
        exchange = await accounts.get(user_id, signal.exchange)
    except (SparkyError, ExchangeError, StoreUnavailable, ValueError) as err:
        log.info("symbol.kept", reason=type(err).__name__)
        return signal
    try:
        symbol = await exchange.canonical_symbol(signal.symbol)
    except UnknownSymbol as err:
        reason = err.message.removeprefix(f"{signal.exchange}: ")
        raise BadRequest(f"Invalid field 'symbol': {signal.symbol} is not traded on {signal.exchange} ({reason})",
                         field="symbol") from err
    except ExchangeError as err:
        if not err.retryable:  # e.g. keys refused: the executor meets it again and reports it
            log.info("symbol.kept", reason=type(err).__name__)
            return signal
        log.warning("symbol.unresolved", reason=type(err).__name__, error=err.message)
        raise ServiceUnavailable(f"{signal.exchange} could not be reached to look up {signal.symbol}; "
                                 "nothing was recorded or executed, retry shortly") from err
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise BadRequest(f"Invalid field 'symbol': {signal.exchange} spells {signal.symbol} with {len(symbol)} "
                         f"characters, longer than the {MAX_SYMBOL_LENGTH} characters Sparky records; "
                         "nothing was executed", field="symbol")
    return signal if symbol == signal.symbol else signal.model_copy(update={"symbol": symbol})


def dedupe_body(payload: dict[str, Any], signal: Signal) -> dict[str, Any]:
    """The body the duplicate check compares: as received, with the symbol in its one spelling."""
    return {**payload, "symbol": signal.symbol}
