"""Issue 19, problem 7: executions on a symbol other than the one traded now (the token before a switch, or one the
user trades by hand) were ignored; they are followed and recorded as the user's own, under their own symbol."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from otobot.sim.server import Simulator
from otobot.sim.userside import place_as_browser
from tests.helpers import running, wait_for, write_config


async def test_a_hand_order_on_another_token_is_recorded_as_the_users_own(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 30, "alice trading KOGE")
        placed = place_as_browser(sim.exchange, {"user": "alice", "token": "AOP", "side": "BUY", "quantity": "60"})
        assert placed["status"] == "FILLED"
        await wait_for(lambda: d.store.claimed_order_ids([placed["orderId"]]), 20, "the AOP order recorded")
        theirs = {h.symbol: h.quantity for h in await d.store.user_holdings("alice")}
        assert theirs.get("ALPHA_118USDT") == Decimal("60") - Decimal("60") * sim.config.fee_rate
        assert "ALPHA_118USDT" not in {h.symbol for h in await d.store.holdings("alice") if h.quantity}
        assert bot.cycle.state != "paused"  # otobot goes on trading KOGE
