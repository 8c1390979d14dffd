"""Headless Chromium from the distribution (`chromium`, `chromium-driver`) driven by Selenium, from async tests.

Selenium blocks, so every call runs in a worker thread: the daemon and the dashboard keep serving in the test's
event loop meanwhile. Without a browser the tests skip and say why (conftest prints the reason in the summary)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def find_browser() -> tuple[str | None, str | None, str | None]:
    """(chromium, chromedriver, why not): the binaries, or the reason the browser tests cannot run."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium is not installed (pip install -e '.[test]')"
    chromium = os.environ.get("OTOBOT_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver = os.environ.get("OTOBOT_CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVER_NAMES)), None)
    if chromium is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None)
        return chromium, driver, (f"no {missing} on PATH: install them with `apt-get install -y chromium "
                                  "chromium-driver` (or set OTOBOT_CHROMIUM / OTOBOT_CHROMEDRIVER)")
    return chromium, driver, None


class Browser:
    """One headless Chromium window; `await b.call(fn, ...)` runs a Selenium call off the event loop."""

    def __init__(self, chromium: str, driver: str, width: int = 1400, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_page_load_timeout(30)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, script, *args)

    async def until(self, script: str, what: str, timeout: float = 30.0, *args: Any) -> Any:
        """Run `script` (returns a value) in the page until it is truthy; fail naming `what` after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.js(script, *args)
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting in the browser for {what}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        """The whole page: the window is stretched to the document's height first."""
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = await self.js("return [document.documentElement.scrollWidth, "
                                      "document.documentElement.scrollHeight]")
        await self.call(self.driver.set_window_size, max(width, 1400), max(height + 100, 600))
        await self.call(self.driver.save_screenshot, str(path))

    def quit(self) -> None:
        self.driver.quit()
