"""Deferred statements ride in the bot's next write: one write, in the order made, on disk after its COMMIT."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from otobot.store.carry import Carry
from otobot.store.db import Store
from otobot.store.records import Fill

INTENT = {"user": "alice", "day": "2026-11-30", "symbol": "ALPHA_1USDT", "base_asset": "A", "quote_asset": "USDT",
          "mul_point": 1, "working_price": Decimal("1.0"), "pending_price": Decimal("1.01"),
          "quantity": Decimal("10"), "pay_amount": Decimal("10"), "now_ms": 1}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "c.db")
    await s.ensure_user("alice", 1)
    yield s
    await s.close()


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Through a separate connection: what a restarted daemon would read."""
    with sqlite3.connect(path) as c:
        return c.execute(sql).fetchall()


def test_take_hands_out_everything_once_oldest_first() -> None:
    carry = Carry()
    assert not carry
    carry.add(("A", ()), ("B", ()))
    carry.add(("C", (1,)))
    assert len(carry) == 3
    assert carry.take() == [("A", ()), ("B", ()), ("C", (1,))]
    assert not carry and carry.take() == []


async def test_state_changes_ride_in_the_fill_write_in_order(store: Store, tmp_path: Path) -> None:
    cid, _, _ = await store.create_cycle(**INTENT)
    await store.attach_oto(cid, "w1", "p1", "L1", 2, transition=("alice", "placing", "pending", "placed"))
    carry = Carry()
    carry.add(*store.order_status_stmts("p1", "NEW", 3))
    carry.add(*store.cycle_state_stmts(cid, "alice", "pending", "selling", "BUY filled", 3))
    writes = store.group.writes
    fill = Fill(user="alice", cycle_id=cid, order_id="w1", side="BUY", price=Decimal("1.0"), cum_qty=Decimal("10"),
                cum_quote=Decimal("10"), last_qty=Decimal("10"), commission=Decimal("0.01"), commission_asset="A",
                time_ms=3, day="2026-11-30", source="ws", status="FILLED", quantity=None)
    assert await store.apply_fill(fill, carry=carry) is not None
    assert store.group.writes - writes == 1  # one write for the fill, the status and the state change
    assert not carry
    db = tmp_path / "c.db"
    assert _rows(db, f"SELECT state FROM cycles WHERE id={cid}") == [("selling",)]
    assert _rows(db, "SELECT order_id, status FROM orders ORDER BY id") == [("w1", "FILLED"), ("p1", "NEW")]
    assert _rows(db, "SELECT count(*) FROM audit") == [(0,)]  # routine transitions are not audited (issue 24)


async def test_an_empty_carry_costs_no_write_and_a_full_one_costs_one(store: Store, tmp_path: Path) -> None:
    carry = Carry()
    writes = store.group.writes
    await store.flush(carry)
    assert store.group.writes == writes
    carry.add(store.transition_audit_stmt(5, "alice", "idle", "paused", "operator"),
              store.transition_audit_stmt(6, "alice", "paused", "idle", "resumed"))
    await store.flush(carry)
    assert store.group.writes == writes + 1 and not carry
    assert _rows(tmp_path / "c.db", "SELECT from_state, to_state FROM audit WHERE kind='transition' "
                 "AND cycle_id IS NULL ORDER BY id") == [("idle", "paused"), ("paused", "idle")]
