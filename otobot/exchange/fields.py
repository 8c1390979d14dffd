"""One JSON field read as the type otobot keeps (Decimal money, str ids, text, int, bool), or an error naming it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from otobot.exchange.errors import MalformedMessage


def dec(raw: Mapping[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    """A Decimal from a JSON string or number; floats are refused so nothing binary sneaks in."""
    value = raw.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise MalformedMessage(f"missing number {key!r}")
    if isinstance(value, bool) or isinstance(value, float):
        # Decode JSON with protocol.loads (parse_float=Decimal); a float here means a bug upstream.
        raise MalformedMessage(f"{key!r} is a binary float ({value!r}); decode with protocol.loads")
    try:
        d = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation as exc:
        raise MalformedMessage(f"{key!r} is not a number: {value!r}") from exc
    if d is None or not d.is_finite():
        raise MalformedMessage(f"{key!r} is not a finite number: {value!r}")
    return d


def ident(raw: Mapping[str, Any], key: str) -> str:
    """An id as str whether the wire sent a number (OTO place) or a string (streams, history)."""
    value = raw.get(key)
    if value is None or isinstance(value, bool) or value == "":
        raise MalformedMessage(f"missing id {key!r}")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise MalformedMessage(f"id {key!r} is not an integer: {value!r}")
        return str(int(value))
    if isinstance(value, int | str):
        return str(value)
    raise MalformedMessage(f"id {key!r} has type {type(value).__name__}")


def text(raw: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key)
    if value is None:
        if default is not None:
            return default
        raise MalformedMessage(f"missing text {key!r}")
    return str(value)


def integer(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        if default is not None:
            return default
        raise MalformedMessage(f"missing integer {key!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"{key!r} is not an integer: {value!r}") from exc


def flag(raw: Mapping[str, Any], key: str) -> bool:
    return bool(raw.get(key) or False)


def mapping(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedMessage(f"{what} is not an object: {type(raw).__name__}")
    return raw
