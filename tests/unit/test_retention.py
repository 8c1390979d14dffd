"""Retention on a real SQLite file: old detail rows go in small batches; daily totals and live cycles stay."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path

import pytest

from otobot.config.settings import ConfigError, load_global
from otobot.store.db import Store
from otobot.store.pruning import Pruned
from otobot.store.records import Fill
from otobot.store.retention import DAY_MS, Retention, cutoff_ms, prune
from otobot.trading import daybook as points
from tests.helpers import wait_for

D = Decimal
NOW_MS = 1_764_500_000_000  # 2025-11-30: the tests' "now"
OLD_MS = NOW_MS - 100 * DAY_MS  # older than the default 90 days
RECENT_MS = NOW_MS - 10 * DAY_MS
AUDIT_PER_CYCLE = 1  # the adoption each test cycle records (routine transitions are not audited)


def count(store_path: Path, table: str, where: str = "1", args: tuple[object, ...] = ()) -> int:
    with sqlite3.connect(store_path) as c:
        return int(c.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0])


async def cycle(store: Store, at_ms: int, *, user: str = "alice", close: bool = True, n: int = 0) -> int:
    """A round trip as the bot writes it: intent, placed, BUY filled, SELL filled, closed (unless `close` is off)."""
    day = points.utc_day(at_ms)
    cid, _, _ = await store.create_cycle(user=user, day=day, symbol="ALPHA_373USDT", base_asset="ALPHA_373",
                                         quote_asset="USDT", mul_point=1, working_price=D("0.23"),
                                         pending_price=D("0.2277"), quantity=D("86.9"), pay_amount=D("19.987"),
                                         now_ms=at_ms)
    buy, sell = f"{user}-{at_ms}-{n}-b", f"{user}-{at_ms}-{n}-s"
    await store.attach_oto(cid, buy, sell, f"{user}-{at_ms}-{n}", at_ms + 10,
                           transition=(user, "placing", "pending", "placed"))
    await store.audit(at_ms + 10, user, "adopt", f"adopted OTO working {buy} / pending {sell}", cycle_id=cid)
    for order_id, side, quote in ((buy, "BUY", "19.98"), (sell, "SELL", "19.79")):
        await store.apply_fill(Fill(user=user, cycle_id=None, order_id=order_id, side=side, price=D("0.23"),
                                    cum_qty=D("86.9"), cum_quote=D(quote), last_qty=D("86.9"), commission=D("0"),
                                    commission_asset="", time_ms=at_ms + 20, day=day, source="ws",
                                    status="FILLED"))
    if close:
        await store.close_cycle(cid, user, day, "selling", "sell filled", at_ms + 30, "next cycle")
    else:
        await store.set_cycle_state(cid, user, "pending", "selling", "buy filled", at_ms + 25)
    return cid


async def test_old_closed_cycles_lose_their_rows_and_recent_ones_keep_them(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    old = await cycle(store, OLD_MS)
    recent = await cycle(store, RECENT_MS)
    await store.set_pause("alice", "operator", OLD_MS + 1000)  # an old audit row of no cycle
    before = await store.user_stats("alice")

    done = await prune(store, cutoff_ms(NOW_MS, 90))

    assert done == Pruned(cycles=1, orders=2, fills=2, audit=AUDIT_PER_CYCLE + 1)
    assert await store.cycle(old) is None and await store.cycle(recent) is not None
    assert (count(db, "orders"), count(db, "fills")) == (2, 2)
    assert count(db, "orders", "cycle_id=?", (recent,)) == 2
    assert count(db, "audit", "cycle_id=?", (old,)) == 0
    assert count(db, "audit", "cycle_id=?", (recent,)) == AUDIT_PER_CYCLE
    assert count(db, "audit") == AUDIT_PER_CYCLE
    assert count(db, "audit", "kind='pause'") == 0
    assert await store.user_stats("alice") == before


async def test_daily_totals_are_kept_forever(store: Store, tmp_path: Path) -> None:
    await cycle(store, OLD_MS)
    await cycle(store, OLD_MS + 60_000, n=1)
    old_day = points.utc_day(OLD_MS)
    day_before = await store.day_volume("alice", old_day)
    stats_before = await store.user_stats("alice")

    await prune(store, cutoff_ms(NOW_MS, 90))

    assert count(tmp_path / "otobot.db", "cycles") == 0
    assert await store.day_volume("alice", old_day) == day_before
    assert day_before.cycles == 2 and day_before.buy_quote == D("39.96")
    assert await store.user_stats("alice") == stats_before


async def test_a_live_cycle_is_never_pruned_however_old(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    live = await cycle(store, OLD_MS, close=False)  # stuck in `selling` since 100 days
    await cycle(store, OLD_MS, n=1)

    done = await prune(store, cutoff_ms(NOW_MS, 90))

    assert done.cycles == 1
    row = await store.cycle(live)
    assert row is not None and row.state == "selling"
    assert await store.live_cycle("alice") == row
    assert [o.status for o in await store.cycle_orders(live)] == ["FILLED", "FILLED"]
    assert count(db, "fills", "cycle_id=?", (live,)) == 2
    assert count(db, "audit", "cycle_id=?", (live,)) == AUDIT_PER_CYCLE


async def test_each_transaction_is_a_small_batch(store: Store, tmp_path: Path) -> None:
    for i in range(7):
        await cycle(store, OLD_MS + i * 1000, n=i)
    cutoff = cutoff_ms(NOW_MS, 90)

    first = await store.prune_batch(cutoff, 3, 5)
    second = await store.prune_batch(cutoff, 3, 5)

    assert (first.cycles, first.orders, first.fills) == (3, 6, 6)
    assert first.audit <= 5 and second.cycles == 3
    assert count(tmp_path / "otobot.db", "cycles") == 1

    rest = await prune(store, cutoff, cycles=3, audit=5)

    assert rest.cycles == 1
    assert (count(tmp_path / "otobot.db", "cycles"), count(tmp_path / "otobot.db", "audit")) == (0, 0)


async def test_a_fill_replayed_for_a_pruned_order_adds_nothing(store: Store) -> None:
    await cycle(store, OLD_MS)
    await prune(store, cutoff_ms(NOW_MS, 90))
    replay = Fill(user="alice", cycle_id=None, order_id=f"alice-{OLD_MS}-0-b", side="BUY", price=D("0.23"),
                  cum_qty=D("86.9"), cum_quote=D("19.98"), last_qty=D("86.9"), commission=D("0"),
                  commission_asset="", time_ms=NOW_MS, day=points.utc_day(NOW_MS), source="rest")

    assert await store.apply_fill(replay) is None
    assert (await store.day_volume("alice", points.utc_day(NOW_MS))).buy_quote == 0


async def test_the_daemon_task_prunes_at_start_and_again_each_day(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    await cycle(store, OLD_MS)
    now = [NOW_MS / 1000]
    days: list[asyncio.Future[None]] = []

    async def next_day(seconds: float) -> None:
        assert seconds == 86_400.0
        days.append(asyncio.get_running_loop().create_future())
        await days[-1]

    retention = Retention(store, 90, clock=lambda: now[0], sleep=next_day)
    async with retention.running():
        await wait_for(lambda: days, what="the first pass")
        assert count(db, "cycles") == 0
        await cycle(store, OLD_MS + 86_400_000, n=1)  # a day later, this one is old enough too
        await cycle(store, NOW_MS, n=2)
        now[0] += 86_400
        days[-1].set_result(None)
        await wait_for(lambda: len(days) == 2, what="the second pass")
        assert count(db, "cycles") == 1

    assert count(db, "cycles", "intent_ms=?", (NOW_MS,)) == 1


async def test_retention_days_0_keeps_everything(store: Store, tmp_path: Path) -> None:
    await cycle(store, OLD_MS - 1000 * DAY_MS)

    await Retention(store, 0, clock=lambda: NOW_MS / 1000).run()  # returns at once: no loop, no sleep

    assert count(tmp_path / "otobot.db", "cycles") == 1


async def test_a_database_error_is_logged_and_the_next_pass_still_comes(tmp_path: Path, logs: list[str]) -> None:
    s = await Store.open(tmp_path / "otobot.db")
    await s.close()  # the store is gone under the task, as at shutdown

    assert await Retention(s, 90, clock=time.time).run_once() is None
    assert [line.rstrip() for line in logs if line.startswith("WARNING")] == [
        "WARNING [-#-] Retention pass failed (Cannot operate on a closed database.); the next one runs in 24 h"]


async def test_a_pass_says_what_it_pruned_in_one_line(store: Store, logs: list[str]) -> None:
    await cycle(store, OLD_MS)

    await Retention(store, 90, clock=lambda: NOW_MS / 1000).run_once()

    [line] = [line for line in logs if "Retention" in line]
    assert line.startswith("INFO [-#-] Retention: pruned 1 cycles, 2 orders, 2 fills, 1 audit rows older than 90 "
                           "days, "), line
    assert re.search(r", [1-9]\d* free pages given back to the disk, in \d", line), line


EXCHANGE = "exchange: {rest_url: 'https://www.binance.com'}\n"  # required since `check` got strict


def test_retention_days_defaults_to_90_and_0_turns_it_off(tmp_path: Path) -> None:
    path = tmp_path / "otobot.yaml"
    path.write_text(EXCHANGE)
    assert load_global(path).retention_days == 90
    path.write_text(EXCHANGE + "retention_days: 0\n")
    assert load_global(path).retention_days == 0


@pytest.mark.parametrize(("value", "words"), [
    ("-1", "key 'retention_days' = -1: must be ≥ 0"),
    ("30.5", "key 'retention_days' = 30.5: expected a whole number"),
    ("forever", "key 'retention_days' = 'forever': expected a whole number"),
])
def test_a_bad_retention_days_names_the_key_and_file(tmp_path: Path, value: str, words: str) -> None:
    path = tmp_path / "otobot.yaml"
    path.write_text(EXCHANGE + f"retention_days: {value}\n")

    with pytest.raises(ConfigError) as err:
        load_global(path)

    assert words in str(err.value) and str(path) in str(err.value)


async def plans(store: Store, db: Path, calls: list[Awaitable[object]]) -> list[tuple[str, list[str]]]:
    """Each SELECT/DELETE the calls ran, with SQLite's plan for it (EXPLAIN QUERY PLAN)."""
    seen: list[str] = []
    await store._call(lambda c: c.set_trace_callback(seen.append))
    writer = store._writer  # writes (pruning) run on the loop's own connection
    if writer is not None:
        writer.set_trace_callback(seen.append)
    for call in calls:
        await call
    await store._call(lambda c: c.set_trace_callback(None))
    if writer is not None:
        writer.set_trace_callback(None)
    with sqlite3.connect(db) as c:
        return [(sql, [r[3] for r in c.execute(f"EXPLAIN QUERY PLAN {sql}")])
                for sql in seen if sql.lstrip().upper().startswith(("SELECT", "DELETE"))]


async def test_status_and_history_read_the_newest_rows_from_an_index(store: Store, tmp_path: Path) -> None:
    """On a multi-GB file a sort of a user's history or a table scan is seconds; an index read is instant."""
    for user in ("alice", "bob"):
        await cycle(store, RECENT_MS, user=user)

    found = await plans(store, tmp_path / "otobot.db", [
        store.last_cycle("alice"), store.live_cycle("alice"), store.orders_page("alice"),
        store.orders_page("alice", status="FILLED"), store.audit_rows("alice"), store.user_stats("alice"),
        store.day_volume("alice", points.utc_day(RECENT_MS))])

    assert len(found) == 7
    for sql, plan in found:
        assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)
    by_table = {("orders" if "JOIN orders" in sql else sql.split(" FROM ")[1].split()[0])
                + (" live" if "state IN" in sql else ""): plan for sql, plan in found}
    assert by_table["cycles"] == ["SEARCH cycles USING INDEX cycles_user_id (user=?)"]
    assert by_table["cycles live"][0] == "SEARCH cycles USING INDEX cycles_live (user=?)"  # live rows only
    # `orders USER`: the user's cycles newest first, then each one's orders (no index of orders by user).
    assert by_table["orders"][:2] == ["SEARCH c USING COVERING INDEX cycles_user_id (user=?)",
                                      "SEARCH o USING INDEX orders_cycle (cycle_id=?)"]
    assert by_table["audit"] == ["SEARCH audit USING INDEX audit_user_id (user=?)"]


async def test_pruning_finds_old_rows_through_indexes(store: Store, tmp_path: Path) -> None:
    await cycle(store, OLD_MS)

    found = await plans(store, tmp_path / "otobot.db", [store.prune_batch(cutoff_ms(NOW_MS, 90), 50, 250)])

    # the first and last ids, the bisection's lookups, pick cycles, their legs, delete each leg's fills (two),
    # orders, cycles, audit
    assert len(found) >= 10
    for sql, plan in found:
        assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)
