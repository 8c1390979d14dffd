"""The ledger in SQLite (issue 19): the user's own executions never become otobot's holdings, in the fill's own
transaction, and pruning old cycles never turns the user's coins into fee dust otobot would sweep."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from otobot.store.db import Store
from otobot.store.records import Fill

D = Decimal
DAY = "2026-12-05"
T0 = 1764892800000
SYMBOL = "ALPHA_22USDT"


def fill(order_id: str, side: str, cum_qty: str, cum_quote: str, commission: str = "0", *, t: int = T0 + 1000,
         day: str = DAY) -> Fill:
    return Fill(user="alice", cycle_id=None, order_id=order_id, side=side, price=D(cum_quote) / D(cum_qty),
                cum_qty=D(cum_qty), cum_quote=D(cum_quote), last_qty=D(cum_qty), commission=D(commission),
                commission_asset="ALPHA_22" if side == "BUY" else "USDT", time_ms=t, day=day, source="ws",
                status="FILLED")


async def oto(store: Store, working: str, pending: str, qty: str = "100", t: int = T0) -> int:
    cycle_id, _, _ = await store.create_cycle(user="alice", day=DAY, symbol=SYMBOL, base_asset="ALPHA_22",
                                              quote_asset="USDT", mul_point=1, working_price=D("0.2"),
                                              pending_price=D("0.1998"), quantity=D(qty), pay_amount=D("20"), now_ms=t)
    await store.attach_oto(cycle_id, working, pending, "L" + working, t + 5)
    return cycle_id


async def stray(store: Store, order_id: str, side: str, qty: str) -> None:
    await store.record_stray(user="alice", day=DAY, symbol=SYMBOL, base_asset="ALPHA_22", quote_asset="USDT",
                             order_id=order_id, side=side, price=D("0.2"), quantity=D(qty), status="NEW",
                             now_ms=T0 + 500, reason="the user's own order")


async def test_a_hand_bought_stray_is_the_users_not_otobots_holdings_or_cost(store: Store) -> None:
    """Problem 1: `holdings()` summed stray fills as otobot's, so the dust sweep sold the user's hand-bought coins."""
    await oto(store, "1", "2")
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))
    await store.apply_fill(fill("2", "SELL", "99.9", "19.96"))
    await stray(store, "77", "BUY", "59.5")
    await store.apply_fill(fill("77", "BUY", "59.5", "11.9", "0.00595"))
    held = {h.symbol: h.quantity for h in await store.holdings("alice")}
    assert held == {SYMBOL: D("0.09")}  # otobot's fee dust only
    assert await store.own_base("alice", SYMBOL) == D("0.09")
    assert {h.symbol: h.quantity for h in await store.user_holdings("alice")} == {SYMBOL: D("59.49405")}
    stats = await store.user_stats("alice")
    assert stats.buy_quote == D("20")  # otobot's cost never holds the user's 11.9
    assert await store.user_volume("alice", DAY) == (D("11.9"), D(0))


async def test_the_ledger_changes_in_the_same_transaction_as_its_fill(store: Store, tmp_path: Path) -> None:
    await oto(store, "1", "2")
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))
    with sqlite3.connect(tmp_path / "otobot.db") as c:  # what a kill -9 right after the fill leaves on disk
        rows = c.execute("SELECT own_base FROM ledger WHERE user='alice'").fetchall()
        n_fills = c.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert rows == [("99.99",)] and n_fills == 1
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))  # a replay adds nothing, to the ledger too
    assert await store.own_base("alice", SYMBOL) == D("99.99")


async def test_pruning_old_cycles_never_turns_the_users_coins_into_dust(store: Store) -> None:
    """Problem 1, recurring: strays are never pruned while the sweep that offset them was, so after
    `retention_days` the hand-bought coins looked like dust again."""
    await oto(store, "1", "2")
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))
    await store.apply_fill(fill("2", "SELL", "99.9", "19.96"))
    sweep = await store.create_sweep(user="alice", day=DAY, symbol=SYMBOL, base_asset="ALPHA_22", quote_asset="USDT",
                                     quantity=D("0.09"), price=D("0.2"), now_ms=T0 + 2000)
    row = await store.add_order_intent(user="alice", cycle_id=sweep, role="unwind", symbol=SYMBOL, side="SELL",
                                       price=D("0.199"), quantity=D("0.09"), now_ms=T0 + 2001)
    await store.attach_order(row, "3", T0 + 2002)
    await store.apply_fill(fill("3", "SELL", "0.09", "0.0179", t=T0 + 2003))
    await stray(store, "77", "BUY", "59.5")
    await store.apply_fill(fill("77", "BUY", "59.5", "11.9", "0.00595"))
    for cycle_id in (1, sweep):
        c = await store.cycle(cycle_id)
        assert c is not None
        await store.close_cycle(cycle_id, "alice", DAY, c.state, "done", T0 + 3000, "next")
    pruned = await store.prune_batch(T0 + 10**10, 100, 100)
    assert pruned.cycles == 2 and pruned.fills == 3
    assert sum(h.quantity for h in await store.holdings("alice")) == 0
    assert sum(h.quantity for h in await store.user_holdings("alice")) == D("59.49405")


async def test_an_old_database_gets_its_ledger_from_otobots_own_fills_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "old.db")
    await oto(store, "1", "2")
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))
    await stray(store, "77", "BUY", "10")
    await store.apply_fill(fill("77", "BUY", "10", "2", "0.001"))
    await store.close()
    with sqlite3.connect(tmp_path / "old.db") as c:  # as a database from before the ledger would be
        c.execute("DELETE FROM ledger")
        c.execute("DELETE FROM meta WHERE key='ledger_backfilled'")
    store = await Store.open(tmp_path / "old.db")
    try:
        assert await store.own_base("alice", SYMBOL) == D("99.99")
        assert sum(h.quantity for h in await store.user_holdings("alice")) == D("9.999")
    finally:
        await store.close()
    store = await Store.open(tmp_path / "old.db")  # reopening never counts the fills twice
    try:
        assert await store.own_base("alice", SYMBOL) == D("99.99")
    finally:
        await store.close()


async def test_stats_show_otobots_inventory_and_the_users_own_apart(store: Store) -> None:
    from otobot.views import reports

    await oto(store, "1", "2")
    await store.apply_fill(fill("1", "BUY", "100", "20", "0.01"))
    await store.apply_fill(fill("2", "SELL", "99.9", "19.96"))
    await stray(store, "77", "BUY", "59.5")
    await store.apply_fill(fill("77", "BUY", "59.5", "11.9", "0.00595"))
    row = await reports.stats_row(store, "alice")
    assert row["buy_volume"] == "20.00"  # otobot's; the user's 11.9 is not its cost
    assert row["inventory_own"] == row["inventory"] == "0.0180"  # 0.09 dust at the last price, 0.2
    assert row["inventory_user"] == "11.8988"  # 59.49405 of the user's own at 0.2


async def test_two_otos_adopted_without_their_pending_legs_keep_them_unknown_and_bind_them_later(
        store: Store) -> None:
    """Problem 3: a pending leg not listed was stored as '' and the next such cycle failed UNIQUE(order_id)."""
    ids = []
    for working in ("11", "21"):
        cycle_id, _, _ = await store.create_cycle(user="alice", day=DAY, symbol=SYMBOL, base_asset="ALPHA_22",
                                                  quote_asset="USDT", mul_point=1, working_price=D("0.2"),
                                                  pending_price=D("0.1998"), quantity=D("100"), pay_amount=D("20"),
                                                  now_ms=T0)
        await store.attach_oto(cycle_id, working, None, "", T0 + 5, adopted=True)
        ids.append(cycle_id)
    legs = [o for i in ids for o in await store.cycle_orders(i) if o.role == "pending"]
    assert [o.order_id for o in legs] == [None, None]
    assert await store.bind_pending(ids[0], "12", T0 + 9)
    assert not await store.bind_pending(ids[1], "12", T0 + 9)  # one order, one leg
    assert not await store.bind_pending(ids[0], "13", T0 + 9)  # bound once
    assert [o.order_id for o in await store.cycle_orders(ids[0]) if o.role == "pending"] == ["12"]


async def test_an_adoption_without_the_pending_leg_keeps_a_pending_id_bound_already(store: Store) -> None:
    """Issue 24's soak: a pending id bound before the settle adopted the OTO was written back to unknown."""
    cycle_id, _, _ = await store.create_cycle(user="alice", day=DAY, symbol=SYMBOL, base_asset="ALPHA_22",
                                              quote_asset="USDT", mul_point=1, working_price=D("0.2"),
                                              pending_price=D("0.1998"), quantity=D("100"), pay_amount=D("20"),
                                              now_ms=T0)
    assert await store.bind_pending(cycle_id, "12", T0 + 3)
    await store.attach_oto(cycle_id, "11", None, "L1", T0 + 5, adopted=True)
    legs = {o.role: o.order_id for o in await store.cycle_orders(cycle_id)}
    assert legs == {"working": "11", "pending": "12"}
    assert await store.claimed_order_ids(["11", "12"]) == {"11", "12"}
