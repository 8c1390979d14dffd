"""Fault injection for the simulator, switchable at runtime from tests (Python) or over `/_sim/faults` (HTTP).

HTTP admin endpoints (JSON POST unless noted), all under the simulator's base URL:
  POST /_sim/faults        {"rest_delay_s": 2, "drop_response": {"path": "<bapi path>", "count": 1, "when": "after"},
                            "http_error": {"status": 429, "count": 3, "path": null, "retry_after": 1},
                            "duplicate_p": 0.1, "reorder_p": 0.1, "malformed_p": 0.05, "clear": true}
  POST /_sim/drop_ws       {"which": "user" | "market" | "all", "user": "alice" | null}
  POST /_sim/expire        {"user": "alice", "expired": true}
  POST /_sim/balance       {"user": "alice", "asset": "USDT", "free": "5"}
  POST /_sim/shock         {"symbol": "ALPHA_22USDT", "pct": -2}
  POST /_sim/market        {"paused": true}
  GET  /_sim/state?user=alice   balances, open orders, all orders, fills
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class HttpError:
    status: int
    count: int
    path: str | None = None
    retry_after: float | None = None


@dataclass
class Drop:
    path: str
    count: int
    when: str = "after"  # after: the request is applied, then the connection dies without a response


@dataclass
class Faults:
    rest_delay_s: float = 0.0
    duplicate_p: float = 0.0
    reorder_p: float = 0.0
    malformed_p: float = 0.0
    drops: list[Drop] = field(default_factory=list)
    http_errors: list[HttpError] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(99))
    injected: dict[str, int] = field(default_factory=dict)  # what was injected, by kind: for chaos reports

    def count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def clear(self) -> None:
        self.rest_delay_s = 0.0
        self.duplicate_p = self.reorder_p = self.malformed_p = 0.0
        self.drops.clear()
        self.http_errors.clear()

    def drop_response(self, path: str, count: int = 1, when: str = "after") -> None:
        self.drops.append(Drop(path, count, when))

    def http_error(self, status: int, count: int, path: str | None = None, retry_after: float | None = None) -> None:
        self.http_errors.append(HttpError(status, count, path, retry_after))

    def take_http_error(self, path: str) -> HttpError | None:
        for e in self.http_errors:
            if e.count > 0 and (e.path is None or e.path == path):
                e.count -= 1
                self.count(f"http_{e.status}")
                return e
        return None

    def take_drop(self, path: str) -> Drop | None:
        for d in self.drops:
            if d.count > 0 and d.path == path:
                d.count -= 1
                self.count(f"drop_{d.when}")
                return d
        return None

    def chance(self, p: float, kind: str) -> bool:
        hit = p > 0 and self.rng.random() < p
        if hit:
            self.count(kind)
        return hit
