"""The per-account limiter at its shipped default (2 requests/s, burst 6), against the simulator: requests per
second counted as they leave for the exchange; and every REST exchange reported by path and outcome."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import aiohttp

from otobot.config.settings import ReliabilityConfig
from otobot.exchange import protocol as p
from otobot.exchange.errors import ExchangeError
from otobot.exchange.ratelimit import RateLimiter
from otobot.exchange.rest import AlphaRest
from otobot.sim.server import Simulator


def recording_session(sent: list[float]) -> aiohttp.ClientSession:
    async def on_start(session: Any, ctx: SimpleNamespace, params: Any) -> None:
        sent.append(time.monotonic())
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return aiohttp.ClientSession(trace_configs=[trace])


def most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


async def test_the_default_limit_holds_2_per_second_after_a_burst_of_6(sim: Simulator) -> None:
    rel = ReliabilityConfig()
    assert (rel.requests_per_second, rel.request_burst) == (2.0, 6)  # the shipped default, not a test's 50/s
    sent: list[float] = []
    async with recording_session(sent) as session:
        rest = AlphaRest(session, sim.rest_url, sim.credentials("alice"),
                         limiter=RateLimiter(rel.requests_per_second, rel.request_burst))
        started = time.monotonic()
        await asyncio.gather(*(rest.open_orders() for _ in range(16)))  # a burst, as a reconcile makes
        took = time.monotonic() - started

    assert len(sent) == 16
    first_second = sum(1 for t in sent if t < started + 1.0)
    assert 6 <= first_second <= 8  # the burst, plus what refills within the second
    assert most_in_one_second(sent) <= 8
    after_burst = sorted(sent)[6:]
    rate = (len(after_burst) - 1) / (after_burst[-1] - after_burst[0])
    assert rate <= 2.2, f"{rate:.2f} requests/s after the burst"
    assert took >= (16 - 6) / 2.0 - 0.1  # ten beyond the burst at 2/s
    print(f"16 requests at the default limit: {first_second} in the first second, {rate:.2f}/s after, {took:.1f} s")


async def test_each_rest_exchange_is_reported_by_path_and_outcome(sim: Simulator) -> None:
    outcomes: list[tuple[str, str]] = []
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, sim.rest_url, sim.credentials("alice"), retries=0,
                         on_outcome=lambda path, outcome: outcomes.append((path, outcome)))
        await rest.open_orders()
        rest.credentials = None  # a private call without a session: refused
        try:
            await rest.open_orders()
        except ExchangeError:
            pass
    assert outcomes[0] == (p.OPEN_ORDERS, "ok")
    assert outcomes[1][0] == p.OPEN_ORDERS and outcomes[1][1] not in ("ok", "")  # the error's class name
