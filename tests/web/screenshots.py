"""`python -m tests.web.screenshots [DIR] [--seconds S]`: the README's dashboard screenshots, from a real run.

Four users trade against the simulator for S seconds (one reaches its target, one is paused by an operator), then
headless Chromium saves the overview and the paused user's page, a cycle opened, as full-page PNGs in DIR."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator
from tests.helpers import wait_for, write_config
from tests.web.browser import Browser, find_browser
from tests.web.webkit import served

USERS = {
    "alice": {"target": {"value": 400}, "pause_between_cycles_s": 0.5},
    "bob": {"target": {"value": 60}},
    "carol": {"target": {"value": 1000}, "pause_between_cycles_s": 1},
    "user4": {"target": {"kind": "points", "value": 12}, "token": "AOP", "order": {"quote_amount": 50},
             "pause_between_cycles_s": 1},
}


async def take(folder: Path, seconds: float) -> None:
    chromium, driver, why = find_browser()
    if why is not None:
        raise SystemExit(why)
    assert chromium is not None and driver is not None
    sim = Simulator(default_sim_config(users=4, seed=7))
    await sim.start()
    browser = await asyncio.to_thread(Browser, chromium, driver)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with served(write_config(Path(tmp), sim, USERS)) as s:
                await asyncio.sleep(seconds / 2)
                await s.daemon.supervisor.pause("carol", "operator")
                await asyncio.sleep(seconds / 2)
                await browser.open(s.url + "/")
                await browser.until("return document.querySelectorAll('#users tbody tr[data-user]').length === 4",
                                    "four user rows")
                await asyncio.sleep(1)
                await browser.screenshot(folder / "dashboard-overview.png")
                await browser.open(s.url + "/users/carol")
                row = await wait_for(lambda: browser.js(
                    "const r = Array.from(document.querySelectorAll('#cycles tr.cycle'))"
                    ".find(tr => tr.children[2].textContent === 'done'); return r && r.dataset.cycle"), 30,
                    "a done cycle listed")
                await browser.js(f"document.querySelector('tr.cycle[data-cycle=\"{row}\"]').click()")
                await browser.until("return document.querySelector('tr.detail table.fills') !== null", "fills")
                await browser.until("return document.querySelector('#price-svg polyline') !== null", "prices")
                await browser.until("return document.querySelectorAll('#audit tbody tr').length > 0", "audit rows")
                await browser.screenshot(folder / "dashboard-user.png")
    finally:
        await asyncio.to_thread(browser.quit)
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.web.screenshots", description=__doc__)
    ap.add_argument("dir", type=Path, nargs="?", default=Path("docs"))
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    asyncio.run(take(args.dir, args.seconds))
    print(f"saved {args.dir / 'dashboard-overview.png'} and {args.dir / 'dashboard-user.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
