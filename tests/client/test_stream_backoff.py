"""Reconnect backoff restarts after a connection that served (issue 9, problem 8), on real websockets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from otobot.exchange.models import AggTrade, ExecutionReport
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import Backoff, MarketStream, UserStream, ordinal
from otobot.sim.server import Simulator
from tests.helpers import RecordingLog, wait_for


class FakeClock:
    """Monotonic seconds the test moves by hand: a 'healthy minute' costs no wall time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ pure bookkeeping, no event loop


def test_steps_climb_while_flapping_and_restart_after_a_healthy_connection() -> None:
    clock, log = FakeClock(), RecordingLog()
    b = Backoff("User stream for alice", 30.0, random.Random(1), log, healthy_after_s=5.0, clock=clock)
    steps = []
    for up_for in (60, 0.5, 0.5, 0.5, 6, 1, 5):  # seconds each connection stayed up before it dropped
        b.served()
        clock.now += up_for
        b.lost()
        steps.append(b.step)
        clock.now += 0.3
    assert steps == [1, 2, 3, 4, 1, 2, 1]
    assert log.info_lines[0] == "User stream for alice reconnected after 0.3 s (1st drop today)"
    assert log.info_lines[-1].endswith("(6th drop today)")


def test_attempts_that_never_served_keep_climbing_to_the_cap_and_count_as_one_drop() -> None:
    clock, log = FakeClock(), RecordingLog()
    b = Backoff("User stream", 30.0, random.Random(1), log, healthy_after_s=5.0, clock=clock)
    b.served()
    clock.now += 100
    delays = []
    for _ in range(8):
        delays.append(b.lost())
        clock.now += 30
    assert b.step == 8 and all(15.0 <= d <= 30.0 for d in delays[-2:])  # capped, jittered in [half, full]
    b.served()
    assert b.drops_today == 1 and log.info_lines == ["User stream reconnected after 240.0 s (1st drop today)"]


def test_a_planned_reconnect_resets_the_step_and_is_not_a_drop() -> None:
    clock, log = FakeClock(), RecordingLog()
    b = Backoff("User stream", 30.0, random.Random(1), log, healthy_after_s=5.0, clock=clock)
    b.lost()
    b.lost()
    assert b.step == 2
    assert b.lost(planned=True) <= 0.3 and b.step == 0
    assert b.drops_today == 1


def test_drops_are_counted_per_utc_day() -> None:
    clock, wall = FakeClock(), [86_400 * 20_000 + 86_390.0]
    b = Backoff("User stream", 30.0, random.Random(1), RecordingLog(), healthy_after_s=5.0, clock=clock,
                wall=lambda: wall[0])
    for _ in range(3):
        b.served()
        clock.now += 10
        b.lost()
    assert b.drops_today == 3
    wall[0] += 20  # past midnight UTC
    b.served()
    clock.now += 10
    b.lost()
    assert b.drops_today == 1


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                         (12, "12th"), (13, "13th"), (21, "21st"), (102, "102nd"), (111, "111th")])
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


# ------------------------------------------------------------------ against the simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def _noop() -> None:
    pass


async def _ignore(event: ExecutionReport) -> None:
    pass


async def _drop_and_reconnect(sim: Simulator, stream: UserStream | MarketStream, which: str, drops: int) -> int:
    """Drop the stream's websocket, wait until the stream counted the loss and serves again; the step it used."""
    await wait_for(lambda: sim.drop_ws(which, "alice" if which == "user" else None), 10, f"{which} socket dropped")
    await wait_for(lambda: stream.reconnects == drops, 10, f"{which} stream saw drop #{drops}")
    step = stream.backoff.step
    await wait_for(lambda: stream.backoff.up, 10, f"{which} stream back")
    return step


async def test_user_stream_drops_with_healthy_periods_between_stay_at_the_first_step(
        sim: Simulator, session: aiohttp.ClientSession, logs: list[str]) -> None:
    clock = FakeClock()
    rest = AlphaRest(session, sim.rest_url, sim.credentials("alice"))
    stream = UserStream(session, sim.user_ws_url, rest, on_event=_ignore, on_synced=_noop, clock=clock,
                        name="alice", backoff_max_s=30.0)
    task = asyncio.create_task(stream.run())
    try:
        await wait_for(lambda: stream.backoff.up, 10, "user stream up")
        healthy = []
        for n in range(1, 6):
            clock.now += 60  # the connection served for a minute
            healthy.append(await _drop_and_reconnect(sim, stream, "user", n))
        flapping = [await _drop_and_reconnect(sim, stream, "user", n) for n in range(6, 8)]  # no time between
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert healthy == [1, 1, 1, 1, 1]
    assert flapping == [2, 3]  # connections that did not serve long enough: the steps climb
    back = [line for line in logs if "User stream for alice reconnected after" in line]
    assert len(back) == 7 and back[2].rstrip().endswith("(3rd drop today)")
    assert back[-1].rstrip().endswith("(7th drop today)")
    assert all(line.startswith("INFO") for line in back)


async def test_market_stream_drops_with_healthy_periods_between_stay_at_the_first_step(
        sim: Simulator, session: aiohttp.ClientSession, logs: list[str]) -> None:
    clock = FakeClock()

    def on_trade(trade: AggTrade) -> None:
        pass

    stream = MarketStream(session, sim.market_ws_url, "ALPHA_22USDT", on_trade, clock=clock, backoff_max_s=30.0)
    task = asyncio.create_task(stream.run())
    try:
        await wait_for(lambda: stream.backoff.up, 10, "market stream up")
        healthy = []
        for n in range(1, 4):
            clock.now += 60
            healthy.append(await _drop_and_reconnect(sim, stream, "market", n))
        flapping = [await _drop_and_reconnect(sim, stream, "market", n) for n in range(4, 6)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert healthy == [1, 1, 1] and flapping == [2, 3]
    assert sum("Market stream alpha_22usdt@aggTrade reconnected after" in line for line in logs) == 5
