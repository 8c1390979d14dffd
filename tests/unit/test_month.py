"""A month without a restart (issue 24), the store's side: the audit keeps what operators audit, a file made before
is migrated (routine transitions and unused indexes go), pruning gives space back, and the bounds hold."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from otobot.store import groupcommit, reclaim
from otobot.store.db import Store
from otobot.store.pruning import last_id_before
from otobot.store.records import Fill
from otobot.store.retention import DAY_MS, Retention, cutoff_ms
from otobot.store.schema import MIGRATIONS, migrate

D = Decimal
NOW_MS = 1_764_500_000_000
OLD_MS = NOW_MS - 100 * DAY_MS
MINE = next(i for i, m in enumerate(MIGRATIONS) if "DELETE FROM audit WHERE kind = 'transition'" in m)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


def _indexes(db: Path) -> set[str]:
    return {r[0] for r in _rows(db, "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}


async def _cycle(store: Store, at_ms: int, n: int, user: str = "alice") -> int:
    day = "2025-08-22"
    cid, _, _ = await store.create_cycle(user=user, day=day, symbol="ALPHA_373USDT", base_asset="ALPHA_373",
                                         quote_asset="USDT", mul_point=1, working_price=D("0.23"),
                                         pending_price=D("0.2277"), quantity=D("86.9"), pay_amount=D("19.987"),
                                         now_ms=at_ms)
    buy, sell = f"{n}1", f"{n}2"
    await store.attach_oto(cid, buy, sell, f"L{n}", at_ms + 10, transition=(user, "placing", "pending", "placed"))
    for order_id, side, quote in ((buy, "BUY", "19.98700000"), (sell, "SELL", "19.78700000")):
        await store.apply_fill(Fill(user=user, cycle_id=None, order_id=order_id, side=side, price=D("0.23"),
                                    cum_qty=D("86.90000000"), cum_quote=D(quote), last_qty=D("86.9"),
                                    commission=D("0"), commission_asset="", time_ms=at_ms + 20, day=day,
                                    source="ws", status="FILLED"))
    await store.close_cycle(cid, user, day, "selling", "pending SELL filled", at_ms + 30, "next cycle")
    return cid


async def test_the_happy_path_is_not_audited_but_a_timeout_an_unwind_and_a_pause_are(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    store = await Store.open(db)
    try:
        cid = await _cycle(store, NOW_MS, 1)
        await store.set_cycle_state(cid, "alice", "pending", "cancelling", "BUY not filled within 5 s", NOW_MS + 40)
        await store.set_cycle_state(cid, "alice", "cancelling", "cancelled", "cancelled", NOW_MS + 41)
        await store.set_pause("alice", "operator", NOW_MS + 50)
    finally:
        await store.close()
    assert _rows(db, "SELECT kind, from_state, to_state, reason FROM audit ORDER BY id") == [
        ("transition", "pending", "cancelling", "BUY not filled within 5 s"),
        ("transition", "cancelling", "cancelled", "cancelled"),
        ("pause", None, None, "operator")]


async def test_a_file_made_before_loses_its_routine_transitions_and_unused_indexes(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db, isolation_level=None) as c:  # the schema as it was before this migration
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for script in MIGRATIONS[:MINE]:
            for stmt in script.split(";"):
                if stmt.strip():
                    c.execute(stmt)
        c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(MINE),))
        c.execute("INSERT INTO cycles(user, day, symbol, base_asset, quote_asset, state, working_price, "
                  "pending_price, quantity, pay_amount, intent_ms) VALUES ('alice', 'd', 'S', 'B', 'Q', 'done', "
                  "'1', '1', '1', '1', 1)")
        rows = [(1, "transition", "idle", "placing"), (1, "transition", "placing", "pending"),
                (1, "transition", "pending", "cancelling"), (None, "transition", "done", "idle"),
                (None, "transition", "idle", "paused"), (None, "pause", None, None), (1, "adopt", None, None)]
        c.executemany("INSERT INTO audit(ts_ms, user, cycle_id, kind, from_state, to_state, reason) "
                      "VALUES (1, 'alice', ?, ?, ?, ?, 'why')", rows)
    before = _indexes(db)
    assert {"audit_user", "orders_user_time", "orders_user_id", "fills_order", "cycles_user_state",
            "cycles_closed"} <= before

    store = await Store.open(db)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert await store.live_cycle("alice") is None
    finally:
        await store.close()

    assert _rows(db, "SELECT cycle_id, kind, from_state, to_state FROM audit ORDER BY id") == [
        (1, "transition", "pending", "cancelling"), (None, "transition", "idle", "paused"), (None, "pause", None, None),
        (1, "adopt", None, None)]
    after = _indexes(db)
    assert not after & {"audit_user", "orders_user_time", "orders_user_id", "fills_order", "cycles_user_state",
                        "cycles_closed"}
    assert {"cycles_live", "audit_user_id", "audit_time", "orders_cycle", "cycles_user_id"} <= after


def test_a_new_file_is_incremental_and_an_old_one_is_converted_once(tmp_path: Path) -> None:
    new = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    migrate(new)
    assert reclaim.is_incremental(new) and not reclaim.convert(new)
    new.close()
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.execute("CREATE TABLE t (x)")  # a table first: the mode can no longer be set without a VACUUM
    migrate(old)
    assert not reclaim.is_incremental(old)
    assert reclaim.convert(old) and reclaim.is_incremental(old)
    old.close()


async def test_pruning_gives_the_space_back_to_the_disk(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    store = await Store.open(db)
    try:
        for n in range(300):
            await _cycle(store, OLD_MS + n, n + 10)
        await store.checkpoints.run()
        grown = db.stat().st_size
        done = await Retention(store, 90, clock=lambda: NOW_MS / 1000).run_once()
        await store.checkpoints.run()
        assert done is not None and done.cycles == 300
        assert db.stat().st_size < grown / 2, (grown, db.stat().st_size)
        assert _rows(db, "PRAGMA freelist_count") == [(0,)]
    finally:
        await store.close()


async def test_an_execution_key_is_canonical_and_a_fill_is_found_by_its_order(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    try:
        await _cycle(store, NOW_MS, 7)
        await _cycle(store, NOW_MS + 100, 77)  # order 771 must not match order 71's key range
        fills = await store.fills("alice", "71")
        assert [f["exec_key"] for f in fills] == ["71:86.9"]
        assert fills[0]["qty"] == "86.90000000"  # the amounts keep the exchange's text
        assert [f["order_id"] for f in await store.fills("alice", "771")] == ["771"]
    finally:
        await store.close()


def test_the_last_cycle_begun_before_the_cutoff_is_found_by_bisection() -> None:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE TABLE cycles (id INTEGER PRIMARY KEY, intent_ms INTEGER)")
    assert last_id_before(c, 100) == 0
    ids = [3, 4, 9, 10, 11, 40, 41, 100]  # gaps, as pruning and deletes leave them
    c.executemany("INSERT INTO cycles VALUES (?, ?)", [(i, i * 10) for i in ids])
    for cutoff in (0, 30, 41, 95, 105, 111, 405, 2000):
        expected = max((i for i in ids if i * 10 < cutoff), default=ids[0] - 1)
        assert last_id_before(c, cutoff) == expected, cutoff


async def test_the_writers_commit_times_are_bounded_and_their_total_kept(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groupcommit, "FLUSHES_KEPT", 8)
    store = await Store.open(tmp_path / "o.db")
    try:
        for n in range(30):
            await store.ensure_user(f"u{n}", 1)
        assert len(store.group.flush_s) == 8
        assert store.group.flush_total_s >= sum(store.group.flush_s) > 0
    finally:
        await store.close()


async def test_a_cycle_begun_before_the_cutoff_but_closed_after_it_is_kept(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    try:
        cutoff = cutoff_ms(NOW_MS, 90)
        old = await _cycle(store, cutoff - 1000, 1)
        late, _, _ = await store.create_cycle(user="alice", day="d", symbol="S", base_asset="B", quote_asset="Q",
                                              mul_point=1, working_price=D(1), pending_price=D(1), quantity=D(1),
                                              pay_amount=D(1), now_ms=cutoff - 500)
        after = await _cycle(store, cutoff + 100, 3)
        await store.close_cycle(late, "alice", "d", "selling", "closed late", cutoff + 5, "next")
        done = await store.prune_batch(cutoff, 20, 100)
        assert done.cycles == 1
        assert await store.cycle(old) is None
        assert await store.cycle(late) is not None and await store.cycle(after) is not None
    finally:
        await store.close()


def test_a_metric_keeps_a_bounded_number_of_label_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from otobot.ops import metrics

    monkeypatch.setattr(metrics, "MAX_SERIES", 3)
    m = metrics.Metrics()
    for n in range(10):
        m.inc("orders_failed_total", user="alice", reason=f"E{n}")
    assert m.get("orders_failed_total", user="alice", reason="E2") == 1.0
    assert m.get("orders_failed_total", overflow="true") == 7.0
    assert m.render().count("otobot_orders_failed_total{") == 4


async def test_a_refused_read_leaves_no_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon collects cycles rarely (freeze_startup_heap): garbage a refused read left behind grew its
    memory with every one (~60 objects each, found by the soak's tracemalloc)."""
    import gc

    from otobot.exchange.errors import ExchangeError
    from otobot.exchange.rest import AlphaRest

    async def refused(*_: object) -> tuple[object, dict[str, object]]:
        raise ExchangeError("order does not exist")

    rest = AlphaRest(None, "http://127.0.0.1:1", None)  # type: ignore[arg-type]
    monkeypatch.setattr(rest, "_once", refused)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            with pytest.raises(ExchangeError):
                await rest._send("GET", "/x")
        assert gc.collect() == 0
    finally:
        gc.enable()


async def test_the_store_converts_a_file_made_before_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:  # a file from before: its first table came with auto_vacuum off
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    store = await Store.open(db)
    try:
        await _cycle(store, NOW_MS, 5)
        assert not await store.reclaims_space()
        assert await store.convert_for_reclaim() and await store.reclaims_space()
        assert not await store.convert_for_reclaim()  # once
        assert (await store.user_stats("alice")).cycles == 1 and len(await store.fills("alice")) == 2
        await _cycle(store, NOW_MS + 100, 6)  # the writer goes on after the VACUUM
    finally:
        await store.close()
    assert _rows(db, "PRAGMA auto_vacuum") == [(2,)] and _rows(db, "SELECT count(*) FROM cycles") == [(2,)]
