"""Whose coins, where otobot sells by itself (issue 19): every unwind rung, dust sweep and flatten is capped at
min(otobot's own base, the free balance read just before), and an unwind ladder that ran out starts again."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from otobot.exchange.filters import fmt
from otobot.trading.ledger import sell_cap
from otobot.trading.tracker import unwinds_placed

if TYPE_CHECKING:
    from otobot.store.records import CycleRow
    from otobot.trading.driver import Driver


async def free_base(bot: Driver, asset: str) -> Decimal:
    """The free balance of `asset` on the exchange now (raises the exchange's error: the caller looks again)."""
    assert bot.rest is not None
    return next((b.free for b in await bot.rest.alpha_balances() if b.asset == asset), Decimal(0))


async def cap(bot: Driver, symbol: str, asset: str, step: Decimal, *, everything: bool = False
              ) -> tuple[Decimal, Decimal, Decimal]:
    """(the most this SELL may carry, otobot's own base, the free balance): see ledger.sell_cap."""
    own = await bot.store.own_base(bot.name, symbol)
    free = await free_base(bot, asset)
    return sell_cap(own, free, step, everything=everything), own, free


async def unwind_quantity(bot: Driver, row: CycleRow, left: Decimal) -> Decimal:
    """What an unwind rung may sell of the `left` its cycle holds: capped, and said so when the cap bites."""
    assert bot.filters is not None
    allowed, own, free = await cap(bot, row.symbol, row.base_asset, bot.filters.step_size,
                                   everything=selling_everything(bot))
    if allowed >= left:
        return left
    bot.log.warning("Unwind capped at {} (otobot's own base {}, free {}): the {} the cycle left is not all there, "
                    "and the user's own coins are never sold", fmt(allowed), fmt(own), fmt(free), fmt(left))
    return allowed


def selling_everything(bot: Driver) -> bool:
    """`ctl flatten --all`, confirmed and under way: the user's word to sell all that is free, theirs too."""
    op = bot.state.manual
    row = bot.state.cycle_row
    return op is not None and op.everything and row is not None and row.kind == "sweep"


async def restart_ladder(bot: Driver, why: str) -> bool:
    """A cycle paused unwind_failed: its ladder starts again from the first rung, with the current settings (and
    each rung reads the free balance). Persisted, so a restart keeps the new ladder. False: nothing to restart."""
    row = bot.state.cycle_row
    if row is None or str(bot.cycle.state) != "unwinding":
        return False
    orders = bot.state.orders
    orders.ladder_from = unwinds_placed(orders)
    await bot.store.restart_ladder(row.id, bot.name, orders.ladder_from, why, bot.clock.time_ms())
    bot.log.info("The unwind ladder starts again from its first rung {} ({}); {} left to sell",
                 [fmt(x) for x in bot.cfg.unwind.ladder_pct], why,
                 fmt(orders.leftover(bot.filters.step_size)) if bot.filters else "?")
    return True
