"""Issue 9's stuck and stranded states, each against the simulator's own books (problem 8 lives with the streams)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from otobot.config.settings import load_global, scan_users
from otobot.daemon.supervisor import CredentialSource, Supervisor, _Slot
from otobot.exchange import protocol as p
from otobot.exchange.filters import fmt, pay_amount
from otobot.sim.config import default_sim_config
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.bot import Bot
from tests.helpers import Daemon, assert_clean, check_invariants, running, wait_for, write_config, write_user

KOGE = "ALPHA_22USDT"


async def ready(d: Daemon, user: str = "alice") -> Any:
    bot = await d.bot(user)
    await wait_for(lambda: bot.last_trade is not None and bot.stream_up, 20, "price and stream")
    return bot


def starve(sim: Simulator, symbol: str, side: str) -> None:
    """Freeze the market and take away one side of the book, so our orders rest instead of filling."""
    sim.market.paused = True
    book = sim.exchange.books[symbol]
    for o in list(book.orders_of("mm")):
        if o.side == side:
            book.cancel(o.order_id)


def open_orders(sim: Simulator, user: str = "alice") -> list[dict[str, Any]]:
    return list(sim.state(user)["open_orders"])


async def kill(d: Daemon, user: str = "alice") -> None:
    """The bot's task dies at once (as under kill -9): no shutdown runs, SQLite keeps the cycle where it was."""
    task = d.supervisor.slots[user].task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# ------------------------------------------------------------------ 1. restore into partially_filled


async def test_restart_into_partially_filled_still_times_out_the_buy(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 2},
                                                    "max_price_age_s": 3600}})
    async with running(config) as d:
        bot = await ready(d)
        starve(sim, KOGE, SELL)
        sim.exchange.submit_background(sim.exchange.symbols[KOGE], "thin", SELL, bot.last_trade.price,
                                       Decimal("0.04"), rest=True)
        await wait_for(lambda: bot.cycle.state == "partially_filled", 20, "the BUY part filled")
        await kill(d)
    async with running(config) as d:  # the market stays frozen: the rest of the BUY can only time out
        bot = await d.bot("alice")
        # Old code: restored into partially_filled with no deadline, the BUY stayed on the book for good.
        await wait_for(lambda: bot.cycles_completed >= 1, 20, "the restored cycle timed out, unwound and closed")
        orders = await d.store.orders_page("alice", limit=100)
        # The part-filled BUY (cycles before the freeze may have filled whole) was cancelled by its restored timer.
        assert [o.status for o in orders if o.role == "working" and o.cum_qty == Decimal("0.04")] == ["CANCELED"]
        assert any(o.role == "unwind" and o.status == "FILLED" for o in orders)
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        await assert_clean(sim, d.store, "alice")


# ------------------------------------------------------------------ 2. stopping cancels the unfilled BUY for real


async def _resting_buy(sim: Simulator, d: Daemon) -> Any:
    bot = await ready(d)
    starve(sim, KOGE, SELL)
    await wait_for(lambda: bot.cycle.state == "pending", 20, "a BUY resting on the book")
    assert [o["side"] for o in open_orders(sim)] == [BUY, SELL]  # the working BUY and its dormant SELL
    return bot


async def test_stop_awaits_the_bots_shutdown_which_cancels_the_unfilled_buy(sim: Simulator, tmp_path: Path,
                                                                           logs: list[str]) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 600},
                                                    "max_price_age_s": 3600}})
    async with running(config) as d:
        await _resting_buy(sim, d)
        resting = {str(o["orderId"]) for o in open_orders(sim)}
    # The supervisor's stop (SIGTERM's path) waited for the bot: nothing it said it cancelled is still live.
    assert any("shutting down: cancelling the unfilled BUY" in line for line in logs)
    assert open_orders(sim) == []
    assert {o["status"] for o in sim.state("alice")["orders"] if str(o["orderId"]) in resting} == {"CANCELED"}


async def test_a_user_disabled_on_reload_leaves_no_live_buy(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 600},
                                                    "max_price_age_s": 3600}})
    async with running(config) as d:
        await _resting_buy(sim, d)
        resting = {str(o["orderId"]) for o in open_orders(sim)}
        write_user(tmp_path, sim, "alice", {"enabled": False, "timeouts": {"buy_s": 600}})
        summary = await d.supervisor.reload()
        assert summary["stopped"] == ["alice"]
        assert open_orders(sim) == []
        assert {o["status"] for o in sim.state("alice")["orders"] if str(o["orderId"]) in resting} == {"CANCELED"}


# ------------------------------------------------------------------ 3. a reconcile failing right after subscribe


async def test_a_failed_reconcile_after_subscribe_is_retried_not_a_disconnect(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.http_error(503, count=3, path=p.OPEN_ORDERS)  # the first reconciles after subscribe fail
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 40}}},
                          reliability={"disconnect_grace_s": 1.0, "rest_retries": 0})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "trading once the reconcile succeeded")
        assert sim.faults.injected["http_503"] == 3
        pauses = [r for r in await d.store.audit_rows("alice", 500) if r["kind"] == "pause"]
        assert pauses == [], pauses  # never `disconnected` while the stream was connected
        await assert_clean(sim, d.store, "alice")


# ------------------------------------------------------------------ 4. token change mid-cycle


async def test_token_change_mid_cycle_finishes_the_old_cycle_on_its_own_symbol(sim: Simulator, tmp_path: Path,
                                                                             logs: list[str]) -> None:
    user = {"target": {"value": 1000}, "timeouts": {"buy_s": 600}, "max_price_age_s": 3600}
    config = write_config(tmp_path, sim, {"alice": user})
    async with running(config) as d:
        await _resting_buy(sim, d)
        write_user(tmp_path, sim, "alice", {**user, "token": "NOPE"})  # an invalid new token, mid-cycle
        assert (await d.supervisor.reload())["restarted"] == ["alice"]
        bot = await d.bot("alice")
        await wait_for(lambda: bot.paused_reason == "config", 20, "paused for the bad token")
        assert any("token 'NOPE'" in line and "otobot tokens" in line for line in logs)
        # The old KOGE cycle was cancelled and closed on KOGE, not looked up on the new token's symbol.
        assert open_orders(sim) == []
        assert await d.store.live_cycle("alice") is None
        assert d.supervisor.slots["alice"].restarts == 0  # no crash loop
        # A valid token now: the bot trades it.
        sim.market.paused = False
        write_user(tmp_path, sim, "alice", {**user, "token": "AOP", "timeouts": {"buy_s": 3}})
        await d.supervisor.reload()
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 30, "trading AOP")
        assert (await d.store.last_cycle("alice")).symbol == "ALPHA_118USDT"
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        await assert_clean(sim, d.store, "alice")


# ------------------------------------------------------------------ 5. a POST the exchange applies late


async def test_an_oto_applied_after_it_was_settled_not_placed_is_adopted(sim: Simulator, tmp_path: Path,
                                                                        logs: list[str]) -> None:
    # Settled "not placed" after two lookups 0.3 s apart; the exchange applies it 1.5 s after the POST, while
    # the bot waits out pause_between_cycles_s.
    sim.faults.drop_response(p.PLACE_OTO, count=1, when="late", apply_after_s=1.5)
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 40}, "pause_between_cycles_s": 3}},
                          reliability={"unknown_settle_s": 0.3})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 40, "target reached")
        adopted = [r for r in await d.store.audit_rows("alice", 500) if r["kind"] == "adopt"]
        assert adopted and "after it was settled as not placed" in adopted[-1]["reason"]
        stats = await d.store.user_stats("alice")
        assert sim.requests[p.PLACE_OTO] == stats.cycles  # the late one became a cycle; no second OTO beside it
        assert any("Adopted OTO working" in line for line in logs)
        await assert_clean(sim, d.store, "alice")  # no untracked order, no lost fill, no overlapping OTOs


async def test_an_unknown_execution_is_recorded_and_reported_never_dropped(sim: Simulator, tmp_path: Path,
                                                                          logs: list[str]) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.5}})
    async with running(config) as d:
        bot = await ready(d)
        account = sim.exchange.accounts["alice"]
        price = (bot.last_trade.price * Decimal("1.01")).quantize(Decimal("0.00000001"))
        stray = sim.exchange.place_limit(account, {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": "BUY",
                                                   "price": format(price, "f"), "quantity": "0.1000",
                                                   "paymentDetails": [{"amount": fmt(pay_amount(price, Decimal("0.1"))),
                                                                       "paymentWalletType": "CARD"}]})
        await wait_for(lambda: d.store.fills("alice", str(stray)), 20, "the stray's fill recorded")
        assert any("Untracked order on the user stream" in line and str(stray) in line for line in logs)
        assert [r for r in await d.store.audit_rows("alice", 500) if r["kind"] == "stray"]
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        inv = await check_invariants(sim, d.store, "alice")
        assert (inv.lost_fills, inv.untracked_orders, inv.duplicates) == (0, 0, 0), inv


# ------------------------------------------------------------------ 6. fee dust


async def test_fee_dust_is_swept_between_cycles(tmp_path: Path, logs: list[str]) -> None:
    # KOGE with a coarser step: each BUY's fee leaves ~0.00096 KOGE (0.046 USDT) that the SELL cannot carry,
    # sellable after three cycles (≥ step and ≥ 0.1 USDT).
    base = default_sim_config(users=1, seed=5)
    symbols = tuple(dataclasses.replace(s, step=Decimal("0.001"), min_qty=Decimal("0.001"))
                    if s.alpha_id == "ALPHA_22" else s for s in base.symbols)
    sim = Simulator(dataclasses.replace(base, symbols=symbols))
    await sim.start()
    try:
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 200}}})
        async with running(config) as d:
            bot = await d.bot("alice")
            await wait_for(lambda: bot.cycle.state == "finished", 60, "target reached")
            assert any("Sweeping" in line and "fee dust" in line for line in logs)
            sweeps = [o for o in await d.store.orders_page("alice", limit=500) if o.role == "unwind"]
            assert sweeps and all(o.status == "FILLED" for o in sweeps)
            free = sim.exchange.accounts["alice"].balances["ALPHA_22"][0]
            assert free * bot.last_trade.price < Decimal("0.1")  # what is left is not sellable yet
            stats = await d.store.user_stats("alice")
            assert stats.cycles == bot.cycles_completed  # a sweep is not a cycle
            await assert_clean(sim, d.store, "alice")
            from otobot.views import reports

            row = await reports.stats_row(d.store, "alice")
            assert Decimal(row["inventory"]) < Decimal("0.1")
    finally:
        await sim.stop()


# ------------------------------------------------------------------ 7. the day's end


async def test_the_last_order_is_sized_to_the_remainder(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}, "order": {"quote_amount": 20}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
        stats = await d.store.user_stats("alice")
        assert Decimal(60) <= stats.buy_quote < Decimal("60.5"), stats.buy_quote  # was 79.6 with a full 4th order
        await assert_clean(sim, d.store, "alice")


async def test_a_raised_target_resumes_trading_the_same_day(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 20}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "first target reached")
        write_user(tmp_path, sim, "alice", {"target": {"value": 50}})
        assert (await d.supervisor.reload())["changed"] == ["alice"]
        await wait_for(lambda: bot.book.volume >= 50 and bot.cycle.state == "finished", 30, "raised target reached")
        stats = await d.store.user_stats("alice")
        assert Decimal(50) <= stats.buy_quote < Decimal("50.5")
        await assert_clean(sim, d.store, "alice")


# ------------------------------------------------------------------ 9. smaller ones


async def test_an_adopted_oto_already_filled_does_not_wait_the_buy_timeout(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.drop_response(p.PLACE_OTO, count=1, when="after")
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 20}, "timeouts": {"buy_s": 60}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 15, "the adopted, filled OTO closed at once")
        assert [r for r in await d.store.audit_rows("alice", 500) if r["kind"] == "adopt"]
        await assert_clean(sim, d.store, "alice")


async def test_429_during_an_unwind_retries_the_same_rung(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"sell_s": 1},
                                                    "max_price_age_s": 3600,
                                                    "unwind": {"ladder_pct": [0.5, 1, 30], "rung_timeout_s": 0.5}}})
    async with running(config) as d:
        bot = await ready(d)
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        starve(sim, KOGE, BUY)
        last = bot.last_trade.price
        sym = sim.exchange.symbols[KOGE]
        sim.exchange.submit_background(sym, "deep", BUY, (last * Decimal("0.8")).quantize(sym.tick), Decimal(10),
                                       rest=True)
        # Every unwind POST is refused twice with 429 first: the ladder must not be burnt by them.
        sim.faults.http_error(429, count=2, path=p.PLACE_ORDER, retry_after=0.2)
        before = bot.cycles_completed  # a cycle in flight when the pause came finished normally
        await d.supervisor.resume("alice")
        await wait_for(lambda: bot.cycles_completed > before, 30, "the cycle closed through the ladder")
        await d.supervisor.pause("alice")
        unwinds = sorted((o for o in await d.store.orders_page("alice", limit=100) if o.role == "unwind"),
                         key=lambda o: o.id)
        placed = [o.status for o in unwinds if o.status != "NOT_PLACED"]
        assert placed == ["CANCELED", "CANCELED", "FILLED"], [o.status for o in unwinds]
        assert sim.faults.injected["http_429"] == 2
        sim.market.paused = False
        await assert_clean(sim, d.store, "alice")


async def test_status_and_health_answer_while_a_bot_is_starting(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {}})
    settings = load_global(config)
    store = await Store.open(settings.database)
    try:
        sup = Supervisor(settings, store, CredentialSource(store, None))
        cfg = scan_users(settings.users_dir).users["alice"]
        assert cfg.credentials is not None
        # The supervisor has made the bot, whose task has not run yet: no state restored, no stream.
        bot = Bot(cfg, settings, store, cfg.credentials, sup.machine)
        sup.slots["alice"] = _Slot(cfg=cfg, bot=bot)
        assert bot.status()["state"] == "starting"
        assert (await sup.status())["users"][0]["state"] == "starting"
        health = await sup.health()
        assert health["users"]["alice"]["state"] == "starting" and health["ok"] is False
    finally:
        await store.close()


# ------------------------------------------------------------------ logging (issue 10, part of the driver)


async def test_one_info_line_per_cycle_with_the_days_progress(sim: Simulator, tmp_path: Path,
                                                              logs: list[str]) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 40}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
        cycles = (await d.store.user_stats("alice")).cycles
    info = [line for line in logs if line.startswith("INFO") and "[alice#" in line]
    done = [line for line in info if "] done: +" in line]
    assert len(done) == cycles
    assert re.search(r"\[alice#\d+\] done: \+\d+\.\d\d USDT, \d+\.\d\d/40\.00 \(\d+ %\), -?\d+\.\d bps$", done[-1])
    assert not [line for line in info if " → " in line]  # state changes are DEBUG
    assert any(line.startswith("DEBUG") and "idle → placing" in line for line in logs)


async def test_an_oto_applied_late_during_the_next_cycle_is_followed_after_it(sim: Simulator, tmp_path: Path,
                                                                             logs: list[str]) -> None:
    sim.faults.drop_response(p.PLACE_OTO, count=1, when="late", apply_after_s=2.0)
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "timeouts": {"buy_s": 600},
                                                    "max_price_age_s": 3600}},
                          reliability={"unknown_settle_s": 0.3})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "reconciling", 20, "the first OTO's outcome unknown")
        starve(sim, KOGE, SELL)  # the next OTO's BUY rests: the late one lands while it is in flight
        await wait_for(lambda: bot.cycle.state == "pending", 20, "the second OTO resting")
        await wait_for(lambda: bot.state.late_cycle is not None, 20, "the late OTO adopted, waiting its turn")
        placed = sim.requests[p.PLACE_OTO]
        assert placed == 2 and len(open_orders(sim)) == 4
        sim.market.paused = False  # both BUYs fill now; the second cycle ends, then the adopted one is followed
        await wait_for(lambda: bot.cycles_completed >= 2 and bot.state.late_cycle is None, 30, "both cycles done")
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", 20, "paused between cycles")
        assert any("followed right after it" in line for line in logs)
        inv = await check_invariants(sim, d.store, "alice")
        # Two OTOs overlapped once (the exchange applied one late, nothing could know); none since then.
        assert (inv.duplicates, inv.lost_fills, inv.untracked_orders, inv.overlapping_otos) == (0, 0, 0, 1), inv
        assert inv.base_gap < Decimal("0.001"), inv


async def test_ctl_resume_while_still_disconnected_gets_a_fresh_grace_period(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}},
                          reliability={"disconnect_grace_s": 1.0, "rest_retries": 0})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 20, "trading")
        sim.faults.http_error(503, count=10**6, path=p.LISTEN_KEY)  # the stream cannot come back
        await sim.drop_ws("user")
        await wait_for(lambda: bot.paused_reason == "disconnected", 20, "paused for the outage")
        await d.supervisor.resume("alice")
        assert bot.paused_reason is None  # not re-paused in the same instant (the old behaviour)
        await wait_for(lambda: bot.paused_reason == "disconnected", 20, "paused again after a new grace period")
        rows = [r for r in reversed(await d.store.audit_rows("alice", 500)) if r["kind"] in ("pause", "resume")]
        resumed, repaused = rows[-2], rows[-1]
        assert (resumed["kind"], repaused["kind"]) == ("resume", "pause")
        assert repaused["ts_ms"] - resumed["ts_ms"] >= 900  # a full grace (1 s) after the operator's resume
        sim.faults.clear()
