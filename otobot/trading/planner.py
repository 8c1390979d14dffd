"""Pure cost model: what one OTO cycle costs on a token's book, and what reaching a target costs on each candidate.

A cycle BUYs `quote_amount` by walking the asks and SELLs what it got (less the base-asset fee) by walking the
bids. Its loss is the two sweeps' difference plus the SELL fee, i.e. spread + 2 × fee + slippage at the order
size; divided by the token's multiplier it is the cost per counted volume (alpha-api.md §6.1, §6.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from otobot.exchange.book import Level
from otobot.exchange.filters import FEE_RATE, floor_to, pending_quantity
from otobot.trading import daybook as points
from otobot.trading.book import Sweep, sweep, sweep_quote

BPS = Decimal(10_000)
# A cycle costs at least: the OTO place, and every few cycles a balance or reconcile read (bot.py refreshes the
# balance every BALANCE_MAX_AGE_S and reads history on any doubt). Two per cycle keeps the estimate on the safe side.
REQUESTS_PER_CYCLE = 2
# Order round trips plus both fills arriving on the user stream, when the BUY crosses at once.
CYCLE_OVERHEAD_S = Decimal("0.3")


@dataclass(frozen=True, slots=True)
class CycleCost:
    """One cycle on one token's current book."""

    spread_bps: Decimal | None  # best ask − best bid over their mid; negative on a crossed book
    buy_quote: Decimal  # what the BUY spends: the buy volume the cycle counts
    loss_quote: Decimal  # quote lost over the round trip, both fees included
    depth_ok: bool  # both sides hold the order's size

    @property
    def cost_bps(self) -> Decimal | None:
        """Loss in bps of buy volume (what `otobot bench` measures)."""
        return self.loss_quote / self.buy_quote * BPS if self.buy_quote > 0 else None

    def counted_bps(self, mul_point: int) -> Decimal | None:
        """Loss in bps of counted volume: the multiplier makes each bought unit count `mul_point` times."""
        c = self.cost_bps
        return c / mul_point if c is not None else None


def spread_bps(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> Decimal | None:
    if not bids or not asks:
        return None
    bid, ask = bids[0][0], asks[0][0]
    return (ask - bid) / ((ask + bid) / 2) * BPS


def cycle_cost(bids: tuple[Level, ...], asks: tuple[Level, ...], quote_amount: Decimal, step: Decimal,
               fee_rate: Decimal = FEE_RATE) -> CycleCost:
    """Sweep the asks for `quote_amount`, then the bids for the fee-reduced quantity (levels best first)."""
    bought: Sweep = sweep_quote(asks, quote_amount)
    qty = floor_to(bought.qty, step)
    bought = sweep(asks, qty)
    sell_qty = pending_quantity(qty, step, fee_rate)
    sold = sweep(bids, sell_qty)
    depth_ok = qty > 0 and bought.qty == qty and sold.qty == sell_qty and sell_qty > 0
    # The step-floored remainder of the bought quantity stays in the wallet and is sold later: value it at the best
    # bid. What a too-thin bid side cannot take is valued at nothing, so the estimate is honestly bad.
    dust = qty * (1 - fee_rate) - sell_qty
    dust_value = dust * bids[0][0] * (1 - fee_rate) if bids and depth_ok else Decimal(0)
    loss = bought.quote - sold.quote * (1 - fee_rate) - dust_value
    return CycleCost(spread_bps(bids, asks), bought.quote, loss, depth_ok)


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "volume": buy volume in quote per UTC day; "points": Alpha volume points
    value: Decimal


@dataclass(frozen=True, slots=True)
class Candidate:
    """A token's plan to reach the target: cycles, total cost, time, balance."""

    token: str
    mul_point: int
    cycle: CycleCost
    volume_needed: Decimal  # buy volume in quote that reaches the target on this token
    cycles: int
    cost_quote: Decimal
    seconds: Decimal
    balance_needed: Decimal
    points_reached: int  # volume points the planned buy volume earns

    @property
    def usable(self) -> bool:
        return self.cycle.depth_ok and self.cycles > 0


def seconds_per_cycle(pause_s: Decimal, requests_per_second: Decimal) -> Decimal:
    """A cycle takes the pause plus its round trips, or what the account's rate limit allows, whichever is longer."""
    return max(pause_s + CYCLE_OVERHEAD_S, REQUESTS_PER_CYCLE / requests_per_second)


def plan_token(token: str, mul_point: int, cycle: CycleCost, target: Target, quote_amount: Decimal,
               pause_s: Decimal, requests_per_second: Decimal, reserve: Decimal = Decimal(0)) -> Candidate:
    """Cycles, cost, time and balance for one token; for a points target the volume is the cheapest that reaches it
    (floor(log2(volume × mulPoint)) ≥ target)."""
    volume = points.target_volume(target.kind, target.value, mul_point)
    per_cycle = cycle.buy_quote
    cycles = int((volume / per_cycle).to_integral_value(rounding=ROUND_CEILING)) if per_cycle > 0 else 0
    cost = cycle.loss_quote * cycles
    seconds = seconds_per_cycle(pause_s, requests_per_second) * cycles
    # One BUY's pay amount is locked at a time; the losses come out of the same balance as the cycles go by.
    balance = quote_amount + max(cost, Decimal(0)) + reserve
    reached = points.volume_points(per_cycle * cycles, mul_point)
    return Candidate(token, mul_point, cycle, volume, cycles, cost, seconds, balance, reached)


def choose(candidates: list[Candidate]) -> Candidate | None:
    """The cheapest way to the target among tokens deep enough on both sides; ties go to the faster one.

    For a points target the needed volume already shrinks with the multiplier, so this is the lowest cost per
    counted volume; for a volume target every token needs the same buy volume and the multiplier does not help.
    """
    usable = [c for c in candidates if c.usable]
    if not usable:
        return None
    return min(usable, key=lambda c: (c.cost_quote, c.seconds, c.token))
