"""What a refused request or a dropped socket leaves behind is freed at once by reference counting: no cyclic
garbage, which the daemon's rare full collections (daemon/run.py) would let pile up and lift the RSS (issue 24)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from decimal import Decimal

import aiohttp

from otobot.exchange import protocol as p
from otobot.exchange.errors import ExchangeError
from otobot.exchange.filters import OtoOrder
from otobot.exchange.models import ExecutionReport
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import UserStream
from otobot.sim.server import Simulator
from tests.helpers import wait_for


async def _noop() -> None:
    return None


async def _ignore(event: ExecutionReport) -> None:
    return None


async def _garbage_of(act: Callable[[], Awaitable[None]]) -> list[str]:
    """The types of the client-side objects (aiohttp's client, otobot's exchange layer, frames) that `act` left
    for the cycle collector."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await act()
        gc.collect()
        return [type(o).__qualname__ for o in gc.garbage
                if type(o).__module__.startswith(("aiohttp.client", "otobot.exchange"))
                or (type(o).__name__ == "frame" and "/otobot/exchange/" in o.f_code.co_filename)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_refused_reads_and_orders_leave_no_cyclic_garbage(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, sim.rest_url, sim.credentials("alice"), retries=1)
        await rest.open_orders("ALPHA_22USDT")  # the session's pools and caches exist before counting
        order = OtoOrder(working_price=Decimal("1"), quantity=Decimal("1"), pending_price=Decimal("2"),
                         pay_amount=Decimal("1"))

        async def refused() -> None:
            for _ in range(5):
                sim.faults.http_error(429, 2, retry_after=0.01)  # a read retried once, then refused
                try:
                    await rest.open_orders("ALPHA_22USDT")
                except ExchangeError:
                    pass
                sim.faults.http_error(429, 1, path=p.PLACE_OTO, retry_after=0.01)  # an order: never retried
                try:
                    await rest.place_oto("ALPHA_22", "USDT", order)
                except ExchangeError:
                    pass
        assert await _garbage_of(refused) == []


async def test_a_dropped_user_stream_leaves_no_cyclic_garbage(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, sim.rest_url, sim.credentials("alice"))
        stream = UserStream(session, sim.user_ws_url, rest, on_event=_ignore, on_synced=_noop, ping_interval_s=0.2,
                            backoff_max_s=0.05, name="alice")
        task = asyncio.create_task(stream.run())
        try:
            await wait_for(lambda: stream.connected, 10, "user stream up")

            async def drops() -> None:
                for n in range(1, 6):
                    await sim.drop_ws("user")
                    await wait_for(lambda n=n: stream.reconnects >= n and stream.connected, 10, f"reconnect {n}")
            garbage = await _garbage_of(drops)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert garbage == [], garbage
