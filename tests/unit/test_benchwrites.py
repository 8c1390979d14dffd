"""`otobot bench --writes-floor`: the recording holds every write transaction, and replaying it rebuilds the file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest

from otobot.bench import writes as benchwrites
from otobot.bench.run import _record_writes
from otobot.store.db import Store
from otobot.store.groupcommit import run_group
from otobot.store.records import Fill

TABLES = ("users", "cycles", "orders", "fills", "daily_volume", "audit", "sqlite_sequence")


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as c:
        return {t: c.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}


async def _one_cycle(store: Store, user: str, n: int) -> None:
    d = Decimal
    cycle_id, _, _ = await store.create_cycle(
        user=user, day="2026-11-30", symbol="ALPHA_1USDT", base_asset="ALPHA_1", quote_asset="USDT", mul_point=4,
        working_price=d("1.0001"), pending_price=d("1.0003"), quantity=d("10"), pay_amount=d("10.001"), now_ms=n)
    await store.attach_oto(cycle_id, f"{user}-b{n}", f"{user}-s{n}", f"L{n}", n + 1)
    for oid, side, price in ((f"{user}-b{n}", "BUY", d("1.0001")), (f"{user}-s{n}", "SELL", d("1.0003"))):
        fill = Fill(user=user, cycle_id=cycle_id, order_id=oid, side=side, price=price, cum_qty=d("10"),
                    cum_quote=price * 10, last_qty=d("10"), commission=d("0.001"), commission_asset="USDT",
                    time_ms=n + 2, day="2026-11-30", source="ws")
        assert await store.apply_fill(fill) is not None
        assert await store.apply_fill(fill) is None  # a duplicate: recorded as run, adds nothing on replay either
    await store.close_cycle(cycle_id, user, "2026-11-30", "selling", "pending SELL filled", n + 3, "next")


async def test_replaying_the_recorded_writes_rebuilds_the_same_rows(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "run.db")
    recorder = _record_writes(store)
    assert recorder is not None
    for u in ("u1", "u2", "u3"):
        await store.ensure_user(u, 1)
    # Bots write in the same loop turns: their writes share transactions, each body in its own savepoint.
    await asyncio.gather(*(_one_cycle(store, u, 10 * i) for i, u in enumerate(("u1", "u2", "u3"))))
    await _one_cycle(store, "u1", 100)
    recorded = len(recorder.transactions)
    recorder.stop()
    await store.ensure_user("after-stop", 2)  # not recorded
    await store.close()
    assert recorded == len(recorder.transactions) and recorded >= 5 and not recorder.truncated
    assert all(tx[0][0].startswith("BEGIN") for tx in recorder.transactions)
    spent = benchwrites.replay(recorder.transactions, tmp_path / "replay.db", range(recorded))
    assert spent > 0
    run, replayed = _dump(tmp_path / "run.db"), _dump(tmp_path / "replay.db")
    assert [r for r in run["users"] if r[0] == "after-stop"]  # written after stop(): in the file, not recorded
    assert not [r for r in replayed["users"] if r[0] == "after-stop"]
    run["users"] = [r for r in run["users"] if r[0] != "after-stop"]
    assert replayed == run
    assert len(replayed["cycles"]) == 4 and len(replayed["fills"]) == 8


def test_a_statement_that_failed_in_the_run_is_passed_over_as_its_savepoint_was(tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "run.db", isolation_level=None)
    c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    recorder = benchwrites.Recorder(c)

    def put(k: str) -> Callable[[sqlite3.Connection], object]:
        return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (k,))

    # The recorder stands in for the connection, as it does for the bench's writer.
    out = run_group(cast(sqlite3.Connection, recorder), [put("a"), put("a"), put("b")])
    assert [type(o).__name__ for o in out] == ["Cursor", "_Failed", "Cursor"]
    c.close()
    (tx,) = recorder.transactions
    assert ("ROLLBACK TO w", ()) in tx
    replay_path = tmp_path / "replay.db"
    pre = sqlite3.connect(replay_path, isolation_level=None)
    pre.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    pre.close()
    benchwrites.replay(recorder.transactions, replay_path, range(1))
    with sqlite3.connect(replay_path) as r:
        assert r.execute("SELECT k FROM t ORDER BY k").fetchall() == [("a",), ("b",)]


def test_recording_stops_at_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchwrites, "MAX_TRANSACTIONS", 2)
    c = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    c.execute("CREATE TABLE t (k INTEGER)")
    recorder = benchwrites.Recorder(c)
    for i in range(5):
        recorder.execute("BEGIN IMMEDIATE")
        recorder.execute("INSERT INTO t VALUES (?)", (i,))
        recorder.execute("COMMIT")
    assert len(recorder.transactions) == 2 and recorder.truncated
    assert c.execute("SELECT count(*) FROM t").fetchone() == (5,)  # every statement still ran
    c.close()
