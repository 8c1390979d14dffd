"""Order rounding onto a symbol's filters (alpha-api.md §2.5, §5): captured values, named refusals, properties."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.filters import (
    FEE_RATE,
    FilterError,
    build_limit,
    build_oto,
    ceil_to,
    floor_to,
    fmt,
    pay_amount,
    pending_quantity,
    round_price,
    sellable,
)
from otobot.exchange.models import BUY, SELL, SymbolFilters

D = Decimal

# §7.6 exchange-info symbols, as SymbolFilters.parse reads them.
ALPHA_971 = SymbolFilters(symbol="ALPHA_971USDT", base_asset="ALPHA_971", quote_asset="USDT", status="TRADING",
                          tick_size=D("0.000000001"), step_size=D("0.10"), min_qty=D("0.10"),
                          max_qty=D("9999999999"), min_price=D("0.000000001"), max_price=D("1000"),
                          min_notional=D("0.1"))
ALPHA_22 = SymbolFilters(symbol="ALPHA_22USDT", base_asset="ALPHA_22", quote_asset="USDT", status="TRADING",
                         tick_size=D("0.00000001"), step_size=D("0.00010000"), min_qty=D("0.00010000"),
                         max_qty=D("19909"), min_price=D("0.00000001"), max_price=D("100000"),
                         min_notional=D("0.1"))


def symbol(tick: Decimal, step: Decimal, *, min_qty: Decimal | None = None, min_notional: Decimal = D("0.1"),
           max_qty: Decimal = D("1e15"), min_price: Decimal | None = None,
           max_price: Decimal = D("1e9")) -> SymbolFilters:
    return SymbolFilters(symbol="ALPHA_1USDT", base_asset="ALPHA_1", quote_asset="USDT", status="TRADING",
                         tick_size=tick, step_size=step, min_qty=step if min_qty is None else min_qty,
                         max_qty=max_qty, min_price=tick if min_price is None else min_price, max_price=max_price,
                         min_notional=min_notional)


def decimals_of(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


# ------------------------------------------------------------------ floor / ceil / side rounding


@pytest.mark.parametrize(("value", "step", "floored", "ceiled"), [
    ("869.473044", "0.01", "869.47", "869.48"),
    ("1686456.36", "0.1", "1686456.3", "1686456.4"),
    ("7.1", "0.25", "7.00", "7.25"),
    ("0.3", "0.25", "0.25", "0.50"),
    ("0.0000055677", "0.000000001", "0.000005567", "0.000005568"),
    ("5", "0.5", "5.0", "5.0"),
    ("12345", "10", "12340", "12350"),
])
def test_floor_and_ceil_land_on_the_neighbouring_multiples_of_the_step(value: str, step: str, floored: str,
                                                                         ceiled: str) -> None:
    assert floor_to(D(value), D(step)) == D(floored)
    assert ceil_to(D(value), D(step)) == D(ceiled)


def test_floored_values_print_as_plain_decimals_on_the_wire() -> None:
    assert fmt(floor_to(D("869.473044"), D("0.01"))) == "869.47"
    assert fmt(floor_to(D("1686456.36"), D("0.1"))) == "1686456.3"
    assert fmt(floor_to(D("12345"), D("100"))) == "12300"  # 1.23E+4 internally


def test_a_value_already_on_the_step_is_left_alone_by_both_roundings() -> None:
    assert floor_to(D("0.000005619"), D("1e-9")) == D("0.000005619")
    assert ceil_to(D("0.000005619"), D("1e-9")) == D("0.000005619")


def test_buy_prices_round_down_and_sell_prices_round_up_so_rounding_never_worsens_the_asked_price() -> None:
    tick = D("0.01")
    assert round_price(D("1.239"), BUY, tick) == D("1.23")
    assert round_price(D("1.231"), SELL, tick) == D("1.24")
    assert round_price(D("1.23"), BUY, tick) == round_price(D("1.23"), SELL, tick) == D("1.23")


# ------------------------------------------------------------------ pay amount and pending quantity (captures)


@pytest.mark.parametrize(("price", "qty", "paid"), [
    ("0.000005619", "1779676", "9.99999944"),  # §7.1 S2 capture
    ("48.01706542", "0.2082", "9.99715302"),  # §7.1 S1 capture (exact product 9.997152020444 truncated)
    ("0.000005583", "1791151.7", "9.99999994"),  # §7.2 single BUY
])
def test_pay_amount_equals_the_amount_the_captured_requests_sent(price: str, qty: str, paid: str) -> None:
    amount = pay_amount(D(price), D(qty))
    assert amount == D(paid)
    assert fmt(amount) == paid


def test_pay_amount_truncates_rather_than_rounds_half_up() -> None:
    # 0.123456789 × 1 = 0.123456789: rounding would give ...79, the server truncates to ...78.
    assert pay_amount(D("0.123456789"), D("1")) == D("0.12345678")
    assert decimals_of(pay_amount(D("0.000000001"), D("3"))) == 8


@pytest.mark.parametrize(("filled", "step", "pending"), [
    ("869.56", "0.01", "869.47"),  # §7.4: 869.56 − 0.086956 fee, floored
    ("1686625", "0.1", "1686456.3"),  # §7.5 history: the pending leg's origQty
])
def test_pending_quantity_matches_what_the_server_gave_the_captured_pending_legs(filled: str, step: str,
                                                                                 pending: str) -> None:
    assert pending_quantity(D(filled), D(step)) == D(pending)


def test_pending_quantity_uses_the_measured_fee_of_one_basis_point() -> None:
    assert FEE_RATE == D("0.0001")
    assert pending_quantity(D("10000"), D("1")) == D("9999")
    assert pending_quantity(D("10000"), D("1"), fee_rate=D(0)) == D("10000")


# ------------------------------------------------------------------ fmt


@pytest.mark.parametrize(("value", "text"), [
    (D("5.929E-7"), "0.0000005929"),
    (D("1E+2"), "100"),
    (D("1E-8"), "0.00000001"),
    (D("0.10"), "0.10"),
    (D("-3.5E-9"), "-0.0000000035"),
])
def test_fmt_never_prints_exponent_notation(value: Decimal, text: str) -> None:
    assert fmt(value) == text


def test_str_would_have_printed_an_exponent_which_is_why_fmt_exists() -> None:
    assert "E" in str(D("5.929E-7"))
    assert "E" not in fmt(D("5.929E-7"))


# ------------------------------------------------------------------ build_oto / build_limit


def test_the_captured_alpha_971_oto_rebuilds_from_its_prices_and_ten_usdt() -> None:
    # §7.1 S2: workingPrice 0.000005619, workingQuantity 1779676, amount "9.99999944", pendingPrice 0.0000058.
    # The exact product is 9.999999444: the amount sent is truncated, the quantity is what that size buys.
    o = build_oto(D("0.000005619"), D("0.0000058"), D("9.999999444"), ALPHA_971)
    assert o.working_price == D("0.000005619")
    assert o.pending_price == D("0.0000058")
    assert o.quantity == D("1779676")
    assert o.pay_amount == D("9.99999944")


def test_the_captured_koge_oto_rebuilds_on_alpha_22_with_step_not_quantity_precision() -> None:
    # §7.1 S1: 48.01706542 × 0.2082 = 9.99715302; step 0.0001 (quantityPrecision 8 would give 0.20826130).
    # S1 sent pendingPrice 0.001; otobot refuses a pending leg below min notional (see the test below), so a
    # realistic pending price 1 % under the BUY is used here.
    o = build_oto(D("48.01706542"), D("47.53689476"), D("10"), ALPHA_22)
    assert o.quantity == D("0.2082")
    assert o.pay_amount == D("9.99715302")
    assert o.pending_price == D("47.53689476")


def test_build_oto_rounds_the_working_price_down_and_the_pending_price_up() -> None:
    o = build_oto(D("0.0000056199"), D("0.0000055501"), D("10"), ALPHA_971)
    assert o.working_price == D("0.000005619")
    assert o.pending_price == D("0.000005551")
    assert o.working_price * o.quantity <= D("10")


def test_an_order_below_min_notional_is_refused_naming_the_filter_and_the_symbol() -> None:
    with pytest.raises(FilterError) as err:
        build_oto(D("1"), D("0.9"), D("0.05"), symbol(D("0.01"), D("0.01")))
    message = str(err.value)
    assert "below minimum notional" in message and "0.1" in message and "ALPHA_1USDT" in message
    assert "working value 0.05" in message


def test_a_quantity_below_min_qty_is_refused_naming_the_minimum() -> None:
    f = symbol(D("0.01"), D("1"), min_qty=D("10"), min_notional=D(0))
    with pytest.raises(FilterError, match=r"working quantity 5 below minimum 10 on ALPHA_1USDT"):
        build_oto(D("2"), D("1.9"), D("10"), f)


def test_a_quantity_above_max_qty_is_refused_naming_the_maximum() -> None:
    with pytest.raises(FilterError, match=r"working quantity 20833\.33330000 above maximum 19909 on ALPHA_22USDT"):
        build_oto(D("48"), D("47"), D("1000000"), ALPHA_22)


def test_a_price_outside_the_price_filter_is_refused_naming_the_range() -> None:
    f = symbol(D("0.01"), D("0.01"), min_price=D("1"), max_price=D("100"))
    with pytest.raises(FilterError, match=r"working price 200 outside \[1, 100\] on ALPHA_1USDT"):
        build_oto(D("200"), D("150"), D("1000"), f)
    with pytest.raises(FilterError, match=r"pending price 0\.5 outside \[1, 100\]"):
        build_oto(D("50"), D("0.5"), D("1000"), f)


def test_a_working_price_that_floors_to_zero_is_refused_as_not_positive() -> None:
    with pytest.raises(FilterError, match=r"working price 0\.0+ is not positive"):
        build_oto(D("0.004"), D("0.003"), D("10"), symbol(D("0.01"), D("0.01")))


def test_a_pending_leg_that_would_strand_dust_is_refused_before_anything_is_sent() -> None:
    # Working qty 10 passes min qty 10, but the fee-reduced pending qty (9.999 → 9 at step 1) does not.
    f = symbol(D("0.01"), D("1"), min_qty=D("10"), min_notional=D(0))
    with pytest.raises(FilterError, match=r"pending quantity 9 below minimum 10"):
        build_oto(D("1"), D("0.5"), D("10.5"), f)


def test_a_pending_price_too_low_for_min_notional_is_refused_on_the_pending_leg() -> None:
    # 100 × 1 = 100 ≥ 0.1 for the BUY; the pending SELL at 0.001 sells 99 × 0.001 = 0.099 < 0.1.
    f = symbol(D("0.001"), D("1"), min_notional=D("0.1"))
    with pytest.raises(FilterError, match=r"pending value 0\.099 USDT below minimum notional 0\.1"):
        build_oto(D("1"), D("0.001"), D("100"), f)


def test_build_limit_rounds_by_side_floors_quantity_and_computes_pay_amount() -> None:
    buy = build_limit(BUY, D("0.0000055839"), D("1791151.79"), ALPHA_971)
    assert (buy.price, buy.quantity, buy.pay_amount) == (D("0.000005583"), D("1791151.7"), D("9.99999994"))
    sell = build_limit(SELL, D("0.0000056361"), D("1790972.65"), ALPHA_971)
    assert (sell.side, sell.price, sell.quantity) == (SELL, D("0.000005637"), D("1790972.6"))  # §7.2 SELL


def test_build_limit_names_the_side_in_its_refusals() -> None:
    with pytest.raises(FilterError, match=r"^sell value .* below minimum notional"):
        build_limit(SELL, D("0.000005637"), D("100"), ALPHA_971)
    with pytest.raises(FilterError, match=r"^buy price 0\.000000000 is not positive"):
        build_limit(BUY, D("0.0000000001"), D("100"), ALPHA_971)


def test_sellable_says_no_to_dust_below_min_qty_or_notional() -> None:
    assert sellable(D("1790972.65"), D("0.000005637"), ALPHA_971)
    assert not sellable(D("0.05"), D("0.000005637"), ALPHA_971)  # floors to 0 at step 0.1
    assert not sellable(D("10000"), D("0.000005637"), ALPHA_971)  # 0.056 USDT < 0.1


# ------------------------------------------------------------------ properties

POWER_TICKS = [D(1).scaleb(-n) for n in range(0, 10)]  # 1 … 1e-9
POWER_STEPS = [D(1).scaleb(-n) for n in range(0, 9)]  # 1 … 1e-8
ODD = [D("0.5"), D("0.25"), D("0.005"), D("2.5")]
ticks = st.sampled_from(POWER_TICKS + ODD[:3])
steps = st.sampled_from([*POWER_STEPS, *ODD, D(10)])
prices = st.decimals(min_value=D("0.000000001"), max_value=D("100000"), places=10, allow_nan=False,
                     allow_infinity=False).filter(lambda d: d > 0)
amounts = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=8, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(value=prices, step=steps)
def test_floor_and_ceil_bracket_the_value_within_one_step(value: Decimal, step: Decimal) -> None:
    lo, hi = floor_to(value, step), ceil_to(value, step)
    assert lo % step == 0 and hi % step == 0
    assert lo <= value <= hi
    assert value - lo < step and hi - value < step
    assert (lo == hi) == (value % step == 0)


@settings(max_examples=200, deadline=None)
@given(price=prices, qty=st.decimals(min_value=D("0.00000001"), max_value=D("1e12"), places=8,
                                     allow_nan=False, allow_infinity=False))
def test_pay_amount_has_at_most_eight_decimals_and_never_exceeds_the_exact_product(price: Decimal,
                                                                                   qty: Decimal) -> None:
    amount = pay_amount(price, qty)
    exact = price * qty
    assert decimals_of(amount) <= 8
    assert amount <= exact < amount + D("0.00000001")
    assert "E" not in fmt(amount)


@settings(max_examples=200, deadline=None)
@given(filled=st.decimals(min_value=D("0.00000001"), max_value=D("1e12"), places=8, allow_nan=False,
                          allow_infinity=False), step=steps)
def test_pending_quantity_is_on_step_and_within_one_step_below_the_fee_reduced_fill(filled: Decimal,
                                                                                    step: Decimal) -> None:
    q = pending_quantity(filled, step)
    after_fee = filled - filled * FEE_RATE
    assert q % step == 0
    assert q <= after_fee < q + step


@settings(max_examples=200, deadline=None)
@given(tick=ticks, step=steps, price=prices, amount=amounts,
       discount=st.decimals(min_value=D("0"), max_value=D("0.5"), places=4, allow_nan=False))
def test_an_oto_is_on_tick_and_step_never_worse_than_asked_and_within_the_quote_amount(
        tick: Decimal, step: Decimal, price: Decimal, amount: Decimal, discount: Decimal) -> None:
    f = symbol(tick, step, min_notional=D("0.1"))
    raw_pending = price * (1 - discount)
    try:
        o = build_oto(price, raw_pending, amount, f)
    except FilterError as exc:
        # Refused only when a filter really is broken, and the message says which.
        wp = floor_to(price, tick)
        pp = ceil_to(raw_pending, tick)
        qty = floor_to(amount / wp, step) if wp > 0 else D(0)
        pq = pending_quantity(qty, step)
        broken = (wp <= 0 or pp <= 0 or qty < f.min_qty or qty * wp < f.min_notional
                  or pq < f.min_qty or pq * pp < f.min_notional or pp > f.max_price or wp > f.max_price)
        assert broken, f"refused a valid order: {exc}"
        assert any(w in str(exc) for w in ("below", "not positive", "outside", "above")), exc
        return
    assert o.working_price % tick == 0 and o.pending_price % tick == 0
    assert o.quantity % step == 0
    assert o.working_price <= price
    assert o.pending_price >= raw_pending
    assert o.pending_price - raw_pending < tick and price - o.working_price < tick
    assert o.quantity * o.working_price <= amount
    # The largest quantity that fits: one more step would overspend.
    assert (o.quantity + step) * o.working_price > amount
    assert o.quantity >= f.min_qty and o.quantity * o.working_price >= f.min_notional
    pq = pending_quantity(o.quantity, step)
    assert pq >= f.min_qty and pq * o.pending_price >= f.min_notional
    # What the server recomputes for paymentDetails.amount: price × qty truncated to 8 dp.
    assert o.pay_amount == (o.working_price * o.quantity).quantize(D("1e-8"), rounding=ROUND_FLOOR)
    assert decimals_of(o.pay_amount) <= 8
    for v in (o.working_price, o.pending_price, o.quantity, o.pay_amount):
        assert "E" not in fmt(v) and "e" not in fmt(v)


@settings(max_examples=200, deadline=None)
@given(tick=ticks, step=steps, price=prices, qty=st.decimals(min_value=D("0.0001"), max_value=D("1e9"), places=4,
                                                            allow_nan=False, allow_infinity=False),
       side=st.sampled_from([BUY, SELL]))
def test_a_limit_order_is_on_tick_and_step_and_rounded_in_the_passive_direction(
        tick: Decimal, step: Decimal, price: Decimal, qty: Decimal, side: str) -> None:
    f = symbol(tick, step, min_notional=D("0.1"))
    try:
        o = build_limit(side, price, qty, f)
    except FilterError as exc:
        p = round_price(price, side, tick)
        q = floor_to(qty, step)
        assert p <= 0 or q < f.min_qty or p * q < f.min_notional, f"refused a valid order: {exc}"
        return
    assert o.price % tick == 0 and o.quantity % step == 0
    assert (o.price <= price) if side == BUY else (o.price >= price)
    assert o.quantity <= qty < o.quantity + step
    assert o.price * o.quantity >= f.min_notional
    assert o.pay_amount == pay_amount(o.price, o.quantity)


@settings(max_examples=200, deadline=None)
@given(mantissa=st.integers(min_value=1, max_value=10**12), exponent=st.integers(min_value=-20, max_value=12))
def test_fmt_is_plain_positional_text_that_reads_back_to_the_same_value(mantissa: int, exponent: int) -> None:
    value = D(mantissa).scaleb(exponent)
    text = fmt(value)
    assert "E" not in text and "e" not in text
    assert D(text) == value
