"""How many SQLite writes one OTO cycle costs against the simulator (so a change that adds writes shows)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from otobot.sim.server import Simulator
from tests.helpers import assert_clean, running, wait_for, write_config


def count_writes(store: Any) -> list[list[Any]]:
    """Every write handed to the store's one writer from now on, in order: [committed at once, its result]."""
    seen: list[list[Any]] = []
    group = store.group
    write = group.write

    async def counted(body: Callable[..., Any], *, now: bool = False) -> Any:
        entry: list[Any] = [now, None]
        seen.append(entry)
        entry[1] = result = await write(body, now=now)
        return result

    group.write = counted
    return seen


def per_cycle(writes: list[list[Any]]) -> dict[int, int]:
    """Cycle id → its writes, from its intent (create_cycle returns the id first) up to the next intent; the
    last cycle counted may be unfinished, so it is left out."""
    starts = [(i, r[0]) for i, (now, r) in enumerate(writes) if now and isinstance(r, tuple)]
    return {cid: b - a for (a, cid), (b, _) in pairwise(starts)}


async def test_a_cycle_writes_its_intent_ids_fills_and_close_and_nothing_else(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "order": {"quote_amount": 20}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        writes = count_writes(d.store)
        await wait_for(lambda: bot.cycles_completed >= 5, 60, "five cycles")
        await bot.pause()
        await wait_for(lambda: bot.cycle.state == "paused", 30, "paused between cycles")
        cycles = [c for c in (await d.store.audit_rows("alice", 1000)) if c["kind"] == "transition"]
        fills = await d.store.fills("alice")
        done_of = {cid: (await d.store.cycle(cid)).state for cid in {f["cycle_id"] for f in fills}}  # type: ignore[union-attr]
        await assert_clean(sim, d.store, "alice")
    lengths = per_cycle(writes)
    assert len(lengths) >= 3, (writes, lengths)
    fills_of = {cid: sum(1 for f in fills if f["cycle_id"] == cid) for cid in lengths}
    for cid, n_writes in lengths.items():
        assert fills_of[cid] >= 2, fills_of  # a whole round trip: its BUY and its SELL filled
        # The intent (committed before its POST), the exchange's ids with placing → pending, one write per fill,
        # the close with done → idle; every other state change and status rides in one of those, or in at most
        # one write at the end of a step that recorded no fill (the BUY filled, its SELL not yet).
        assert n_writes <= 3 + fills_of[cid] + 1, (lengths, fills_of)
    # Carried, not lost: each cycle reached done; its happy path is in its rows, not in the audit (issue 24).
    for cid in lengths:
        assert [r for r in cycles if r["cycle_id"] == cid] == []
        assert done_of[cid] == "done", done_of


async def test_a_cancel_is_sent_only_after_the_cancelling_state_is_on_disk(sim: Simulator, tmp_path: Path) -> None:
    """State changes ride in later writes, but not past a cancel request: a restart right after it must find the
    cycle `cancelling` its working leg, not `pending` (the leg it cancels is what the column is for)."""
    import sqlite3

    from otobot.sim.matching import SELL

    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 1},
                                                    "max_price_age_s": 3600}})
    book = sim.exchange.books["ALPHA_22USDT"]
    seen: list[tuple[str, str | None, str]] = []
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        sim.market.paused = True  # no asks: the next BUY rests until its timeout cancels it
        for o in list(book.orders_of("mm")):
            if o.side == SELL:
                book.cancel(o.order_id)
        assert bot.rest is not None
        cancel = bot.rest.cancel

        async def spied(symbol: str, order_id: str) -> Any:
            # What a process killed at this instant leaves on disk, read through another connection.
            with sqlite3.connect(d.settings.database) as c:
                state, leg = c.execute("SELECT c.state, c.cancelling FROM cycles c JOIN orders o ON o.cycle_id=c.id "
                                       "WHERE o.order_id=?", (order_id,)).fetchone()
            seen.append((state, leg, order_id))
            return await cancel(symbol, order_id)

        bot.rest.cancel = spied  # type: ignore[method-assign]
        await wait_for(lambda: seen, 30, "the BUY timeout's cancel request")
        await wait_for(lambda: bot.cycle.state in ("idle", "done", "paused"), 30, "the cancelled cycle closed")
        await d.supervisor.pause("alice")
        await assert_clean(sim, d.store, "alice")
    assert seen[0][:2] == ("cancelling", "working"), seen
