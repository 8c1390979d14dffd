"""Order-book wire shapes: REST fullDepth snapshots, `@fulldepth` diff frames and `@bookTicker` frames (§4.1, §7.6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from otobot.exchange.errors import MalformedMessage
from otobot.exchange.fields import dec, integer, text
from otobot.exchange.fields import mapping as _mapping

Level = tuple[Decimal, Decimal]  # (price, quantity); quantity 0 in a diff frame removes the level
_ZERO = Decimal(0)  # compared against per level: a Decimal, not an int converted on every comparison


def _levels(raw: Any, what: str) -> tuple[Level, ...]:
    """[["0.000005530","34940853.20"], …] → Decimal pairs; strings on the wire (numbers tolerated, floats refused)."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise MalformedMessage(f"{what} is not a list of [price, qty] pairs")
    out: list[Level] = []
    for item in raw:
        # The wire's shape, checked without the Sequence ABC (profiled: most of a frame's parse cost).
        if type(item) is list and len(item) >= 2 and type(item[0]) is str and type(item[1]) is str:
            try:
                p, q = Decimal(item[0]), Decimal(item[1])
            except InvalidOperation:
                raise MalformedMessage(f"{what} level {item!r} is not numeric") from None
        else:
            p, q = _level(item, what)
        if not p.is_finite() or not q.is_finite() or p <= _ZERO or q < _ZERO:
            raise MalformedMessage(f"{what} level {item!r} has a non-positive price or a negative quantity")
        out.append((p, q))
    return tuple(out)


def _level(item: Any, what: str) -> Level:
    """One level in any other shape: numbers tolerated, binary floats refused."""
    if not isinstance(item, Sequence) or isinstance(item, str) or len(item) < 2:
        raise MalformedMessage(f"{what} level {item!r} is not a [price, qty] pair")
    price, qty = item[0], item[1]
    if isinstance(price, float | bool) or isinstance(qty, float | bool):
        raise MalformedMessage(f"{what} level {item!r} holds a binary float; decode with protocol.loads")
    try:
        return Decimal(price), Decimal(qty)
    except (InvalidOperation, TypeError, ValueError):
        raise MalformedMessage(f"{what} level {item!r} is not numeric") from None


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """REST fullDepth `data`: the whole book at `last_update_id` (may be crossed, as captured)."""

    symbol: str
    last_update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_ms: int

    @classmethod
    def parse(cls, raw: Any, symbol: str | None = None) -> DepthSnapshot:
        r = _mapping(raw, "fullDepth")
        return cls(symbol=text(r, "symbol", symbol or ""), last_update_id=integer(r, "lastUpdateId"),
                   bids=_levels(r.get("bids"), "bids"), asks=_levels(r.get("asks"), "asks"),
                   event_ms=integer(r, "E", 0))


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """One `depthUpdate` frame: absolute quantities per changed level over update ids U..u; `pu` is the previous
    frame's `u` (ids are one sequence across symbols, so U is not pu + 1)."""

    symbol: str
    first_id: int  # U
    last_id: int  # u
    prev_id: int  # pu
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_ms: int

    @classmethod
    def parse(cls, raw: Any) -> DepthUpdate:
        r = _mapping(raw, "depthUpdate")
        if r.get("e") not in (None, "depthUpdate"):
            raise MalformedMessage(f"not a depthUpdate: e={r.get('e')!r}")
        return cls(symbol=text(r, "s"), first_id=integer(r, "U"), last_id=integer(r, "u"),
                   prev_id=integer(r, "pu"), bids=_levels(r.get("b"), "b"), asks=_levels(r.get("a"), "a"),
                   event_ms=integer(r, "E", 0))


@dataclass(frozen=True, slots=True)
class BookTicker:
    """One `bookTicker` frame: the best bid and ask with their quantities (S4 official model: e E T u s b B a A)."""

    symbol: str
    update_id: int
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    event_ms: int

    @classmethod
    def parse(cls, raw: Any) -> BookTicker:
        r = _mapping(raw, "bookTicker")
        if r.get("e") not in (None, "bookTicker"):
            raise MalformedMessage(f"not a bookTicker: e={r.get('e')!r}")
        return cls(symbol=text(r, "s"), update_id=integer(r, "u"), bid_price=dec(r, "b"), bid_qty=dec(r, "B"),
                   ask_price=dec(r, "a"), ask_qty=dec(r, "A"), event_ms=integer(r, "E", 0))
