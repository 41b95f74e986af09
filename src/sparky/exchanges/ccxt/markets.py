"""Alert symbols → ccxt markets, and each market's trading rules and number formatting.

Alerts name a symbol the TradingView way (`ETHUSDT`, already cleaned of `BINANCE:` and `.P`); the
venue knows it as a ccxt market (`ETH/USDT:USDT` for the linear perpetual, `ETH/USDT` spot). Markets
are loaded once per venue for every user's adapter (one `load_markets()`, `shared.py`), then every
lookup is local.

Quantities on our side are in base units (what sizing computes); ccxt amounts are in contracts,
which differ on venues with a contract size (OKX: 1 ETH-USDT-SWAP contract = 0.1 ETH). Rules are
published in base units and amounts are converted at this edge only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import structlog
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from sparky.exchanges.base import SymbolRules
from sparky.exchanges.errors import InvalidOrder, NotSupported, UnknownSymbol

log = structlog.get_logger("sparky.exchanges.ccxt")

#: quote currencies an alert symbol may end with; longer suffixes first (FDUSD before USD)
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
#: quotes one dollar stablecoin can stand in for, when the venue lists no market in the asked one
#: (Hyperliquid perpetuals are all USDC; a `BINANCE:ETHUSDT.P` alert still means ETH)
STABLE_SUBSTITUTES = ("USDT", "USDC")


@dataclass(frozen=True)
class VenueMarket:
    symbol: str  # the market's one spelling, base + quote (ETHUSDT): on orders and positions
    ccxt_symbol: str
    contract: bool
    contract_size: Decimal
    #: venue units (contracts): what ccxt's precision describes
    price_tick: Decimal
    amount_step: Decimal
    rules: SymbolRules  # base units
    #: the currency profits, losses and fees are paid in (the settle coin; the quote for spot)
    settle: str | None = None
    #: the dashboard's class of the market (`asset_class_of`)
    asset_class: str = "crypto"

    def to_amount(self, quantity: Decimal) -> Decimal:
        """Base quantity → venue amount, floored to the amount step (never more than asked)."""
        amount = quantity / self.contract_size
        units = (amount / self.amount_step).to_integral_value(rounding=ROUND_FLOOR)
        return (units * self.amount_step).quantize(self.amount_step, rounding=ROUND_FLOOR)

    def to_quantity(self, amount: Decimal) -> Decimal:
        return amount * self.contract_size

    def round_price(self, price: Decimal) -> Decimal:
        """Nearest tick, half away from zero: what ccxt's price_to_precision does (ROUND)."""
        units = (price / self.price_tick).to_integral_value(rounding=ROUND_HALF_UP)
        return (units * self.price_tick).quantize(self.price_tick, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, str or None) as Decimal, through its shortest text form."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def precision_step(value: Any, mode: int, *, what: str) -> Decimal:
    """One step of `precision.price`/`precision.amount` whatever the venue's precision mode."""
    if value is None:
        raise NotSupported(f"the venue states no {what} precision")
    if mode == TICK_SIZE:
        step = Decimal(str(value))
    elif mode == DECIMAL_PLACES:
        step = Decimal(1).scaleb(-int(value))
    else:  # SIGNIFICANT_DIGITS: the tick depends on the price, no fixed step to publish
        raise NotSupported(f"{what} precision in significant digits is not supported")
    if step <= 0:
        raise NotSupported(f"the venue states a {what} step of {value}")
    return step


def split_symbol(symbol: str) -> tuple[str, str] | None:
    """`ETHUSDT` / `ETH/USDT` / `ETH-USDT` → (ETH, USDT); None when no known quote ends it."""
    text = symbol.upper().strip()
    for sep in ("/", "-", "_"):
        if sep in text:
            base, _, quote = text.partition(sep)
            return (base, quote.split(":")[0]) if base and quote else None
    for quote in QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    return None


def _candidates(markets: dict[str, dict], base: str, quote: str, market_type: str) -> list[dict]:
    found = []
    for market in markets.values():
        if market.get("base") != base or market.get("quote") != quote or market.get("active") is False:
            continue
        if market_type == "spot" and market.get("spot"):
            found.append(market)
        elif market_type != "spot" and market.get("swap") and market.get("linear") and market.get("settle") == quote:
            found.append(market)
    # a venue id that reads like the alert (ETHUSDT) wins over odd listings of the same pair
    return sorted(found, key=lambda m: (str(m.get("id", "")).replace("-", "").replace("_", "") != base + quote,
                                        str(m["symbol"])))


def find_market(markets: dict[str, dict], symbol: str, market_type: str) -> dict:
    """The ccxt market an alert symbol means; UnknownSymbol when the venue lists none."""
    if symbol in markets:  # already a ccxt symbol (ETH/USDT:USDT)
        return markets[symbol]
    parts = split_symbol(symbol)
    if parts is None:
        raise UnknownSymbol(f"cannot read a base and quote currency from {symbol!r}")
    base, quote = parts
    quotes = [quote] + ([q for q in STABLE_SUBSTITUTES if q != quote] if quote in STABLE_SUBSTITUTES else [])
    for candidate_quote in quotes:
        found = _candidates(markets, base, candidate_quote, market_type)
        if found:
            if candidate_quote != quote:
                log.warning("ccxt.symbol.quote_substituted", symbol=symbol, market=found[0]["symbol"])
            return found[0]
    kind = "spot market" if market_type == "spot" else "linear perpetual"
    raise UnknownSymbol(f"no {kind} for {symbol!r} ({base}/{quote})")


def venue_market(market: dict, symbol: str, precision_mode: int) -> VenueMarket:
    contract = bool(market.get("contract"))
    size = (dec(market.get("contractSize")) or Decimal(1)) if contract else Decimal(1)
    if size == size.to_integral_value():  # 1.0 → 1, so sizes of 1 leave quantities' digits alone
        size = size.quantize(Decimal(1))
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = precision_step(precision.get("price"), precision_mode, what="price")
    step = precision_step(precision.get("amount"), precision_mode, what="amount")
    min_amount = dec((limits.get("amount") or {}).get("min")) or step
    min_cost = dec((limits.get("cost") or {}).get("min")) or Decimal(0)
    rules = SymbolRules(symbol, tick, step * size, min_amount * size, min_cost)
    return VenueMarket(symbol, market["symbol"], contract, size, tick, step, rules,
                       settle=market.get("settle") or market.get("quote"), asset_class=asset_class_of(market))


#: ccxt market types → the dashboard's asset classes. Spot, margin and perpetual swaps trade the
#: coin itself (a perpetual never expires): `crypto`. Dated futures and options are what the
#: dashboard files under `futures` and `options`.
_ASSET_CLASS_BY_TYPE = {"spot": "crypto", "margin": "crypto", "swap": "crypto", "future": "futures",
                        "option": "options"}


def asset_class_of(market: dict) -> str:
    """The asset class of a ccxt market, from its `type` (or its `future` / `option` flags)."""
    kind = market.get("type")
    if kind not in _ASSET_CLASS_BY_TYPE:
        kind = "option" if market.get("option") else "future" if market.get("future") else "spot"
    return _ASSET_CLASS_BY_TYPE[kind]


def check_minimums(market: VenueMarket, amount: Decimal, price: Decimal | None, *, reduce_only: bool) -> None:
    """Refuse, before sending, an order the venue would refuse for its size.

    Reduce-only orders (closes, stops) are exempt from the minimums on the venues we know (they
    must be able to close any remainder), so they only need a non-zero amount.
    """
    quantity = market.to_quantity(amount)
    if amount <= 0:
        raise InvalidOrder(f"{market.symbol}: quantity rounds to 0 at step {market.rules.step_size}")
    if reduce_only:
        return
    if quantity < market.rules.min_quantity:
        raise InvalidOrder(f"{market.symbol}: quantity {quantity} is below the minimum {market.rules.min_quantity}")
    if price is not None and market.rules.min_notional and quantity * price < market.rules.min_notional:
        raise InvalidOrder(f"{market.symbol}: order value {quantity * price} is below the minimum "
                           f"{market.rules.min_notional}")
