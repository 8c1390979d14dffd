"""Browser fixture for the dashboard's tests; the reason the browser tests were skipped is printed, never hidden."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.web.browser import Browser, find_browser

_SKIPPED: list[str] = []


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium, driver, why = find_browser()
    if why is not None:
        _SKIPPED.append(why)
        pytest.skip(f"browser tests skipped: {why}")
    assert chromium is not None and driver is not None
    try:
        b = await asyncio.to_thread(Browser, chromium, driver)
    except Exception as exc:  # e.g. a chromium that cannot start in this container
        why = f"{chromium} did not start under {driver}: {' '.join(str(exc).split())[:300]}"
        _SKIPPED.append(why)
        pytest.skip(f"browser tests skipped: {why}")
    try:
        yield b
    finally:
        await asyncio.to_thread(b.quit)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for why in dict.fromkeys(_SKIPPED):
        terminalreporter.write_line(f"otobot dashboard: browser tests SKIPPED: {why}", yellow=True, bold=True)
