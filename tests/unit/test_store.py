"""SQLite persistence with a real file: schema, write-before-send intents, idempotent fills, caches, reports."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.models import SymbolFilters, Token
from otobot.store.carry import Carry
from otobot.store.db import Store
from otobot.store.records import Fill, UserStats
from otobot.store.schema import MIGRATIONS

D = Decimal
DAY = "2025-09-28"
T0 = 1759043608334
ALPHA_971 = SymbolFilters(symbol="ALPHA_971USDT", base_asset="ALPHA_971", quote_asset="USDT", status="TRADING",
                          tick_size=D("0.000000001"), step_size=D("0.10"), min_qty=D("0.10"),
                          max_qty=D("9999999999"), min_price=D("0.000000001"), max_price=D("1000"),
                          min_notional=D("0.1"))
KOGE = Token(alpha_id="ALPHA_22", symbol="KOGE", name="48 Club Token", chain_id="56",
             contract="0xe6df05ce8c8301223373cf5b969afcb1498c5528", mul_point=1, offline=False, offsell=False,
             stock_state=False)


async def new_cycle(store: Store, user: str = "alice", now_ms: int = T0) -> tuple[int, int, int]:
    return await store.create_cycle(user=user, day=DAY, symbol="ALPHA_373USDT", base_asset="ALPHA_373",
                                    quote_asset="USDT", mul_point=1, working_price=D("0.23000000"),
                                    pending_price=D("0.0001"), quantity=D("869.56"), pay_amount=D("199.9988"),
                                    now_ms=now_ms)


async def placed_cycle(store: Store, user: str = "alice", working: str = "51481849", pending: str = "51481850",
                       now_ms: int = T0) -> int:
    cycle_id, _, _ = await new_cycle(store, user, now_ms)
    await store.attach_oto(cycle_id, working, pending, "89863105", now_ms + 12)
    return cycle_id


def fill(order_id: str, side: str, cum_qty: str, cum_quote: str, last_qty: str, commission: str = "0",
         asset: str = "", *, user: str = "alice", day: str = DAY, status: str | None = None) -> Fill:
    return Fill(user=user, cycle_id=None, order_id=order_id, side=side, price=D("0.22690469"), cum_qty=D(cum_qty),
                cum_quote=D(cum_quote), last_qty=D(last_qty), commission=D(commission), commission_asset=asset,
                time_ms=T0 + 1000, day=day, source="ws", status=status)


# §7.4 fills: the BUY fills at once; the SELL fills 200, then 669.47.
BUY_FILL = fill("51481849", "BUY", "869.56000000", "197.30724223", "869.56000000", "0.08695600", "ALPHA_373",
                status="FILLED")
SELL_PART = fill("51481850", "SELL", "200", "45.38093600", "200", "0.00453809", "USDT", status="PARTIALLY_FILLED")
SELL_REST = fill("51481850", "SELL", "869.47000000", "197.28681211", "669.47000000", "0.01519059", "USDT",
                 status="FILLED")


def raw(path: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as c:
        return c.execute(sql, args).fetchall()


# ------------------------------------------------------------------ schema and file


async def test_opening_migrates_to_the_latest_schema_and_reopening_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "otobot.db"
    latest = len(MIGRATIONS)
    s = await Store.open(path)
    assert await s.schema_version() == latest
    await placed_cycle(s)
    await s.close()
    s = await Store.open(path)
    try:
        assert await s.schema_version() == latest
        assert (await s.last_cycle("alice")) is not None
    finally:
        await s.close()
    assert raw(path, "SELECT value FROM meta WHERE key='schema_version'") == [(str(latest),)]
    tables = {r[0] for r in raw(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "credentials", "cycles", "orders", "fills", "daily_volume", "tokens", "symbols", "audit",
            "meta"} <= tables


async def test_the_database_file_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "otobot.db"
    s = await Store.open(path)
    try:
        await placed_cycle(s)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wal = path.with_name(path.name + "-wal")  # WAL mode: the recent writes live here while open
        assert stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0
    finally:
        await s.close()


# ------------------------------------------------------------------ cycles and intents


async def test_create_cycle_writes_the_intent_in_placing_with_two_intent_legs(store: Store) -> None:
    cycle_id, working_row, pending_row = await new_cycle(store)
    c = await store.cycle(cycle_id)
    assert c is not None
    assert (c.user, c.state, c.symbol, c.day) == ("alice", "placing", "ALPHA_373USDT", DAY)
    assert (c.working_price, c.pending_price, c.quantity, c.pay_amount) == (
        D("0.23"), D("0.0001"), D("869.56"), D("199.9988"))
    assert c.placed_ms is None and c.order_list_id is None
    legs = await store.cycle_orders(cycle_id)
    assert [(o.id, o.role, o.side, o.status, o.order_id) for o in legs] == [
        (working_row, "working", "BUY", "INTENT", None), (pending_row, "pending", "SELL", "INTENT", None)]
    assert legs[0].quantity == D("869.56") and legs[1].quantity == 0
    assert await store.audit_rows("alice") == []  # a routine transition is not audited: the cycle row says it


async def test_attach_oto_binds_the_exchange_ids_and_can_move_the_state_in_the_same_write(store: Store) -> None:
    cycle_id, _, _ = await new_cycle(store)
    await store.attach_oto(cycle_id, "51481849", "51481850", "89863105", T0 + 5,
                           transition=("alice", "placing", "pending", "placed"))
    c = await store.cycle(cycle_id)
    assert c is not None and (c.state, c.placed_ms, c.order_list_id) == ("pending", T0 + 5, "89863105")
    legs = await store.cycle_orders(cycle_id)
    assert [(o.order_id, o.status) for o in legs] == [("51481849", "NEW"), ("51481850", "PENDING")]


async def test_adopting_an_oto_leaves_an_audit_row(store: Store) -> None:
    cycle_id, _, _ = await new_cycle(store)
    await store.attach_oto(cycle_id, "7", "8", None, T0, adopted=True)
    kinds = [(r["kind"], r["reason"]) for r in await store.audit_rows("alice")]
    assert ("adopt", "adopted OTO working 7 / pending 8") in kinds


async def test_live_cycle_finds_only_cycles_in_live_states(store: Store) -> None:
    assert await store.live_cycle("alice") is None
    first = await placed_cycle(store, working="1", pending="2")
    await store.set_cycle_state(first, "alice", "placing", "pending", "placed", T0)
    live = await store.live_cycle("alice")
    assert live is not None and live.id == first and live.state == "pending"
    await store.close_cycle(first, "alice", DAY, "selling", "sell filled", T0 + 9, "next cycle")
    assert await store.live_cycle("alice") is None
    done = await store.cycle(first)
    assert done is not None and (done.state, done.closed_ms) == ("done", T0 + 9)
    second = await placed_cycle(store, working="3", pending="4")
    await store.set_cycle_state(second, "alice", "placing", "unwinding", "leftover", T0)
    live = await store.live_cycle("alice")
    assert live is not None and live.id == second
    assert await store.live_cycle("bob") is None


async def test_claimed_order_ids_are_the_ids_some_cycle_owns(store: Store) -> None:
    await placed_cycle(store, working="10", pending="11")
    assert await store.claimed_order_ids(["10", "11", "12"]) == {"10", "11"}
    assert await store.claimed_order_ids([]) == set()


async def test_a_dropped_intent_is_not_placed_and_a_bound_one_is_left_alone(store: Store) -> None:
    cycle_id, working_row, _ = await new_cycle(store)
    await store.drop_intent(working_row, "refused", T0)
    assert (await store.cycle_orders(cycle_id))[0].status == "NOT_PLACED"
    bound = await placed_cycle(store, working="20", pending="21")
    row = (await store.cycle_orders(bound))[0]
    await store.drop_intent(row.id, "late", T0)
    assert (await store.cycle_orders(bound))[0].status == "NEW"


# ------------------------------------------------------------------ fills


async def test_the_captured_cycle_fills_are_recorded_once_with_exact_text(store: Store, tmp_path: Path) -> None:
    cycle_id = await placed_cycle(store)
    buy = await store.apply_fill(BUY_FILL)
    assert buy is not None and (buy.qty, buy.quote_qty, buy.commission) == (
        D("869.56"), D("197.30724223"), D("0.086956"))
    assert await store.apply_fill(SELL_PART) is not None
    assert await store.apply_fill(SELL_REST) is not None
    rows = raw(tmp_path / "otobot.db", "SELECT qty, quote_qty, commission FROM fills ORDER BY id")
    assert rows == [("869.56000000", "197.30724223", "0.08695600"), ("200", "45.38093600", "0.00453809"),
                    ("669.47000000", "151.90587611", "0.01519059")]
    dv = raw(tmp_path / "otobot.db", "SELECT buy_quote, sell_quote, sell_fees_quote FROM daily_volume")
    assert dv == [("197.30724223", "197.28681211", "0.01972868")]
    legs = await store.cycle_orders(cycle_id)
    assert [(o.status, o.cum_qty) for o in legs] == [("FILLED", D("869.56")), ("FILLED", D("869.47"))]
    assert legs[0].fee == D("0.086956") and legs[0].fee_asset == "ALPHA_373"


async def test_the_same_fill_twice_is_recorded_once(store: Store) -> None:
    await placed_cycle(store)
    assert await store.apply_fill(SELL_PART) is not None
    assert await store.apply_fill(SELL_PART) is None
    assert len(await store.fills("alice")) == 1
    assert (await store.day_volume("alice", DAY)).sell_quote == D("45.38093600")


async def test_an_older_event_after_a_newer_one_adds_nothing(store: Store) -> None:
    await placed_cycle(store)
    assert await store.apply_fill(SELL_REST) is not None  # the final fill arrived first
    assert await store.apply_fill(SELL_PART) is None
    fills = await store.fills("alice", "51481850")
    assert [D(f["qty"]) for f in fills] == [D("869.47")]
    assert (await store.day_volume("alice", DAY)).sell_quote == D("197.28681211")


async def test_a_missed_sub_fill_is_backfilled_with_the_commission_estimated_at_one_basis_point(
        store: Store) -> None:
    await placed_cycle(store)
    applied = await store.apply_fill(SELL_REST)  # delta 869.47 ≠ the event's own 669.47
    assert applied is not None
    assert applied.qty == D("869.47") and applied.quote_qty == D("197.28681211")
    assert applied.commission == D("197.28681211") * D("0.0001")


async def test_a_buy_backfill_estimates_its_fee_in_base(store: Store) -> None:
    await placed_cycle(store)
    applied = await store.apply_fill(fill("51481849", "BUY", "869.56", "197.30724223", "0"))
    assert applied is not None and applied.commission == D("0.086956")
    dv = await store.day_volume("alice", DAY)
    assert dv.buy_quote == D("197.30724223") and dv.fees_quote == D("0.086956") * (D("197.30724223") / D("869.56"))


async def test_a_fill_for_an_order_nobody_owns_is_ignored(store: Store) -> None:
    assert await store.apply_fill(fill("999", "BUY", "1", "1", "1")) is None
    assert await store.fills("alice") == []


async def test_buy_and_sell_volume_and_user_stats_add_up(store: Store) -> None:
    await placed_cycle(store)
    for f in (BUY_FILL, SELL_PART, SELL_REST):
        await store.apply_fill(f)
    cycle = await store.last_cycle("alice")
    assert cycle is not None
    await store.close_cycle(cycle.id, "alice", DAY, "selling", "sell filled", T0 + 3000, "next")
    dv = await store.day_volume("alice", DAY)
    assert (dv.buy_quote, dv.sell_quote, dv.cycles) == (D("197.30724223"), D("197.28681211"), 1)
    stats = await store.user_stats("alice")
    assert stats.cycles == 1
    assert stats.sell_fees_quote == D("0.01972868")
    assert stats.loss_quote == D("197.30724223") - D("197.28681211") + D("0.01972868") == D("0.0401588")
    assert stats.loss_bps == stats.loss_quote / D("197.30724223") * 10000


def test_user_stats_without_volume_have_no_loss() -> None:
    empty = UserStats(user="x", cycles=0, buy_quote=D(0), sell_quote=D(0), fees_quote=D(0), sell_fees_quote=D(0))
    assert empty.loss_quote == 0 and empty.loss_bps == 0


async def test_fills_count_toward_the_day_they_happened(store: Store) -> None:
    await placed_cycle(store)
    await store.apply_fill(fill("51481849", "BUY", "100", "23", "100", day="2025-09-28"))
    await store.apply_fill(fill("51481849", "BUY", "869.56", "197.30724223", "769.56", day="2025-09-29"))
    assert (await store.day_volume("alice", "2025-09-28")).buy_quote == D("23")
    assert (await store.day_volume("alice", "2025-09-29")).buy_quote == D("174.30724223")
    assert (await store.day_volume("alice", "2025-09-30")).buy_quote == 0


async def test_a_pending_legs_activated_quantity_is_written_with_its_fill(store: Store) -> None:
    cycle_id = await placed_cycle(store)
    f = Fill(user="alice", cycle_id=None, order_id="51481850", side="SELL", price=D("0.2269"), cum_qty=D("200"),
             cum_quote=D("45.381"), last_qty=D("200"), commission=D("0.0045"), commission_asset="USDT",
             time_ms=T0, day=DAY, source="ws", status="PARTIALLY_FILLED", quantity=D("869.47"))
    await store.apply_fill(f)
    pending = (await store.cycle_orders(cycle_id))[1]
    assert (pending.status, pending.quantity, pending.cum_qty) == ("PARTIALLY_FILLED", D("869.47"), D("200"))


async def run_fills(cums: list[Decimal], order: list[int]) -> tuple[Decimal, Decimal, int]:
    with tempfile.TemporaryDirectory() as folder:
        s = await Store.open(Path(folder) / "p.db")
        try:
            await placed_cycle(s)
            price = D("0.2269")
            for i in order:
                await s.apply_fill(fill("51481849", "BUY", str(cums[i]), str(cums[i] * price), "0"))
            rows = await s.fills("alice", "51481849")
            total = sum((D(r["qty"]) for r in rows), D(0))
            buy = (await s.day_volume("alice", DAY)).buy_quote
            return total, buy, len(rows)
        finally:
            await s.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.decimals(min_value=D("0.01"), max_value=D("10000"), places=2, allow_nan=False,
                            allow_infinity=False), min_size=1, max_size=6, unique=True).map(sorted),
       st.data())
def test_fills_in_any_order_with_replays_sum_to_the_final_cumulative_qty(cums: list[Decimal],
                                                                         data: st.DataObject) -> None:
    order = data.draw(st.lists(st.integers(0, len(cums) - 1), min_size=1, max_size=12))
    order.append(len(cums) - 1)  # the final state always arrives at some point
    total, buy, rows = asyncio.run(run_fills(cums, order))
    assert total == cums[-1]
    assert buy == cums[-1] * D("0.2269")
    assert rows <= len(set(order))


# ------------------------------------------------------------------ users, pauses, audit


async def test_pause_and_resume_are_stored_and_audited(store: Store) -> None:
    assert await store.pause_reason("alice") is None
    await store.set_pause("alice", "auth_expired", T0)
    assert await store.pause_reason("alice") == "auth_expired"
    await store.set_pause("alice", None, T0 + 1)
    assert await store.pause_reason("alice") is None
    rows = await store.audit_rows("alice")
    assert [(r["kind"], r["reason"]) for r in rows] == [("resume", None), ("pause", "auth_expired")]
    users = await store.users()
    assert [(u["name"], u["paused_ms"]) for u in users] == [("alice", None)]


async def test_audit_rows_are_newest_first_and_filtered_by_user(store: Store) -> None:
    await store.audit(T0, "alice", "reload", "config changed")
    await store.audit(T0 + 1, "bob", "reconcile", "startup", cycle_id=3)
    await store.audit(T0 + 2, None, "reload", "users dir")
    assert [r["reason"] for r in await store.audit_rows()] == ["users dir", "startup", "config changed"]
    bob = await store.audit_rows("bob")
    assert [(r["kind"], r["cycle_id"], r["ts_ms"]) for r in bob] == [("reconcile", 3, T0 + 1)]
    assert len(await store.audit_rows(limit=1)) == 1


async def test_credentials_blob_round_trips(store: Store) -> None:
    await store.save_credentials("alice", b"\x00encrypted", T0)
    await store.save_credentials("alice", b"\x01newer", T0 + 1)
    assert await store.load_credentials("alice") == b"\x01newer"
    assert await store.load_credentials("bob") is None
    assert await store.credential_users() == ["alice"]


# ------------------------------------------------------------------ caches


async def test_tokens_come_back_equal_by_alpha_id_or_symbol_in_any_case(store: Store) -> None:
    delisted = Token(alpha_id="ALPHA_9", symbol="OLD", name="Old", chain_id="56", contract="0x9", mul_point=4,
                     offline=True, offsell=False, stock_state=False)
    await store.put_tokens([KOGE, delisted], T0)
    assert await store.token("koge") == (KOGE, T0)
    assert await store.token("alpha_22") == (KOGE, T0)
    assert await store.token("ALPHA_9") == (delisted, T0)
    assert await store.token("nope") is None
    assert [t for t, _ in await store.tokens()] == [KOGE, delisted]


async def test_a_token_is_updated_in_place(store: Store) -> None:
    await store.put_tokens([KOGE], T0)
    boosted = Token(**{**{k: getattr(KOGE, k) for k in KOGE.__slots__}, "mul_point": 4})
    await store.put_tokens([boosted], T0 + 5)
    assert await store.token("KOGE") == (boosted, T0 + 5)


async def test_symbol_filters_come_back_equal_with_exact_decimals(store: Store, tmp_path: Path) -> None:
    await store.put_symbols([ALPHA_971], T0)
    got = await store.symbol_filters("ALPHA_971USDT")
    assert got == (ALPHA_971, T0)
    assert got is not None and str(got[0].tick_size) == "1E-9" and got[0].step_size.as_tuple().exponent == -2
    stored = json.loads(str(raw(tmp_path / "otobot.db", "SELECT filters FROM symbols")[0][0]))
    assert stored["tick_size"] == "0.000000001" and stored["step_size"] == "0.10"
    assert all("E" not in stored[k] for k in ("tick_size", "step_size", "min_qty", "max_qty", "min_price",
                                              "max_price", "min_notional"))
    assert await store.symbol_filters("ALPHA_22USDT") is None


# ------------------------------------------------------------------ reports


async def _set_order_status(store: Store, order_id: str, status: str, now_ms: int,
                            quantity: Decimal | None = None) -> None:
    """A status without a fill, as the desk writes it: carried, then flushed."""
    carry = Carry()
    carry.add(*store.order_status_stmts(order_id, status, now_ms, quantity))
    await store.flush(carry)


async def test_orders_page_filters_by_status_and_time_newest_first(store: Store) -> None:
    a = await placed_cycle(store, working="1", pending="2", now_ms=1000)
    b = await placed_cycle(store, working="3", pending="4", now_ms=2000)
    await placed_cycle(store, user="bob", working="5", pending="6", now_ms=1500)
    await _set_order_status(store, "1", "FILLED", 3000)
    ids = [o.order_id for o in await store.orders_page("alice")]
    assert ids == ["4", "3", "2", "1"]
    assert [o.order_id for o in await store.orders_page("alice", status="filled")] == ["1"]
    assert [o.order_id for o in await store.orders_page("alice", since_ms=1500)] == ["4", "3"]
    assert [o.order_id for o in await store.orders_page("alice", until_ms=1500)] == ["2", "1"]
    assert [o.order_id for o in await store.orders_page("alice", limit=2, offset=1)] == ["3", "2"]
    assert {o.cycle_id for o in await store.orders_page("alice")} == {a, b}


async def test_set_order_status_can_write_the_activated_quantity(store: Store) -> None:
    cycle_id = await placed_cycle(store)
    await _set_order_status(store, "51481850", "NEW", T0 + 1, D("869.47"))
    pending = (await store.cycle_orders(cycle_id))[1]
    assert (pending.status, pending.quantity, pending.updated_ms) == ("NEW", D("869.47"), T0 + 1)


async def test_an_extra_order_intent_joins_the_cycle_and_is_bound_on_ack(store: Store) -> None:
    cycle_id = await placed_cycle(store)
    row = await store.add_order_intent(user="alice", cycle_id=cycle_id, role="unwind", symbol="ALPHA_373USDT",
                                       side="SELL", price=D("0.2258"), quantity=D("0.01"), now_ms=T0)
    await store.attach_order(row, "51481999", T0 + 1)
    unwind = (await store.cycle_orders(cycle_id))[-1]
    assert (unwind.role, unwind.order_id, unwind.status, unwind.price) == ("unwind", "51481999", "NEW", D("0.2258"))


async def test_a_rest_backfill_keeps_the_commission_asset_the_stream_recorded(store: Store) -> None:
    # The stream recorded the first part of the BUY with its fee in base; a REST backfill (no n/N) completes it.
    cycle_id = await placed_cycle(store)
    await store.apply_fill(fill("51481849", "BUY", "300", "68.07", "300", "0.03", "ALPHA_373"))
    await store.apply_fill(fill("51481849", "BUY", "869.56", "197.30724223", "0", "0", ""))
    working = (await store.cycle_orders(cycle_id))[0]
    assert working.fee == D("0.03") + D("569.56") * D("0.0001")
    assert working.fee_asset == "ALPHA_373"  # both parts are in base: a restart must read it as base
