"""Shared fixtures: a running simulator per test (real sockets on 127.0.0.1)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from loguru import logger

from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.botapi import FakeBotApi, serve_bot_api

# Every simulator session secret looks like these (otobot.sim.config.sim_user); no log line may contain one.
TEST_SECRETS = ("sim-csrf-", "sim-session-")


def leaked(lines: list[str]) -> list[str]:
    return [line for line in lines if any(s in line for s in TEST_SECRETS)]


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Warnings and errors on stderr (pytest shows them for failing tests), without loguru's variable dumps;
    and every log line of every test, at every level, checked for the test secrets."""
    logger.remove()
    logger.configure(extra={"user": "-", "cycle": "-"})
    logger.add(sys.stderr, level="WARNING", diagnose=False, backtrace=False,
               format="{level} [{extra[user]}#{extra[cycle]}] {message}")
    every: list[str] = []
    logger.add(lambda m: every.append(str(m)), level="TRACE", format="{message} {exception}")
    yield
    assert not leaked(every), f"secrets in log lines: {leaked(every)[:3]}"


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
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG",
                      format="{level} [{extra[user]}#{extra[cycle]}] {message}")
    yield lines
    logger.remove(sink)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh database file of the current schema (a test module may define its own `store` to seed it)."""
    s = await Store.open(tmp_path / "otobot.db")
    yield s
    await s.close()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    """The fake Telegram Bot API (tests/botapi.py) on an ephemeral loopback port."""
    async with serve_bot_api() as fake:
        yield fake
