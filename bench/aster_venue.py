"""The state and the replies of the Aster simulator (bench/aster_sim.py): accounts, one-way
positions, orders, fills, in Binance USDⓈ-M shapes (tests/fixtures/aster/)."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from decimal import Decimal

ZERO = Decimal(0)
FEE_RATE = Decimal("0.0004")
KEEP_TRADES = 50  # per account and symbol: enough for Sparky's fee look-up right after a fill
#: kline intervals served, in milliseconds
CENT = Decimal("0.01")
KLINE_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


def secret_for(api_key: str) -> str:
    return f"{api_key}-secret"


def price_of(symbol: str) -> Decimal:
    digits = symbol[1:-4] if symbol.startswith("S") and symbol.endswith("USDT") else ""
    return Decimal(100 + int(digits)) if digits.isdigit() else Decimal(27000)


class VenueError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class Account:
    def __init__(self) -> None:
        self.positions: dict[str, list[Decimal]] = {}  # symbol -> [amount (signed), entry price]
        self.orders: dict[int, dict] = {}  # every order, by id
        self.by_client: dict[tuple[str, str], int] = {}
        self.open: dict[str, dict[int, dict]] = defaultdict(dict)  # symbol -> resting orders
        self.trades: dict[str, list[dict]] = defaultdict(list)
        self.leverage: dict[str, int] = {}


class Venue:
    def __init__(self, symbols: int) -> None:
        self.symbols = [f"S{i}USDT" for i in range(symbols)] + ["BTCUSDT"]
        self.listed = frozenset(self.symbols)
        self.accounts: dict[str, Account] = defaultdict(Account)
        self.next_id = 1_000_000
        self.next_trade = 1
        self.stats: Counter[str] = Counter()
        self.klines: Counter[str] = Counter()  # klines requests by "SYMBOL interval"
        self.latency = 0.0
        self.exchange_info = json.dumps(self._exchange_info()).encode()

    # ------------------------------------------------------------------ public data
    def _exchange_info(self) -> dict:
        return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "exchangeFilters": [],
                "rateLimits": [], "assets": [{"asset": "USDT", "marginAvailable": True}],
                "symbols": [self._symbol_info(s) for s in self.symbols]}

    @staticmethod
    def _symbol_info(symbol: str) -> dict:
        return {
            "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "status": "TRADING",
            "baseAsset": symbol[:-4], "quoteAsset": "USDT", "marginAsset": "USDT",
            "pricePrecision": 2, "quantityPrecision": 3,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "100000", "stepSize": "0.001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "100000", "stepSize": "0.001"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }

    def _klines(self, params: dict) -> list:
        """`limit` klines of `interval` (Binance's names), oldest first, the last one still forming;
        prices wander a little around the symbol's price. Counted per symbol and interval."""
        symbol = self._symbol(params)
        interval = params.get("interval", "")
        if interval not in KLINE_MS:
            raise VenueError(400, -1120, "Invalid interval.")
        try:
            limit = int(params.get("limit", "500"))
        except ValueError:
            raise VenueError(400, -1100, "Illegal characters found in parameter 'limit'.") from None
        if not 1 <= limit <= 1500:
            raise VenueError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        self.klines[f"{symbol} {interval}"] += 1
        step = KLINE_MS[interval]
        forming = int(time.time() * 1000) // step * step
        base = price_of(symbol)
        rows = []
        for i in range(limit):
            opened = forming - (limit - 1 - i) * step
            wobble = Decimal((opened // step) % 7 - 3) / 100  # -0.03 .. +0.03, the same on every call
            open_, close = (base + wobble).quantize(CENT), (base - wobble).quantize(CENT)
            rows.append([opened, str(open_), str(max(open_, close) + Decimal("0.05")),
                         str(min(open_, close) - Decimal("0.05")), str(close), "1000.000", opened + step - 1,
                         str(base * 1000), 100, "500.000", str(base * 500), "0"])
        return rows

    def _symbol(self, params: dict) -> str:
        symbol = params.get("symbol", "")
        if symbol not in self.listed:
            raise VenueError(400, -1121, "Invalid symbol.")
        return symbol

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, params: dict, api_key: str | None, signed: bool) -> object:
        key = (method, path)
        if key == ("GET", "/fapi/v1/ping"):
            return {}
        if key == ("GET", "/fapi/v1/time"):
            return {"serverTime": int(time.time() * 1000)}
        if key == ("GET", "/fapi/v1/exchangeInfo"):
            return self.exchange_info
        if key == ("GET", "/fapi/v1/ticker/price"):
            if "symbol" not in params:
                return [{"symbol": s, "price": str(price_of(s)), "time": int(time.time() * 1000)}
                        for s in self.symbols]
            symbol = self._symbol(params)
            return {"symbol": symbol, "price": str(price_of(symbol)), "time": int(time.time() * 1000)}
        if key == ("GET", "/fapi/v1/klines"):
            return self._klines(params)
        if key == ("GET", "/fapi/v1/premiumIndex"):
            symbol = self._symbol(params)
            return {"symbol": symbol, "markPrice": str(price_of(symbol)), "indexPrice": str(price_of(symbol)),
                    "lastFundingRate": "0.0001", "time": int(time.time() * 1000)}
        if not signed or api_key is None:
            raise VenueError(400, -1102, "Mandatory parameter 'signature' was not sent.")
        account = self.accounts[api_key]
        handler = ACCOUNT_ROUTES.get(key)
        if handler is None:
            raise VenueError(404, -1000, f"unknown endpoint {method} {path}")
        return handler(self, account, params)

    # ------------------------------------------------------------------ orders
    def _new_order(self, account: Account, params: dict) -> dict:
        symbol = self._symbol(params)
        side = params.get("side")
        kind = params.get("type")
        if side not in ("BUY", "SELL"):
            raise VenueError(400, -1117, "Invalid side.")
        if kind not in ("MARKET", "LIMIT", "STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise VenueError(400, -1116, "Invalid orderType.")
        close_position = params.get("closePosition") == "true"
        reduce_only = params.get("reduceOnly", "").lower() == "true" or close_position
        try:
            quantity = Decimal(params.get("quantity", "0"))
        except ArithmeticError:
            raise VenueError(400, -1100, "Illegal characters found in parameter 'quantity'.") from None
        if quantity <= 0 and not close_position:
            raise VenueError(400, -4003, "Quantity less than or equal to zero.")
        client_id = params.get("newClientOrderId") or f"sim-{self.next_id}"
        if (symbol, client_id) in account.by_client:
            raise VenueError(400, -4015, "Client order id is not valid.")  # duplicate clientOrderId
        position = account.positions.get(symbol, [ZERO, ZERO])
        signed_qty = quantity if side == "BUY" else -quantity
        if reduce_only and kind == "MARKET":
            # a reduce-only order may only shrink the position, and never past flat
            if position[0] == 0 or (position[0] > 0) == (side == "BUY"):
                raise VenueError(400, -2022, "ReduceOnly Order is rejected.")
            quantity = min(quantity, abs(position[0]))
            signed_qty = quantity if side == "BUY" else -quantity
        stop = params.get("stopPrice")
        if kind in ("STOP_MARKET", "TAKE_PROFIT_MARKET") and not stop:
            raise VenueError(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        self.next_id += 1
        now = int(time.time() * 1000)
        order = {
            "orderId": self.next_id, "symbol": symbol, "status": "NEW", "clientOrderId": client_id,
            "price": params.get("price", "0"), "avgPrice": "0", "origQty": str(quantity), "executedQty": "0",
            "cumQty": "0", "cumQuote": "0", "timeInForce": params.get("timeInForce", "GTC"), "type": kind,
            "reduceOnly": reduce_only, "closePosition": close_position, "side": side, "positionSide": "BOTH",
            "stopPrice": stop or "0", "workingType": params.get("workingType", "CONTRACT_PRICE"),
            "priceProtect": params.get("priceProtect", "FALSE").upper() == "TRUE", "origType": kind,
            "time": now, "updateTime": now,
        }
        account.orders[order["orderId"]] = order
        account.by_client[(symbol, client_id)] = order["orderId"]
        if kind == "MARKET":
            self._fill(account, order, signed_qty, price_of(symbol), now)
        else:
            account.open[symbol][order["orderId"]] = order
        return order

    def _fill(self, account: Account, order: dict, signed_qty: Decimal, price: Decimal, now: int) -> None:
        symbol = order["symbol"]
        amount, entry = account.positions.get(symbol, [ZERO, ZERO])
        new = amount + signed_qty
        realized = ZERO
        if amount == 0 or (amount > 0) == (signed_qty > 0):  # open or add: average the entry
            entry = (abs(amount) * entry + abs(signed_qty) * price) / abs(new)
        else:  # reduce, close or reverse
            closed = min(abs(amount), abs(signed_qty))
            realized = closed * (price - entry) * (1 if amount > 0 else -1)
            if new != 0 and (new > 0) != (amount > 0):
                entry = price
        if new == 0:
            account.positions.pop(symbol, None)
        else:
            account.positions[symbol] = [new, entry]
        quantity = abs(signed_qty)
        quote = quantity * price
        order.update(status="FILLED", executedQty=str(quantity), cumQty=str(quantity), cumQuote=str(quote),
                     avgPrice=str(price), updateTime=now)
        self.next_trade += 1
        trades = account.trades[symbol]
        trades.append({
            "buyer": order["side"] == "BUY", "commission": str(quote * FEE_RATE), "commissionAsset": "USDT",
            "id": self.next_trade, "maker": False, "orderId": order["orderId"], "price": str(price),
            "qty": str(quantity), "quoteQty": str(quote), "realizedPnl": str(realized), "side": order["side"],
            "positionSide": "BOTH", "symbol": symbol, "time": now,
        })
        del trades[:-KEEP_TRADES]

    def _find(self, account: Account, params: dict) -> dict:
        symbol = self._symbol(params)
        if params.get("orderId"):
            order = account.orders.get(int(params["orderId"]))
        else:
            order_id = account.by_client.get((symbol, params.get("origClientOrderId", "")))
            order = account.orders.get(order_id) if order_id else None
        if order is None or order["symbol"] != symbol:
            raise VenueError(400, -2013, "Order does not exist.")
        return order

    def _cancel(self, account: Account, params: dict) -> dict:
        order = self._find(account, params)
        if order["status"] != "NEW":
            raise VenueError(400, -2011, "Unknown order sent.")
        order.update(status="CANCELED", updateTime=int(time.time() * 1000))
        account.open[order["symbol"]].pop(order["orderId"], None)
        return order

    def post_order(self, account: Account, params: dict) -> dict:
        order = self._new_order(account, params)
        if params.get("newOrderRespType", "ACK") == "ACK" and order["type"] == "MARKET":
            return {**order, "status": "NEW", "executedQty": "0", "cumQty": "0", "cumQuote": "0", "avgPrice": "0"}
        return order

    def get_order(self, account: Account, params: dict) -> dict:
        return self._find(account, params)

    def delete_order(self, account: Account, params: dict) -> dict:
        return self._cancel(account, params)

    def post_batch(self, account: Account, params: dict) -> list:
        try:
            legs = json.loads(params.get("batchOrders", ""))
        except ValueError:
            raise VenueError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(legs, list) or not 1 <= len(legs) <= 5:
            raise VenueError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")
        replies: list = []
        for leg in legs:
            try:
                replies.append(self._new_order(account, {k: str(v) for k, v in leg.items()}))
            except VenueError as err:
                replies.append({"code": err.code, "msg": err.msg})
        return replies

    def delete_batch(self, account: Account, params: dict) -> list:
        symbol = self._symbol(params)
        if params.get("orderIdList"):
            keys = [("orderId", str(i)) for i in json.loads(params["orderIdList"])]
        else:
            keys = [("origClientOrderId", str(c)) for c in json.loads(params.get("origClientOrderIdList", "[]"))]
        replies: list = []
        for name, value in keys:
            try:
                replies.append(self._cancel(account, {"symbol": symbol, name: value}))
            except VenueError as err:
                replies.append({"code": err.code, "msg": err.msg})
        return replies

    def delete_all_open(self, account: Account, params: dict) -> dict:
        symbol = self._symbol(params)
        for order in list(account.open[symbol].values()):
            order.update(status="CANCELED", updateTime=int(time.time() * 1000))
        account.open[symbol].clear()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def open_orders(self, account: Account, params: dict) -> list:
        if params.get("symbol"):
            return list(account.open[self._symbol(params)].values())
        return [order for orders in account.open.values() for order in orders.values()]

    def position_risk(self, account: Account, params: dict) -> list:
        symbols = [self._symbol(params)] if params.get("symbol") else sorted(account.positions)
        rows = []
        for symbol in symbols:
            amount, entry = account.positions.get(symbol, [ZERO, ZERO])
            mark = price_of(symbol)
            rows.append({
                "entryPrice": str(entry), "marginType": "cross", "isAutoAddMargin": "false",
                "isolatedMargin": "0.00000000", "leverage": str(account.leverage.get(symbol, 20)),
                "liquidationPrice": "0", "markPrice": str(mark), "maxNotionalValue": "20000000",
                "positionAmt": str(amount), "symbol": symbol, "unRealizedProfit": str((mark - entry) * amount),
                "positionSide": "BOTH", "updateTime": int(time.time() * 1000),
            })
        return rows

    def user_trades(self, account: Account, params: dict) -> list:
        trades = account.trades[self._symbol(params)]
        if params.get("orderId"):
            return [t for t in trades if str(t["orderId"]) == params["orderId"]]
        return list(trades)

    def leverage(self, account: Account, params: dict) -> dict:
        symbol = self._symbol(params)
        account.leverage[symbol] = int(params.get("leverage", "20"))
        return {"leverage": account.leverage[symbol], "maxNotionalValue": "1000000", "symbol": symbol}

    def balance(self, account: Account, params: dict) -> list:
        now = int(time.time() * 1000)
        return [{"accountAlias": "SgsR", "asset": "USDT", "balance": "1000000.00000000",
                 "crossWalletBalance": "1000000.00000000", "crossUnPnl": "0.00000000",
                 "availableBalance": "1000000.00000000", "maxWithdrawAmount": "1000000.00000000",
                 "marginAvailable": True, "updateTime": now}]

    def dual_side(self, account: Account, params: dict) -> dict:
        return {"dualSidePosition": False}

    def ok(self, account: Account, params: dict) -> dict:
        return {"code": 200, "msg": "success"}


ACCOUNT_ROUTES = {
    ("POST", "/fapi/v1/order"): Venue.post_order,
    ("GET", "/fapi/v1/order"): Venue.get_order,
    ("DELETE", "/fapi/v1/order"): Venue.delete_order,
    ("POST", "/fapi/v1/batchOrders"): Venue.post_batch,
    ("DELETE", "/fapi/v1/batchOrders"): Venue.delete_batch,
    ("DELETE", "/fapi/v1/allOpenOrders"): Venue.delete_all_open,
    ("GET", "/fapi/v1/openOrders"): Venue.open_orders,
    ("GET", "/fapi/v2/positionRisk"): Venue.position_risk,
    ("GET", "/fapi/v1/positionRisk"): Venue.position_risk,
    ("GET", "/fapi/v1/userTrades"): Venue.user_trades,
    ("POST", "/fapi/v1/leverage"): Venue.leverage,
    ("GET", "/fapi/v2/balance"): Venue.balance,
    ("GET", "/fapi/v1/balance"): Venue.balance,
    ("GET", "/fapi/v1/positionSide/dual"): Venue.dual_side,
    ("POST", "/fapi/v1/positionSide/dual"): Venue.ok,
    ("POST", "/fapi/v1/marginType"): Venue.ok,
}
