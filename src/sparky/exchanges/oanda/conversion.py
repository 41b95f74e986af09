"""What one OANDA unit is worth in US dollars, so `position_size_usd` buys the right number of units.

OANDA trades in units of the instrument's base currency (1000 units of USD_JPY are 1000 dollars,
1000 units of EUR_GBP are 1000 euros), while its prices are in the quote currency. So a dollar
size is converted with the base currency's dollar value:
- USD is the base (USD_JPY, USD_CHF): 1;
- USD is the quote (EUR_USD, XAU_USD, US30_USD): the instrument's own price;
- a cross (EUR_GBP, AUD_JPY): the base against the dollar from OANDA's pricing — BASE_USD, or
  1 / USD_BASE where that is how OANDA lists it (EUR_USD for EUR_GBP, 1 / USD_CHF for CHF_JPY);
- a CFD priced in another currency (DE30_EUR), whose base is no currency: its price times the
  quote currency's dollar value.
P&L is a price difference, so in the quote currency: `of_quote` is what one unit of it is worth
(1 for USD, 1 / price for USD_JPY's yen, the GBP_USD rate for EUR_GBP's pounds).
Conversion rates are read at most every `RATE_TTL`: one read serves sizing a signal and reporting
its fill in dollars, and a rate that old sizes an order well enough.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sparky.exchanges.errors import InvalidOrder, UnknownSymbol
from sparky.exchanges.oanda.rules import NAME, InstrumentSpec

USD = "USD"
RATE_TTL = timedelta(seconds=30)

SpecOf = Callable[[str], Awaitable[InstrumentSpec]]
MidOf = Callable[[InstrumentSpec], Awaitable[Decimal]]


class DollarValue:
    """Dollar values of OANDA units, with the conversion rates it had to read kept briefly."""

    def __init__(self, spec_of: SpecOf, mid_of: MidOf, clock: Callable[[], datetime]) -> None:
        self._spec_of = spec_of
        self._mid_of = mid_of
        self._clock = clock
        self._rates: dict[str, tuple[datetime, Decimal | None]] = {}
        self._pairs: dict[str, tuple[InstrumentSpec, bool] | None] = {}

    async def of_unit(self, instrument: str, price: Decimal) -> Decimal:
        """US dollars one unit of `instrument` (BASE_QUOTE) is worth when it trades at `price`."""
        base, _, quote = instrument.partition("_")
        if base == USD:
            return Decimal(1)
        if quote == USD:
            return price
        rate = await self._rate(base)
        if rate is not None:
            return rate
        quote_rate = await self._rate(quote)  # the base is no currency (an index CFD)
        if quote_rate is None:
            raise InvalidOrder(f"{NAME}: no US dollar conversion for {instrument} on this account", exchange=NAME)
        return price * quote_rate

    async def of_quote(self, instrument: str, price: Decimal) -> Decimal:
        """US dollars one unit of `instrument`'s quote currency is worth when it trades at `price`."""
        base, _, quote = instrument.partition("_")
        if quote == USD:
            return Decimal(1)
        if base == USD:
            return 1 / price
        rate = await self._rate(quote)
        if rate is None:
            raise InvalidOrder(f"{NAME}: no US dollar conversion for {quote} on this account", exchange=NAME)
        return rate

    async def _rate(self, currency: str) -> Decimal | None:
        """Dollars per one `currency`, or None when the account lists no pair of it with USD."""
        cached = self._rates.get(currency)
        now = self._clock()
        if cached is not None and now - cached[0] < RATE_TTL:
            return cached[1]
        pair = await self._pair(currency)
        rate = None
        if pair is not None:
            spec, inverted = pair
            mid = await self._mid_of(spec)
            rate = 1 / mid if inverted else mid
        self._rates[currency] = (now, rate)
        return rate

    async def _pair(self, currency: str) -> tuple[InstrumentSpec, bool] | None:
        """The instrument pricing `currency` against USD, and whether it is quoted the other way
        round (USD_CHF); found once, the account's instruments do not change."""
        if currency not in self._pairs:
            found = None
            for instrument, inverted in ((f"{currency}_{USD}", False), (f"{USD}_{currency}", True)):
                try:
                    found = (await self._spec_of(instrument), inverted)
                    break
                except UnknownSymbol:
                    continue
            self._pairs[currency] = found  # an outage raised above: nothing is remembered then
        return self._pairs[currency]
