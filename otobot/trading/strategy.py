"""Pure pricing: last trade + a user's pricing config → the OTO's working and pending prices, and unwind rungs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from otobot.config.settings import PricingConfig
from otobot.exchange.filters import FEE_RATE, OtoOrder, build_oto, ceil_to, floor_to, round_price
from otobot.exchange.models import BUY, SELL, SymbolFilters

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Quote:
    """The raw prices the strategy wants before the exchange filters round them."""

    working_price: Decimal
    pending_price: Decimal


def quote(last_price: Decimal, pricing: PricingConfig, tick: Decimal) -> Quote:
    """BUY above the last trade so it crosses the spread; pending SELL below the BUY so it crosses back.

    percent: working = last × (1 + buy%), pending = working × (1 − sell%)
    fixed:   working = last + buy ticks,   pending = working − sell ticks
    """
    if last_price <= 0:
        raise ValueError(f"last price {last_price} is not positive")
    if pricing.mode == "fixed":
        working = last_price + pricing.buy_offset * tick
        pending = working - pricing.sell_offset * tick
    else:
        working = last_price * (1 + pricing.buy_offset / HUNDRED)
        pending = working * (1 - pricing.sell_offset / HUNDRED)
    # One tick below the working price at least: a pending SELL above the BUY may never fill. With no sell
    # offset the SELL may sit at the BUY's floored price, never above it (ceiling it to the tick would).
    pending = min(pending, floor_to(working, tick) - (tick if pricing.sell_offset > 0 else 0))
    return Quote(working_price=working, pending_price=max(pending, tick))


def oto_order(last_price: Decimal, pricing: PricingConfig, quote_amount: Decimal, f: SymbolFilters) -> OtoOrder:
    """The full OTO on the symbol's filters; raises filters.FilterError naming the filter it breaks."""
    q = quote(last_price, pricing, f.tick_size)
    return build_oto(q.working_price, q.pending_price, quote_amount, f)


def unwind_price(last_price: Decimal, rung_pct: Decimal) -> Decimal:
    """A plain LIMIT sell price `rung_pct` % below the last trade (rounded later by the filters)."""
    return last_price * (1 - rung_pct / HUNDRED)


def day_end_amount(remaining: Decimal, per_cycle: Decimal, last_price: Decimal, pricing: PricingConfig,
                   f: SymbolFilters) -> Decimal:
    """The quote for the next BUY when less than `per_cycle` is left to reach today's target: enough to buy
    `remaining` at the last trade (the BUY fills there, below its limit), never more than `per_cycle`, never
    less than the smallest OTO the filters accept (both legs: the pending one sells the fee-reduced quantity)."""
    if remaining >= per_cycle:
        return per_cycle
    q = quote(last_price, pricing, f.tick_size)
    wp = round_price(q.working_price, BUY, f.tick_size)
    pp = round_price(q.pending_price, SELL, f.tick_size)
    need = ceil_to(remaining / last_price, f.step_size)
    # The pending leg carries the quantity less the fee, floored: one step of margin on top of that.
    smallest = ceil_to(max(f.min_qty, f.min_notional / pp) / (1 - FEE_RATE), f.step_size) + f.step_size
    return min(per_cycle, max(need, smallest) * wp)
