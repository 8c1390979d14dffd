"""ctl cancel / flatten end to end: through the cycle table and desk against the simulator's own books, in process
and as `otobot ctl` subprocesses talking to a daemon process over its control socket."""

from __future__ import annotations

import asyncio
import re
import sys
from decimal import Decimal
from pathlib import Path

from otobot.sim.matching import BUY
from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.botapi import serve_bot_api
from tests.e2e.test_day_to_day import with_telegram
from tests.e2e.test_process import daemon, db_cycles
from tests.helpers import assert_clean, running, wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
# With the market's bids starved the BUY still crosses the asks but the pending SELL rests: the cycle waits in
# `selling` for the operator; only the 30 % rung of the ladder reaches the one deep bid left.
STUCK_SELL = {"target": {"value": 1000}, "timeouts": {"sell_s": 600}, "max_price_age_s": 3600,
              "unwind": {"ladder_pct": [0.5, 1, 30], "rung_timeout_s": 0.5}}
PAIR = "ALPHA_22USDT"  # alice's KOGE in the default simulator


def starve_bids(sim: Simulator) -> None:
    """No bid near the price any more, one deep bid 20 % under it (as tests/e2e/test_trading.py does)."""
    sim.market.paused = True
    book, sym = sim.exchange.books[PAIR], sim.exchange.symbols[PAIR]
    for o in list(book.orders_of("mm")):
        if o.side == BUY:
            book.cancel(o.order_id)
    deep = (sim.market.mid[PAIR] * Decimal("0.8")).quantize(sym.tick)
    sim.exchange.submit_background(sym, "deep", BUY, deep, Decimal(10), rest=True)


def base_held(sim: Simulator, user: str, asset: str) -> Decimal:
    b = sim.state(user)["balances"].get(asset, {"free": "0", "locked": "0"})
    return Decimal(b["free"]) + Decimal(b["locked"])


async def test_ctl_cancel_cancels_both_legs_sells_the_base_and_pauses(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": STUCK_SELL})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        assert bot.symbol == PAIR  # resolved by the bootstrap, which ends before the streams start
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", what="paused between cycles")
        # A cycle may have completed before the pause landed, leaving its fee dust: not this cycle's to sell.
        dust_before = base_held(sim, "alice", bot.token.alpha_id)
        starve_bids(sim)
        await d.supervisor.resume("alice")
        await wait_for(lambda: bot.cycle.state == "selling", 30, "a cycle waiting on its SELL")
        cycle_id = bot.cycle_row.id
        pending_id = bot.orders.pending.order_id
        bought = bot.orders.base_bought()
        asset = bot.token.alpha_id

        report = await asyncio.wait_for(d.supervisor.manual("alice", "cancel"), 60)

        assert report["action"] == "cancel" and report["state"] == "paused" and report["paused"] == "operator"
        assert pending_id in report["orders_cancelled"]
        assert Decimal(report["sold"]) > 0 and Decimal(report["sold"]) + Decimal(report["left"]) == bought
        assert Decimal(report["sold_quote"]) > 0 and Decimal(report["avg_price"]) > 0
        assert sim.state("alice")["open_orders"] == []  # nothing of alice's is left on the book
        # Only the sub-step fee dust stays (this cycle's, and any an earlier cycle left).
        assert base_held(sim, "alice", asset) == dust_before + Decimal(report["left"])
        orders = await d.store.cycle_orders(cycle_id)
        assert [o.status for o in orders if o.role == "pending"] == ["CANCELED"]
        assert [o.status for o in orders if o.role == "unwind"] == ["CANCELED", "CANCELED", "FILLED"]
        assert await d.store.pause_reason("alice") == "operator"
        audit = [r["reason"] for r in await d.store.audit_rows("alice", 200)]
        assert "cancelled by the operator" in audit
        assert bot.cycle.state == "paused"
        await assert_clean(sim, d.store, "alice")


async def test_ctl_flatten_sells_all_free_base_down_the_ladder(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", what="paused between cycles")
        asset = bot.token.alpha_id
        before = base_held(sim, "alice", asset)
        # Leftovers bought by hand on the website: otobot's fills know nothing of them; flatten sells them too.
        extra = (Decimal(30) / bot.last_trade.price).quantize(Decimal("0.01"))
        sim.exchange.set_balance("alice", asset, before + extra)

        report = await asyncio.wait_for(d.supervisor.manual("alice", "flatten"), 60)

        assert report["action"] == "flatten" and report["paused"] == "operator" and report["state"] == "paused"
        sold = Decimal(report["sold"])
        assert sold >= extra and sold + Decimal(report["left"]) == before + extra
        assert sim.state("alice")["open_orders"] == []
        assert base_held(sim, "alice", asset) < bot.filters.step_size  # everything sellable is sold
        last_sell = (await d.store.orders_page("alice", limit=1))[0]  # written before sent, like every order
        assert last_sell.role == "unwind" and last_sell.side == "SELL" and last_sell.status == "FILLED"
        sweep = await d.store.cycle(last_sell.cycle_id)
        assert sweep is not None and sweep.kind == "sweep" and sweep.closed_ms is not None
        assert await d.store.pause_reason("alice") == "operator"


async def otobot(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_ctl_cancel_and_flatten_as_commands_against_the_daemon_process(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": STUCK_SELL})
    db = tmp_path / "otobot.db"

    async def selling() -> bool:
        if not db.exists():
            return False
        store = await Store.open(db)
        try:
            row = await store.live_cycle("alice")
            return row is not None and row.state == "selling"
        finally:
            await store.close()

    async with daemon(config, tmp_path / "daemon.log"):
        await wait_for(lambda: db_cycles(db, "alice"), 30, "alice trading")
        starve_bids(sim)
        await wait_for(selling, 40, "a cycle waiting on its SELL")
        code, out, err = await otobot("ctl", "cancel", "alice", "-c", str(config))
        assert code == 0, err
        assert out.startswith("alice: cancel done. Orders cancelled: ") and "Now paused, paused operator." in out
        assert sim.state("alice")["open_orders"] == []

        code, out, err = await otobot("ctl", "flatten", "alice", "-c", str(config))
        assert code == 0, err
        assert out.startswith("alice: flatten done.") and "Now paused, paused operator." in out
        assert sim.state("alice")["open_orders"] == []

        code, out, err = await otobot("ctl", "cancel", "-c", str(config))
        assert code == 2 and "which user?" in err

    code, out, err = await otobot("ctl", "--help")
    assert "cancel" in out and "flatten" in out


async def test_telegram_cancel_and_flatten_need_a_confirmation_from_the_same_chat(sim: Simulator,
                                                                                   tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": STUCK_SELL})
    db = tmp_path / "otobot.db"
    async with serve_bot_api() as api:
        with_telegram(config, api.url, tmp_path)

        def replies() -> list[str]:
            return [r for r in api.replies() if not r.startswith("otobot [")]

        async def reply(n: int) -> str:
            await wait_for(lambda: len(replies()) >= n, 60, f"reply {n}")
            return replies()[n - 1]

        async with daemon(config, tmp_path / "daemon.log"):
            await wait_for(lambda: db_cycles(db, "alice"), 30, "alice trading")
            starve_bids(sim)
            api.push("/cancel alice")
            asked = await reply(1)
            match = re.fullmatch(r"cancel alice: cancel the live cycle, sell what it bought down the unwind ladder, "
                                 r"then pause\. Reply /confirm (\d{4}) within 60 s", asked)
            assert match, asked
            api.push("/confirm 0000")  # not the code: nothing happens
            assert (await reply(2)).startswith("no pending /cancel or /flatten with code 0000")
            api.push(f"/confirm {match[1]}", chat=777)  # a chat that may not command: ignored
            api.push(f"/confirm {match[1]}")
            done = await reply(3)
            assert done.startswith("alice: cancel done.") and "Now paused, paused operator." in done, done
            assert sim.state("alice")["open_orders"] == []
            api.push(f"/confirm {match[1]}")  # a code is good once
            assert (await reply(4)).startswith("no pending /cancel or /flatten with code")

            api.push("/flatten alice")
            code = re.search(r"/confirm (\d{4})", await reply(5))
            assert code is not None
            api.push(f"/confirm {code[1]}")
            flat = await reply(6)
            assert flat.startswith("alice: flatten done.") and "paused operator" in flat, flat
            assert sim.state("alice")["open_orders"] == []
            assert api.replies("777") == []
