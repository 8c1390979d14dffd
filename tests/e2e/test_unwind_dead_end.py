"""Issue 19, problem 2: `unwind_failed` was a dead end. Now a wider ladder (SIGHUP) applies to a paused, unwinding
user, `ctl resume` (or cancel / flatten) starts the ladder again from its first rung, and every rung sells no more
than otobot's own base and the free balance: the user's own coins are never sold."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from otobot.sim.server import Simulator
from tests.e2e.test_manual_ops import PAIR, base_held, starve_bids
from tests.helpers import merge, running, wait_for, write_config, write_user

# The SELL rests (bids starved), times out at once, and the two shallow rungs never reach the one deep bid.
NARROW = {"target": {"value": 1000}, "timeouts": {"sell_s": 1}, "max_price_age_s": 3600,
          "unwind": {"ladder_pct": [0.5, 1], "rung_timeout_s": 0.5}}
WIDE = merge(NARROW, {"unwind": {"ladder_pct": [0.5, 30]}})
OWN = Decimal(5)  # KOGE the user holds of their own


async def _stuck(sim: Simulator, tmp_path: Path, d: Any) -> Any:
    bot = await d.bot("alice")
    await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
    await d.supervisor.pause("alice")
    await wait_for(lambda: bot.cycle.state == "paused", what="paused between cycles")
    sim.exchange.set_balance("alice", "ALPHA_22", base_held(sim, "alice", "ALPHA_22") + OWN)
    starve_bids(sim)
    await d.supervisor.resume("alice")
    await wait_for(lambda: bot.state.paused_reason == "unwind_failed", 40, "the narrow ladder runs out")
    assert bot.cycle.state == "unwinding"
    # The operator widens the ladder and reloads: it applies now, though the user is paused and unwinding.
    write_user(tmp_path, sim, "alice", WIDE)
    await d.supervisor.reload()
    assert bot.cfg.unwind.ladder_pct == (Decimal("0.5"), Decimal("30")) or list(bot.cfg.unwind.ladder_pct) == [
        Decimal("0.5"), Decimal("30")]
    return bot


async def test_resume_after_unwind_failed_starts_the_ladder_again_with_the_new_settings(sim: Simulator,
                                                                                       tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": NARROW})
    async with running(config) as d:
        bot = await _stuck(sim, tmp_path, d)
        cycle_id = bot.state.cycle_row.id
        await d.supervisor.resume("alice")
        # The ladder starts again from its first rung; the 30 % rung reaches the deep bid and the cycle closes.
        await wait_for(lambda: bot.state.cycle_row is None or bot.state.cycle_row.id != cycle_id, 40,
                       "the cycle unwound after the resume")
        assert bot.state.paused_reason != "unwind_failed"
        unwinds = [o for o in await d.store.cycle_orders(cycle_id) if o.role == "unwind"]
        assert [o.status for o in unwinds][-1] == "FILLED"
        row = await d.store.cycle(cycle_id)
        assert row is not None and row.state == "done"
        d.supervisor.slots["alice"].bot  # noqa: B018 - still running
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 30, "paused between cycles")
        # The user's own 5 KOGE are all there: what alice holds is theirs plus otobot's own dust, to the unit.
        assert base_held(sim, "alice", "ALPHA_22") == OWN + await d.store.own_base("alice", PAIR)


async def test_ctl_cancel_of_a_user_paused_unwind_failed_sells_otobots_base_and_answers(sim: Simulator,
                                                                                       tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": NARROW})
    async with running(config) as d:
        await _stuck(sim, tmp_path, d)
        report = await asyncio.wait_for(d.supervisor.manual("alice", "cancel"), 60)
        assert report["paused"] == "operator" and report["state"] == "paused", report
        assert Decimal(report["sold"]) > 0
        assert not any("whole unwind ladder was tried" in n for n in report["notes"]), report
        assert base_held(sim, "alice", "ALPHA_22") == OWN + await d.store.own_base("alice", PAIR)


async def test_selling_the_leftover_by_hand_then_resuming_never_sells_the_users_own_coins(sim: Simulator,
                                                                                          tmp_path: Path) -> None:
    """The README's old way out (sell by hand, resume) made the next rung sell the leftover again, out of the
    user's own coins (reproduced: 0.4152 of a user's 5 KOGE sold at 30 % under the market)."""
    from otobot.sim.matching import BUY
    from otobot.sim.userside import place_as_browser

    config = write_config(tmp_path, sim, {"alice": NARROW})
    async with running(config) as d:
        bot = await _stuck(sim, tmp_path, d)
        cycle_id = bot.state.cycle_row.id
        left = bot.state.orders.leftover(bot.filters.step_size)
        deep = sim.exchange.books[PAIR].best(BUY)
        sold = place_as_browser(sim.exchange, {"user": "alice", "token": "KOGE", "side": "SELL",
                                               "quantity": str(left), "price": str(deep)})
        assert sold["status"] == "FILLED"
        await wait_for(lambda: d.store.claimed_order_ids([sold["orderId"]]), 20, "the hand SELL recorded")
        await d.supervisor.resume("alice")
        await wait_for(lambda: bot.state.cycle_row is None or bot.state.cycle_row.id != cycle_id, 40,
                       "the cycle closed after the resume")
        unwinds = [o for o in await d.store.cycle_orders(cycle_id) if o.role == "unwind"]
        assert all(o.cum_qty == 0 for o in unwinds)  # otobot sold nothing more: its leftover was sold by hand
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 30, "paused between cycles")
        assert base_held(sim, "alice", "ALPHA_22") >= OWN  # the user's own 5 KOGE are all there
