"""The messages one bot's driver task reads: stream events, (re)subscriptions, commands, crashes, wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from otobot.exchange.errors import ExchangeError
from otobot.exchange.models import ExecutionReport


@dataclass(slots=True)
class Exec:
    report: ExecutionReport
    received: float


@dataclass(slots=True)
class Synced:
    done: asyncio.Future[None]


@dataclass(slots=True)
class Down:
    pass


@dataclass(slots=True)
class AuthLost:
    error: ExchangeError


@dataclass(slots=True)
class Command:
    name: str
    arg: Any
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(slots=True)
class Crashed:
    error: BaseException


@dataclass(slots=True)
class Wake:
    """Look at the facts now (a reloaded file waits for no timer)."""


Msg = Exec | Synced | Down | AuthLost | Command | Crashed | Wake


EARLY_WAKE_S = 0.05  # a timer that fires less than this before its deadline waits the rest (see next_message)
EARLY_WAKE_TRIES = 3  # the rest is under a ms and may round down to an early timer again: not for ever, though


def woke_early(wake: float, now: float) -> bool:
    """The loop's timer fired before the deadline by a little: its clock's grain, not a deadline of its own."""
    return 0 < wake - now < EARLY_WAKE_S


async def next_message(inbox: asyncio.Queue[Msg], wake: float | None, monotonic: Callable[[], float]) -> Msg | None:
    """The next message, or None once the clock reaches `wake` (the driver then advances on its timer).

    The loop's timers run on a coarser clock (uvloop: whole ms, cached at the start of its turn) and fire up to a
    few ms early; measured at 100 users, one wake-up in three came early and paid a decide pass that found nothing
    due. An early one waits the rest, a few times at most (a clock that does not move, as in tests, still gets
    its pass)."""
    for attempt in range(EARLY_WAKE_TRIES):
        if wake is None:
            return await inbox.get()
        try:
            async with asyncio.timeout(max(0.0, wake - monotonic())):
                return await inbox.get()
        except TimeoutError:
            if attempt == EARLY_WAKE_TRIES - 1 or not woke_early(wake, monotonic()):
                return None
    return None
