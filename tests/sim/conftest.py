"""Fixtures for the simulator tests: quiet simulators (background market paused), HTTP session, users, streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from simkit import Api, UserStream

from otobot.sim.config import SimConfig, default_sim_config
from otobot.sim.server import Simulator


def quiet_config(**options: Any) -> SimConfig:
    return default_sim_config(users=3, seed=5, **options)


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Any]]:
    """Start simulators with options; the background market is paused so books only change when a test acts."""
    started: list[Simulator] = []

    async def make(**options: Any) -> Simulator:
        s = Simulator(quiet_config(**options))
        s.market.paused = True
        await s.start()
        started.append(s)
        return s

    yield make
    for s in started:
        await s.stop()


@pytest.fixture
async def quiet(make_sim: Callable[..., Any]) -> Simulator:
    sim: Simulator = await make_sim()
    return sim


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


@pytest.fixture
def alice(http: aiohttp.ClientSession, quiet: Simulator) -> Api:
    return Api(http, quiet, "alice")


@pytest.fixture
async def streams() -> AsyncIterator[list[UserStream]]:
    """Collects streams a test opens and closes them at the end."""
    opened: list[UserStream] = []
    yield opened
    for s in opened:
        await s.ws.close()
        if s.task is not None:
            await s.task
