"""aiosqlite persistence: every SQL statement otobot runs, in one place (schema in schema.py, rows in records.py)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from otobot.exchange.filters import fmt
from otobot.store import fills as fillrecord
from otobot.store import pruning, reclaim
from otobot.store.carry import Carry, Statement
from otobot.store.catalog import CatalogCache
from otobot.store.dbfile import unreadable
from otobot.store.groupcommit import GroupCommit
from otobot.store.ledger import LedgerReads
from otobot.store.pruning import Pruned, fill_key_range
from otobot.store.records import (
    LIVE_STATES_SQL,
    AppliedFill,
    CycleRow,
    DayVolume,
    Fill,
    OrderRow,
    cycle_row,
    dec0,
    order_row,
)
from otobot.store.reports import ReportReads
from otobot.store.schema import migrate
from otobot.store.wal import Checkpoints, ThreadConnection, switch_to_wal, thread_connection, writer_connection

T = TypeVar("T")


# Transitions an operator audits: off the happy path (an unknown outcome, a timeout or an operator's cancel, an
# unwind), a few a day. The happy path (idle → placing → pending → selling → done → idle) is not: the cycle and
# order rows record it, and its five audit rows a cycle were 39 % of the file (issue 24).
AUDITED_STATES = frozenset({"reconciling", "cancelling", "cancelled", "unwinding"})


def audit_stmt(ts_ms: int, user: str | None, cycle_id: int | None, kind: str, frm: str | None, to: str | None,
               reason: str | None) -> Statement:
    return ("INSERT INTO audit(ts_ms, user, cycle_id, kind, from_state, to_state, reason) "
            "VALUES (?,?,?,?,?,?,?)", (ts_ms, user, cycle_id, kind, frm, to, reason))


class Store(LedgerReads, ReportReads, CatalogCache):
    """One SQLite file (WAL) shared by every bot. Reads run whole in aiosqlite's worker thread (one trip per query);
    writes go through the one writer (groupcommit.py), a connection of the event loop's own thread, so a bot's
    intent is committed in the loop turn after it asked, with no thread hand-off on the way to its order."""

    def __init__(self, db: ThreadConnection, writer: sqlite3.Connection | None = None) -> None:
        self._db = db
        self._writer = writer
        self.group = GroupCommit(self._call, writer)
        self.checkpoints = Checkpoints(self._call, self.group)
        if writer is not None:
            self.group.on_commits = self.checkpoints.on_commits

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating if needed) and migrate; DatabaseUnreadable with the fix when SQLite refuses the file.

        Every failure closes the connection first: aiosqlite runs it in a non-daemon thread, and a thread left
        open keeps the process alive after `main()` returns, through SIGTERM too.
        """
        path = Path(path)
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    # 0600 before the first byte: the file holds encrypted credentials and trading history.
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = thread_connection(str(path))
            await db  # opens it on its thread
        except (OSError, sqlite3.Error) as exc:
            raise unreadable(path, exc) from None
        try:
            db.row_factory = aiosqlite.Row
            # First: switching a new file to WAL takes a lock that several openers at once contend for.
            await db.execute("PRAGMA busy_timeout=5000")
            # Before WAL: the switch writes the file's first page, after which the mode takes a VACUUM.
            await db.call(reclaim.set_on_new_file)
            await switch_to_wal(db)
            # NORMAL in WAL mode is durable across process crashes (kill -9); only power loss can drop
            # the last commits, and reconciliation against the exchange repairs those.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.call(migrate)
            store = cls(db, writer_connection(path) if str(path) != ":memory:" else None)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await db.close()
            if isinstance(exc, sqlite3.Error):
                raise unreadable(path, exc) from None
            raise
        return store

    async def close(self) -> None:
        await self.group.drain()
        await self.checkpoints.drain()
        if self._writer is not None:
            self._writer.close()
        await self._db.close()  # the last connection to close checkpoints the WAL into the file

    async def schema_version(self) -> int:
        rows = await self._query("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0]) if rows else 0

    # ------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in aiosqlite's worker thread, in one trip (see ThreadConnection)."""
        return await self._db.call(fn)

    async def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        args = tuple(params)
        return await self._call(lambda c: c.execute(sql, args).fetchall())

    async def _tx(self, statements: list[Statement], *, now: bool = False, carry: Carry | None = None) -> list[int]:
        """Run statements in one transaction; returns each statement's lastrowid."""
        return await self._write(lambda c: [c.execute(q, a).lastrowid or 0 for q, a in statements], now=now,
                                 carry=carry)

    async def _write(self, body: Callable[[sqlite3.Connection], T], *, now: bool = False,
                     carry: Carry | None = None) -> T:
        """A write transaction, group-committed with the others of this loop turn; returns after its COMMIT.
        `now` for an order's intent: committed at once, the order request follows (see GroupCommit.write).
        `carry`: the bot's deferred statements run first, in the same transaction (one write, not two)."""
        if carry:
            return await self.group.write(_carried(carry.take(), body), now=now)
        return await self.group.write(body, now=now)

    async def flush(self, carry: Carry) -> None:
        """The deferred statements as a write of their own (the end of a bot's step), when any are left."""
        if carry:
            await self._tx(carry.take())

    _audit_stmt = staticmethod(audit_stmt)

    @staticmethod
    def cycle_state_stmts(cycle_id: int, user: str, frm: str, to: str, reason: str, now_ms: int,
                          *, closed: bool = False, cancelling: str | None = None) -> list[Statement]:
        """A cycle's new state (to run in one transaction, now or carried), audited only off the happy path."""
        stmts: list[Statement] = [("UPDATE cycles SET state=?, reason=?, closed_ms=COALESCE(closed_ms, ?), "
                                   "cancelling=COALESCE(?, cancelling) WHERE id=?",
                                   (to, reason, now_ms if closed else None, cancelling, cycle_id))]
        if to in AUDITED_STATES:
            stmts.append(audit_stmt(now_ms, user, cycle_id, "transition", frm, to, reason))
        return stmts

    @staticmethod
    def transition_audit_stmt(now_ms: int, user: str, frm: str, to: str, reason: str) -> Statement:
        """A transition with no cycle (idle ⇄ paused, finished): its audit row only."""
        return audit_stmt(now_ms, user, None, "transition", frm, to, reason)

    @staticmethod
    def order_status_stmts(order_id: str, status: str, now_ms: int,
                           quantity: Decimal | None = None) -> list[Statement]:
        """An order's status (and the pending leg's quantity) seen without a fill."""
        if quantity is None:
            return [("UPDATE orders SET status=?, updated_ms=? WHERE order_id=?", (status, now_ms, order_id))]
        return [("UPDATE orders SET status=?, quantity=?, updated_ms=? WHERE order_id=?",
                 (status, fmt(quantity), now_ms, order_id))]

    # ------------------------------------------------------------ users, pauses, audit

    async def ensure_user(self, name: str, now_ms: int) -> None:
        await self._tx([("INSERT OR IGNORE INTO users(name, created_ms) VALUES (?, ?)", (name, now_ms))])

    async def set_pause(self, user: str, reason: str | None, now_ms: int) -> None:
        kind = "pause" if reason else "resume"
        await self._tx([
            ("INSERT OR IGNORE INTO users(name, created_ms) VALUES (?, ?)", (user, now_ms)),
            ("UPDATE users SET paused_reason=?, paused_ms=? WHERE name=?", (reason, now_ms if reason else None, user)),
            self._audit_stmt(now_ms, user, None, kind, None, None, reason),
        ])

    async def pause_reason(self, user: str) -> str | None:
        rows = await self._query("SELECT paused_reason FROM users WHERE name=?", (user,))
        return rows[0][0] if rows else None

    async def audit(self, now_ms: int, user: str | None, kind: str, reason: str,
                    cycle_id: int | None = None, frm: str | None = None, to: str | None = None) -> None:
        await self._tx([self._audit_stmt(now_ms, user, cycle_id, kind, frm, to, reason)])

    async def audit_rows(self, user: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if user is None:
            rows = await self._query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._query("SELECT * FROM audit WHERE user=? ORDER BY id DESC LIMIT ?", (user, limit))
        return [dict(r) for r in rows]

    # ------------------------------------------------------------ credentials (already encrypted)

    async def save_credentials(self, user: str, blob: bytes, now_ms: int) -> None:
        await self._tx([
            ("INSERT INTO credentials(user, blob, updated_ms) VALUES (?,?,?) "
             "ON CONFLICT(user) DO UPDATE SET blob=excluded.blob, updated_ms=excluded.updated_ms",
             (user, blob, now_ms)),
            self._audit_stmt(now_ms, user, None, "credentials", None, None, "credentials stored"),
        ])

    async def load_credentials(self, user: str) -> bytes | None:
        rows = await self._query("SELECT blob FROM credentials WHERE user=?", (user,))
        return bytes(rows[0][0]) if rows else None

    async def credential_users(self) -> list[str]:
        return [r[0] for r in await self._query("SELECT user FROM credentials ORDER BY user")]

    # ------------------------------------------------------------ cycles and their orders

    async def create_cycle(self, *, user: str, day: str, symbol: str, base_asset: str, quote_asset: str,
                           mul_point: int, working_price: Decimal, pending_price: Decimal, quantity: Decimal,
                           pay_amount: Decimal, now_ms: int, carry: Carry | None = None) -> tuple[int, int, int]:
        """Write the OTO intent (cycle in `placing` + both legs as INTENT) before the place request.
        Returns the cycle id and the working and pending legs' row ids."""

        def run(c: sqlite3.Connection) -> tuple[int, int, int]:
            cur = c.execute(
                "INSERT INTO cycles(user, day, symbol, base_asset, quote_asset, mul_point, state, working_price,"
                " pending_price, quantity, pay_amount, intent_ms) VALUES (?,?,?,?,?,?,'placing',?,?,?,?,?)",
                (user, day, symbol, base_asset, quote_asset, mul_point, fmt(working_price), fmt(pending_price),
                 fmt(quantity), fmt(pay_amount), now_ms))
            cycle_id = int(cur.lastrowid or 0)
            legs = []
            for role, side, price in (("working", "BUY", working_price), ("pending", "SELL", pending_price)):
                leg = c.execute(
                    "INSERT INTO orders(user, cycle_id, role, symbol, side, price, quantity, status, intent_ms,"
                    " updated_ms) VALUES (?,?,?,?,?,?,?,'INTENT',?,?)",
                    (user, cycle_id, role, symbol, side, fmt(price),
                     fmt(quantity if role == "working" else Decimal(0)), now_ms, now_ms))
                legs.append(int(leg.lastrowid or 0))
            return cycle_id, legs[0], legs[1]

        return await self._write(run, now=True, carry=carry)

    async def set_cycle_state(self, cycle_id: int, user: str, frm: str, to: str, reason: str, now_ms: int,
                              *, closed: bool = False, cancelling: str | None = None) -> None:
        """The cycle's new state."""
        await self._tx(self.cycle_state_stmts(cycle_id, user, frm, to, reason, now_ms, closed=closed,
                                              cancelling=cancelling))

    async def attach_oto(self, cycle_id: int, working_id: str, pending_id: str | None, order_list_id: str | None,
                         now_ms: int, *, adopted: bool = False,
                         transition: tuple[str, str, str, str] | None = None, carry: Carry | None = None) -> None:
        """Bind the exchange's ids to the intent rows (after the place response, or on adoption); with
        `transition` (user, from, to, reason) the cycle's new state is written in the same transaction.
        `pending_id` None: the pending leg is not listed yet; its row keeps order_id NULL (unknown, never '',
        which a second such cycle would collide with) until `bind_pending` finds it."""
        stmts: list[tuple[str, tuple[Any, ...]]] = [
            ("UPDATE cycles SET placed_ms=COALESCE(placed_ms, ?), order_list_id=? WHERE id=?",
             (now_ms, order_list_id, cycle_id)),
            ("UPDATE orders SET order_id=?, status=CASE WHEN status='INTENT' THEN 'NEW' ELSE status END, updated_ms=? "
             "WHERE cycle_id=? AND role='working'", (working_id, now_ms, cycle_id)),
            # COALESCE: a pending id bound already is never written back to unknown by an adoption without it.
            ("UPDATE orders SET order_id=COALESCE(?, order_id), status=CASE WHEN status='INTENT' THEN 'PENDING' "
             "ELSE status END, updated_ms=? WHERE cycle_id=? AND role='pending'", (pending_id, now_ms, cycle_id)),
        ]
        if adopted:
            row = await self._query("SELECT user FROM cycles WHERE id=?", (cycle_id,))
            stmts.append(self._audit_stmt(now_ms, row[0][0] if row else None, cycle_id, "adopt", None, None,
                                          f"adopted OTO working {working_id} / pending {pending_id}"))
        if transition is not None:
            _, _, to, reason = transition  # (user, from): the audit no longer keeps routine transitions
            stmts.append(("UPDATE cycles SET state=?, reason=? WHERE id=?", (to, reason, cycle_id)))
        await self._tx(stmts, carry=carry)

    async def bind_pending(self, cycle_id: int, order_id: str, now_ms: int) -> bool:
        """The pending leg of an OTO adopted without it, found later (by list id, or symbol/side/price/time): its
        id bound once. False when the leg was bound already or the id belongs to another row."""
        def run(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM orders WHERE order_id=?", (order_id,)).fetchone():
                return False
            return c.execute("UPDATE orders SET order_id=?, status=CASE WHEN status IN ('INTENT', 'NOT_PLACED') "
                             "THEN 'PENDING' ELSE status END, updated_ms=? WHERE cycle_id=? AND role='pending' "
                             "AND order_id IS NULL", (order_id, now_ms, cycle_id)).rowcount == 1
        return await self._write(run)

    async def add_order_intent(self, *, user: str, cycle_id: int, role: str, symbol: str, side: str,
                               price: Decimal, quantity: Decimal, now_ms: int, carry: Carry | None = None) -> int:
        ids = await self._tx([(
            "INSERT INTO orders(user, cycle_id, role, symbol, side, price, quantity, status, intent_ms, updated_ms)"
            " VALUES (?,?,?,?,?,?,?,'INTENT',?,?)",
            (user, cycle_id, role, symbol, side, fmt(price), fmt(quantity), now_ms, now_ms))], now=True, carry=carry)
        return ids[0]

    async def attach_order(self, row_id: int, order_id: str, now_ms: int, carry: Carry | None = None) -> None:
        await self._tx([("UPDATE orders SET order_id=?, status=CASE WHEN status='INTENT' THEN 'NEW' ELSE status END,"
                         " updated_ms=? WHERE id=?", (order_id, now_ms, row_id))], carry=carry)

    async def drop_intent(self, row_id: int, reason: str, now_ms: int, carry: Carry | None = None) -> None:
        """An order intent the exchange never accepted (known failure or settled as never placed)."""
        await self._tx([("UPDATE orders SET status='NOT_PLACED', updated_ms=? WHERE id=? AND order_id IS NULL",
                         (now_ms, row_id))], carry=carry)

    async def live_cycle(self, user: str) -> CycleRow | None:
        # `+id`: order by the value, not by the (user, id) index, whose walk would visit the user's whole
        # history when no cycle is live (30 ms a user on a 1.5 GB file); the partial index holds only live rows.
        rows = await self._query(
            f"SELECT * FROM cycles WHERE user=? AND state IN ({LIVE_STATES_SQL}) ORDER BY +id DESC LIMIT 1", (user,))
        return cycle_row(rows[0]) if rows else None

    async def live_cycles(self, user: str) -> list[CycleRow]:
        """Every live cycle of the user, oldest first: a restart follows each (an OTO adopted late beside the
        newest one gets its timeout, cancel and unwind too), not only the newest."""
        rows = await self._query(
            f"SELECT * FROM cycles WHERE user=? AND state IN ({LIVE_STATES_SQL}) ORDER BY +id", (user,))
        return [cycle_row(r) for r in rows]

    async def cycle(self, cycle_id: int) -> CycleRow | None:
        rows = await self._query("SELECT * FROM cycles WHERE id=?", (cycle_id,))
        return cycle_row(rows[0]) if rows else None

    async def cycle_orders(self, cycle_id: int) -> list[OrderRow]:
        rows = await self._query("SELECT * FROM orders WHERE cycle_id=? ORDER BY id", (cycle_id,))
        return [order_row(r) for r in rows]

    async def claimed_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        ids = list(order_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = await self._query(f"SELECT order_id FROM orders WHERE order_id IN ({marks})", ids)
        return {r[0] for r in rows}

    # ------------------------------------------------------------ fills: the idempotent path

    async def apply_fill(self, fill: Fill, carry: Carry | None = None) -> AppliedFill | None:
        """Record an execution once. Returns what it added, or None when it was already known.

        The key is (order id, cumulative qty): a duplicated event, a replay after reconnect and a REST
        backfill of the same execution all carry the same key, and an older event arriving after a newer
        one (reordered) adds nothing because its cumulative qty is not above what is recorded.
        """
        return await self._write(lambda c: fillrecord.apply_fill(c, fill), carry=carry)

    async def close_cycle(self, cycle_id: int, user: str, day: str, frm: str, why: str, now_ms: int,
                          next_reason: str, *, count: bool = True, carry: Carry | None = None) -> None:
        """A finished cycle in one transaction: state `done` (from `frm`), counted for its day (a dust sweep is
        not a cycle: `count=False`). Routine transitions are not audited (see cycle_state_stmts)."""
        await self._tx([
            ("UPDATE cycles SET state='done', reason=?, closed_ms=COALESCE(closed_ms, ?) WHERE id=?",
             (why, now_ms, cycle_id)),
            ("INSERT INTO daily_volume(user, day, cycles) VALUES (?,?,?) "
             "ON CONFLICT(user, day) DO UPDATE SET cycles=cycles+excluded.cycles", (user, day, int(count))),
        ], carry=carry)

    async def day_volume(self, user: str, day: str) -> DayVolume:
        rows = await self._query("SELECT buy_quote, sell_quote, fees_quote, cycles FROM daily_volume "
                                 "WHERE user=? AND day=?", (user, day))
        if not rows:
            return DayVolume()
        r = rows[0]
        return DayVolume(dec0(r[0]), dec0(r[1]), dec0(r[2]), int(r[3]))

    async def fills(self, user: str, order_id: str | None = None) -> list[dict[str, Any]]:
        if order_id is None:
            rows = await self._query("SELECT * FROM fills WHERE user=? ORDER BY id", (user,))
        else:
            # Through the (user, exec_key) key: an execution's key is the order id, a colon, its cumulative qty.
            rows = await self._query("SELECT * FROM fills WHERE user=? AND exec_key>=? AND exec_key<? ORDER BY id",
                                     (user, *fill_key_range(order_id)))
        return [dict(r) for r in rows]

    # ------------------------------------------------------------ sweeps, late adoptions, strays, inventory

    async def create_sweep(self, *, user: str, day: str, symbol: str, base_asset: str, quote_asset: str,
                           quantity: Decimal, price: Decimal, now_ms: int) -> int:
        """A dust sweep: a cycle with no OTO whose unwind sells carry `quantity` of base held between cycles."""
        ids = await self._tx([
            ("INSERT INTO cycles(user, day, symbol, base_asset, quote_asset, state, working_price, pending_price,"
             " quantity, pay_amount, intent_ms, kind) VALUES (?,?,?,?,?,'unwinding',?,?,?,'0',?,'sweep')",
             (user, day, symbol, base_asset, quote_asset, fmt(price), fmt(price), fmt(quantity), now_ms)),
        ])
        return ids[0]

    async def restart_ladder(self, cycle_id: int, user: str, ladder_from: int, reason: str, now_ms: int) -> None:
        """The cycle's unwind ladder starts again from its first rung (after `ladder_from` unwind SELLs)."""
        await self._tx([("UPDATE cycles SET ladder_from=? WHERE id=?", (ladder_from, cycle_id)),
                        self._audit_stmt(now_ms, user, cycle_id, "resume", None, None, reason)])

    async def cycle_cancelling(self, cycle_id: int) -> str | None:
        rows = await self._query("SELECT cancelling FROM cycles WHERE id=?", (cycle_id,))
        return rows[0][0] if rows else None

    async def settled_unplaced(self, user: str, symbol: str, since_ms: int) -> list[CycleRow]:
        """OTO intents settled as never placed (newest first): a POST the exchange applied late may match one."""
        rows = await self._query(
            "SELECT c.* FROM cycles c JOIN orders o ON o.cycle_id=c.id AND o.role='working' "
            "WHERE c.user=? AND c.symbol=? AND c.kind='oto' AND c.intent_ms>=? AND o.status='NOT_PLACED' "
            "AND o.order_id IS NULL ORDER BY c.id DESC LIMIT 20", (user, symbol, since_ms))
        return [cycle_row(r) for r in rows]

    async def adopt_late(self, cycle_id: int, user: str, working_id: str, pending_id: str | None,
                         order_list_id: str, now_ms: int) -> None:
        """An OTO the exchange applied after otobot had settled it as not placed becomes that cycle again."""
        await self._tx([
            ("UPDATE cycles SET state='pending', closed_ms=NULL, placed_ms=?, order_list_id=? WHERE id=?",
             (now_ms, order_list_id, cycle_id)),
            ("UPDATE orders SET order_id=?, status='NEW', updated_ms=? WHERE cycle_id=? AND role='working'",
             (working_id, now_ms, cycle_id)),
            ("UPDATE orders SET order_id=?, status='PENDING', updated_ms=? WHERE cycle_id=? AND role='pending'",
             (pending_id, now_ms, cycle_id)),
            self._audit_stmt(now_ms, user, cycle_id, "adopt", "idle", "pending",
                             f"adopted OTO working {working_id} / pending {pending_id}, applied by the exchange "
                             "after it was settled as not placed"),
        ])

    async def record_stray(self, *, user: str, day: str, symbol: str, base_asset: str, quote_asset: str,
                           order_id: str, side: str, price: Decimal, quantity: Decimal, status: str,
                           now_ms: int, reason: str, order_list_id: str | None = None) -> None:
        """An order on the user's symbol that no intent explains: kept (as a `stray` cycle with one order) so its
        fills are recorded like any other, never dropped; otobot never acts on it."""
        ids = await self._tx([
            ("INSERT INTO cycles(user, day, symbol, base_asset, quote_asset, state, reason, working_price,"
             " pending_price, quantity, pay_amount, intent_ms, kind, order_list_id) "
             "VALUES (?,?,?,?,?,'stray',?,?,?,?,'0',?,'stray',?)",
             (user, day, symbol, base_asset, quote_asset, reason, fmt(price), fmt(price), fmt(quantity), now_ms,
              order_list_id)),
        ])
        await self._tx([
            ("INSERT OR IGNORE INTO orders(user, cycle_id, role, order_id, symbol, side, price, quantity, status,"
             " intent_ms, updated_ms) VALUES (?,?,'stray',?,?,?,?,?,?,?,?)",
             (user, ids[0], order_id, symbol, side, fmt(price), fmt(quantity), status, now_ms, now_ms)),
            self._audit_stmt(now_ms, user, ids[0], "stray", None, None, reason),
        ])

    async def meta_value(self, key: str) -> str | None:
        rows = await self._query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    async def set_meta_value(self, key: str, value: str) -> None:
        """A small named value the daemon keeps across restarts (e.g. the Telegram update offset)."""
        await self._tx([("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                         "value=excluded.value", (key, value))])

    # ------------------------------------------------------------ retention (issue 10)

    async def reclaims_space(self) -> bool:
        """Whether the file gives pruned pages back (incremental auto_vacuum)."""
        return await self._call(reclaim.is_incremental)

    async def convert_for_reclaim(self) -> bool:
        """Once per file: incremental auto_vacuum and a VACUUM (see reclaim.py); only before any bot writes."""
        return await self._call(reclaim.convert)

    async def reclaim_step(self) -> int:
        """Give up to reclaim.STEP_PAGES free pages back to the disk in one short write; the pages returned."""
        return await self._write(reclaim.step)

    async def prune_batch(self, cutoff_ms: int, cycles: int, audit: int) -> Pruned:
        """One short transaction of retention: up to `cycles` cycles closed before `cutoff_ms` (with their
        orders and fills) and up to `audit` audit rows older than it. Daily totals are never touched."""
        return await self._write(lambda c: pruning.prune_batch(c, cutoff_ms, cycles, audit))


def _carried(pre: list[Statement], body: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """`body` after the deferred statements, in the same transaction (and savepoint)."""

    def run(c: sqlite3.Connection) -> T:
        for q, a in pre:
            c.execute(q, a)
        return body(c)

    return run
