"""Settling a lost place request: adopt the order it created (never a stranger's, never twice), or nothing."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.models import OTO_PENDING, OTO_WORKING, Order
from otobot.trading.reconcile import CLOCK_SKEW_MS, latest_by_id, match_limit, match_oto

D = Decimal
SYMBOL = "ALPHA_971USDT"
PRICE = D("0.000005929")
QTY = D("1686625")
INTENT_MS = 1779368069000


def o(order_id: str, *, side: str = "BUY", price: Decimal = PRICE, qty: Decimal = QTY, time_ms: int = INTENT_MS + 148,
      list_id: str = "-1", position: str | None = None, symbol: str = SYMBOL, status: str = "NEW",
      executed: str = "0", updated: int = 0) -> Order:
    return Order(order_id=order_id, symbol=symbol, side=side, status=status, price=price, orig_qty=qty,
                 executed_qty=D(executed), cum_quote=D(0), order_list_id=list_id, contingency_position=position,
                 time_ms=time_ms, update_time_ms=updated)


def working(order_id: str = "2414051", list_id: str = "1393062340", **kw: object) -> Order:
    return o(order_id, list_id=list_id, position=OTO_WORKING, **kw)  # type: ignore[arg-type]


def pending(order_id: str = "2414052", list_id: str = "1393062340") -> Order:
    return o(order_id, side="SELL", price=D("0.000005924"), qty=D("1686456.3"), list_id=list_id,
             position=OTO_PENDING, time_ms=INTENT_MS + 401)


def find(orders: list[Order], claimed: set[str] | None = None, **kw: object) -> tuple[Order, Order | None] | None:
    args: dict[str, object] = {"symbol": SYMBOL, "working_price": PRICE, "quantity": QTY, "intent_ms": INTENT_MS}
    args.update(kw)
    return match_oto(orders=orders, claimed=claimed or set(), **args)  # type: ignore[arg-type]


def test_the_oto_a_lost_request_created_is_adopted_with_its_pending_leg() -> None:
    found = find([pending(), working()])
    assert found is not None
    w, p = found
    assert (w.order_id, p and p.order_id) == ("2414051", "2414052")


def test_the_pending_leg_is_found_by_order_list_id_not_by_position_alone() -> None:
    other_pending = pending("9", list_id="777")
    found = find([other_pending, working(), pending()])
    assert found is not None and found[1] is not None and found[1].order_id == "2414052"


def test_a_working_leg_listed_without_its_pending_leg_is_adopted_alone() -> None:
    assert find([working()]) == (working(), None)


def test_an_open_order_without_list_id_or_position_is_still_a_candidate() -> None:
    plain = o("5")
    assert find([plain]) == (plain, None)


def test_among_several_candidates_the_earliest_unclaimed_wins() -> None:
    early = working("10", list_id="a", time_ms=INTENT_MS + 10)
    late = working("11", list_id="b", time_ms=INTENT_MS + 900)
    found = find([late, early])
    assert found is not None and found[0].order_id == "10"
    found = find([late, early], claimed={"10"})
    assert found is not None and found[0].order_id == "11"


def test_an_order_claimed_by_another_cycle_is_never_adopted() -> None:
    assert find([working(), pending()], claimed={"2414051"}) is None


def test_orders_on_another_symbol_price_quantity_or_side_are_ignored() -> None:
    assert find([working(symbol="ALPHA_22USDT")]) is None
    assert find([working(price=D("0.000005930"))]) is None
    assert find([working(qty=D("1686624.9"))]) is None
    assert find([o("1", side="SELL")]) is None
    assert find([pending()]) is None  # an OTO_PENDING leg is never the working one


def test_an_order_older_than_the_intent_beyond_the_clock_skew_is_ignored() -> None:
    assert find([working(time_ms=INTENT_MS - CLOCK_SKEW_MS - 1)]) is None
    at_skew = working(time_ms=INTENT_MS - CLOCK_SKEW_MS)
    assert find([at_skew]) == (at_skew, None)


def test_price_and_quantity_compare_as_numbers_not_text() -> None:
    assert find([working(price=D("0.0000059290"), qty=D("1686625.0"))]) is not None


def test_match_limit_adopts_the_earliest_matching_plain_sell() -> None:
    a = o("20", side="SELL", price=D("0.0000055"), qty=D("100"), time_ms=INTENT_MS + 50)
    b = o("21", side="SELL", price=D("0.0000055"), qty=D("100"), time_ms=INTENT_MS + 5)
    kw = {"symbol": SYMBOL, "side": "SELL", "price": D("0.0000055"), "quantity": D("100"), "intent_ms": INTENT_MS}
    assert match_limit(orders=[a, b], claimed=set(), **kw) == b  # type: ignore[arg-type]
    assert match_limit(orders=[a, b], claimed={"21"}, **kw) == a  # type: ignore[arg-type]
    assert match_limit(orders=[a, b], claimed={"20", "21"}, **kw) is None  # type: ignore[arg-type]


def test_match_limit_ignores_oto_legs_other_sides_and_old_orders() -> None:
    kw = {"symbol": SYMBOL, "side": "SELL", "price": D("0.000005924"), "quantity": D("1686456.3"),
          "intent_ms": INTENT_MS}
    assert match_limit(orders=[pending()], claimed=set(), **kw) is None  # type: ignore[arg-type]
    old = o("30", side="SELL", price=D("0.000005924"), qty=D("1686456.3"), time_ms=INTENT_MS - CLOCK_SKEW_MS - 1)
    assert match_limit(orders=[old], claimed=set(), **kw) is None  # type: ignore[arg-type]
    buy = o("31", side="BUY", price=D("0.000005924"), qty=D("1686456.3"))
    assert match_limit(orders=[buy], claimed=set(), **kw) is None  # type: ignore[arg-type]


def test_latest_by_id_keeps_the_most_advanced_row_of_each_order() -> None:
    open_row = o("1", status="PARTIALLY_FILLED", executed="100", updated=5)
    history_row = o("1", status="FILLED", executed="1686625", updated=9)
    other = o("2", status="NEW")
    assert latest_by_id([history_row, open_row, other]) == {"1": history_row, "2": other}
    assert latest_by_id([open_row, history_row])["1"] == history_row


def test_latest_by_id_prefers_a_final_row_at_the_same_fill() -> None:
    live = o("1", status="NEW", executed="0", updated=10)
    cancelled = o("1", status="CANCELED", executed="0", updated=3)
    assert latest_by_id([live, cancelled])["1"] == cancelled
    assert latest_by_id([cancelled, live])["1"] == cancelled


@settings(max_examples=200, deadline=None)
@given(times=st.lists(st.integers(min_value=INTENT_MS - 2 * CLOCK_SKEW_MS, max_value=INTENT_MS + 60_000),
                      min_size=1, max_size=8, unique=True),
       claimed_mask=st.lists(st.booleans(), min_size=8, max_size=8))
def test_the_adopted_order_is_always_the_earliest_eligible_one(times: list[int], claimed_mask: list[bool]) -> None:
    orders = [working(str(100 + i), list_id=f"L{i}", time_ms=t) for i, t in enumerate(times)]
    claimed = {x.order_id for x, c in zip(orders, claimed_mask, strict=False) if c}
    eligible = [x for x in orders if x.order_id not in claimed and x.time_ms >= INTENT_MS - CLOCK_SKEW_MS]
    found = find(orders, claimed=claimed)
    if not eligible:
        assert found is None
    else:
        assert found is not None and found[0] == min(eligible, key=lambda x: x.time_ms)
