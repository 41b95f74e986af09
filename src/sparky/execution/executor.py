"""The trade executor: open (with protection), reverse, close. One signal at a time per key.

The caller (the dispatcher) holds the (user, exchange, symbol) slot, so nothing here races with
another signal for the same position. Every exchange call goes through the `Exchange` port and the
executor asks about capabilities, never about venue names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import structlog

from sparky.config import LegacyConfig, Settings
from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Bracket, Exchange, Order, OrderKind, OrderRequest, OrderStatus, Position, Side
from sparky.exchanges.errors import ExchangeError
from sparky.execution.closing import CloseNotConfirmed, CloseResult, PositionCloser
from sparky.execution.limits import PositionLimit, PositionLimitReached, SettingsReads
from sparky.execution.orders import cancel_quietly, client_order_id, send_order
from sparky.execution.outcome import Outcome, jsonable, order_view, pnl_view, position_view
from sparky.execution.prices import stop_loss_price, take_profit_price
from sparky.execution.protection import Exit, Protection, ProtectionFailed, Protector
from sparky.execution.reconcile import Reconciler
from sparky.execution.sizing import OrderTooSmall, order_quantity, value_usd
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Action, OrderType, Signal
from sparky.store.base import PositionRecord, RequestStatus, Store, utcnow

log = structlog.get_logger("sparky.executor")

#: the closes a request can send (client-id role → the exit reason of the trade it records)
CLOSE_ROLES = {"x": "MANUAL", "rx": "REVERSAL", "f": "PROTECTION_FAILED"}


@dataclass(frozen=True)
class Job:
    request_id: str
    user_id: str
    signal: Signal
    #: re-run after a crash: orders may already exist, look them up by client id before sending
    resume: bool = False

    def cid(self, role: str) -> str:
        return client_order_id(self.request_id, role)


class TradeExecutor:
    def __init__(self, store: Store, accounts: ExchangeAccounts, settings: Settings, legacy: LegacyConfig,
                 *, tenant_reads: SettingsReads | None = None) -> None:
        self._store = store
        self._accounts = accounts
        self._settings = settings
        self._legacy = legacy
        self._protector = Protector(settings.protection_attempts)
        self._closer = PositionCloser(store, settings.close_confirm_attempts)
        self._reconciler = Reconciler(store)
        self._position_limit = PositionLimit(store, legacy.risk_management.max_positions, tenant_reads)

    @property
    def reconciler(self) -> Reconciler:
        return self._reconciler

    async def execute(self, job: Job) -> Outcome:
        signal = job.signal
        if signal.action.is_partial_exit:  # Sparky has no partial exits; what is open keeps its stop
            held = "long" if signal.action is Action.PARTIAL_EXIT_LONG else "short"
            return Outcome.skipped(f"Partial exit: the {held} stays open after this order in the strategy. "
                                   "Sparky does not trade partial exits, so nothing was sent")
        try:
            exchange = await self._accounts.get(job.user_id, signal.exchange)
            if signal.price is not None and not (signal.action.is_entry and signal.order_type is OrderType.LIMIT):
                # a market alert's price is what the market traded at; a limit alert's is the limit
                await exchange.note_price(signal.symbol, signal.price)
            # resumed after a crash: closes it already made are finished first, from their fills, so
            # the reconciler cannot take them for closes made outside Sparky
            closes = await self._closes_sent(job, exchange) if job.resume else {}
            reconciled = await self._reconciler.reconcile(exchange, job.user_id, signal.symbol)
            if signal.action.is_entry:
                outcome = await self._open(job, exchange, reconciled.live, closes)
            else:
                outcome = await self._close_signal(job, exchange, reconciled.live, closes.get("x"))
            if reconciled.closed is not None:  # a stop or target filled on the venue since the last signal
                outcome.extra["closed_on_exchange"] = reconciled.closed
            return outcome
        except SparkyError as err:  # e.g. no credentials stored for this exchange
            outcome = Outcome.rejected(err.message, http_status=err.status_code)
            outcome.body.update({k: v for k, v in err.body().items() if k in ("field", "hint", "data")})
            return outcome
        except OrderTooSmall as err:
            return Outcome.rejected(str(err))
        except ExchangeError as err:
            log.warning("exchange.error", error_type=type(err).__name__, error=err.message)
            message = err.named(signal.exchange)
            outcome = Outcome.failed(message) if err.http_status == 200 else Outcome.rejected(
                message, http_status=err.http_status)
            outcome.extra["exchange_error"] = err
            return outcome

    async def _closes_sent(self, job: Job, exchange: Exchange) -> dict[str, CloseResult]:
        """The closes a crashed request had already filled on the venue, by role, each finished
        once (`PositionCloser.finish_sent`): `x` for a close signal, `rx` and `f` for an entry."""
        found = {}
        for role in ("rx", "f") if job.signal.action.is_entry else ("x",):
            result = await self._closer.finish_sent(exchange, user_id=job.user_id, symbol=job.signal.symbol,
                                                    client_order_id=job.cid(role), exit_reason=CLOSE_ROLES[role])
            if result is not None:
                found[role] = result
        return found

    # --- close -----------------------------------------------------------------------------------
    async def _close_signal(self, job: Job, exchange: Exchange, live: Position | None,
                            closed: CloseResult | None = None) -> Outcome:
        symbol = job.signal.symbol
        if closed is not None:  # resumed: this request's close had filled before the crash
            return self._closed(symbol, exchange, closed)
        if live is None:
            return Outcome.skipped("No position to close", success=True)
        wanted = {Action.CLOSE_LONG: Side.BUY, Action.CLOSE_SHORT: Side.SELL}.get(job.signal.action)
        if wanted is not None and live.side is not wanted:
            held = "long" if live.side is Side.BUY else "short"
            return Outcome.skipped(f"No {'long' if wanted is Side.BUY else 'short'} position to close "
                                   f"({symbol} is {held})")
        try:
            result = await self._closer.close(exchange, user_id=job.user_id, live=live, exit_reason="MANUAL",
                                              client_order_id=job.cid("x"), resume=job.resume)
        except CloseNotConfirmed as err:
            return Outcome.failed(str(err), action="close_failed")
        return self._closed(symbol, exchange, result)

    @staticmethod
    def _closed(symbol: str, exchange: Exchange, result: CloseResult) -> Outcome:
        return Outcome(RequestStatus.SUCCESS, {
            "success": True,
            "action": "closed",
            "symbol": symbol,
            "exchange": exchange.name,
            "closeOrder": order_view(result.order),
            "pnl": pnl_view(result.trade),
        })

    # --- open ------------------------------------------------------------------------------------
    async def _open(self, job: Job, exchange: Exchange, live: Position | None,
                    closes: dict[str, CloseResult] | None = None) -> Outcome:
        signal = job.signal
        side = signal.action.entry_side
        assert side is not None
        is_limit = signal.order_type is OrderType.LIMIT
        closes = closes or {}
        resumed_reversal = closes.get("rx")  # resumed: the reversal's close had filled before the crash
        if job.resume:  # crashed after the entry went out: finish protecting it, never re-enter
            sent = await exchange.get_order(signal.symbol, client_order_id=job.cid("e"))
            if sent is not None and sent.status is OrderStatus.FILLED:
                if "f" in closes:  # its stop could not be placed, and it was closed at market
                    return self._flattened("Stop-loss could not be placed; position closed at market",
                                           closes["f"], resumed_reversal)
                rules = await exchange.symbol_rules(signal.symbol)
                return await self._after_entry(job, exchange, sent, rules.tick_size, resumed_reversal, None)
        if live is not None and live.side is side:
            return Outcome.skipped(f"Already have {side.value.upper()} position for {signal.symbol}")

        caps = exchange.capabilities
        if signal.use_trailing_stop and not caps.trailing_stop:
            return Outcome.rejected(f"Trailing stops are not available on {exchange.name}")
        if is_limit and not (caps.limit_orders and (caps.attached_brackets or caps.limit_brackets)):
            return Outcome.rejected(f"Limit entries with protection are not available on {exchange.name}")
        rules = await exchange.symbol_rules(signal.symbol)
        reference = signal.price if signal.price is not None else await exchange.last_price(signal.symbol)
        # config.json's tradeAmount sizes the local user's orders only; tenants size in their alerts
        section = self._legacy.exchanges.get(exchange.name) if job.user_id == LOCAL_USER_ID else None
        unit_usd = await exchange.unit_value_usd(signal.symbol, reference)
        quantity = order_quantity(signal, reference, rules, section, self._settings.default_trade_amount_usd, unit_usd)
        sl_pct, tp_pct = self._percents(signal)
        preview = self._exit_prices(side, reference, sl_pct, tp_pct, rules.tick_size)
        if any(p is not None and p <= 0 for p in preview):
            return Outcome.rejected("Stop-loss or take-profit would be at or below zero; "
                                    "lower the percent")

        if resumed_reversal is not None:  # the old position is closed: only the new entry is left to send
            return await self._enter(job, exchange, side, quantity, preview, rules.tick_size, resumed_reversal)
        if live is None:
            try:
                async with self._position_limit.opening(job.user_id, exchange.name):
                    return await self._enter(job, exchange, side, quantity, preview, rules.tick_size, None)
            except PositionLimitReached as err:
                return Outcome.risk_limit(err.limit_type, err.current, err.limit, str(err))
        try:
            reversal = await self._closer.close(exchange, user_id=job.user_id, live=live, exit_reason="REVERSAL",
                                                client_order_id=job.cid("rx"), resume=job.resume)
        except (ExchangeError, CloseNotConfirmed) as err:
            log.error("reversal.close_failed", error=str(err))
            return Outcome.failed(f"Could not close the {live.side.value.upper()} position before "
                                  f"reversing: {err}", action="reversal_failed")
        return await self._enter(job, exchange, side, quantity, preview, rules.tick_size, reversal)

    async def _enter(self, job: Job, exchange: Exchange, side: Side, quantity: Decimal,
                     preview: tuple[Decimal | None, Decimal | None], tick: Decimal,
                     reversal: CloseResult | None) -> Outcome:
        """Send the entry, then protect and record it.

        Limit entries always carry their bracket (the venue places it on fill). Market entries carry
        it where the venue attaches brackets — one round trip, exits priced from the reference
        price; elsewhere the exits are sent after the fill, priced from the actual fill price.
        """
        signal = job.signal
        is_limit = signal.order_type is OrderType.LIMIT
        attach = is_limit or exchange.capabilities.attached_brackets
        bracket = None
        if attach and preview != (None, None):
            trailing = signal.trailing_stop_pips if signal.use_trailing_stop else None
            bracket = Bracket(*preview, trailing_stop_pips=trailing)
        entry = OrderRequest(
            symbol=signal.symbol,
            side=side,
            kind=OrderKind.LIMIT if is_limit else OrderKind.MARKET,
            quantity=quantity,
            client_order_id=job.cid("e"),
            price=signal.price if is_limit else None,
            bracket=bracket,
        )
        try:
            order = await send_order(exchange, entry, resume=job.resume)
        except ExchangeError as err:
            outcome = (Outcome.failed if err.http_status == 200 else Outcome.rejected)(
                f"Entry refused: {err.named(exchange.name)}")
            outcome.extra["exchange_error"] = err
            if reversal is not None:
                outcome.body["reversed"] = self._close_view(reversal)
            return outcome
        if order.status is not OrderStatus.FILLED:
            if is_limit and order.status is OrderStatus.OPEN:
                return self._resting(order, reversal)
            return await self._unfilled_market(job, exchange, order, tick, reversal, bracket)
        return await self._after_entry(job, exchange, order, tick, reversal, bracket)

    async def _unfilled_market(self, job: Job, exchange: Exchange, order: Order, tick: Decimal,
                               reversal: CloseResult | None, bracket: Bracket | None) -> Outcome:
        """A market entry the venue did not report filled: never leave it working unwatched.
        Cancel what is left, then protect whatever position it made, or report the failure."""
        symbol = job.signal.symbol
        if order.status is OrderStatus.OPEN:
            await cancel_quietly(exchange, symbol, [order.id])
        live = await exchange.position(symbol)
        if live is not None and live.side is order.side:
            log.warning("entry.fill_taken_from_position", order_status=order.status.value)
            filled = replace(order, status=OrderStatus.FILLED, filled_quantity=live.quantity,
                             average_price=live.entry_price, stop_loss_order_id=None, take_profit_order_id=None)
            return await self._after_entry(job, exchange, filled, tick, reversal, None)
        outcome = Outcome.failed(f"{exchange.name}: the market order was not filled ({order.status.value}); "
                                 "nothing is open")
        if reversal is not None:
            outcome.body["reversed"] = self._close_view(reversal)
        return outcome

    async def _after_entry(self, job: Job, exchange: Exchange, order: Order, tick: Decimal,
                           reversal: CloseResult | None, attached: Bracket | None) -> Outcome:
        """Protect the filled entry and record the position.

        `attached` is the bracket sent with the entry (its prices are the exits' prices); without
        one, the exits are priced from the actual fill.
        """
        signal = job.signal
        side = order.side
        sl_pct, tp_pct = self._percents(signal)
        fill = order.average_price or order.price
        filled = order.filled_quantity or order.quantity
        if attached is not None:
            stop, target = attached.stop_loss, attached.take_profit
        else:
            stop, target = self._exit_prices(side, fill, sl_pct, tp_pct, tick)
        try:
            protection = await self._protect(job, exchange, order, side, filled, stop, target, attached)
        except ProtectionFailed as err:
            return await self._flatten(job, exchange, side, err.reason, reversal)

        record = PositionRecord(
            user_id=job.user_id, exchange=exchange.name, symbol=signal.symbol, side=side.value.upper(),
            entry_price=fill, quantity=filled, entry_time=utcnow(),
            position_size_usd=await value_usd(exchange, signal.symbol, filled, fill),
            stop_loss_price=protection.stop_loss.price if protection.stop_loss else None,
            take_profit_price=protection.take_profit.price if protection.take_profit else None,
            stop_loss_percent=sl_pct, take_profit_percent=tp_pct,
            entry_order_id=order.id,
            stop_loss_order_id=protection.stop_loss.order_id if protection.stop_loss else None,
            take_profit_order_id=protection.take_profit.order_id if protection.take_profit else None,
            strategy_id=signal.strategy_id, fees_usd=order.fee,
        )
        await self._store.upsert_position(record)
        body = {"success": True, "action": "reversed" if reversal else "opened",
                "position": position_view(record), "entryOrder": order_view(order)}
        if reversal is not None:
            body["reversed"] = self._close_view(reversal)
        if protection.stop_loss is None:
            body["warning"] = "No stop-loss requested: position is unprotected"
        if protection.take_profit_error:
            body["warning"] = f"Take-profit not placed: {protection.take_profit_error}"
        log.info("position.opened", side=side.value, quantity=str(filled), price=str(fill),
                 stop_loss=str(record.stop_loss_price), take_profit=str(record.take_profit_price))
        return Outcome(RequestStatus.SUCCESS, body)

    def _percents(self, signal: Signal) -> tuple[Decimal | None, Decimal | None]:
        sl = signal.stop_loss_percent or self._settings.default_stop_loss_percent or None
        tp = signal.take_profit_percent or self._settings.default_take_profit_percent or None
        return sl, tp

    @staticmethod
    def _exit_prices(side: Side, price: Decimal, sl_pct: Decimal | None, tp_pct: Decimal | None,
                     tick: Decimal) -> tuple[Decimal | None, Decimal | None]:
        stop = stop_loss_price(side, price, sl_pct, tick) if sl_pct else None
        target = take_profit_price(side, price, tp_pct, tick) if tp_pct else None
        return stop, target

    async def _protect(self, job: Job, exchange: Exchange, entry: Order, side: Side, quantity: Decimal,
                       stop: Decimal | None, target: Decimal | None, attached: Bracket | None) -> Protection:
        """Use what the venue attached to the entry; place whatever is still missing."""
        symbol = job.signal.symbol

        async def known(order_id: str | None, price: Decimal | None) -> Exit | None:
            if not order_id:
                return None
            if attached is not None:  # we sent its price: no need to ask
                return Exit(order_id, price)
            return Exit.of(await exchange.get_order(symbol, order_id=order_id))  # resumed after a crash

        protection = Protection(await known(entry.stop_loss_order_id, stop),
                                await known(entry.take_profit_order_id, target))
        if protection.stop_loss is not None or stop is None and (target is None or protection.take_profit):
            return protection
        placed = await self._protector.protect(
            exchange, symbol=symbol, position_side=side, quantity=quantity,
            stop_loss=stop, take_profit=None if protection.take_profit else target,
            client_ids=(job.cid("sl"), job.cid("tp")), resume=job.resume,
        )
        return Protection(placed.stop_loss, placed.take_profit or protection.take_profit, placed.take_profit_error)

    async def _flatten(self, job: Job, exchange: Exchange, side: Side, reason: str,
                       reversal: CloseResult | None) -> Outcome:
        """Invariant 3: no stop, no position. Close at market and say so."""
        symbol = job.signal.symbol
        log.error("protection.failed", reason=reason)
        leftovers = [await exchange.get_order(symbol, client_order_id=job.cid(r)) for r in ("sl", "tp")]
        await cancel_quietly(exchange, symbol, [o.id for o in leftovers if o and o.status is OrderStatus.OPEN])
        live = await exchange.position(symbol)
        extra = {"reversed": self._close_view(reversal)} if reversal else {}
        if live is None:
            return Outcome.failed(f"Stop-loss could not be placed ({reason}); the position is already flat",
                                  action="protection_failed", **extra)
        await self._reconciler.reconcile(exchange, job.user_id, symbol)  # record what we hold
        try:
            result = await self._closer.close(exchange, user_id=job.user_id, live=live,
                                              exit_reason="PROTECTION_FAILED", client_order_id=job.cid("f"),
                                              resume=job.resume)
        except (ExchangeError, CloseNotConfirmed) as err:
            log.critical("position.unprotected", error=str(err))
            return Outcome.failed(
                f"UNPROTECTED POSITION: stop-loss could not be placed ({reason}) and the emergency close "
                f"failed ({err}). Close {symbol} on {exchange.name} by hand.",
                action="protection_failed", **extra)
        return self._flattened(f"Stop-loss could not be placed ({reason}); position closed at market",
                               result, reversal)

    @classmethod
    def _flattened(cls, message: str, result: CloseResult, reversal: CloseResult | None) -> Outcome:
        extra = {"reversed": cls._close_view(reversal)} if reversal else {}
        return Outcome.failed(message, action="protection_failed", closeOrder=order_view(result.order),
                              pnl=pnl_view(result.trade), **extra)

    @staticmethod
    def _resting(order: Order, reversal: CloseResult | None) -> Outcome:
        body = {"success": True, "action": "order_placed", "order": order_view(order),
                "message": f"Limit order resting at {order.price}; protection is attached when it fills"}
        if reversal is not None:
            body["reversed"] = TradeExecutor._close_view(reversal)
        return Outcome(RequestStatus.SUCCESS, body)

    @staticmethod
    def _close_view(result: CloseResult) -> dict:
        return jsonable({"closeOrder": order_view(result.order), "pnl": pnl_view(result.trade)})
