"""Whose coins: otobot's own base per token vs the user's own, and the cap on every SELL otobot places by itself."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from otobot.exchange.filters import floor_to

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Ledger:
    """One user's base of one token: otobot's own (its cycles' buys less base fees less their sells) and the user's
    own as otobot saw it trade. The SQL side is `fillrecord.add_to_ledger`; this is its arithmetic, to reason on."""

    own: Decimal = _ZERO
    user: Decimal = _ZERO

    def after(self, *, ours: bool, side: str, qty: Decimal, commission: Decimal = _ZERO) -> Ledger:
        """The ledger after one execution. A BUY (fee paid in base) adds to whose order it was. Any SELL takes
        otobot's own base first and the rest from the user's: otobot sells beyond its own only with `ctl flatten
        --all`, and a hand SELL of otobot's leftover leaves otobot nothing to sell out of the user's coins."""
        change = qty - commission if side == "BUY" else -qty
        if change >= 0:
            return Ledger(self.own + change, self.user) if ours else Ledger(self.own, self.user + change)
        taken = min(-change, max(self.own, _ZERO))
        return Ledger(self.own - taken, self.user + change + taken)


def sell_cap(own: Decimal, free: Decimal, step: Decimal, *, everything: bool = False) -> Decimal:
    """The most a SELL otobot places by itself may carry: min(its own base, the free balance read just before),
    floored to the step. `everything` (ctl flatten --all, confirmed) is the user's word to sell all that is free."""
    limit = free if everything else min(own, free)
    return floor_to(max(limit, _ZERO), step) if step > 0 else max(limit, _ZERO)


def unwind_quantity(leftover: Decimal, own: Decimal, free: Decimal, step: Decimal) -> Decimal:
    """An unwind rung (or its resume): what the cycle has left to sell, never above what sell_cap allows."""
    return min(floor_to(max(leftover, _ZERO), step) if step > 0 else max(leftover, _ZERO),
               sell_cap(own, free, step))
