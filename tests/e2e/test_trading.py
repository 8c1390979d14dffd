"""Full OTO cycles against the simulator over real sockets: targets, pricing modes, timeouts, pauses."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from otobot.exchange import protocol as p
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator
from tests.helpers import assert_clean, running, wait_for, write_config


async def test_one_user_trades_to_the_volume_target_and_stops(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}, "order": {"quote_amount": 20}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
        stats = await d.store.user_stats("alice")
        assert stats.buy_quote >= Decimal(60)
        # A BUY spends a little under 20 (it fills below its limit), so the 60 takes 3 or 4 cycles, never more.
        assert stats.cycles in (3, 4)
        assert stats.buy_quote - Decimal(60) < Decimal(20)
        # Each cycle's BUY and SELL are on the exchange and FILLED; nothing is left open; one POST per cycle.
        assert sim.state("alice")["open_orders"] == []
        assert sim.requests[p.PLACE_OTO] == stats.cycles
        await assert_clean(sim, d.store, "alice")
        # The loss is what the exchange balance says it is: USDT spent minus USDT received.
        usdt = sim.exchange.accounts["alice"].balances["USDT"]
        spent = Decimal(10000) - usdt[0] - usdt[1]
        assert abs(spent - stats.loss_quote) < Decimal("0.0001"), (spent, stats.loss_quote)


async def test_ten_users_trade_concurrently_without_interfering(tmp_path: Path) -> None:
    from otobot.sim.config import default_sim_config

    sim = Simulator(default_sim_config(users=10, seed=11))
    await sim.start()
    try:
        names = sim.user_names()
        users = {n: {"token": ["KOGE", "AOP", "NEX"][i % 3], "target": {"value": 30},
                     "order": {"quote_amount": 10}} for i, n in enumerate(names)}
        config = write_config(tmp_path, sim, users)
        async with running(config) as d:
            bots = [await d.bot(n) for n in names]
            await wait_for(lambda: all(b.cycle.state == "finished" for b in bots), 60, "all 10 users finished")
            for n in names:
                assert (await d.store.user_stats(n)).buy_quote >= 30
                await assert_clean(sim, d.store, n)
    finally:
        await sim.stop()


async def test_fixed_pricing_places_orders_the_given_ticks_away(sim: Simulator, tmp_path: Path) -> None:
    # NEX: tick 0.000000001 on a price near 0.0000056, so one tick is ~0.018 %.
    config = write_config(tmp_path, sim, {"alice": {"token": "NEX", "target": {"value": 40},
                                                    "pricing": {"mode": "fixed", "buy_offset": 20, "sell_offset": 60}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
        tick = Decimal("0.000000001")
        cycle = await d.store.last_cycle("alice")
        assert cycle is not None
        # working − pending = sell_offset ticks exactly (both on tick, passive rounding).
        assert (cycle.working_price - cycle.pending_price) / tick == 60
        await assert_clean(sim, d.store, "alice")


async def test_points_target_on_a_4x_token_needs_a_quarter_of_the_volume(sim: Simulator, tmp_path: Path) -> None:
    # 6 points = 2^6 = 64 of counted volume; AOP is 4x, so 16 USDT bought is enough.
    config = write_config(tmp_path, sim, {"carol": {"token": "AOP", "target": {"kind": "points", "value": 6},
                                                    "order": {"quote_amount": 5}}})
    async with running(config) as d:
        bot = await d.bot("carol")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "points target reached")
        stats = await d.store.user_stats("carol")
        assert Decimal(16) <= stats.buy_quote < Decimal(16) + 5
        assert stats.cycles in (4, 5)
        assert bot.status()["target_volume"] == "16.00000000"


async def test_buy_timeout_with_partial_fill_unwinds_what_was_bought(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 1},
                                                    "max_price_age_s": 3600}})
    book = sim.exchange.books["ALPHA_22USDT"]
    sym = sim.exchange.symbols["ALPHA_22USDT"]
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        # Between cycles first: a cycle in flight at the freeze could hold the bot (its SELL resting) or move the
        # last price (its unwind) so that the next BUY no longer reaches the thin ask.
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        # Freeze the market; leave only a thin ask so the 20 USDT BUY fills a tenth and rests. Bids at or above the
        # thin ask's price go too: the ask would trade with them instead of resting for otobot's BUY.
        sim.market.paused = True
        last = bot.last_trade.price
        for o in list(book.orders_of("mm")):
            if o.side == SELL or o.price >= last:
                book.cancel(o.order_id)
        sim.exchange.submit_background(sym, "thin", SELL, last, Decimal("0.04"), rest=True)
        await d.supervisor.resume("alice")

        async def partial_cycle() -> int | None:
            # The cycle whose BUY took the thin ask and was cancelled, once its unwind filled and the bot moved on.
            orders = await d.store.orders_page("alice", limit=100)
            partial = {o.cycle_id for o in orders
                       if o.role == "working" and o.cum_qty == Decimal("0.04") and o.status == "CANCELED"}
            done = [o.cycle_id for o in orders if o.role == "unwind" and o.status == "FILLED" and o.cycle_id in partial]
            if done and bot.cycle.state not in ("cancelled", "unwinding", "done"):
                return done[0]
            return None

        cycle_id = await wait_for(partial_cycle, 20, "the partial cycle closed")
        audit = [r["reason"] for r in await d.store.audit_rows("alice", 200)]
        assert any("BUY not filled within 1.0 s" in r for r in audit), audit
        assert any("selling it" in r for r in audit), audit
        legs = [o for o in await d.store.orders_page("alice", limit=100) if o.cycle_id == cycle_id]
        assert [o.status for o in legs if o.role == "unwind"] == ["FILLED"]
        working = next(o for o in legs if o.role == "working")
        assert working.cum_qty == Decimal("0.04") and working.status == "CANCELED"
        await d.supervisor.pause("alice")
        await assert_clean(sim, d.store, "alice")


async def test_sell_timeout_sells_the_rest_down_the_ladder(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"sell_s": 1},
                                                    "max_price_age_s": 3600,
                                                    "unwind": {"ladder_pct": [0.5, 1, 30], "rung_timeout_s": 0.5}}})
    book = sim.exchange.books["ALPHA_22USDT"]
    sym = sim.exchange.symbols["ALPHA_22USDT"]
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", what="paused between cycles")
        # No bids near the price: the pending SELL rests; only a bid 20 % down will take the last rung.
        sim.market.paused = True
        for o in list(book.orders_of("mm")):
            if o.side == BUY:
                book.cancel(o.order_id)
        last = bot.last_trade.price
        sim.exchange.submit_background(sym, "deep", BUY, (last * Decimal("0.8")).quantize(sym.tick), Decimal(10),
                                       rest=True)
        before = bot.cycles_completed  # a cycle in flight when the pause came finished normally
        await d.supervisor.resume("alice")
        await wait_for(lambda: bot.cycles_completed > before, 30, "the cycle closed through the ladder")
        await d.supervisor.pause("alice")
        audit = [r["reason"] for r in await d.store.audit_rows("alice", 200)]
        assert any("SELL not filled within 1.0 s" in r for r in audit), audit
        unwinds = [o for o in await d.store.orders_page("alice", limit=100) if o.role == "unwind"]
        # Rungs 0.5 % and 1 % found no bid and were cancelled; the 30 % rung sold at the deep bid.
        assert [o.status for o in sorted(unwinds, key=lambda o: o.id)] == ["CANCELED", "CANCELED", "FILLED"]
        sim.market.paused = False
        await assert_clean(sim, d.store, "alice")


async def test_insufficient_balance_pauses_that_user_with_the_reason(sim: Simulator, tmp_path: Path) -> None:
    sim.exchange.accounts["bob"].balances["USDT"][0] = Decimal(5)
    config = write_config(tmp_path, sim, {"alice": {}, "bob": {}})
    async with running(config) as d:
        bob = await d.bot("bob")
        await wait_for(lambda: bob.cycle.state == "paused", 20, "bob paused")
        assert bob.paused_reason == "insufficient_balance"
        assert await d.store.pause_reason("bob") == "insufficient_balance"
        alice = await d.bot("alice")
        await wait_for(lambda: alice.cycles_completed >= 1, 20, "alice trades on")
        assert sim.requests.get(p.PLACE_OTO, 0) >= 1
        assert not sim.state("bob")["orders"]


async def test_volatility_above_the_limit_stops_new_cycles(sim: Simulator, tmp_path: Path, logs: list[str]) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10000},
                                                    "volatility": {"window_s": 30, "max_move_pct": 1}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 20, "first cycle")
        sim.market.shock("ALPHA_22USDT", Decimal(5))
        await wait_for(lambda: any("Not placing: the price moved" in line for line in logs), 20, "volatility refusal")
        placed = sim.requests[p.PLACE_OTO]
        await asyncio.sleep(1.0)
        assert sim.requests[p.PLACE_OTO] == placed  # nothing new while the window holds the jump
        assert bot.cycle.state == "idle"


async def test_expired_cookies_pause_one_user_while_the_others_trade(sim: Simulator, tmp_path: Path,
                                                                     logs: list[str]) -> None:
    sim.exchange.accounts["bob"].expired = True
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 40}}, "bob": {}})
    async with running(config) as d:
        bob = await d.bot("bob")
        await wait_for(lambda: bob.paused_reason == "auth_expired", 20, "bob paused for auth")
        alice = await d.bot("alice")
        await wait_for(lambda: alice.cycle.state == "finished", 30, "alice reaches her target")
        assert any("otobot creds import bob" in line for line in logs)
        # Cookies refreshed on the exchange side, operator resumes: bob trades.
        sim.exchange.accounts["bob"].expired = False
        await d.supervisor.resume("bob")
        await wait_for(lambda: bob.cycles_completed >= 1, 30, "bob trades after resume")
