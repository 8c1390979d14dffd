"""Pricing: last trade + pricing config → working BUY above the market, pending SELL below the BUY."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.config.settings import PricingConfig
from otobot.exchange.filters import FilterError, floor_to, pending_quantity
from otobot.exchange.models import SymbolFilters
from otobot.trading.strategy import oto_order, quote, unwind_price

D = Decimal
ALPHA_971 = SymbolFilters(symbol="ALPHA_971USDT", base_asset="ALPHA_971", quote_asset="USDT", status="TRADING",
                          tick_size=D("0.000000001"), step_size=D("0.10"), min_qty=D("0.10"),
                          max_qty=D("9999999999"), min_price=D("0.000000001"), max_price=D("1000"),
                          min_notional=D("0.1"))
TICK = ALPHA_971.tick_size


def test_percent_mode_buys_above_the_last_trade_and_sells_below_the_buy() -> None:
    q = quote(D("0.000005540"), PricingConfig("percent", D("0.5"), D("1.0")), TICK)
    assert q.working_price == D("0.000005540") * D("1.005") == D("0.0000055677")
    assert q.pending_price == D("0.0000055677") * D("0.99") == D("0.000005512023")


def test_fixed_mode_offsets_are_whole_ticks() -> None:
    q = quote(D("0.000005540"), PricingConfig("fixed", D(2), D(4)), TICK)
    assert q.working_price == D("0.000005542")
    assert q.pending_price == D("0.000005538")


def test_a_tiny_percent_sell_offset_still_puts_the_pending_one_tick_under_the_floored_buy() -> None:
    # 0.01 % of 0.0000055677 is far less than a tick: the SELL would round up onto (or above) the BUY.
    q = quote(D("0.000005540"), PricingConfig("percent", D("0.5"), D("0.01")), TICK)
    assert q.pending_price == floor_to(q.working_price, TICK) - TICK == D("0.000005566")


def test_a_zero_sell_offset_never_puts_the_pending_sell_above_the_buy() -> None:
    # A pending SELL above the BUY may never fill; with sell offset 0 it sits at the BUY's (floored) price.
    for pricing in (PricingConfig("percent", D("0.5"), D(0)), PricingConfig("fixed", D(2), D(0))):
        o = oto_order(D("0.0000055401"), pricing, D(10), ALPHA_971)
        assert o.pending_price <= o.working_price, pricing


def test_the_pending_price_never_drops_below_one_tick() -> None:
    q = quote(D("0.000000002"), PricingConfig("percent", D(0), D(50)), TICK)
    assert q.pending_price == TICK


@pytest.mark.parametrize("last", [D(0), D("-1")])
def test_a_non_positive_last_price_is_refused(last: Decimal) -> None:
    with pytest.raises(ValueError, match="not positive"):
        quote(last, PricingConfig(), TICK)


def test_oto_order_end_to_end_on_alpha_971_with_ten_usdt() -> None:
    o = oto_order(D("0.000005540"), PricingConfig("percent", D("0.5"), D("1.0")), D(10), ALPHA_971)
    assert o.working_price == D("0.000005567")  # 0.0000055677 floored to the tick
    assert o.pending_price == D("0.000005513")  # 0.000005512023 ceiled to the tick
    assert o.quantity == D("1796299.6")  # 10 / 0.000005567 = 1796299.62… floored to step 0.1
    assert o.pay_amount == D("9.99999987")  # 9.9999998732 truncated to 8 dp
    assert pending_quantity(o.quantity, ALPHA_971.step_size) == D("1796119.9")  # 1796299.6 × 0.9999 = 1796119.96…


def test_oto_order_too_small_for_min_notional_says_so() -> None:
    with pytest.raises(FilterError, match=r"below minimum notional 0\.1 on ALPHA_971USDT"):
        oto_order(D("0.000005540"), PricingConfig(), D("0.05"), ALPHA_971)


def test_unwind_price_is_the_rung_below_the_last_trade() -> None:
    assert unwind_price(D("0.000005540"), D("0.5")) == D("0.0000055123")
    assert unwind_price(D("2"), D("5")) == D("1.9")


ticks = st.sampled_from([D(1).scaleb(-n) for n in range(0, 10)] + [D("0.5"), D("0.25"), D("0.005")])
lasts = st.decimals(min_value=D("0.000000001"), max_value=D("100000"), places=10, allow_nan=False,
                    allow_infinity=False).filter(lambda d: d > 0)
percents = st.decimals(min_value=D(0), max_value=D(50), places=3, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(last=lasts, tick=ticks, buy=percents, sell=percents.filter(lambda d: d > 0))
def test_percent_pending_is_at_least_one_tick_below_the_floored_working_price(
        last: Decimal, tick: Decimal, buy: Decimal, sell: Decimal) -> None:
    q = quote(last, PricingConfig("percent", buy, sell), tick)
    floored = floor_to(q.working_price, tick)
    assert q.working_price >= last
    assert q.pending_price >= tick
    if floored >= 2 * tick:
        assert q.pending_price <= floored - tick
        assert q.pending_price <= q.working_price * (1 - sell / 100)


@settings(max_examples=200, deadline=None)
@given(last=lasts, tick=ticks, buy=st.integers(0, 50), sell=st.integers(1, 50))
def test_fixed_pending_is_at_least_one_tick_below_the_floored_working_price(
        last: Decimal, tick: Decimal, buy: int, sell: int) -> None:
    q = quote(last, PricingConfig("fixed", D(buy), D(sell)), tick)
    floored = floor_to(q.working_price, tick)
    assert q.working_price == last + buy * tick
    if floored >= 2 * tick:
        assert q.pending_price <= floored - tick


@settings(max_examples=200, deadline=None)
@given(last=lasts, tick=ticks, buy=percents, sell=percents)
def test_an_oto_never_sells_above_its_buy(last: Decimal, tick: Decimal, buy: Decimal, sell: Decimal) -> None:
    f = SymbolFilters(symbol="X", base_asset="A", quote_asset="USDT", status="TRADING", tick_size=tick,
                      step_size=D("0.0001"), min_qty=D("0.0001"), max_qty=D("1e15"), min_price=tick,
                      max_price=D("1e9"), min_notional=D(0))
    try:
        o = oto_order(last, PricingConfig("percent", buy, sell), D(1000), f)
    except FilterError:
        return
    assert o.pending_price <= o.working_price
    if sell > 0 and o.working_price >= 2 * tick:
        assert o.pending_price <= o.working_price - tick
