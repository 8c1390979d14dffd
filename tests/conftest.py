"""Shared fixtures: a running simulator per test (real sockets on 127.0.0.1)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from loguru import logger

from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator


@pytest.fixture(autouse=True)
def quiet_logs() -> None:
    """Warnings and errors on stderr (pytest shows them for failing tests), without loguru's variable dumps."""
    logger.remove()
    logger.configure(extra={"user": "-", "cycle": "-"})
    logger.add(sys.stderr, level="WARNING", diagnose=False, backtrace=False,
               format="{level} [{extra[user]}#{extra[cycle]}] {message}")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = Simulator(default_sim_config(users=3, seed=5))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line of the test, as the operator would read it."""
    lines: list[str] = []
    logger.remove()
    logger.configure(extra={"user": "-", "cycle": "-"})
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG",
                      format="{level} [{extra[user]}#{extra[cycle]}] {message}")
    logger.add(sys.stderr, level="WARNING", diagnose=False, format="{level} [{extra[user]}#{extra[cycle]}] {message}")
    yield lines
    logger.remove(sink)
