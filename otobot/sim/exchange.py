"""The simulated exchange's state: accounts, orders, OTO legs, fills, and the wire-shaped events they produce."""

from __future__ import annotations

import bisect
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from otobot.exchange import errors as codes
from otobot.exchange.credentials import Credentials
from otobot.exchange.filters import floor_to, fmt, pay_amount, pending_quantity
from otobot.sim.accounts import Account, Accounts, SimError
from otobot.sim.config import SimConfig, SimSymbol
from otobot.sim.matching import BUY, SELL, BookOrder, OrderBook, Trade, settle

__all__ = ["OPEN", "Account", "Exchange", "Fill", "SimError", "SimOrder", "d8", "now_ms"]

OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING"})
Q8 = Decimal("0.00000001")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def d8(x: Decimal) -> str:
    """Capture-style decimal text: "0" for zero, else 8 dp at least ("869.56000000"), more when needed."""
    if x == 0:
        return "0"
    q = x.quantize(Q8) if x == x.quantize(Q8) else x
    return fmt(q)


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
    trade_id: int  # shared by every sub-fill of one taker match, as captured (§4.3, §7.5)
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
    page_id: int = 0  # unique per fill row
    last: bool = False  # the fill that completed the order


Emit = Callable[[str, dict[str, Any]], None]  # (user, executionReport data)
Publish = Callable[[SimSymbol, dict[str, Any]], None]  # (symbol, aggTrade data)


def _ignore_event(user: str, data: dict[str, Any]) -> None:
    pass


def _ignore_trade(sym: SimSymbol, data: dict[str, Any]) -> None:
    pass


class Exchange:
    """All state of the simulated exchange, synchronous and I/O-free; the server turns requests into calls on it.

    `emit` receives every executionReport (per user), `publish` every aggTrade (per symbol).
    """

    def __init__(self, config: SimConfig, emit: Emit = _ignore_event, publish: Publish = _ignore_trade) -> None:
        self.config = config
        self.emit = emit
        self.publish = publish
        self.symbols = {s.pair: s for s in config.symbols}
        self.by_alpha = {s.alpha_id: s for s in config.symbols}
        self.books = {s.pair: OrderBook() for s in config.symbols}
        self.users = Accounts([
            Account(u.name, u.csrftoken, u.session,
                    {"USDT": [u.usdt, Decimal(0)], **{a: [q, Decimal(0)] for a, q in u.tokens}},
                    earn={"USDT": u.earn_usdt})
            for u in config.users])
        self.accounts = self.users.by_name
        self.by_key: dict[str, Account] = {}
        self.retired_keys: list[str] = []  # replaced by rotate_on_post: announced as expired by the server
        self.by_id: dict[int, SimOrder] = {}  # every order ever placed (user and OTO legs), by id
        self.user_orders: dict[str, list[int]] = {u: [] for u in self.accounts}
        # Why the two indexes below: a soak places ~60,000 orders a user an hour, and open-order and history queries
        # that walked every order a user ever placed made the simulator, not the daemon, the thing that slowed down
        # (issue #24). `_maybe_open`: ids that were open when last looked at (a final status never reopens, so an
        # id found final is dropped for good). `_order_keys`: each order's time as a running maximum, in placing
        # order, so a history query's startTime is found by bisection even if the wall clock steps back.
        self._maybe_open: dict[str, dict[int, None]] = {u: {} for u in self.accounts}
        self._order_keys: dict[str, list[int]] = {u: [] for u in self.accounts}
        self._fills: dict[str, list[Fill]] = {u: [] for u in self.accounts}
        self._fills_by_order: dict[int, list[Fill]] = {}
        self.fees: dict[str, Decimal] = {}  # asset → commission collected from users
        self.recent_trades: dict[str, list[dict[str, Any]]] = {s: [] for s in self.symbols}
        self.last_price = {s.pair: s.price for s in config.symbols}
        self.traded: dict[str, tuple[Decimal, Decimal, int]] = {s: (Decimal(0), Decimal(0), 0) for s in self.symbols}
        self._order_ids = itertools.count(2_460_000)
        self._list_ids = itertools.count(89_863_100)
        self._event_ids = itertools.count(12_501_197_286)
        self._trade_ids = itertools.count(798_400)
        self._agg_ids = itertools.count(164_900)
        self._page_ids = itertools.count(59_177_352_000)
        self.fee = config.fee_rate
        # Issue #25: set by a paper mirror; a reason here refuses every new order (the upstream market is gone).
        self.halted: Callable[[], str | None] = lambda: None
        self.delisted: set[str] = set(config.delisted)  # #23: fully delisted alphaIds (SimConfig.delisted)

    # ------------------------------------------------------------ inspection (tests, admin state)

    def account(self, user: str) -> Account:
        try:
            return self.accounts[user]
        except KeyError:
            raise KeyError(f"no simulated user {user!r}; users: {sorted(self.accounts)}") from None

    def orders(self, user: str) -> list[SimOrder]:
        """Every order of the user, oldest first."""
        return [self.by_id[i] for i in self.user_orders.get(user, [])]

    user_order_objs = orders  # older name, used by tests/helpers.py

    def open_orders(self, user: str) -> list[SimOrder]:
        """The user's open orders, oldest first."""
        ids = self._maybe_open.get(user, {})
        out: list[SimOrder] = []
        for i in list(ids):
            o = self.by_id[i]
            if o.open:
                out.append(o)
            else:
                del ids[i]
        return out

    def orders_since(self, user: str, start_ms: int) -> list[SimOrder]:
        """The user's orders placed at or after `start_ms`, oldest first (what a history query's startTime reads)."""
        ids = self.user_orders.get(user, [])
        first = bisect.bisect_left(self._order_keys.get(user, []), start_ms)
        return [o for o in (self.by_id[i] for i in ids[first:]) if o.time >= start_ms]

    def order(self, order_id: int | str) -> SimOrder:
        return self.by_id[int(order_id)]

    def fills(self, user: str) -> list[Fill]:
        return list(self._fills.get(user, []))

    def fills_of_order(self, order_id: int) -> list[Fill]:
        return list(self._fills_by_order.get(order_id, []))

    def balance(self, user: str, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked) of `asset` (USDT or an alphaId)."""
        account = self.account(user)
        return account.free(asset), account.locked(asset)

    def credentials(self, user: str) -> Credentials:
        """The Cookie header and csrftoken a client must send for this user."""
        a = self.account(user)
        return Credentials(cookie=f"p20t={a.session}; logined=y", csrftoken=a.csrftoken)

    def set_balance(self, user: str, asset: str, free: Decimal, bucket: str = "funding") -> None:
        """Set the free amount of the spendable bucket ("funding", the one orders use) or of "earn"."""
        if bucket == "earn":
            self.account(user).earn[asset] = free
        elif bucket == "funding":
            self.account(user).balances.setdefault(asset, [Decimal(0), Decimal(0)])[0] = free
        else:
            raise ValueError(f"bucket must be 'funding' or 'earn', not {bucket!r}")

    # ------------------------------------------------------------ sessions and listen keys

    def authenticate(self, csrftoken: str | None, cookie: str | None) -> Account:
        return self.users.authenticate(csrftoken, cookie)

    def listen_key(self, account: Account, ttl_s: float | None = None) -> str:
        """The user's listen key (§4.4). UNCERTAIN: alpha-api.md §4.4/§8.1 — see SimConfig.rotate_on_post."""
        ttl = self.config.listen_key_ttl_s if ttl_s is None else ttl_s
        now = time.monotonic()
        if account.listen_key and account.key_expires_at > now and not self.config.rotate_on_post:
            account.key_expires_at = now + ttl
            return account.listen_key
        if account.listen_key:
            self.by_key.pop(account.listen_key, None)
            self.retired_keys.append(account.listen_key)
        account.listen_key = secrets.token_hex(16)
        account.key_expires_at = now + ttl
        self.by_key[account.listen_key] = account
        return account.listen_key

    def expire_listen_key(self, user: str) -> None:
        """Make the user's key lapse now (tests): the server sends listenKeyExpired on its next sweep."""
        self.account(user).key_expires_at = 0.0

    def expired_keys(self) -> list[str]:
        """Keys that lapsed or were replaced since the last call; they no longer authorise a subscription."""
        now = time.monotonic()
        out, self.retired_keys = self.retired_keys, []
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
        if sym.alpha_id in self.delisted:  # UNCERTAIN code: no capture of an order on a delisted token
            raise SimError(codes.ILLEGAL_PARAMETER, f"{sym.pair} is delisted")
        return sym

    @staticmethod
    def _num(body: dict[str, Any], key: str) -> Decimal:
        """A positive number sent as a JSON number or a string (bots send both, §2.2)."""
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
            # The message S5 recorded (§2.5).
            raise SimError(codes.ILLEGAL_PARAMETER,
                           "Order amount must be an integer multiple of the minimum amount movement.")
        if qty < sym.min_qty:
            raise SimError(codes.ILLEGAL_PARAMETER, f"Quantity must be at least {fmt(sym.min_qty)}")
        if price * qty < sym.min_notional:
            raise SimError(codes.BELOW_MIN_NOTIONAL, f"Total must be greater than {fmt(sym.min_notional)}")

    @staticmethod
    def _payment(body: dict[str, Any]) -> Decimal:
        details = body.get("paymentDetails")
        if not isinstance(details, list) or not details or not all(isinstance(d, dict) for d in details):
            raise SimError(codes.ILLEGAL_PARAMETER, "paymentDetails is required")
        try:
            return sum((Decimal(str(d.get("amount"))) for d in details), Decimal(0))
        except ArithmeticError:
            raise SimError(codes.ILLEGAL_PARAMETER, "paymentDetails.amount is not a number") from None

    # ------------------------------------------------------------ placing

    def place_oto(self, account: Account, body: dict[str, Any]) -> tuple[int, int]:
        """OTO (§2.3, §5): a working BUY and a dormant pending SELL, or the reverse (a working SELL and a dormant
        pending BUY, §7.7 S14); returns (working id, pending id)."""
        self._refuse_if_halted()
        sym = self._symbol(body.get("baseAsset"), body.get("quoteAsset"))
        working_side = body.get("workingSide", BUY)
        if working_side not in (BUY, SELL):
            raise SimError(codes.ILLEGAL_PARAMETER, "workingSide must be BUY or SELL")
        wp, wq = self._num(body, "workingPrice"), self._num(body, "workingQuantity")
        pp = self._num(body, "pendingPrice")
        self._check(sym, wp, wq)
        if pp % sym.tick != 0:
            raise SimError(codes.ILLEGAL_PARAMETER, "pendingPrice must be an integer multiple of the tick size.")
        if working_side == SELL:
            return self._place_reverse_oto(account, sym, body, wp, wq, pp)
        cost = pay_amount(wp, wq)
        if self._payment(body) != cost:
            raise SimError(codes.ILLEGAL_PARAMETER,
                           "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)")
        account.lock("USDT", cost)
        t = now_ms()
        list_id = next(self._list_ids)
        working = SimOrder(next(self._order_ids), account.name, sym, BUY, wp, wq, "NEW", list_id, "OTO_WORKING",
                           time=t, update_time=t, locked=cost)
        pending = SimOrder(next(self._order_ids), account.name, sym, SELL, pp, Decimal(0), "PENDING", list_id,
                           "OTO_PENDING", linked=working.id, time=t, update_time=t)
        return self._open_oto(working, pending, t)

    def _place_reverse_oto(self, account: Account, sym: SimSymbol, body: dict[str, Any], wp: Decimal, wq: Decimal,
                           pp: Decimal) -> tuple[int, int]:
        """A reverse OTO (S14): sell `wq` at `wp`, then buy back at `pp`. otobot never places one; a user may.
        UNCERTAIN: no capture shows its body. Here the SELL pays in base as a single SELL does (§2.2: the amount is
        the quantity, wallet ALPHA), and the pending BUY gets the sold quantity, its quote locked on activation."""
        if self._payment(body) != wq:
            raise SimError(codes.ILLEGAL_PARAMETER, "workingQuantity must be the same as sum(paymentDetail.amount)")
        account.lock(sym.alpha_id, wq)
        t = now_ms()
        list_id = next(self._list_ids)
        working = SimOrder(next(self._order_ids), account.name, sym, SELL, wp, wq, "NEW", list_id, "OTO_WORKING",
                           time=t, update_time=t, locked=wq)
        pending = SimOrder(next(self._order_ids), account.name, sym, BUY, pp, Decimal(0), "PENDING", list_id,
                           "OTO_PENDING", linked=working.id, time=t, update_time=t)
        return self._open_oto(working, pending, t)

    def _open_oto(self, working: SimOrder, pending: SimOrder, t: int) -> tuple[int, int]:
        working.linked = pending.id
        for o in (working, pending):
            self._register(o)
        self._event(working, "NEW", t)
        self._event(pending, "NEW", t)
        self._match(working)
        return working.id, pending.id

    def place_limit(self, account: Account, body: dict[str, Any]) -> int:
        """A single LIMIT order (§2.2); returns its id."""
        self._refuse_if_halted()
        sym = self._symbol(body.get("baseAsset"), body.get("quoteAsset"))
        side = body.get("side")
        if side not in (BUY, SELL):
            raise SimError(codes.ILLEGAL_PARAMETER, "side must be BUY or SELL")
        price, qty = self._num(body, "price"), self._num(body, "quantity")
        self._check(sym, price, qty)
        amount = self._payment(body)
        if side == BUY:
            cost = pay_amount(price, qty)
            if amount != cost:
                raise SimError(codes.ILLEGAL_PARAMETER, "price*quantity must be the same as sum(paymentDetail.amount)")
            asset, lock = "USDT", cost
        else:
            if amount != qty:
                raise SimError(codes.ILLEGAL_PARAMETER, "quantity must be the same as sum(paymentDetail.amount)")
            asset, lock = sym.alpha_id, qty
        account.lock(asset, lock)
        t = now_ms()
        order = SimOrder(next(self._order_ids), account.name, sym, side, price, qty, "NEW", time=t, update_time=t,
                         locked=lock)
        self._register(order)
        self._event(order, "NEW", t)
        self._match(order)
        return order.id

    def _refuse_if_halted(self) -> None:
        reason = self.halted()
        if reason is not None:
            raise SimError(codes.PAPER_MARKET_HALTED, reason)

    def _register(self, o: SimOrder) -> None:
        self.by_id[o.id] = o
        self.user_orders[o.user].append(o.id)
        keys = self._order_keys[o.user]
        keys.append(max(o.time, keys[-1]) if keys else o.time)
        if o.open:
            self._maybe_open[o.user][o.id] = None

    # ------------------------------------------------------------ cancelling

    def cancel(self, account: Account, order_id: Any, symbol: Any = None) -> None:
        """Cancel one order; unknown, foreign or final orders → 481004 (UNCERTAIN code, errors.py)."""
        try:
            o = self.by_id.get(int(str(order_id)))
        except ValueError:
            o = None
        if o is None or o.user != account.name or (symbol and o.symbol.pair != symbol) or not o.open:
            raise SimError(codes.ORDER_NOT_FOUND, "Order does not exist or is already finished")
        self._cancel(o)
        other = self.by_id.get(o.linked) if o.linked is not None else None
        if other is None or not other.open:
            return
        if o.position == "OTO_WORKING" and o.executed > 0:
            # UNCERTAIN: alpha-api.md §5.5 — see SimConfig.pending_on_partial.
            if self.config.pending_on_partial == "activate":
                self._activate(other, o.executed)
            else:
                self._cancel(other)
        elif self.config.cancel_other_leg:  # UNCERTAIN: alpha-api.md §5.4
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
            s = settle(tr.price, tr.qty, self.fee)
            for oid in (tr.maker_id, tr.taker_id):
                o = self.by_id.get(oid)
                if o is not None:
                    self._fill(o, tr, s.quote, trade_id, t)
        if self.config.market_from:  # paper (#25): the public prints, last price and volume are the upstream's
            return
        self.last_price[sym.pair] = trades[-1].price
        base, quote, count = self.traded[sym.pair]
        self.traded[sym.pair] = (base + sum((tr.qty for tr in trades), Decimal(0)),
                                 quote + sum((tr.qty * tr.price for tr in trades), Decimal(0)), count + len(trades))
        buyer_is_maker = trades[0].buyer_is_maker
        for price, qty in by_price.items():
            data = self.agg_trade(sym, price, qty, t, buyer_is_maker)
            recent = self.recent_trades[sym.pair]
            recent.append(data)
            if len(recent) > 1500:
                del recent[:500]
            self.publish(sym, data)

    def agg_trade(self, sym: SimSymbol, price: Decimal, qty: Decimal, t: int, buyer_is_maker: bool) -> dict[str, Any]:
        """One aggTrade's `data` as captured (§7): ids as numbers, price and quantity as 8-decimal strings."""
        agg = next(self._agg_ids)
        return {"e": "aggTrade", "E": t, "T": t, "s": sym.pair, "a": agg, "p": d8(price), "q": d8(qty),
                "f": agg, "l": agg, "m": buyer_is_maker}

    def _fill(self, o: SimOrder, tr: Trade, quote: Decimal, trade_id: int, t: int) -> None:
        account = self.accounts[o.user]
        base = o.symbol.alpha_id
        qty, price = tr.qty, tr.price
        s = settle(price, qty, self.fee)
        if o.side == BUY:
            commission, asset = s.buyer_fee, base
            # The lock was the pay amount at the limit price; this fill costs `quote` at the (≤) maker price.
            reserved = pay_amount(o.price, o.executed + qty) - pay_amount(o.price, o.executed)
            if o.executed + qty >= o.orig_qty:
                reserved = o.locked
            account.move("USDT", free=reserved - s.quote, locked=-reserved)
            o.locked -= reserved
            account.move(base, free=s.buyer_gets)
            mul = o.symbol.mul_point if self.config.volume_includes_multiplier else 1  # UNCERTAIN: §6.2, §8.5
            account.volume[base] = account.volume.get(base, Decimal(0)) + s.quote * mul
        else:
            commission, asset = s.seller_fee, "USDT"
            account.move(base, locked=-qty)
            o.locked -= qty
            account.move("USDT", free=s.seller_gets)
        self.fees[asset] = self.fees.get(asset, Decimal(0)) + commission
        o.executed += qty
        o.cum_quote += s.quote
        o.status = "FILLED" if o.executed >= o.orig_qty else "PARTIALLY_FILLED"
        if o.status == "FILLED":
            self._unlock(o)  # rounding leftovers of the quote lock go back to free
        o.update_time = t
        fill = Fill(trade_id, o.id, o.user, o.symbol.pair, o.side, price, qty, s.quote, commission, asset, t,
                    o.side == BUY, next(self._page_ids), o.status == "FILLED")
        self._fills[o.user].append(fill)
        self._fills_by_order.setdefault(o.id, []).append(fill)
        # `m`: the capture has BUY fills false and (taker) SELL fills true: "buyer is maker" (UNCERTAIN: §4.3).
        self._event(o, "TRADE", t, last_qty=qty, last_price=price, last_quote=s.quote, commission=commission,
                    commission_asset=asset, trade_id=trade_id, maker=tr.buyer_is_maker)
        if o.status == "FILLED" and o.position == "OTO_WORKING" and o.linked is not None:
            pending = self.by_id.get(o.linked)
            if pending is not None and pending.status == "PENDING":
                self._activate(pending, o.executed, t)

    def _activate(self, pending: SimOrder, bought: Decimal, t: int | None = None) -> None:
        """The pending SELL goes live for the bought qty less the buy fee, floored to step (§5.3),
        in the same millisecond as the working leg's FILLED event. A reverse OTO's pending BUY (the working leg
        sold `bought`) buys for the sold quote value at the reverse price, floored to step (S14, §7.7), if the free
        quote pays for it. UNCERTAIN whether "the sold quote value" is before or after the SELL's USDT fee: here
        after it, as a BUY start's pending quantity is the bought quantity after its fee (§5.3)."""
        t = now_ms() if t is None else t
        account = self.accounts[pending.user]
        if pending.side == BUY:
            fills = self._fills_by_order.get(pending.linked, []) if pending.linked is not None else []
            received = sum((f.quote - f.commission for f in fills), Decimal(0))  # the working SELL's USDT
            qty = floor_to(received / pending.price, pending.symbol.step)
            asset, lock = "USDT", pay_amount(pending.price, qty)
            if lock > account.free(asset):
                qty = Decimal(0)
        else:
            qty = pending_quantity(bought, pending.symbol.step, self.fee)
            qty = min(qty, account.free(pending.symbol.alpha_id))
            asset, lock = pending.symbol.alpha_id, qty
        pending.update_time = t
        if qty <= 0:
            pending.status = "CANCELED"
            self._event(pending, "CANCELED", t)
            return
        pending.orig_qty = qty
        pending.status = "NEW"
        pending.locked = lock
        account.move(asset, free=-lock, locked=lock)
        self._event(pending, "NEW", t)
        self._match(pending)

    # ------------------------------------------------------------ wire shapes

    def _event(self, o: SimOrder, exec_type: str, t: int, *, last_qty: Decimal = Decimal(0),
               last_price: Decimal = Decimal(0), last_quote: Decimal = Decimal(0), commission: Decimal | None = None,
               commission_asset: str = "", trade_id: int = 0, maker: bool = False) -> None:
        """An executionReport with exactly the captured keys, order and JSON types (§4.3, §7.4)."""
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
            "Y": d8(last_quote), "Q": "0", "ba": sym.alpha_id, "qa": sym.quote,
            "id": next(self._event_ids), "il": str(o.list_id) if o.list_id >= 0 else "-1",
        })
        if o.position is not None:
            data["ct"] = "OTO"
            data["cp"] = o.position
        data.update({"e": "executionReport", "T": t, "u": t, "E": now_ms()})
        self.emit(o.user, data)

    def order_row(self, o: SimOrder) -> dict[str, Any]:
        """An open-orders item / history row: the §7.5 keys plus time, updateTime, stopPrice, targetStrategy (§2.4)."""
        return {
            "kind": "LIMIT", "orderId": str(o.id), "symbol": o.symbol.pair, "status": o.status, "price": fmt(o.price),
            "avgPrice": fmt(o.cum_quote / o.executed) if o.executed else "0", "origQty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed), "cumQuote": fmt(o.cum_quote), "type": "LIMIT",
            "side": o.side, "stopPrice": "0", "time": o.time, "updateTime": o.update_time,
            "orderListId": str(o.list_id) if o.list_id >= 0 else "-1", "baseAsset": o.symbol.alpha_id,
            "quoteAsset": o.symbol.quote, "alphaId": o.symbol.alpha_id,
            "contingencyType": "OTO" if o.position else None, "contingencyOrderPosition": o.position,
            "workingTime": o.time, "targetStrategy": None,
        }

    def fill_row(self, f: Fill) -> dict[str, Any]:
        """A get-user-trades row (§7.5); `id`/`tradeId` repeat across sub-fills of one taker match."""
        sym = self.symbols[f.symbol]
        return {
            "symbol": f.symbol, "id": str(f.trade_id), "orderId": str(f.order_id), "tradeId": str(f.trade_id),
            "side": f.side, "price": fmt(f.price), "qty": fmt(f.qty), "quoteQty": fmt(f.quote),
            "commission": fmt(f.commission), "commissionAsset": f.commission_asset, "time": f.time,
            "pageId": str(f.page_id), "buyer": f.buyer, "baseAsset": sym.alpha_id, "quoteAsset": sym.quote,
            "orderType": "LIMIT", "lastTrade": f.last,
        }
