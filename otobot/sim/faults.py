"""Fault injection for the simulator, switchable at runtime from tests (`sim.faults`) or over HTTP (`/_sim/...`).

Python API (on `sim.faults`):
  delay_rest(seconds, path=None)            every REST answer (or one path's) waits that long
  drop_response(path, count=1, when="after", apply_after_s=0)  the next `count` requests to `path` lose their response:
                                            "after" = applied, then the connection is aborted (order placed,
                                            answer lost); "before" = aborted without applying;
                                            "late" (with apply_after_s=N) = aborted without a response and
                                            applied N s later (a slow exchange: the POST lands after the
                                            client gave up and settled it as never placed)
  http_error(status, count=1, path=None, retry_after=None)  answer 429 (with Retry-After) / 5xx instead
  duplicate_p, reorder_p, malformed_p       probabilities per user-stream event: sent twice; swapped with the
                                            next event; a truncated frame sent before the real one
  await drop_ws(which="all", user=None)     close websockets: "user" | "market" | "all", optionally one user's
  expire_cookies(user) / restore_cookies(user)  every private call of the user → 100002001 / back to normal
  clear()                                   no faults
  injected                                  what was injected so far, by kind (for chaos reports)

HTTP admin endpoints (JSON body; POST unless noted), under the simulator's base URL:
  POST /_sim/faults   {"rest_delay_s": 2, "rest_delay_path": null,
                       "drop_response": {"path": "<bapi path>", "count": 1, "when": "after" | "before" | "late",
                                         "apply_after_s": 3},
                       "http_error": {"status": 429, "count": 3, "path": null, "retry_after": 1},
                       "duplicate_p": 0.1, "reorder_p": 0.1, "malformed_p": 0.05, "clear": true}
                      → {"ok": true, "injected": {...}}
  POST /_sim/drop_ws  {"which": "user" | "market" | "all", "user": "alice" | null} → {"ok": true, "dropped": n}
  POST /_sim/expire   {"user": "alice", "expired": true}     (false restores the cookies)
  POST /_sim/expire_listen_key {"user": "alice"}             the key lapses now: listenKeyExpired + close
  POST /_sim/balance  {"user": "alice", "asset": "USDT", "free": "5"}
  POST /_sim/shock    {"symbol": "ALPHA_22USDT", "pct": -2}  mid moves -2 % at once
  POST /_sim/market   {"paused": true}                       pause / resume the background market
  GET  /_sim/state?user=alice                                balances, open orders, all orders, fills, volume
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
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
    apply_after_s: float = 0.0  # when="late": the request is applied this long after the connection died


DropWs = Callable[[str, "str | None"], Awaitable[int]]
SetExpired = Callable[[str, bool], None]


async def _no_ws(which: str, user: str | None) -> int:
    return 0


def _no_expire(user: str, expired: bool) -> None:
    raise RuntimeError("faults are not bound to a simulator")


@dataclass
class Faults:
    rest_delay_s: float = 0.0
    rest_delay_path: str | None = None  # None: every REST path
    duplicate_p: float = 0.0
    reorder_p: float = 0.0
    malformed_p: float = 0.0
    drops: list[Drop] = field(default_factory=list)
    http_errors: list[HttpError] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(99))
    injected: dict[str, int] = field(default_factory=dict)  # what was injected, by kind: for chaos reports
    # Bound by the Simulator to its websocket registry and accounts.
    on_drop_ws: DropWs = _no_ws
    on_expire: SetExpired = _no_expire

    def count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def clear(self) -> None:
        self.rest_delay_s = 0.0
        self.rest_delay_path = None
        self.duplicate_p = self.reorder_p = self.malformed_p = 0.0
        self.drops.clear()
        self.http_errors.clear()

    def delay_rest(self, seconds: float, path: str | None = None) -> None:
        self.rest_delay_s = seconds
        self.rest_delay_path = path

    def delay_for(self, path: str) -> float:
        if self.rest_delay_s > 0 and self.rest_delay_path in (None, path):
            self.count("rest_delay")
            return self.rest_delay_s
        return 0.0

    def drop_response(self, path: str, count: int = 1, when: str = "after", apply_after_s: float = 0.0) -> None:
        if when not in ("after", "before", "late"):
            raise ValueError(f"when must be 'after', 'before' or 'late', not {when!r}")
        if apply_after_s < 0 or (apply_after_s and when != "late"):
            raise ValueError("apply_after_s is a non-negative delay and only goes with when='late'")
        self.drops.append(Drop(path, count, when, apply_after_s))

    def http_error(self, status: int, count: int = 1, path: str | None = None,
                   retry_after: float | None = None) -> None:
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

    async def drop_ws(self, which: str = "all", user: str | None = None) -> int:
        """Close websockets ("user", "market" or "all"; `user` narrows to one user's); returns how many."""
        if which not in ("all", "user", "market"):
            raise ValueError(f"which must be 'all', 'user' or 'market', not {which!r}")
        return await self.on_drop_ws(which, user)

    def expire_cookies(self, user: str) -> None:
        self.count("expire_cookies")
        self.on_expire(user, True)

    def restore_cookies(self, user: str) -> None:
        self.on_expire(user, False)
