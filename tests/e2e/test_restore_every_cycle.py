"""Issue 19, problem 4: a restart follows every live cycle, not only the newest (a late-adopted OTO was forgotten,
with no timeout, cancel or unwind), and knows the live strays it had recorded."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from otobot.exchange import protocol as p
from otobot.sim.matching import SELL
from otobot.sim.server import Simulator
from tests.e2e.test_issue9 import KOGE, starve
from tests.helpers import check_invariants, running, wait_for, write_config, write_user

SLOW = {"target": {"value": 10**6}, "timeouts": {"buy_s": 600}, "max_price_age_s": 3600}


async def test_a_restart_follows_a_late_adopted_oto_beside_the_newest_cycle(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.drop_response(p.PLACE_OTO, count=1, when="late", apply_after_s=2.0)
    config = write_config(tmp_path, sim, {"alice": SLOW}, reliability={"unknown_settle_s": 0.3})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "reconciling", 20, "the first OTO's outcome unknown")
        starve(sim, KOGE, SELL)  # the next OTO's BUY rests: the late one lands while it is in flight
        await wait_for(lambda: bot.cycle.state == "pending", 20, "the second OTO resting")
        await wait_for(lambda: bot.state.late_cycle is not None, 20, "the late OTO adopted, waiting its turn")
        late_id = bot.state.late_cycle
        assert late_id is not None
    # Stopped with the late OTO still live on the exchange (and its cycle live in SQLite): the restart must follow it.
    live = await _live_ids(tmp_path)
    assert late_id in live
    write_user(tmp_path, sim, "alice", {**SLOW, "timeouts": {"buy_s": 2}})
    sim.market.paused = False
    async with running(config) as d:
        bot = await d.bot("alice")

        async def late_closed() -> bool:
            row = await d.store.cycle(late_id)
            return row is not None and row.state == "done"

        await wait_for(late_closed, 40, "the late-adopted cycle followed to its end after the restart")
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 30, "paused between cycles")
        assert not await d.store.live_cycles("alice")
        assert not [o for o in sim.state("alice")["open_orders"] if o["side"] == "BUY"]
        inv = await check_invariants(sim, d.store, "alice")
        assert (inv.duplicates, inv.lost_fills, inv.untracked_orders) == (0, 0, 0), inv
        assert inv.base_gap < Decimal("0.001"), inv


async def _live_ids(root: Path) -> list[int]:
    from otobot.store.db import Store

    store = await Store.open(root / "otobot.db")
    try:
        return [c.id for c in await store.live_cycles("alice")]
    finally:
        await store.close()
