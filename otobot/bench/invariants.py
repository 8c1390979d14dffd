"""Pure crash-safety invariants: the exchange's view of a user (orders, balances) against otobot's SQLite."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING"})
FOREVER = 2**62
UNTRACKED_SHOWN = 5  # untracked orders described per user; the count covers them all


@dataclass(frozen=True, slots=True)
class Invariants:
    exchange_orders: int
    fills_recorded: int
    duplicates: int  # fills counted twice (same key twice, or more qty recorded than the exchange executed)
    lost_fills: int  # orders whose executed qty SQLite does not fully hold
    untracked_orders: int  # orders on the exchange that SQLite never heard of (a duplicate place would be one)
    overlapping_otos: int  # moments with two OTOs of the user live at once
    base_gap: Decimal  # |base the exchange holds − base SQLite's fills say is held|
    # The untracked orders themselves (id, side, status, time, orderListId), the first few: what a run reports so
    # the daemon's log can be searched for them.
    untracked_rows: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return (self.duplicates, self.lost_fills, self.untracked_orders, self.overlapping_otos) == (0, 0, 0, 0)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["base_gap"] = format(self.base_gap, "f")
        return d


def check(exchange_orders: Iterable[Mapping[str, Any]], base_held: Decimal, db_fills: Iterable[Mapping[str, Any]],
          claimed: set[str]) -> Invariants:
    """`exchange_orders`: order rows as the exchange lists them (orderId, executedQty, status, time, updateTime,
    orderListId); `base_held`: free + locked base on the exchange; `db_fills`: rows of the fills table;
    `claimed`: which of the exchange's order ids SQLite has."""
    orders = list(exchange_orders)
    fills = list(db_fills)
    recorded: dict[str, Decimal] = {}
    keys: set[str] = set()
    duplicates = 0
    for f in fills:
        if f["exec_key"] in keys:
            duplicates += 1
        keys.add(f["exec_key"])
        recorded[f["order_id"]] = recorded.get(f["order_id"], Decimal(0)) + Decimal(f["qty"])
    lost = 0
    for o in orders:
        have, executed = recorded.get(str(o["orderId"]), Decimal(0)), Decimal(o["executedQty"])
        lost += have < executed
        duplicates += have > executed
    strays = [o for o in orders if str(o["orderId"]) not in claimed]
    untracked = len(strays)
    shown = tuple({k: o.get(k) for k in ("orderId", "side", "status", "time", "updateTime", "orderListId",
                                         "executedQty")} for o in strays[:UNTRACKED_SHOWN])
    spans: dict[str, list[int]] = {}
    for o in orders:
        list_id = str(o.get("orderListId") or "-1")
        if list_id == "-1":
            continue
        end = FOREVER if o["status"] in OPEN else int(o["updateTime"])
        span = spans.setdefault(list_id, [int(o["time"]), end])
        span[0], span[1] = min(span[0], int(o["time"])), max(span[1], end)
    ordered = sorted(spans.values())
    overlaps = sum(1 for a, b in itertools.pairwise(ordered) if b[0] < a[1])
    base_db = Decimal(0)
    for f in fills:
        qty = Decimal(f["qty"])
        base_db += qty - Decimal(f["commission"]) if f["side"] == "BUY" else -qty
    return Invariants(len(orders), len(fills), duplicates, lost, untracked, overlaps, abs(base_held - base_db), shown)
