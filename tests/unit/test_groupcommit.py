"""Group commit: same-turn writes share a transaction; a waiter resumes after its COMMIT; failures reach waiters."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from otobot.store.db import Store
from tests.helpers import wait_for

INTENT = {"day": "2026-11-30", "symbol": "ALPHA_1USDT", "base_asset": "A", "quote_asset": "USDT", "mul_point": 1,
          "working_price": Decimal("1.0"), "pending_price": Decimal("1.01"), "quantity": Decimal("10"),
          "pay_amount": Decimal("10"), "now_ms": 1}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "g.db")
    yield s
    await s.close()


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read through a separate connection: what a restarted daemon would see on disk."""
    with sqlite3.connect(path) as c:
        return c.execute(sql).fetchall()


async def test_writes_of_one_loop_turn_share_one_transaction(store: Store, tmp_path: Path) -> None:
    before = store.group.transactions
    await asyncio.gather(*(store.ensure_user(f"u{i}", 1) for i in range(20)))
    assert store.group.transactions - before == 1
    assert store.group.writes >= 20
    assert len(_rows(tmp_path / "g.db", "SELECT name FROM users")) == 20


async def test_each_waiter_resumes_only_after_its_intent_is_on_disk(store: Store, tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    async def bot(user: str) -> None:
        cycle_id, _, _ = await store.create_cycle(user=user, **INTENT)  # type: ignore[arg-type]
        # The moment a bot would send its order: the intent is already committed, visible to another connection.
        seen[user] = len(_rows(tmp_path / "g.db", f"SELECT id FROM orders WHERE cycle_id={cycle_id} "
                                                  "AND status='INTENT'"))

    await asyncio.gather(*(bot(f"u{i}") for i in range(8)))
    assert seen == {f"u{i}": 2 for i in range(8)}


async def test_a_crash_between_commit_and_send_still_finds_the_intent(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import asyncio, os
        from decimal import Decimal
        from otobot.store.db import Store
        INTENT = {INTENT!r}
        async def main():
            store = await Store.open({str(db)!r})
            async def bot(user):
                await store.ensure_user(user, 1)  # an ordinary write: committed with the group of its turn
                cycle_id, _, _ = await store.create_cycle(user=user, **INTENT)
                print(user, cycle_id, flush=True)
                os._exit(9)  # killed right after the intent's COMMIT returned, before any order is sent
            await asyncio.gather(*(bot(f"u{{i}}") for i in range(5)))
        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 9, err.decode()
    user, cycle_id = out.decode().split()
    # The bot that was about to send finds its intent on disk: the cycle in `placing`, both legs as INTENT.
    assert _rows(db, f"SELECT user, state FROM cycles WHERE id={cycle_id}") == [(user, "placing")]
    assert len(_rows(db, f"SELECT id FROM orders WHERE cycle_id={cycle_id} AND status='INTENT'")) == 2
    # The five users' ordinary writes of the first turn went in one COMMIT before any intent.
    assert len(_rows(db, "SELECT name FROM users")) == 5


async def test_an_intent_is_committed_before_its_write_returns_without_a_loop_turn(store: Store,
                                                                                   tmp_path: Path) -> None:
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    t = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = turns
    cycle_id, _, _ = await store.create_cycle(user="u", **INTENT)  # type: ignore[arg-type]
    assert turns == before  # no loop turn between "write the intent" and "send the order"
    assert _rows(tmp_path / "g.db", f"SELECT state FROM cycles WHERE id={cycle_id}") == [("placing",)]
    t.cancel()


async def test_an_intent_commits_alone_and_the_queued_writes_keep_their_group(store: Store, tmp_path: Path) -> None:
    queued = asyncio.ensure_future(store.ensure_user("early", 1))
    await asyncio.sleep(0)  # the ordinary write is queued for the end of the turn
    before = store.group.transactions
    await store.create_cycle(user="u", **INTENT)  # type: ignore[arg-type]
    assert store.group.transactions - before == 1
    # Another bot's write waiting for its group is not put between this bot's fill and its order.
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == []
    await queued
    assert store.group.transactions - before == 2
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == [("early",)]


async def test_a_failed_group_commit_fails_every_waiter_and_keeps_nothing(store: Store, tmp_path: Path) -> None:
    def orphan(c: sqlite3.Connection) -> None:
        # Foreign keys checked at COMMIT: the statement passes, the group's COMMIT fails.
        c.execute("PRAGMA defer_foreign_keys=ON")
        c.execute("INSERT INTO orders(user, cycle_id, role, symbol, side, price, quantity, status, intent_ms,"
                  " updated_ms) VALUES ('x', 999999, 'working', 'S', 'BUY', '1', '1', 'INTENT', 1, 1)")

    results = await asyncio.gather(store.ensure_user("a", 1), store.group.write(orphan), store.ensure_user("b", 1),
                                   return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == []
    assert _rows(tmp_path / "g.db", "SELECT id FROM orders") == []
    await store.ensure_user("c", 1)  # the writer recovers for the next group
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == [("c",)]


async def test_one_writes_own_error_fails_only_that_waiter(store: Store, tmp_path: Path) -> None:
    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO users(name, created_ms) VALUES ('dup', 1)")
        c.execute("INSERT INTO users(name, created_ms) VALUES ('dup', 1)")  # PRIMARY KEY: this write fails whole

    results = await asyncio.gather(store.ensure_user("a", 1), store.group.write(bad), store.ensure_user("b", 1),
                                   return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert sorted(_rows(tmp_path / "g.db", "SELECT name FROM users")) == [("a",), ("b",)]


async def test_writes_wait_while_held_and_commit_together_after(store: Store, tmp_path: Path) -> None:
    async with store.group.held():
        plain = asyncio.ensure_future(store.ensure_user("held", 1))
        intent = asyncio.ensure_future(store.create_cycle(user="u", **INTENT))  # type: ignore[arg-type]
        for _ in range(5):
            await asyncio.sleep(0)  # loop turns pass; nothing may commit while the checkpoint holds the writer
        assert not plain.done() and not intent.done()
        assert _rows(tmp_path / "g.db", "SELECT name FROM users") == []
    await asyncio.wait_for(asyncio.gather(plain, intent), 10)
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == [("held",)]
    assert len(_rows(tmp_path / "g.db", "SELECT id FROM cycles WHERE state='placing'")) == 1


async def test_a_checkpoint_past_the_bound_holds_the_writer_and_the_wal_starts_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Passive checkpoints alone never let the WAL start over while commits keep coming (measured: 87 MB in 20 s);
    past the bound a checkpoint holds the writer, completes, and the next COMMIT writes from the WAL's top."""
    import otobot.store.wal as policy

    monkeypatch.setattr(policy, "CHECKPOINT_EVERY", 10**9)  # only the checkpoint this test runs
    monkeypatch.setattr(policy, "WAL_HOLD_FRAMES", 50)
    s = await Store.open(tmp_path / "w.db")
    try:
        await s.ensure_user("u", 1)
        for _ in range(200):
            await s.create_cycle(user="u", **INTENT)  # type: ignore[arg-type]
        stop = asyncio.Event()
        written = 0

        async def writer() -> None:  # commits all along, as the bots do
            nonlocal written
            while not stop.is_set():
                await s.create_cycle(user="u", **INTENT)  # type: ignore[arg-type]
                written += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        await s.checkpoints.run()
        complete = s.checkpoints.frames  # every frame so far is in the database file
        await wait_for(lambda: written >= 20, 10, "commits after the checkpoint")
        stop.set()
        await task
        now = await s.checkpoints.passive()
        assert complete > 300 and now < complete / 2, (complete, now)  # the WAL started over
        assert len(_rows(tmp_path / "w.db", "SELECT id FROM cycles")) == 200 + written
    finally:
        await s.close()


async def test_under_load_the_writes_of_the_next_turns_join_the_group(store: Store, tmp_path: Path) -> None:
    store.group.gap_s = 0.5  # wide, so a loaded machine cannot stretch two loop turns past it
    await store.ensure_user("first", 1)  # committed at the end of its turn (nothing committed before)
    before = store.group.transactions
    b = asyncio.ensure_future(store.ensure_user("b", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # a later turn: without the gap, b would have been committed alone by now
    c = asyncio.ensure_future(store.ensure_user("c", 1))
    await asyncio.gather(b, c)
    assert store.group.transactions - before == 1
    assert sorted(_rows(tmp_path / "g.db", "SELECT name FROM users")) == [("b",), ("c",), ("first",)]


async def test_a_write_after_a_quiet_spell_commits_at_the_end_of_its_turn(store: Store, tmp_path: Path) -> None:
    store.group.gap_s = 60.0
    await asyncio.wait_for(store.ensure_user("lone", 1), 30)  # no COMMIT for 60 s before it: it does not wait
    assert _rows(tmp_path / "g.db", "SELECT name FROM users") == [("lone",)]


async def test_an_intent_never_waits_for_the_gap(store: Store, tmp_path: Path) -> None:
    store.group.gap_s = 60.0
    await store.ensure_user("first", 1)  # a COMMIT now: the next ordinary write would wait 60 s for its group
    await asyncio.wait_for(store.create_cycle(user="u", **INTENT), 30)  # type: ignore[arg-type]
    assert _rows(tmp_path / "g.db", "SELECT user, state FROM cycles") == [("u", "placing")]
