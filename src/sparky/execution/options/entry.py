"""Buying to open: the contract (expiration, then strike, from Tradier's own lists), the size, one
OTOCO order (entry with its target and stop), then the `tradier_option_trades` row the options
monitor follows. Nothing is sent until every check passed; a refusal is a 400 naming the field."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from sparky.errors import BadRequest
from sparky.exchanges.errors import OutcomeUnknown
from sparky.exchanges.tradier_options import wire
from sparky.exchanges.tradier_options.adapter import NAME, TradierOptionsExchange
from sparky.exchanges.tradier_options.forms import otoco_form
from sparky.exchanges.tradier_options.orders import parse_order
from sparky.exchanges.tradier_options.selection import choose_contract, choose_expiration
from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.execution.executor import Job
from sparky.execution.options.pricing import EntryPrices, contracts_for, entry_prices, whole_contracts
from sparky.execution.outcome import Outcome
from sparky.signals.trading_window import zone
from sparky.store.base import RequestStatus, StoreUnavailable
from sparky.store.option_trades import OptionTradeRecord, OptionTradeStore

log = structlog.get_logger("sparky.options")

#: option expirations are New York dates
MARKET_ZONE = "America/New_York"
REFUSED = ("rejected", "error")


def market_date(now: datetime) -> date:
    return now.astimezone(zone(MARKET_ZONE)).date()


class OptionEntry:
    def __init__(self, store: OptionTradeStore) -> None:
        self._store = store

    async def open(self, job: Job, venue: TradierOptionsExchange, settings: OptionsSettings,
                   now: datetime) -> Outcome:
        signal, terms = job.signal, job.signal.option
        assert terms is not None  # every tradier_options signal carries its terms
        underlying, right, tag = signal.symbol, terms.right or "call", job.cid("e")
        if job.resume and (found := await venue.options.find(tag)) is not None:
            return await self._resumed(job, venue, found)
        listed = await venue.options.expirations(underlying)
        if not listed:
            raise BadRequest(f"Tradier lists no option expirations for {underlying}", field="symbol")
        expiration = choose_expiration(listed, underlying=underlying, requested=terms.expiration,
                                       today=market_date(now), min_days=settings.min_days_to_expiry)
        chain = await venue.options.chain(underlying, expiration)
        price = await venue.options.underlying_price(underlying) if terms.strike is None else None
        contract = choose_contract(chain, right=right, expiration=expiration, strike=terms.strike,
                                   underlying_price=price, tolerance_percent=settings.strike_tolerance_percent,
                                   underlying=underlying)
        if contract.ask is None or contract.ask <= 0:
            raise BadRequest(f"No ask is quoted for {contract.symbol} (is the market open?); nothing was sent",
                             field="strike")
        stop_percent = signal.stop_loss_percent or settings.stop_loss_percent
        target_percent = signal.take_profit_percent or settings.take_profit_percent
        prices = entry_prices(contract.ask, root=contract.root_symbol or underlying,
                              penny_roots=settings.penny_pilot_roots,
                              offset_percent=settings.entry_limit_offset_percent,
                              stop_loss_percent=stop_percent, take_profit_percent=target_percent)
        contracts = await self._contracts(job, venue, settings, prices.entry, contract.contract_size)
        form = otoco_form(underlying=underlying, option_symbol=contract.symbol, contracts=contracts,
                          entry=prices.entry, target=prices.target, stop=prices.stop, tag=tag)
        try:
            order_id = await venue.options.submit(form)
        except OutcomeUnknown:
            found = await venue.options.find(tag)
            if found is None:
                raise
            order_id = str(found["id"])
        placed = await self._read_back(venue, order_id)
        if placed is not None and str(placed.get("status")) in REFUSED:
            reason = placed.get("reason_description") or placed.get("status")
            return Outcome.rejected(f"Tradier refused the {contract.symbol} order: {reason}; nothing is working")
        snapshot = {**settings.snapshot(), "stop_loss_percent": str(stop_percent),
                    "take_profit_percent": str(target_percent)}
        row = OptionTradeRecord(
            user_id=job.user_id, underlying_symbol=underlying, option_symbol=contract.symbol, option_type=right,
            strike_price=contract.strike, expiration_date=contract.expiration_date,
            quantity_contracts=Decimal(contracts), contract_size=contract.contract_size, strategy=signal.strategy,
            entry_order_id=order_id, entry_order=placed, **_leg_ids(placed),
            entry_limit_price=prices.entry, tp_limit_price=prices.target, sl_stop_price=prices.stop,
            cost_usd=prices.entry * contracts * contract.contract_size, config_snapshot=snapshot,
            extra_metadata={"request_id": job.request_id, "environment": venue.environment, "tag": tag,
                            "ask": str(contract.ask), "bid": None if contract.bid is None else str(contract.bid)},
        )
        return await self._record(row, prices)

    async def _contracts(self, job: Job, venue: TradierOptionsExchange, settings: OptionsSettings,
                         entry: Decimal, contract_size: int) -> int:
        signal, terms = job.signal, job.signal.option
        assert terms is not None
        if signal.quantity is not None:
            return whole_contracts(signal.quantity)
        if signal.position_size_usd is not None:
            return contracts_for(signal.position_size_usd, entry, contract_size, field="position_size_usd")
        percent = terms.size_percent or settings.size_percent
        if percent is None:
            raise BadRequest("An options alert needs its size: size (percent of the option buying power), "
                             "position_size_usd or quantity (contracts)", field="size")
        budget = await venue.options.option_buying_power() * percent / 100
        return contracts_for(budget, entry, contract_size, field="size")

    @staticmethod
    async def _read_back(venue: TradierOptionsExchange, order_id: str) -> dict[str, Any] | None:
        """The order as Tradier holds it (a refusal can arrive after an accepted POST); None when it
        cannot be read now: the monitor reads it next."""
        try:
            return await venue.options.order(order_id)
        except Exception:  # noqa: BLE001 - the order is placed and protected by its own exits
            log.warning("options.entry.read_back_failed", order_id=order_id, exc_info=True)
            return None

    async def _record(self, row: OptionTradeRecord, prices: EntryPrices) -> Outcome:
        body: dict[str, Any] = {"success": True, "action": "order_placed", "exchange": NAME,
                                "option": _view(row)}
        try:
            stored = await self._store.add_option_trade(row)
        except StoreUnavailable:
            log.error("options.entry.unrecorded", option_symbol=row.option_symbol, order_id=row.entry_order_id)
            message = (f"The {row.option_symbol} order {row.entry_order_id} is placed with its exits, but could not "
                       "be recorded: Sparky will not follow it; check it on Tradier")
            return Outcome.failed(message, action="unrecorded", option=body["option"])
        body["option"]["trade_id"] = stored.id
        body["message"] = (f"Buying {row.quantity_contracts} {row.option_symbol} at a limit of {prices.entry}; "
                           f"target {prices.target}, stop {prices.stop} (one OTOCO order, {row.entry_order_id})")
        log.info("options.entry.placed", option_symbol=row.option_symbol, contracts=str(row.quantity_contracts),
                 order_id=row.entry_order_id)
        return Outcome(RequestStatus.SUCCESS, body)

    async def _resumed(self, job: Job, venue: TradierOptionsExchange, found: dict[str, Any]) -> Outcome:
        """After a crash: the OTOCO this request sent already exists. Its row, if written, is the
        answer; else the row is written from the order itself (never sent again)."""
        order_id = str(found["id"])
        for row in await self._store.option_trades(user_id=job.user_id, underlying=job.signal.symbol):
            if row.entry_order_id == order_id:
                return Outcome(RequestStatus.SUCCESS,
                               {"success": True, "action": "order_placed", "exchange": NAME,
                                "option": {**_view(row), "trade_id": row.id}})
        order = parse_order(found)
        entry, target, stop = (order.entry, order.target, order.stop) if order is not None else (None, None, None)
        if entry is None or target is None or stop is None:
            return Outcome.failed(f"Order {order_id} sent before the restart cannot be read whole; check it on Tradier")
        option_symbol = entry.option_symbol or ""
        parsed = wire.parse_occ(option_symbol)
        if parsed is None:
            return Outcome.failed(f"Order {order_id} sent before the restart names no option; check it on Tradier")
        right, strike, expiration = parsed
        quantity = entry.quantity
        prices = EntryPrices(wire.dec(entry.raw.get("price")) or Decimal(0),
                             wire.dec(target.raw.get("price")) or Decimal(0),
                             wire.dec(stop.raw.get("stop_price") or stop.raw.get("stop")) or Decimal(0))
        row = OptionTradeRecord(
            user_id=job.user_id, underlying_symbol=job.signal.symbol, option_symbol=option_symbol, option_type=right,
            strike_price=strike, expiration_date=expiration, quantity_contracts=quantity, strategy=job.signal.strategy,
            entry_order_id=order_id, entry_order=found, **_leg_ids(found), entry_limit_price=prices.entry,
            tp_limit_price=prices.target, sl_stop_price=prices.stop, cost_usd=prices.entry * quantity * 100,
            extra_metadata={"request_id": job.request_id, "environment": venue.environment, "resumed": True})
        return await self._record(row, prices)


def _leg_ids(placed: dict[str, Any] | None) -> dict[str, Any]:
    order = parse_order(placed)
    target, stop = (order.target, order.stop) if order is not None else (None, None)
    return {"tp_order_id": target.id if target else None, "sl_order_id": stop.id if stop else None}


def _view(row: OptionTradeRecord) -> dict[str, Any]:
    """What the response says was bought."""
    return {
        "option_symbol": row.option_symbol, "underlying": row.underlying_symbol, "right": row.option_type,
        "strike": str(row.strike_price), "expiration": row.expiration_date.isoformat(),
        "contracts": str(row.quantity_contracts), "contract_size": row.contract_size,
        "entry_limit_price": str(row.entry_limit_price), "take_profit_price": str(row.tp_limit_price),
        "stop_price": str(row.sl_stop_price), "cost_usd": str(row.cost_usd), "order_id": row.entry_order_id,
        "status": row.status,
    }
