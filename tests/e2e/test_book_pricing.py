"""pricing.mode book against the simulator: the bot keeps the symbol's book and prices each leg from its levels."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from otobot.config.settings import ConfigError, load_user
from otobot.sim.config import DEFAULT_SYMBOLS
from otobot.sim.server import Simulator
from tests.helpers import assert_clean, running, wait_for, write_config

FEE_BPS = Decimal(1)


def book_user(root: Path, name: str, pricing: dict[str, Any]) -> None:
    """The helper's user file with its pricing section replaced (merging would keep percent's offsets)."""
    path = root / "users" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["pricing"] = pricing
    path.write_text(yaml.safe_dump(data))


async def test_book_pricing_trades_at_the_floor_cost(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}, "order": {"quote_amount": 20}}})
    book_user(tmp_path, "alice", {"mode": "book", "guard_ticks": 0})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
        assert bot.depth is not None and bot.depth.book.update_id is not None  # the book was kept live
        stats = await d.store.user_stats("alice")
        assert stats.buy_quote >= Decimal(60)
        await assert_clean(sim, d.store, "alice")
        # What the round trips cost, in bps of buy volume: USDT spent, less the base still held (the step-floored
        # remainder each SELL cannot sell) at the best bid. Two fees plus one spread, with 0.5 bps to spare at
        # most (the "done when"); the percent offsets cost more (`otobot bench`).
        usdt = sim.exchange.accounts["alice"].balances["USDT"]
        held = sum(sim.exchange.accounts["alice"].balances["ALPHA_22"], Decimal(0))
        bid = bot.depth.book.best_bid()
        assert bid is not None
        cost_bps = (Decimal(10000) - usdt[0] - usdt[1] - held * bid) / stats.buy_quote * 10000
        assert cost_bps <= 2 * FEE_BPS + DEFAULT_SYMBOLS[0].spread_bps + Decimal("0.5"), cost_bps
        # The BUY's limit is at or above the mid, the SELL's at or below: each crosses the spread from the book.
        cycle = await d.store.last_cycle("alice")
        assert cycle is not None and cycle.working_price > Decimal(48) * Decimal("0.99")
        assert cycle.working_price - cycle.pending_price < Decimal(48) * Decimal("0.002")  # ≈ one spread, not 1 %

async def test_two_bots_on_one_symbol_share_the_decoded_frames_and_the_applied_book(sim: Simulator,
                                                                                   tmp_path: Path) -> None:
    users = {name: {"target": {"value": 40}, "order": {"quote_amount": 20}} for name in ("alice", "bob")}
    config = write_config(tmp_path, sim, users)
    for name in users:
        book_user(tmp_path, name, {"mode": "book", "guard_ticks": 0})
    async with running(config) as d:
        alice, bob = await d.bot("alice"), await d.bot("bob")
        await wait_for(lambda: alice.cycle.state == "finished" and bob.cycle.state == "finished", 40, "both done")
        assert alice.depth is not None and bob.depth is not None
        assert alice.depth.cache is not None and alice.depth.cache is bob.depth.cache
        # Each on its own socket, yet one applied state serves both once they have read the same frames.
        await wait_for(lambda: alice.depth is not None and bob.depth is not None
                       and alice.depth.book.levels is bob.depth.book.levels, 10, "one shared book")
        for name in users:
            assert (await d.store.user_stats(name)).buy_quote >= Decimal(40)
            await assert_clean(sim, d.store, name)


def test_book_mode_refuses_percent_offsets_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bob.yaml"
    path.write_text(yaml.safe_dump({"token": "KOGE", "pricing": {"mode": "book", "buy_offset": 0.5}}))
    try:
        load_user(path)
    except ConfigError as exc:
        assert "pricing.buy_offset" in str(exc) and "guard_ticks" in str(exc)
    else:
        raise AssertionError("book mode with buy_offset was accepted")
    path.write_text(yaml.safe_dump({"token": "KOGE", "pricing": {"mode": "book", "guard_ticks": 2}}))
    pricing = load_user(path).pricing
    assert (pricing.mode, pricing.guard_ticks) == ("book", 2)
