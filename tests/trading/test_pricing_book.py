"""Book pricing: BUY at the ask level covering the order (+ guard), pending SELL at the bid level covering it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.book import DepthSnapshot, DepthUpdate
from otobot.exchange.filters import floor_to, pending_quantity
from otobot.exchange.models import SymbolFilters
from otobot.trading.book import LocalBook, cumulative
from otobot.trading.pricing_book import NoQuote, Why, book_order, book_oto, book_quote, unwind_sell_price
from otobot.trading.strategy import Quote

D = Decimal
NOW = 100.0
MAX_AGE = 10.0


def filters(tick: str = "0.01", step: str = "0.01", min_notional: str = "0.1") -> SymbolFilters:
    return SymbolFilters(symbol="ALPHA_1USDT", base_asset="ALPHA_1", quote_asset="USDT", status="TRADING",
                         tick_size=D(tick), step_size=D(step), min_qty=D(step), max_qty=D(10) ** 9,
                         min_price=D(tick), max_price=D(10) ** 6, min_notional=D(min_notional))


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], at: float = NOW) -> LocalBook:
    b = LocalBook("ALPHA_1USDT")
    b.reset(DepthSnapshot("ALPHA_1USDT", 1, tuple((D(p), D(q)) for p, q in bids),
                          tuple((D(p), D(q)) for p, q in asks), 0), at)
    return b


DEEP_BIDS = [("9.99", "100"), ("9.98", "100")]
DEEP_ASKS = [("10.01", "100"), ("10.02", "100")]

# (name, bids, asks, quote amount, guard ticks, tick, expected working/pending or refusal)
CASES: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]], str, int, str, Quote | Why]] = [
    ("top levels cover both legs", DEEP_BIDS, DEEP_ASKS, "100", 0, "0.01", Quote(D("10.01"), D("9.99"))),
    ("guard ticks move the BUY up and the SELL down", DEEP_BIDS, DEEP_ASKS, "100", 2, "0.01",
     Quote(D("10.03"), D("9.97"))),
    ("a thin top ask sends the BUY deeper", DEEP_BIDS, [("10.01", "3"), ("10.05", "4"), ("10.09", "50")], "100", 0,
     "0.01", Quote(D("10.09"), D("9.99"))),
    ("a thin top bid sends the SELL deeper", [("9.99", "2"), ("9.90", "50")], DEEP_ASKS, "100", 0, "0.01",
     Quote(D("10.01"), D("9.90"))),
    ("a crossed book prices each side from its own levels", [("10.05", "100")], [("10.00", "100")], "100", 0,
     "0.01", Quote(D("10.00"), D("10.05"))),
    ("off-tick levels: the BUY rounds up to reach the ask, the SELL down to reach the bid",
     [("9.97", "100")], [("10.02", "100")], "100", 0, "0.05", Quote(D("10.05"), D("9.95"))),
    ("off-tick levels with a guard", [("9.97", "100")], [("10.02", "100")], "100", 1, "0.05",
     Quote(D("10.10"), D("9.90"))),
    ("no asks", DEEP_BIDS, [], "100", 0, "0.01", Why.NO_ASKS),
    ("no bids", [], DEEP_ASKS, "100", 0, "0.01", Why.NO_BIDS),
    ("asks too thin for the order", DEEP_BIDS, [("10.01", "1"), ("10.02", "2")], "100", 0, "0.01", Why.THIN_ASKS),
    ("bids too thin for the pending quantity", [("9.99", "9.97")], DEEP_ASKS, "100", 0, "0.01", Why.THIN_BIDS),
]


@pytest.mark.parametrize(("name", "bids", "asks", "amount", "guard", "tick", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_book_quote(name: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], amount: str, guard: int,
                    tick: str, expected: Quote | Why) -> None:
    q = book_quote(book(bids, asks), D(amount), filters(tick=tick), guard, NOW, MAX_AGE)
    if isinstance(expected, Why):
        assert isinstance(q, NoQuote) and q.why is expected, q
    else:
        assert q == expected


def test_a_stale_resyncing_or_missing_book_gives_no_price() -> None:
    fresh = book(DEEP_BIDS, DEEP_ASKS, at=NOW - 5)
    assert isinstance(book_quote(fresh, D(100), filters(), 0, NOW, MAX_AGE), Quote)
    stale = book(DEEP_BIDS, DEEP_ASKS, at=NOW - 11)
    q = book_quote(stale, D(100), filters(), 0, NOW, MAX_AGE)
    assert isinstance(q, NoQuote) and q.why is Why.STALE and "11.0 s ago" in str(q)
    gapped = book(DEEP_BIDS, DEEP_ASKS)
    gapped.apply(DepthUpdate("ALPHA_1USDT", 9, 10, 5, (), (), 0), NOW)
    assert isinstance(q := book_quote(gapped, D(100), filters(), 0, NOW, MAX_AGE), NoQuote) and q.why is Why.RESYNC
    empty = LocalBook("ALPHA_1USDT")
    assert isinstance(q := book_quote(empty, D(100), filters(), 0, NOW, MAX_AGE), NoQuote) and q.why is Why.NO_BOOK


def test_the_pending_sell_covers_exactly_what_the_exchange_will_give_it() -> None:
    # 100 USDT at 10.01 buys 9.99 (step 0.01); the pending leg gets 9.99 less the 0.01 % fee, floored: 9.98.
    # A bid level of exactly 9.98 covers it.
    q = book_quote(book([("9.99", "9.98"), ("9.50", "100")], DEEP_ASKS), D(100), filters(), 0, NOW, MAX_AGE)
    assert q == Quote(D("10.01"), D("9.99"))
    assert pending_quantity(D("9.99"), D("0.01")) == D("9.98")


def test_book_oto_builds_the_order_on_the_filters_or_says_which_filter_refuses() -> None:
    order = book_oto(book(DEEP_BIDS, DEEP_ASKS), D(100), filters(), 1, NOW, MAX_AGE)
    assert not isinstance(order, NoQuote)
    assert (order.working_price, order.pending_price, order.quantity) == (D("10.02"), D("9.98"), D("9.98"))
    refused = book_oto(book(DEEP_BIDS, DEEP_ASKS), D("0.5"), filters(min_notional="5"), 0, NOW, MAX_AGE)
    assert isinstance(refused, NoQuote) and refused.why is Why.FILTERS and "minimum notional" in refused.detail


def test_unwind_sell_price_comes_from_the_bids() -> None:
    b = book([("9.99", "1"), ("9.95", "10")], DEEP_ASKS)
    assert unwind_sell_price(b, D("5"), filters(), 1, NOW, MAX_AGE) == D("9.94")
    assert isinstance(unwind_sell_price(b, D("50"), filters(), 0, NOW, MAX_AGE), NoQuote)


price_levels = st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 500)), min_size=1, max_size=8,
                        unique_by=lambda t: t[0])


@settings(max_examples=150, deadline=None)
@given(price_levels, price_levels, st.integers(1, 2000), st.integers(0, 3), st.sampled_from(["0.01", "0.05", "0.5"]))
def test_book_prices_are_on_tick_and_reach_enough_quantity(bid_raw: list[tuple[int, int]],
                                                           ask_raw: list[tuple[int, int]], amount: int, guard: int,
                                                           tick: str) -> None:
    # Levels at any 0.01 price, ticks possibly coarser: rounding must still reach the covering level.
    bids = [(str(D(p) / 100), str(q)) for p, q in bid_raw]
    asks = [(str(D(p) / 100), str(q)) for p, q in ask_raw]
    b = book(bids, asks)
    f = filters(tick=tick)
    q = book_quote(b, D(amount), f, guard, NOW, MAX_AGE)
    if isinstance(q, NoQuote):
        assert q.why in (Why.THIN_ASKS, Why.THIN_BIDS)
        return
    assert q.working_price % f.tick_size == 0 and q.pending_price % f.tick_size == 0
    qty = floor_to(D(amount) / q.working_price, f.step_size)
    reachable_asks = cumulative((p, v) for p, v in b.asks() if p <= q.working_price - guard * f.tick_size)
    assert reachable_asks >= qty
    reachable_bids = cumulative((p, v) for p, v in b.bids() if p >= q.pending_price + guard * f.tick_size)
    assert q.pending_price == f.tick_size or reachable_bids >= pending_quantity(qty, f.step_size)


# book_order: the bot's next OTO in book mode. (remaining today, per cycle, min_notional, expected quote spent or
# refusal). The day's end buys just what reaches the target; a size the filters refuse falls back to the full one.
ORDER_CASES: list[tuple[str, str, str, str, str]] = [
    ("far from the target: the full amount", "1000", "100", "0.1", "100"),
    ("near the target: just what reaches it, sized at the best ask", "30", "100", "0.1", "30"),
    # The SELL's notional at the bid sets the smallest OTO: 5 / 9.99 after the fee, plus a step of margin.
    ("the smallest OTO the filters take is more than what is left", "0.05", "100", "5", "5.2"),
]


@pytest.mark.parametrize(("name", "remaining", "per_cycle", "min_notional", "expected"), ORDER_CASES,
                         ids=[c[0] for c in ORDER_CASES])
def test_book_order_sizes_the_day_end_from_the_book(name: str, remaining: str, per_cycle: str, min_notional: str,
                                                    expected: str) -> None:
    order = book_order(book(DEEP_BIDS, DEEP_ASKS), D(remaining), D(per_cycle), filters(min_notional=min_notional),
                       0, NOW, MAX_AGE)
    assert not isinstance(order, NoQuote), order
    assert order.working_price == D("10.01") and order.pending_price == D("9.99")
    spent = order.quantity * order.working_price
    # Within one step of the expected quote (the quantity is floored to the step at the working price).
    one_step = D("0.01") * order.working_price
    assert D(expected) - one_step <= spent <= D(expected) + one_step, spent


def test_book_order_refuses_a_stale_book_with_its_reason() -> None:
    order = book_order(book(DEEP_BIDS, DEEP_ASKS, at=NOW - 30), D(100), D(100), filters(), 0, NOW, MAX_AGE)
    assert isinstance(order, NoQuote) and order.why is Why.STALE
    assert str(order) == "book stale: last change 30.0 s ago > 10 s"
