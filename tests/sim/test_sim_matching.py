"""The pure order book and the pure exchange core: priority, partial fills, fees, and conservation properties."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.filters import pending_quantity
from otobot.sim.accounts import SimError
from otobot.sim.config import SimUser, default_sim_config
from otobot.sim.exchange import Exchange
from otobot.sim.matching import BUY, SELL, BookOrder, OrderBook, settle

D = Decimal


def order(oid: int, side: str, price: str, qty: str, owner: str = "x") -> BookOrder:
    return BookOrder(oid, owner, side, D(price), D(qty))


def test_earlier_order_at_the_same_price_fills_first() -> None:
    book = OrderBook()
    book.submit(order(1, SELL, "10", "1"))
    book.submit(order(2, SELL, "10", "1"))
    trades = book.submit(order(3, BUY, "10", "1.5"))
    assert [(t.maker_id, t.qty) for t in trades] == [(1, D(1)), (2, D("0.5"))]
    assert book.resting(2) is not None and book.resting(2).remaining == D("0.5")  # type: ignore[union-attr]


def test_better_price_fills_before_earlier_time_and_fills_are_at_the_maker_price() -> None:
    book = OrderBook()
    book.submit(order(1, SELL, "10.2", "1"))
    book.submit(order(2, SELL, "10.1", "1"))
    trades = book.submit(order(3, BUY, "11", "2"))
    assert [(t.maker_id, t.price) for t in trades] == [(2, D("10.1")), (1, D("10.2"))]
    assert all(t.taker_side == BUY and not t.buyer_is_maker for t in trades)


def test_partial_fill_rests_the_remainder_unless_immediate_or_cancel() -> None:
    book = OrderBook()
    book.submit(order(1, BUY, "9", "1"))
    trades = book.submit(order(2, SELL, "8", "3"))
    assert [t.qty for t in trades] == [D(1)] and trades[0].buyer_is_maker
    assert book.best(SELL) == D(8) and book.best(BUY) is None
    assert book.submit(order(3, BUY, "7", "1"), rest=False) == [] and 3 not in book


def test_cancel_removes_the_order_and_an_empty_level() -> None:
    book = OrderBook()
    book.submit(order(1, BUY, "9", "1"))
    assert book.cancel(1) is not None and book.best(BUY) is None and book.cancel(1) is None
    assert book.depth(BUY, 5) == []


def test_settlement_reproduces_the_captured_fees_and_amounts() -> None:
    # alpha-api.md §7.4: BUY 869.56 @ 0.22690469 → Z 197.30724223, n 0.086956 (base);
    # SELL 669.47 @ 0.22690468 → Y 151.90587611, n 0.01519059 (USDT); SELL 200 → n 0.00453809.
    buy = settle(D("0.22690469"), D("869.56"), D("0.0001"))
    assert (buy.quote, buy.buyer_fee, buy.buyer_gets) == (D("197.30724223"), D("0.086956"), D("869.473044"))
    sell = settle(D("0.22690468"), D("669.47"), D("0.0001"))
    assert (sell.quote, sell.seller_fee) == (D("151.90587611"), D("0.01519059"))
    assert settle(D("0.22690468"), D(200), D("0.0001")).seller_fee == D("0.00453809")
    assert pending_quantity(D("869.56"), D("0.01")) == D("869.47")


prices = st.integers(min_value=90, max_value=110).map(lambda i: D(i) / 10)
qtys = st.integers(min_value=1, max_value=50).map(lambda i: D(i) / 10)
book_ops = st.lists(st.tuples(st.sampled_from([BUY, SELL]), prices, qtys, st.booleans()), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(book_ops)
def test_book_is_never_crossed_fills_are_at_maker_prices_and_quantity_is_conserved(ops: list[Any]) -> None:
    book = OrderBook()
    resting_price: dict[int, Decimal] = {}
    filled: dict[int, Decimal] = {}
    sizes: dict[int, Decimal] = {}
    for oid, (side, price, qty, cancel_one) in enumerate(ops):
        sizes[oid] = qty
        for t in book.submit(order(oid, side, str(price), str(qty))):
            assert t.price == resting_price[t.maker_id]  # at the maker's price
            assert t.price <= price if side == BUY else t.price >= price  # never worse than the taker's limit
            filled[t.maker_id] = filled.get(t.maker_id, D(0)) + t.qty
            filled[oid] = filled.get(oid, D(0)) + t.qty
        if oid in book:
            resting_price[oid] = price
        assert not book.crossed()
        if cancel_one and resting_price:
            victim = min(resting_price)
            if book.cancel(victim) is not None:
                sizes[victim] = filled.get(victim, D(0))  # what it had done before leaving
    for oid, size in sizes.items():
        rest = book.resting(oid)
        assert filled.get(oid, D(0)) + (rest.remaining if rest else D(0)) <= size
        if rest is not None:
            assert filled.get(oid, D(0)) + rest.remaining == size


# ---------------------------------------------------------------- the exchange core, without any I/O

def _exchange(**options: Any) -> Exchange:
    cfg = default_sim_config(users=2, seed=1, **options)
    cfg = type(cfg)(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
                       "users": tuple(SimUser(u.name, u.csrftoken, u.session, D(1000), (("ALPHA_118", D(5000)),))
                                      for u in cfg.users)})
    return Exchange(cfg)


def _totals(ex: Exchange) -> dict[str, Decimal]:
    out: dict[str, Decimal] = dict(ex.fees)
    for a in ex.accounts.values():
        for asset, (free, locked) in a.balances.items():
            out[asset] = out.get(asset, D(0)) + free + locked
    return out


ex_ops = st.lists(st.tuples(st.sampled_from(["oto", "buy", "sell", "cancel"]), st.sampled_from(["alice", "bob"]),
                            st.integers(min_value=18000, max_value=22000), st.integers(min_value=50, max_value=3000),
                            st.integers(min_value=15000, max_value=21000)), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(ex_ops)
def test_exchange_conserves_every_asset_and_never_leaves_a_negative_balance(ops: list[Any]) -> None:
    # AOP (tick 0.00001, step 0.01): users trade only with each other, so every unit is accounted for.
    ex = _exchange()
    before = _totals(ex)
    for kind, user, price_i, qty_i, pending_i in ops:
        account = ex.accounts[user]
        price, qty, pending = D(price_i) / 100000, D(qty_i) / 100, D(pending_i) / 100000
        try:
            if kind == "oto":
                ex.place_oto(account, {"baseAsset": "ALPHA_118", "quoteAsset": "USDT", "workingPrice": price,
                                       "workingQuantity": qty, "pendingPrice": pending,
                                       "paymentDetails": [{"amount": str((price * qty).quantize(D("1e-8")))}]})
            elif kind in ("buy", "sell"):
                side = kind.upper()
                amount = str((price * qty).quantize(D("1e-8"))) if side == BUY else str(qty)
                ex.place_limit(account, {"baseAsset": "ALPHA_118", "quoteAsset": "USDT", "side": side,
                                         "price": price, "quantity": qty, "paymentDetails": [{"amount": amount}]})
            elif ex.open_orders(user):
                ex.cancel(account, ex.open_orders(user)[0].id, "ALPHA_118USDT")
        except SimError as exc:
            assert exc.code in ("481020", "481013", "000002"), exc.message
        assert _totals(ex) == before
        assert not ex.books["ALPHA_118USDT"].crossed()
        for a in ex.accounts.values():
            assert all(free >= 0 and locked >= 0 for free, locked in a.balances.values()), a.balances
    # Cancelling everything releases every lock.
    for user in ("alice", "bob"):
        for o in ex.open_orders(user):
            if o.open:
                ex.cancel(ex.accounts[user], o.id)
        assert all(locked == 0 for _, locked in ex.accounts[user].balances.values())
    assert _totals(ex) == before


def test_buy_volume_counts_the_multiplier_only_when_configured() -> None:
    for option, mul in ((True, 4), (False, 1)):
        ex = _exchange(volume_includes_multiplier=option)
        alice, bob = ex.accounts["alice"], ex.accounts["bob"]
        ex.place_limit(bob, {"baseAsset": "ALPHA_118", "quoteAsset": "USDT", "side": SELL, "price": D("0.2"),
                             "quantity": D(100), "paymentDetails": [{"amount": 100}]})
        ex.place_limit(alice, {"baseAsset": "ALPHA_118", "quoteAsset": "USDT", "side": BUY, "price": D("0.2"),
                               "quantity": D(100), "paymentDetails": [{"amount": "20.00000000"}]})
        assert alice.volume == {"ALPHA_118": D(20) * mul}
        assert bob.volume == {}  # sells are not counted (§6.1)
