"""The driver's wait for its next message or its timer: an early timer waits the rest instead of a wasted pass."""

from __future__ import annotations

import asyncio
import time

import pytest

from otobot.trading import inbox
from otobot.trading.inbox import EARLY_WAKE_S, next_message, woke_early


@pytest.mark.parametrize(("wake", "now", "early"), [
    (10.0, 9.999, True),  # a ms short: the timer's grain
    (10.0, 10.0 - EARLY_WAKE_S / 2, True),
    (10.0, 10.0, False),  # due
    (10.0, 10.5, False),  # late
    (10.0, 10.0 - EARLY_WAKE_S, False),  # a real wait left: not the grain, the caller's own business
    (10.0, 5.0, False),
])
def test_woke_early_only_within_the_clocks_grain(wake: float, now: float, early: bool) -> None:
    assert woke_early(wake, now) is early


async def test_a_timer_that_fires_early_waits_until_the_deadline() -> None:
    # A clock 4 ms behind the loop's: the loop's timer fires while this clock still reads before the deadline.
    def lagging() -> float:
        return time.monotonic() - 0.004

    q: asyncio.Queue[inbox.Msg] = asyncio.Queue()
    wake = lagging() + 0.02
    assert await next_message(q, wake, lagging) is None
    assert lagging() >= wake


async def test_a_clock_that_does_not_move_still_gets_its_pass() -> None:
    q: asyncio.Queue[inbox.Msg] = asyncio.Queue()
    assert await asyncio.wait_for(next_message(q, 100.01, lambda: 100.0), 5) is None


async def test_a_message_comes_before_the_timer() -> None:
    q: asyncio.Queue[inbox.Msg] = asyncio.Queue()
    q.put_nowait(inbox.Wake())
    assert isinstance(await next_message(q, time.monotonic() + 60, time.monotonic), inbox.Wake)
    asyncio.get_running_loop().call_soon(q.put_nowait, inbox.Down())
    assert isinstance(await next_message(q, None, time.monotonic), inbox.Down)
