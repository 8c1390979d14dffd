"""Property tests of the pure order rounding: whatever the tick, step, price and size, an OTO built by the filters
is on tick and step, never worse than asked, and pays exactly what the server recomputes."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.filters import FilterError, build_oto, fmt, pay_amount, pending_quantity
from otobot.exchange.models import SymbolFilters

TICKS = [Decimal(f"1e-{n}") for n in range(0, 10)] + [Decimal("0.5"), Decimal("0.25"), Decimal("0.005")]
STEPS = [Decimal(f"1e-{n}") for n in range(0, 9)] + [Decimal(10), Decimal("0.5"), Decimal("0.25")]


def symbol(tick: Decimal, step: Decimal, min_notional: Decimal = Decimal("0.1")) -> SymbolFilters:
    return SymbolFilters(symbol="ALPHA_1USDT", base_asset="ALPHA_1", quote_asset="USDT", status="TRADING",
                         tick_size=tick, step_size=step, min_qty=step, max_qty=Decimal("1e15"), min_price=tick,
                         max_price=Decimal("1e9"), min_notional=min_notional)


prices = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=9, allow_nan=False)
amounts = st.decimals(min_value=Decimal("0.1"), max_value=Decimal("100000"), places=2, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(tick=st.sampled_from(TICKS), step=st.sampled_from(STEPS), price=prices, amount=amounts,
       discount=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.2"), places=3))
def test_an_oto_is_on_tick_and_step_never_worse_than_asked_and_pays_what_the_server_computes(
        tick: Decimal, step: Decimal, price: Decimal, amount: Decimal, discount: Decimal) -> None:
    f = symbol(tick, step)
    raw_pending = price * (1 - discount)
    try:
        o = build_oto(price, raw_pending, amount, f)
    except FilterError as exc:
        assert any(w in str(exc) for w in ("below", "not positive", "outside", "above")), exc
        return
    assert o.working_price % tick == 0 and o.pending_price % tick == 0
    assert o.quantity % step == 0 and o.quantity >= f.min_qty
    assert o.working_price <= price and o.pending_price >= raw_pending  # passive rounding for both sides
    assert o.working_price * o.quantity <= amount  # never spends more than the order size
    assert o.pay_amount == (o.working_price * o.quantity).quantize(Decimal("1e-8"), rounding=ROUND_FLOOR)
    assert -o.pay_amount.as_tuple().exponent <= 8  # type: ignore[operator]
    assert o.working_price * o.quantity >= f.min_notional
    assert "E" not in fmt(o.pay_amount) and "E" not in fmt(o.working_price)


@settings(max_examples=300, deadline=None)
@given(filled=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e9"), places=4),
       step=st.sampled_from(STEPS))
def test_pending_quantity_never_exceeds_what_the_buy_delivered(filled: Decimal, step: Decimal) -> None:
    q = pending_quantity(filled, step)
    assert q % step == 0 and 0 <= q <= filled - filled * Decimal("0.0001")
    assert filled - filled * Decimal("0.0001") - q < step


@pytest.mark.parametrize(("price", "qty", "paid"), [
    ("0.000005619", "1779676", "9.99999944"),  # §7.1 capture, S2
    ("48.01706542", "0.2082", "9.99715302"),  # §7.1 capture, S1
    ("0.000005583", "1791151.7", "9.99999994"),  # §7.2 capture
])
def test_pay_amount_matches_the_captured_requests(price: str, qty: str, paid: str) -> None:
    assert pay_amount(Decimal(price), Decimal(qty)) == Decimal(paid)


def test_captured_pending_quantities() -> None:
    assert pending_quantity(Decimal("869.56"), Decimal("0.01")) == Decimal("869.47")  # §7.4
    assert pending_quantity(Decimal("1686625"), Decimal("0.1")) == Decimal("1686456.3")  # §7.5


def test_below_min_notional_is_a_named_error() -> None:
    with pytest.raises(FilterError, match="below minimum notional"):
        build_oto(Decimal("1"), Decimal("0.9"), Decimal("0.05"), symbol(Decimal("0.01"), Decimal("0.01")))
