"""The trade executor: open (with protection), reverse, close. One signal at a time per key.

The caller (the dispatcher) holds the (user, exchange, symbol) slot, so nothing here races with
another signal for the same position. Every exchange call goes through the `Exchange` port and the
executor asks about capabilities, never about venue names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from sparky.cache import Cache
from sparky.config import LegacyConfig, Settings
from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Bracket, Exchange, Order, OrderKind, OrderRequest, OrderStatus, Position, Side
from sparky.exchanges.errors import ExchangeError, OutcomeUnknown
from sparky.execution.closing import CloseNotConfirmed, CloseResult, PositionCloser
from sparky.execution.emergency import EmergencyExit, flattened
from sparky.execution.exits import resting_orders, stale_exits, survivors_warning, sweep
from sparky.execution.fees import alongside
from sparky.execution.fills import price_from_position, settle_unfilled_market
from sparky.execution.limits import EntryRefused, PositionLimit, SettingsReads
from sparky.execution.orders import client_order_id, send_order
from sparky.execution.outcome import Outcome, add_warning, order_view, position_view
from sparky.execution.pending_writes import PendingWrites
from sparky.execution.prices import exit_prices
from sparky.execution.protection import ProtectionFailed, Protector
from sparky.execution.reconcile import Reconciled, Reconciler
from sparky.execution.resting import RestingEntries
from sparky.execution.sizing import OrderTooSmall, order_quantity, value_usd
from sparky.execution.trades import venue_asset_class
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
    #: the rows written with the request's final status, in one transaction (pending_writes.py)
    writes: PendingWrites = field(default_factory=PendingWrites, compare=False, repr=False)

    def cid(self, role: str) -> str:
        return client_order_id(self.request_id, role)


class TradeExecutor:
    def __init__(self, store: Store, accounts: ExchangeAccounts, settings: Settings, legacy: LegacyConfig,
                 *, tenant_reads: SettingsReads | None = None, cache: Cache | None = None) -> None:
        self._store = store
        self._accounts = accounts
        self._settings = settings
        self._legacy = legacy
        self._protector = Protector(settings.protection_attempts)
        self._closer = PositionCloser(store, settings.close_confirm_attempts, protector=self._protector)
        self._resting_entries = RestingEntries(store, self._protector)
        self._reconciler = Reconciler(store, self._resting_entries)
        self._emergency = EmergencyExit(self._closer, self._reconciler)
        self._position_limit = PositionLimit(store, legacy.risk_management.max_positions, tenant_reads, cache)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def reconciler(self) -> Reconciler:
        return self._reconciler

    @property
    def protector(self) -> Protector:
        return self._protector

    @property
    def emergency(self) -> EmergencyExit:
        return self._emergency

    @property
    def resting_entries(self) -> RestingEntries:
        return self._resting_entries

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
            # an earlier signal's resting limit entry is cancelled first: this signal replaces it
            reconciled, resting = await self._reconcile(exchange, job)
            cancelled = reconciled.cancelled_entry
            left = []
            if reconciled.live is None:  # exits that outlived their position go before anything else
                left = await sweep(exchange, signal.symbol, resting, settled=reconciled.cancelled)
            # what a close in this signal cancels along with the position's own exits
            live_side = reconciled.live.side if reconciled.live is not None else None
            stale = stale_exits(resting, held=live_side) if live_side is not None else []
            if signal.action.is_entry:
                outcome = await self._open(job, exchange, reconciled.live, closes, stale)
            elif cancelled is not None and reconciled.live is None and "x" not in closes:
                outcome = Outcome.entry_cancelled(signal.symbol, exchange.name)
            else:
                outcome = await self._close_signal(job, exchange, reconciled.live, closes.get("x"), stale)
            if cancelled is not None:
                outcome.body["cancelledEntry"] = order_view(cancelled)
            if left:
                add_warning(outcome.body, survivors_warning(left, signal.symbol))
            if reconciled.closed is not None:  # a stop or target filled on the venue since the last signal
                outcome.extra["closed_on_exchange"] = reconciled.closed
            return outcome
        except SparkyError as err:  # e.g. no credentials stored for this exchange
            return Outcome.refusal(err)
        except OrderTooSmall as err:
            return Outcome.rejected(str(err))
        except EntryRefused as err:  # a trade setting refused the entry before anything was sent
            return err.outcome
        except ExchangeError as err:
            log.warning("exchange.error", error_type=type(err).__name__, error=err.message)
            return Outcome.venue_error(err, signal.exchange)

    async def _reconcile(self, exchange: Exchange, job: Job) -> tuple[Reconciled, list[Order] | None]:
        """The stored position brought in line with the venue, and the key's resting orders read
        at the same time (no added wait) to find exits that outlived their position."""
        reading = asyncio.create_task(resting_orders(exchange, job.signal.symbol))
        if job.signal.action.is_entry:
            exchange.prepare_entry(job.signal.symbol)  # e.g. the leverage an entry needs set first
        try:
            reconciled = await self._reconciler.reconcile(exchange, job.user_id, job.signal.symbol,
                                                          later_request=job.request_id)
        except BaseException:
            reading.cancel()
            raise
        return reconciled, await reading

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
                            closed: CloseResult | None = None, stale: list[str] | None = None) -> Outcome:
        symbol = job.signal.symbol
        if closed is not None:  # resumed: this request's close had filled before the crash
            return closed.outcome(symbol, exchange.name)
        if live is None:
            return Outcome.skipped("No position to close", success=True)
        wanted = {Action.CLOSE_LONG: Side.BUY, Action.CLOSE_SHORT: Side.SELL}.get(job.signal.action)
        if wanted is not None and live.side is not wanted:
            held = "long" if live.side is Side.BUY else "short"
            return Outcome.skipped(f"No {'long' if wanted is Side.BUY else 'short'} position to close "
                                   f"({symbol} is {held})")
        try:
            result = await self._closer.close(exchange, user_id=job.user_id, live=live, exit_reason="MANUAL",
                                              client_order_id=job.cid("x"), resume=job.resume, stale=stale or (),
                                              writes=job.writes)
        except CloseNotConfirmed as err:
            return Outcome.failed(str(err), action="close_failed")
        return result.outcome(symbol, exchange.name)

    # --- open ------------------------------------------------------------------------------------
    async def _open(self, job: Job, exchange: Exchange, live: Position | None,
                    closes: dict[str, CloseResult] | None = None, stale: list[str] | None = None) -> Outcome:
        signal = job.signal
        side = signal.action.entry_side
        assert side is not None
        is_limit = signal.order_type is OrderType.LIMIT
        closes = closes or {}
        resumed_reversal = closes.get("rx")  # resumed: the reversal's close had filled before the crash
        resting_sent = False  # resumed: this request's limit entry rests on the venue; record it, never resend
        if job.resume:  # crashed after the entry went out: finish protecting it, never re-enter
            sent = await exchange.get_order(signal.symbol, client_order_id=job.cid("e"))
            resting_sent = sent is not None and sent.status is OrderStatus.OPEN
            if sent is not None and sent.status is OrderStatus.FILLED:
                if "f" in closes:  # its stop could not be placed, and it was closed at market
                    return flattened("Stop-loss could not be placed; position closed at market",
                                     closes["f"], resumed_reversal)
                rules = await exchange.symbol_rules(signal.symbol)
                return await self._after_entry(job, exchange, sent, rules.tick_size, resumed_reversal, None)
        if live is not None and live.side is side:
            return Outcome.skipped(f"Already have {side.value.upper()} position for {signal.symbol}")

        caps = exchange.capabilities
        if signal.use_trailing_stop and not caps.trailing_stop:
            return Outcome.rejected(f"Trailing stops are not available on {exchange.name}")
        # where the venue attaches no bracket to a limit entry, the reconcile loop protects its fill
        if is_limit and not caps.limit_orders:
            return Outcome.rejected(f"Limit entries are not available on {exchange.name}")
        rules = await exchange.symbol_rules(signal.symbol)
        sl_pct, tp_pct = self._percents(signal)
        # a bracket attached to a market entry is priced before the fill, so from the market now: an
        # alert's price may be stale (the venue refuses a stop past the fill, or it sits too far away)
        quote_now = not is_limit and caps.attached_brackets and not caps.simulated and bool(sl_pct or tp_pct)
        reference = (signal.price if signal.price is not None and not quote_now
                     else await exchange.last_price(signal.symbol))
        # config.json's tradeAmount sizes the local user's orders only; tenants size in their alerts
        section = self._legacy.exchanges.get(exchange.name) if job.user_id == LOCAL_USER_ID else None
        unit_usd = await exchange.unit_value_usd(signal.symbol, reference)
        cap = await self._position_limit.size_cap(job.user_id, exchange.name)  # max_position_size_usd
        quantity = order_quantity(signal, reference, rules, section, self._settings.default_trade_amount_usd,
                                  unit_usd, cap)
        preview = exit_prices(side, reference, sl_pct, tp_pct, rules.tick_size)
        if any(p is not None and p <= 0 for p in preview):
            return Outcome.rejected("Stop-loss or take-profit would be at or below zero; "
                                    "lower the percent")

        if resumed_reversal is not None or resting_sent:  # only the new entry is left to send (or record)
            return await self._enter(job, exchange, side, quantity, preview, rules.tick_size, resumed_reversal)
        try:
            # limits that count entries are checked, and the entry made and recorded, under the
            # user's lock: concurrent alerts, here or on another server, cannot overshoot them
            async with self._position_limit.opening(job.user_id, exchange.name, new_position=live is None) as counted:
                if live is None:
                    outcome = await self._enter(job, exchange, side, quantity, preview, rules.tick_size, None)
                    if counted:  # recorded before the lock goes: the user's next entry counts this one
                        await job.writes.flush(self._store)
                    return outcome
                try:  # done once the venue says flat: an exit that will not cancel does not stop the entry
                    reversal = await self._closer.close(exchange, user_id=job.user_id, live=live,
                                                        exit_reason="REVERSAL", client_order_id=job.cid("rx"),
                                                        resume=job.resume, stale=stale or ())
                except (ExchangeError, CloseNotConfirmed) as err:
                    log.error("reversal.close_failed", error=str(err))
                    return Outcome.failed(f"Could not close the {live.side.value.upper()} position before "
                                          f"reversing: {err}", action="reversal_failed")
                outcome = await self._enter(job, exchange, side, quantity, preview, rules.tick_size, reversal)
                if counted:
                    await job.writes.flush(self._store)
                return outcome
        except EntryRefused as err:
            return err.outcome

    async def _enter(self, job: Job, exchange: Exchange, side: Side, quantity: Decimal,
                     preview: tuple[Decimal | None, Decimal | None], tick: Decimal,
                     reversal: CloseResult | None) -> Outcome:
        """Send the entry, then protect and record it.

        Entries carry their bracket where the venue attaches it (limit entries also where it
        attaches it to limits only) — one round trip, exits priced from the reference price;
        elsewhere the exits are sent after the fill, priced from the actual fill price (for a limit
        that rests, when the reconcile loop or the next signal finds it filled: execution/resting.py).
        """
        signal = job.signal
        is_limit = signal.order_type is OrderType.LIMIT
        caps = exchange.capabilities
        attach = caps.attached_brackets or (is_limit and caps.limit_brackets)
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
        except OutcomeUnknown as err:  # it may have filled all the same: what the venue holds decides
            return await self._emergency.flatten(exchange, job, f"{exchange.name}: the entry's outcome is unknown "
                                                 f"({err.message})", reversal=reversal, flat_action="failed")
        except ExchangeError as err:  # refused before it acted
            outcome = (Outcome.failed if err.http_status == 200 else Outcome.rejected)(
                f"Entry refused: {err.named(exchange.name)}")
            outcome.extra["exchange_error"] = err
            if reversal is not None:
                outcome.body["reversed"] = reversal.view()
            return outcome
        except Exception as err:  # an answer nobody expected: the entry may have filled
            log.exception("entry.unexpected_error", error_type=type(err).__name__)
            return await self._emergency.flatten(exchange, job, f"{exchange.name}: unexpected error while sending "
                                                 f"the entry ({type(err).__name__})", reversal=reversal,
                                                 flat_action="failed")
        if is_limit and order.status is OrderStatus.OPEN:
            await self._resting_entries.record(
                user_id=job.user_id, exchange=exchange.name, request_id=job.request_id, request=entry,
                order=order, exits=preview, percents=self._percents(signal), strategy_id=signal.strategy_id,
                ai_strategy_id=signal.ai_strategy_id)
            return Outcome.order_placed(order, reversal.view() if reversal is not None else None)
        if order.status is not OrderStatus.FILLED:
            try:
                filled = await settle_unfilled_market(exchange, job.signal.symbol, order)
            except Exception as err:  # the entry may be open, or still working, without its stop
                log.exception("entry.unfilled_check_failed", error_type=type(err).__name__)
                return await self._emergency.flatten(exchange, job, f"The entry could not be checked "
                                                     f"({type(err).__name__}: {err})", entry=order, reversal=reversal)
            if filled is None:
                outcome = Outcome.failed(f"{exchange.name}: the market order was not filled "
                                         f"({order.status.value}); nothing is open")
                if reversal is not None:
                    outcome.body["reversed"] = reversal.view()
                return outcome
            order, bracket = filled, None
        return await self._after_entry(job, exchange, order, tick, reversal, bracket)

    async def _after_entry(self, job: Job, exchange: Exchange, order: Order, tick: Decimal,
                           reversal: CloseResult | None, attached: Bracket | None) -> Outcome:
        """Protect the filled entry and record the position.

        `attached` is the bracket sent with the entry (its prices are the exits' prices); without
        one, the exits are priced from the actual fill. Until the stop is confirmed, any failure —
        a refused stop or an error nobody expected — takes the emergency path (invariant 3); once
        it is, the position is safe, and an error recording it is left to recovery and the
        reconciler.
        """
        signal = job.signal
        side = order.side
        sl_pct, tp_pct = self._percents(signal)
        filled = order.filled_quantity or order.quantity
        try:
            fill = order.average_price or order.price or await price_from_position(exchange, order)
            if attached is not None:
                stop, target = attached.stop_loss, attached.take_profit
            else:
                stop, target = exit_prices(side, fill, sl_pct, tp_pct, tick)
            protection, order = await alongside(self._protector.protect_entry(
                exchange, order, symbol=signal.symbol, quantity=filled, stop_loss=stop, take_profit=target,
                attached=attached, client_ids=(job.cid("sl"), job.cid("tp")), resume=job.resume), exchange, order)
        except ProtectionFailed as err:
            return await self._emergency.flatten(exchange, job, f"Stop-loss could not be placed ({err.reason})",
                                                 entry=order, reversal=reversal)
        except Exception as err:
            log.exception("entry.protection_crashed", error_type=type(err).__name__)
            return await self._emergency.flatten(exchange, job, f"Stop-loss could not be placed "
                                                 f"({type(err).__name__}: {err})", entry=order, reversal=reversal)

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
            trailing_stop_order_id=order.trailing_stop_order_id or (
                protection.stop_loss.trailing_order_id if protection.stop_loss else None),
            strategy_id=signal.strategy_id, fees_usd=order.fee, ai_strategy_id=signal.ai_strategy_id,
            asset_class=await venue_asset_class(exchange, signal.symbol),
        )
        job.writes.position(record)  # written with the request's status (the dispatcher's finish)
        body = {"success": True, "action": "reversed" if reversal else "opened",
                "position": position_view(record), "entryOrder": order_view(order)}
        if reversal is not None:
            body["reversed"] = reversal.view()
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
