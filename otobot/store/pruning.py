"""One retention batch in SQL: the oldest closed cycles' rows and old audit rows, in one short transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from otobot.store.records import LIVE_CYCLE_STATES


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows one retention batch deleted, per table."""

    cycles: int = 0
    orders: int = 0
    fills: int = 0
    audit: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.cycles + other.cycles, self.orders + other.orders, self.fills + other.fills,
                      self.audit + other.audit)


def fill_key_range(order_id: str) -> tuple[str, str]:
    """The (user, exec_key) key's range that holds one order's executions: `<order id>:<cumulative qty>`, and `;`
    is the character after `:`, so `123:` to `123;` holds 123's and never 1234's."""
    return f"{order_id}:", f"{order_id};"


def last_id_before(c: sqlite3.Connection, cutoff_ms: int) -> int:
    """The largest cycle id whose intent is older than `cutoff_ms`, by bisection over the ids (~25 lookups on a
    7 M-cycle file). Cycles are written in time order; one written out of order (a clock step) waits a pass."""
    # Apart: SQLite reads min() or max() alone from the end of the rowid tree, but both at once by a scan.
    first = c.execute("SELECT min(id) FROM cycles").fetchone()[0]
    last = c.execute("SELECT max(id) FROM cycles").fetchone()[0]
    if first is None:
        return 0
    lo, hi = first - 1, last  # every id up to lo began before the cutoff; none above hi did
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found, intent_ms = c.execute("SELECT id, intent_ms FROM cycles WHERE id >= ? ORDER BY id LIMIT 1",
                                     (mid,)).fetchone()
        if intent_ms < cutoff_ms:
            lo = found
        else:
            hi = mid - 1
    return int(lo)


def prune_batch(c: sqlite3.Connection, cutoff_ms: int, cycles: int, audit: int) -> Pruned:
    # A cycle goes only once it is closed (closed_ms set) before the cutoff and its state is not live: a cycle
    # still trading, or stuck waiting for an unknown outcome, keeps every row however old it is.
    # Oldest first by id, up to the last cycle begun before the cutoff: no index on closed_ms (~16 bytes a cycle).
    marks = ",".join("?" * len(LIVE_CYCLE_STATES))
    ids = [r[0] for r in c.execute(
        f"SELECT id FROM cycles WHERE id <= ? AND closed_ms < ? AND state NOT IN ({marks}) ORDER BY id LIMIT ?",
        (last_id_before(c, cutoff_ms), cutoff_ms, *LIVE_CYCLE_STATES, cycles))]
    n_fills = n_orders = 0
    if ids:
        in_ids = ",".join("?" * len(ids))
        legs = c.execute(f"SELECT user, order_id FROM orders WHERE cycle_id IN ({in_ids}) AND order_id IS NOT NULL",
                         ids).fetchall()
        for user, order_id in legs:
            n_fills += c.execute("DELETE FROM fills WHERE user=? AND exec_key>=? AND exec_key<?",
                                 (user, *fill_key_range(order_id))).rowcount
        n_orders = c.execute(f"DELETE FROM orders WHERE cycle_id IN ({in_ids})", ids).rowcount
        c.execute(f"DELETE FROM cycles WHERE id IN ({in_ids})", ids)
    # An audit row outlives the cutoff while its cycle is still kept, so a live cycle's history stays whole.
    n_audit = c.execute(
        "DELETE FROM audit WHERE id IN (SELECT a.id FROM audit a WHERE a.ts_ms < ? AND (a.cycle_id IS NULL OR "
        "NOT EXISTS (SELECT 1 FROM cycles WHERE cycles.id = a.cycle_id)) ORDER BY a.ts_ms LIMIT ?)",
        (cutoff_ms, audit)).rowcount
    return Pruned(len(ids), n_orders, n_fills, n_audit)
