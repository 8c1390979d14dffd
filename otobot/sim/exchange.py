"""The simulated exchange's state: accounts, orders, OTO legs, fills, and the wire-shaped events they produce."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from otobot.exchange import errors as codes
from otobot.exchange.filters import fmt, pay_amount, pending_quantity
from otobot.sim.config import SimConfig, SimSymbol
from otobot.sim.matching import BUY, SELL, BookOrder, OrderBook, Trade

OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING"})
Q8 = Decimal("0.00000001")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def d8(x: Decimal) -> str:
    """Capture-style decimal text: 8 dp at least ("869.56000000"), more when the value needs them."""
    q = x.quantize(Q8) if x == x.quantize(Q8) else x
    return fmt(q)


class SimError(Exception):
    """A business error the server answers with HTTP 200 and this bapi code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SimOrder:
    id: int
    user: str
    symbol: SimSymbol
    side: str
    price: Decimal
    orig_qty: Decimal  # a dormant pending leg has 0 until activated
    status: str
    list_id: int = -1
    position: str | None = None  # OTO_WORKING / OTO_PENDING
    linked: int | None = None  # the other OTO leg
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    time: int = 0
    update_time: int = 0
    client_id: str = field(default_factory=lambda: f"web_{secrets.token_hex(16)}")
    locked: Decimal = Decimal(0)  # quote (BUY) or base (SELL) still locked for the unfilled part

    @property
    def open(self) -> bool:
        return self.status in OPEN


@dataclass
class Fill:
    trade_id: int
    order_id: int
    user: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    buyer: bool


@dataclass
class Account:
    name: str
    csrftoken: str
    session: str
    balances: dict[str, list[Decimal]]  # asset → [free, locked]
    volume: dict[str, Decimal] = field(default_factory=dict)  # alphaId → today's counted buy volume
    expired: bool = False
    listen_key: str | None = None
    key_expires_at: float = 0.0

    def free(self, asset: str) -> Decimal:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[0]

    def move(self, asset: str, free: Decimal = Decimal(0), locked: Decimal = Decimal(0)) -> None:
        bal = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        bal[0] += free
        bal[1] += locked


Emit = Callable[[str, dict[str, Any]], None]  # (user, executionReport data)
Publish = Callable[[SimSymbol, dict[str, Any]], None]  # (symbol, aggTrade data)


class Exchange:
    """All state of the simulated exchange; the server turns requests into calls on it."""

    def __init__(self, config: SimConfig, emit: Emit, publish: Publish) -> None:
        self.config = config
        self.emit = emit
        self.publish = publish
        self.symbols = {s.pair: s for s in config.symbols}
        self.by_alpha = {s.alpha_id: s for s in config.symbols}
        self.books = {s.pair: OrderBook() for s in config.symbols}
        self.accounts = {u.name: Account(u.name, u.csrftoken, u.session,
                                         {"USDT": [u.usdt, Decimal(0)],
                                          **{a: [q, Decimal(0)] for a, q in u.tokens}}) for u in config.users}
        self.by_csrf = {a.csrftoken: a for a in self.accounts.values()}
        self.by_key: dict[str, Account] = {}
        self.orders: dict[int, SimOrder] = {}
        self.user_orders: dict[str, list[int]] = {u: [] for u in self.accounts}
        self.fills: dict[str, list[Fill]] = {u: [] for u in self.accounts}
        self.recent_trades: dict[str, list[dict[str, Any]]] = {s: [] for s in self.symbols}
        self.last_price = {s.pair: s.price for s in config.symbols}
        self._order_ids = itertools.count(2_460_000)
        self._list_ids = itertools.count(89_863_100)
        self._event_ids = itertools.count(12_501_197_286)
        self._trade_ids = itertools.count(798_400)
        self._agg_ids = itertools.count(164_900)
        self.fee = config.fee_rate

    # ------------------------------------------------------------ accounts and sessions

    def authenticate(self, csrftoken: str | None, cookie: str | None) -> Account:
        account = self.by_csrf.get(csrftoken or "")
        if account is None or account.expired or f"p20t={account.session}" not in (cookie or ""):
            raise SimError(codes.AUTH_EXPIRED, "登录状态已经失效，请重新登录！")
        return account

    def listen_key(self, account: Account, ttl_s: float) -> str:
        now = time.monotonic()
        if account.listen_key and account.key_expires_at > now and not self.config.rotate_on_post:
            account.key_expires_at = now + ttl_s
            return account.listen_key
        if account.listen_key:
            self.by_key.pop(account.listen_key, None)
        account.listen_key = secrets.token_hex(16)
        account.key_expires_at = now + ttl_s
        self.by_key[account.listen_key] = account
        return account.listen_key

    def expired_keys(self) -> list[str]:
        now = time.monotonic()
        out = []
        for key, account in list(self.by_key.items()):
            if account.key_expires_at <= now:
                out.append(key)
                del self.by_key[key]
                if account.listen_key == key:
                    account.listen_key = None
        return out

    # ------------------------------------------------------------ validation

    def _symbol(self, base: Any, quote: Any) -> SimSymbol:
        sym = self.symbols.get(f"{base}{quote}")
        if sym is None:
            raise SimError(codes.ILLEGAL_PARAMETER, f"unknown symbol {base}{quote}")
        return sym

    @staticmethod
    def _num(body: dict[str, Any], key: str) -> Decimal:
        value = body.get(key)
        if isinstance(value, bool) or value is None:
            raise SimError(codes.ILLEGAL_PARAMETER, f"{key} is required")
        try:
            d = Decimal(str(value))
        except ArithmeticError:
            raise SimError(codes.ILLEGAL_PARAMETER, f"{key} is not a number") from None
        if not d.is_finite() or d <= 0:
            raise SimError(codes.ILLEGAL_PARAMETER, f"{key} must be positive")
        return d

    def _check(self, sym: SimSymbol, price: Decimal, qty: Decimal) -> None:
        if price % sym.tick != 0:
            raise SimError(codes.ILLEGAL_PARAMETER, "Price must be an integer multiple of the tick size.")
        if qty % sym.step != 0:
            raise SimError(codes.ILLEGAL_PARAMETER,
                           "Order amount must be an integer multiple of the minimum amount movement.")
        if qty < sym.min_qty:
            raise SimError(codes.ILLEGAL_PARAMETER, f"Quantity must be at least {fmt(sym.min_qty)}")
        if price * qty < sym.min_notional:
            raise SimError(codes.BELOW_MIN_NOTIONAL, f"Total must be greater than {fmt(sym.min_notional)}")

    @staticmethod
    def _payment(body: dict[str, Any]) -> tuple[Decimal, str]:
        details = body.get("paymentDetails")
        if not isinstance(details, list) or not details or not isinstance(details[0], dict):
            raise SimError(codes.ILLEGAL_PARAMETER, "paymentDetails is required")
        try:
            return Decimal(str(details[0].get("amount"))), str(details[0].get("paymentWalletType"))
        except ArithmeticError:
            raise SimError(codes.ILLEGAL_PARAMETER, "paymentDetails.amount is not a number") from None

    # ------------------------------------------------------------ placing

    def place_oto(self, account: Account, body: dict[str, Any]) -> tuple[int, int]:
        sym = self._symbol(body.get("baseAsset"), body.get("quoteAsset"))
        if body.get("workingSide", "BUY") != BUY:
            raise SimError(codes.ILLEGAL_PARAMETER, "workingSide must be BUY")
        wp, wq = self._num(body, "workingPrice"), self._num(body, "workingQuantity")
        pp = self._num(body, "pendingPrice")
        self._check(sym, wp, wq)
        if pp % sym.tick != 0:
            raise SimError(codes.ILLEGAL_PARAMETER, "pendingPrice must be an integer multiple of the tick size.")
        amount, _ = self._payment(body)
        cost = pay_amount(wp, wq)
        if amount != cost:
            raise SimError(codes.ILLEGAL_PARAMETER,
                           "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)")
        if account.free("USDT") < cost:
            raise SimError(codes.INSUFFICIENT_BALANCE, "Insufficient balance")
        t = now_ms()
        list_id = next(self._list_ids)
        working = SimOrder(next(self._order_ids), account.name, sym, BUY, wp, wq, "NEW", list_id, "OTO_WORKING",
                           time=t, update_time=t, locked=cost)
        pending = SimOrder(next(self._order_ids), account.name, sym, SELL, pp, Decimal(0), "PENDING", list_id,
                           "OTO_PENDING", linked=working.id, time=t, update_time=t)
        working.linked = pending.id
        account.move("USDT", free=-cost, locked=cost)
        for o in (working, pending):
            self._register(o)
        self._event(working, "NEW", t)
        self._event(pending, "NEW", t)
        self._match(working)
        return working.id, pending.id

    def place_limit(self, account: Account, body: dict[str, Any]) -> int:
        sym = self._symbol(body.get("baseAsset"), body.get("quoteAsset"))
        side = body.get("side")
        if side not in (BUY, SELL):
            raise SimError(codes.ILLEGAL_PARAMETER, "side must be BUY or SELL")
        price, qty = self._num(body, "price"), self._num(body, "quantity")
        self._check(sym, price, qty)
        amount, _ = self._payment(body)
        if side == BUY:
            cost = pay_amount(price, qty)
            if amount != cost:
                raise SimError(codes.ILLEGAL_PARAMETER, "price*quantity must be the same as sum(paymentDetail.amount)")
            asset, lock = "USDT", cost
        else:
            if amount != qty:
                raise SimError(codes.ILLEGAL_PARAMETER, "quantity must be the same as sum(paymentDetail.amount)")
            asset, lock = sym.alpha_id, qty
        if account.free(asset) < lock:
            raise SimError(codes.INSUFFICIENT_BALANCE, "Insufficient balance")
        t = now_ms()
        order = SimOrder(next(self._order_ids), account.name, sym, side, price, qty, "NEW", time=t, update_time=t,
                         locked=lock)
        account.move(asset, free=-lock, locked=lock)
        self._register(order)
        self._event(order, "NEW", t)
        self._match(order)
        return order.id

    def _register(self, o: SimOrder) -> None:
        self.orders[o.id] = o
        self.user_orders[o.user].append(o.id)

    # ------------------------------------------------------------ cancelling

    def cancel(self, account: Account, order_id: Any, symbol: Any) -> None:
        try:
            o = self.orders.get(int(str(order_id)))
        except ValueError:
            o = None
        if o is None or o.user != account.name or (symbol and o.symbol.pair != symbol) or not o.open:
            raise SimError(codes.ORDER_NOT_FOUND, "Order does not exist or is already finished")
        self._cancel(o)
        other = self.orders.get(o.linked) if o.linked is not None else None
        if other is None or not other.open:
            return
        if o.position == "OTO_WORKING" and o.executed > 0 and self.config.pending_on_partial == "activate":
            self._activate(other, o.executed)
        elif self.config.cancel_other_leg:
            self._cancel(other)

    def _cancel(self, o: SimOrder) -> None:
        self.books[o.symbol.pair].cancel(o.id)
        self._unlock(o)
        o.status = "CANCELED"
        o.update_time = now_ms()
        self._event(o, "CANCELED", o.update_time)

    def _unlock(self, o: SimOrder) -> None:
        if o.locked > 0:
            asset = "USDT" if o.side == BUY else o.symbol.alpha_id
            self.accounts[o.user].move(asset, free=o.locked, locked=-o.locked)
            o.locked = Decimal(0)

    # ------------------------------------------------------------ matching and fills

    def _match(self, o: SimOrder) -> None:
        book = self.books[o.symbol.pair]
        trades = book.submit(BookOrder(o.id, o.user, o.side, o.price, o.orig_qty - o.executed))
        self._settle(o.symbol, trades)

    def submit_background(self, sym: SimSymbol, owner: str, side: str, price: Decimal, qty: Decimal,
                          *, rest: bool) -> int:
        """An order of the market model (no account, no events of its own); returns its book id."""
        oid = next(self._order_ids)
        self._settle(sym, self.books[sym.pair].submit(BookOrder(oid, owner, side, price, qty), rest=rest))
        return oid

    def _settle(self, sym: SimSymbol, trades: list[Trade]) -> None:
        if not trades:
            return
        t = now_ms()
        trade_id = next(self._trade_ids)  # one id per taker match: sub-fills repeat it, as captured (§4.3)
        by_price: dict[Decimal, Decimal] = {}
        for tr in trades:
            by_price[tr.price] = by_price.get(tr.price, Decimal(0)) + tr.qty
            for oid, is_taker in ((tr.maker_id, False), (tr.taker_id, True)):
                o = self.orders.get(oid)
                if o is not None:
                    self._fill(o, tr.price, tr.qty, trade_id, t, maker=not is_taker)
        self.last_price[sym.pair] = trades[-1].price
        taker_side = trades[0].taker_side
        for price, qty in by_price.items():
            agg = next(self._agg_ids)
            data = {"e": "aggTrade", "E": t, "T": t, "s": sym.pair, "a": agg, "p": d8(price), "q": d8(qty),
                    "f": agg, "l": agg, "m": taker_side == SELL}
            recent = self.recent_trades[sym.pair]
            recent.append(data)
            if len(recent) > 500:
                del recent[:100]
            self.publish(sym, data)

    def _fill(self, o: SimOrder, price: Decimal, qty: Decimal, trade_id: int, t: int, *, maker: bool) -> None:
        account = self.accounts[o.user]
        quote = price * qty
        base = o.symbol.alpha_id
        if o.side == BUY:
            commission, asset = qty * self.fee, base
            reserved = pay_amount(o.price, qty) if o.executed + qty < o.orig_qty else o.locked
            account.move("USDT", free=reserved - quote, locked=-reserved)
            o.locked -= reserved
            account.move(base, free=qty - commission)
            mul = o.symbol.mul_point if self.config.volume_includes_multiplier else 1
            account.volume[base] = account.volume.get(base, Decimal(0)) + quote * mul
        else:
            commission, asset = (quote * self.fee).quantize(Q8), "USDT"
            account.move(base, locked=-qty)
            o.locked -= qty
            account.move("USDT", free=quote - commission)
        o.executed += qty
        o.cum_quote += quote
        o.status = "FILLED" if o.executed >= o.orig_qty else "PARTIALLY_FILLED"
        if o.status == "FILLED":
            self._unlock(o)  # rounding leftovers of the quote lock go back to free
        o.update_time = t
        self.fills[o.user].append(Fill(trade_id, o.id, o.user, o.symbol.pair, o.side, price, qty, quote, commission,
                                       asset, t, o.side == BUY))
        self._event(o, "TRADE", t, last_qty=qty, last_price=price, commission=commission, commission_asset=asset,
                    trade_id=trade_id, maker=maker)
        if o.status == "FILLED" and o.position == "OTO_WORKING" and o.linked is not None:
            pending = self.orders.get(o.linked)
            if pending is not None and pending.status == "PENDING":
                self._activate(pending, o.executed)

    def _activate(self, pending: SimOrder, bought: Decimal) -> None:
        """The pending SELL goes live for the bought qty less the buy fee, floored to step (§5.3)."""
        account = self.accounts[pending.user]
        qty = pending_quantity(bought, pending.symbol.step, self.fee)
        qty = min(qty, account.free(pending.symbol.alpha_id))
        if qty <= 0:
            pending.status = "CANCELED"
            self._event(pending, "CANCELED", now_ms())
            return
        pending.orig_qty = qty
        pending.status = "NEW"
        pending.locked = qty
        pending.update_time = now_ms()
        account.move(pending.symbol.alpha_id, free=-qty, locked=qty)
        self._event(pending, "NEW", pending.update_time)
        self._match(pending)

    # ------------------------------------------------------------ wire shapes

    def _event(self, o: SimOrder, exec_type: str, t: int, *, last_qty: Decimal = Decimal(0),
               last_price: Decimal = Decimal(0), commission: Decimal | None = None, commission_asset: str = "",
               trade_id: int = 0, maker: bool = False) -> None:
        sym = o.symbol
        data: dict[str, Any] = {
            "s": sym.pair, "c": o.client_id, "S": o.side, "o": "LIMIT", "f": "GTC", "q": d8(o.orig_qty),
            "p": d8(o.price), "ap": d8(o.cum_quote / o.executed) if o.executed else "0", "P": "0", "x": exec_type,
            "X": o.status, "i": str(o.id), "l": d8(last_qty), "z": d8(o.executed), "L": d8(last_price),
        }
        if commission is not None:
            data["n"] = d8(commission)
            data["N"] = commission_asset
        data.update({
            "t": str(trade_id), "m": maker, "ot": "LIMIT", "st": 1, "O": o.time, "Z": d8(o.cum_quote),
            "Y": d8(last_qty * last_price), "Q": "0", "ba": sym.alpha_id, "qa": sym.quote,
            "id": next(self._event_ids), "il": str(o.list_id) if o.list_id >= 0 else "-1",
        })
        if o.position is not None:
            data["ct"] = "OTO"
            data["cp"] = o.position
        data.update({"e": "executionReport", "T": t, "u": t, "E": now_ms()})
        self.emit(o.user, data)

    def order_row(self, o: SimOrder) -> dict[str, Any]:
        """An open-orders item / history row with the captured keys (§2.4, §7.5)."""
        return {
            "kind": "LIMIT", "orderId": str(o.id), "symbol": o.symbol.pair, "status": o.status, "price": fmt(o.price),
            "avgPrice": fmt(o.cum_quote / o.executed) if o.executed else "0", "origQty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed), "cumQuote": fmt(o.cum_quote.quantize(Q8)), "type": "LIMIT",
            "side": o.side, "stopPrice": "0", "time": o.time, "updateTime": o.update_time,
            "orderListId": str(o.list_id) if o.list_id >= 0 else "-1", "baseAsset": o.symbol.alpha_id,
            "quoteAsset": o.symbol.quote, "alphaId": o.symbol.alpha_id,
            "contingencyType": "OTO" if o.position else None, "contingencyOrderPosition": o.position,
            "workingTime": o.time, "targetStrategy": None,
        }

    def fill_row(self, f: Fill) -> dict[str, Any]:
        sym = self.symbols[f.symbol]
        return {
            "symbol": f.symbol, "id": str(f.trade_id), "orderId": str(f.order_id), "tradeId": str(f.trade_id),
            "side": f.side, "price": fmt(f.price), "qty": fmt(f.qty), "quoteQty": fmt(f.quote.quantize(Q8)),
            "commission": fmt(f.commission), "commissionAsset": f.commission_asset, "time": f.time,
            "pageId": str(f.trade_id * 1000), "buyer": f.buyer, "baseAsset": sym.alpha_id, "quoteAsset": sym.quote,
            "orderType": "LIMIT", "lastTrade": True,
        }

    def user_order_objs(self, user: str) -> list[SimOrder]:
        return [self.orders[i] for i in self.user_orders.get(user, [])]
