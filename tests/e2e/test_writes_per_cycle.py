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
    # Carried, not lost: each cycle's trail still reads placing → pending → selling → done, in order.
    for cid in lengths:
        trail = [(r["from_state"], r["to_state"]) for r in reversed(cycles) if r["cycle_id"] == cid]
        assert trail == [("idle", "placing"), ("placing", "pending"), ("pending", "selling"),
                         ("selling", "done")], trail
