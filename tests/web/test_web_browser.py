"""The dashboard in a real headless Chromium: what an operator sees over the SSH tunnel, against the simulator.

OTOBOT_SCREENSHOTS=docs saves the overview and a user page as PNGs there (how docs/ got its screenshots)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.views import reports
from otobot.web.app import Dashboard
from tests.helpers import cycles_done, local_app, wait_for, write_config
from tests.web.browser import Browser
from tests.web.webkit import Served, served

USERS = {
    "alice": {"target": {"value": 60}},  # three cycles of 20: finished, 100 %
    "bob": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.3},
    "carol": {"target": {"value": 10**6}, "enabled": False},
}

ROWS_JS = """
return Array.from(document.querySelectorAll('#users tbody tr[data-user]')).map(tr => ({
  user: tr.dataset.user, state: tr.querySelector('.state').textContent,
  pct: tr.querySelector('.progress').dataset.pct, amounts: tr.querySelector('.progress b').textContent,
  cycles: tr.querySelector('td.cycles').textContent}));
"""


def shots() -> Path | None:
    folder = os.environ.get("OTOBOT_SCREENSHOTS")
    return Path(folder) if folder else None


async def overview_row(s: Served, user: str) -> dict[str, Any]:
    doc: Any = await s.json("/api/overview")
    return next(r for r in doc["users"] if r["user"] == user)


async def traded_cycle(store: Store, user: str) -> dict[str, Any] | None:
    return next((c for c in await reports.cycle_rows(store, user)
                 if c["state"] == "done" and c["bought"] != "0" and c["sold"] != "0"), None)


async def test_the_overview_lists_every_user_with_the_right_progress(sim: Simulator, tmp_path: Path,
                                                                     browser: Browser) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        d = s.daemon
        await wait_for(lambda: cycles_done(d.store, "bob"), 30, "bob's first cycle")
        await d.supervisor.pause("bob", "operator")  # his figures stand still while the page is read...

        async def settled() -> bool:
            return await d.store.live_cycle("bob") is None
        await wait_for(settled, 30, "bob's last cycle to settle")  # ...once his cycle in flight is over
        await wait_for(lambda: _state_is(s, "alice", "finished"), 60, "alice reaching her target")

        await browser.open(s.url + "/")
        rows = await browser.until(ROWS_JS.replace("return ", "const r = ", 1) + "; return r.length === 3 && r;",
                                   "three user rows")
        shown = {r["user"]: r for r in rows}
        assert set(shown) == {"alice", "bob", "carol"}
        for name in shown:
            api = await overview_row(s, name)
            assert shown[name]["pct"] == api["done%"], name
            assert shown[name]["amounts"] == f"{api['today']} / {api['target']}", name
            assert shown[name]["cycles"] == str(api["cycles"]), name
        assert shown["alice"]["state"] == "finished" and float(shown["alice"]["pct"]) >= 100
        assert shown["carol"]["state"] == "disabled" and shown["carol"]["pct"] == "0.0"
        assert shown["bob"]["state"] == (await overview_row(s, "bob"))["state"]
        fix = await browser.js("return document.querySelector('tr[data-user=bob] .fix').textContent")
        assert "otobot ctl resume bob" in fix
        if shots():
            await browser.screenshot(shots() / "dashboard-overview.png")  # type: ignore[operator]


async def _state_is(s: Served, user: str, state: str) -> bool:
    return (await overview_row(s, user))["state"] == state


async def test_a_cycle_opens_its_orders_and_fills(sim: Simulator, tmp_path: Path, browser: Browser) -> None:
    async with served(write_config(tmp_path, sim, USERS)) as s:
        d = s.daemon
        cycle = await wait_for(lambda: traded_cycle(d.store, "alice"), 30, "a cycle of alice that traded")
        detail = await reports.cycle_detail(d.store, "alice", cycle["cycle"])
        assert detail is not None and detail["fills"]

        await browser.open(s.url + "/users/alice")
        row = f'tr.cycle[data-cycle="{cycle["cycle"]}"]'
        await browser.until(f"return document.querySelector('{row}') !== null", f"cycle {cycle['cycle']} listed")
        await browser.js(f"document.querySelector('{row}').click()")
        fills = await browser.until(
            f"""const t = document.querySelector('tr.detail[data-cycle="{cycle["cycle"]}"] table.fills');
            return t && Array.from(t.querySelectorAll(':scope > tbody > tr')).map(tr => tr.textContent);""",
            "the cycle's fills")
        assert len(fills) == len(detail["fills"])
        for shown, f in zip(fills, detail["fills"], strict=True):
            assert f["order_id"] in shown and f["side"] in shown and f["fee"] in shown
        orders = await browser.js(f"""return Array.from(document.querySelectorAll(
            'tr.detail[data-cycle="{cycle["cycle"]}"] table.orders > tbody > tr')).map(tr => tr.textContent)""")
        assert {o["role"] for o in detail["orders"]} >= {"working", "pending"}
        assert all(any(str(o["order_id"]) in text for text in orders) for o in detail["orders"])
        # the day's bar, the audit trail and the token's filters are drawn from their endpoints
        await browser.until("return document.querySelectorAll('#days-svg rect.day').length === 14", "14 day bars")
        tick = await browser.until("""const dt = Array.from(document.querySelectorAll('#token dt'))
            .find(x => x.textContent === 'tick'); return dt && dt.nextSibling.textContent !== '-' &&
            dt.nextSibling.textContent;""", "the token's tick")
        market: Any = await s.json("/api/users/alice/market")
        assert tick == market["token"]["tick"]
        await browser.until("return document.querySelector('#price-svg polyline') !== null", "the price chart")
        if shots():
            await browser.screenshot(shots() / "dashboard-user.png")  # type: ignore[operator]


async def test_the_page_updates_itself_when_a_cycle_completes(sim: Simulator, tmp_path: Path,
                                                             browser: Browser) -> None:
    async with served(write_config(tmp_path, sim, {"bob": USERS["bob"]})) as s:
        d = s.daemon
        await wait_for(lambda: cycles_done(d.store, "bob"), 30, "bob's first cycle")
        await browser.open(s.url + "/")
        first = int(await browser.until(
            "const c = document.querySelector('tr[data-user=bob] td.cycles'); return c && c.textContent",
            "bob's row"))
        await browser.js("window.notReloaded = true")
        now = await browser.until(
            f"""const c = document.querySelector('tr[data-user=bob] td.cycles');
            return c && Number(c.textContent) > {first} && Number(c.textContent);""",
            "bob's cycle count to grow without a reload", 30)
        assert await browser.js("return window.notReloaded === true")
        day_cycles = (await overview_row(s, "bob"))["cycles"]
        assert first < now <= day_cycles
        polls = int(await browser.js("return document.getElementById('updated').dataset.polls"))
        assert polls >= 2


class _FixedOverview(Dashboard):
    """The dashboard serving a fixed overview: the columns other issues add to the status rows (#21's `waiting`,
    #19's `inventory_own`/`inventory_user`) before the daemon fills them."""

    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__(None, lambda: None, _no_live)  # type: ignore[arg-type,return-value]
        self.doc = doc

    async def overview(self) -> dict[str, Any]:
        return self.doc


async def _no_live() -> dict[str, Any]:
    return {"users": []}


async def test_the_overview_shows_waiting_reasons_and_both_inventories_when_the_rows_carry_them(
        browser: Browser) -> None:
    row = {"user": "alice", "state": "idle", "token": "KOGE", "today": "10.00", "target": "100.00", "done%": "10.0",
           "cycles": 1, "loss_bps": "6.00", "inventory": "0.5000", "inventory_own": "0.5000",
           "inventory_user": "12.0000", "paused": None, "last_cycle": "2026-12-06 01:00:00",
           "waiting": {"reason": "volatility", "text": "volatility 4.2 % > 3 % in 60 s", "since_ms": 1}}
    doc = {"daemon": "running", "users": [row], "fixes": {},
           "totals": {"users": 1, "today": "10.00", "target": "100.00", "done%": "10.0", "cycles": 1,
                      "loss": "0.006", "paused": 0, "states": {"idle": 1}}}
    app = web.Application()
    _FixedOverview(doc).add_routes(app)
    async with local_app(app) as port:
        await browser.open(f"http://127.0.0.1:{port}/")
        why = await browser.until("const w = document.querySelector('tr[data-user=alice] .why'); "
                                  "return w && w.textContent", "alice's row")
        assert why == "waiting: volatility 4.2 % > 3 % in 60 s"
        cells = await browser.js("return Array.from(document.querySelectorAll('tr[data-user=alice] td'))"
                                 ".map(td => td.textContent)")
        assert "otobot 0.5000user 12.0000" in cells


async def test_a_paper_run_says_paper_above_the_figures_and_a_real_one_does_not(sim: Simulator, tmp_path: Path,
                                                                                browser: Browser) -> None:
    real = write_config(tmp_path / "real", sim, {"alice": {"target": {"value": 10**6}}})
    async with served(real) as s:
        assert (await s.json("/api/paper"))["paper"] is None
        await browser.open(s.url + "/")
        await browser.until("return document.querySelectorAll('#users tbody tr[data-user]').length === 1", "alice")
        assert await browser.js("return document.getElementById('paper').hidden") is True

    paper = write_config(tmp_path / "paper", sim, {"alice": {"target": {"value": 10**6}}})
    cfg = yaml.safe_load(paper.read_text())
    cfg["paper_market"] = "http://127.0.0.1:1"  # what `otobot paper` writes: the upstream the figures come from
    paper.write_text(yaml.safe_dump(cfg, sort_keys=False))
    async with served(paper) as s:
        doc: Any = await s.json("/api/paper")
        assert doc["paper"].startswith("PAPER: virtual money") and "http://127.0.0.1:1" in doc["paper"]
        for page in ("/", "/users/alice"):
            await browser.open(s.url + page)
            shown = await browser.until("const p = document.getElementById('paper'); return !p.hidden && p.textContent",
                                        f"the PAPER line on {page}")
            assert shown == doc["paper"]
