"""Deferred statements: a bot's state changes that ride in its next write instead of a write of their own."""

from __future__ import annotations

from typing import Any

Statement = tuple[str, tuple[Any, ...]]


class Carry:
    """Statements whose only reader is the bot's next write of the same step (or its end, which flushes them).

    A cycle's state change and its audit row, an order's status without a fill: nothing acts on them from
    SQLite while the bot runs (memory holds the same facts), and a restart that finds them missing derives them
    again from the orders and fills, which are never deferred. The next write runs them first, in its own
    transaction, so the file sees every change in the order the bot made them."""

    __slots__ = ("_stmts",)

    def __init__(self) -> None:
        self._stmts: list[Statement] = []

    def __bool__(self) -> bool:
        return bool(self._stmts)

    def __len__(self) -> int:
        return len(self._stmts)

    def add(self, *stmts: Statement) -> None:
        self._stmts.extend(stmts)

    def take(self) -> list[Statement]:
        """Every statement deferred so far, oldest first; the carry is empty after."""
        out, self._stmts = self._stmts, []
        return out
