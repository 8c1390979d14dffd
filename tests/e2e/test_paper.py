"""Paper trading (#25) end to end: the real daemon on a simulator whose market is mirrored from an upstream that lists
tokens the simulator does not have (another simulator: in this process, or its own `otobot sim` process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from otobot.config.settings import load_global, load_user
from otobot.exchange import protocol as p
from otobot.exchange.rest import AlphaRest
from otobot.sim.config import SimSymbol, default_sim_config
from otobot.sim.exchange import now_ms
from otobot.sim.mirror import Mirror, start_paper_sim, stop_paper_sim
from otobot.sim.server import Simulator
from tests.helpers import cycles_done, local_http, running, wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
D = Decimal
ZED = SimSymbol(alpha_id="ALPHA_901", symbol="ZED", name="Zed Token", price=D("1.2345"), tick=D("0.0001"),
                step=D("0.1"), min_qty=D("0.1"), mul_point=2, spread_ticks=3, level_quote=D("400"))
PRIVATE_PATHS = {p.PLACE_OTO, p.PLACE_ORDER, p.CANCEL_ORDER, p.OPEN_ORDERS, p.ORDER_HISTORY, p.USER_TRADES,
                 p.ALPHA_WALLET, p.WALLET_ASSET, p.USER_VOLUME, p.LISTEN_KEY, p.USER_BASE_INFO}


@contextlib.asynccontextmanager
async def frozen_upstream() -> AsyncIterator[Simulator]:
    """An upstream whose book holds still while prints keep coming (so prices stay fresh and every level the paper
    run can meet is known in advance)."""
    up = Simulator(replace(default_sim_config(users=1, seed=9), symbols=(ZED,)))
    up.market.paused = True
    await up.start()

    async def prints() -> None:
        while True:
            up.publish_trade(ZED, up.exchange.agg_trade(ZED, up.exchange.last_price[ZED.pair], ZED.min_qty, now_ms(),
                                                        False))
            await asyncio.sleep(0.2)

    task = asyncio.create_task(prints())
    try:
        yield up
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await up.stop()


@contextlib.asynccontextmanager
async def paper_sim(up: Simulator, users: int = 1) -> AsyncIterator[tuple[Simulator, Mirror]]:
    sim, mirror = await start_paper_sim(default_sim_config(users=users), up.rest_url, tokens=("ZED",))
    try:
        await wait_for(lambda: mirror.halt_reason() is None, 10, "the mirror's first book")
        yield sim, mirror
    finally:
        await stop_paper_sim(sim, mirror)


async def test_a_paper_run_trades_a_token_only_the_upstream_lists_at_the_upstream_levels(tmp_path: Path) -> None:
    assert "ZED" not in {s.symbol for s in default_sim_config().symbols}
    async with frozen_upstream() as up, paper_sim(up) as (sim, _):
        async with aiohttp.ClientSession() as http:
            book = await AlphaRest(http, up.rest_url, None).full_depth(ZED.pair, 50)
        asks, bids = {px for px, _ in book.asks}, {px for px, _ in book.bids}
        config = write_config(tmp_path, sim, {"alice": {"token": "ZED", "target": {"value": 100}}})
        async with running(config) as d:
            await wait_for(lambda: cycles_done(d.store, "alice"), 60, "paper cycles")
            await wait_for(lambda: sim.exchange.fills("alice") and not sim.exchange.open_orders("alice"), 30,
                           "the cycle settled")
        fills = sim.exchange.fills("alice")
        buys = [f.price for f in fills if f.side == "BUY"]
        sells = [f.price for f in fills if f.side == "SELL"]
        assert buys and sells
        assert buys[0] == book.asks[0][0]  # the first BUY takes the upstream's best ask, as a taker would
        assert set(buys) <= asks and set(sells) <= bids  # every fill at a price the upstream's book held
        assert not set(up.requests) & PRIVATE_PATHS  # nothing but public reads reached the upstream


async def test_an_upstream_that_goes_away_pauses_the_paper_user_with_the_reason(tmp_path: Path,
                                                                               logs: list[str]) -> None:
    async with frozen_upstream() as up, paper_sim(up) as (sim, mirror):
        mirror.halt_grace_s = 0.2
        config = write_config(tmp_path, sim, {"alice": {"token": "ZED", "target": {"value": 100000},
                                                        "max_price_age_s": 60}})
        async with running(config) as d:
            await wait_for(lambda: cycles_done(d.store, "alice"), 60, "a paper cycle")
            await up.stop()  # the upstream goes away: its streams and REST both
            # A new OTO or a fee-dust sweep, whichever the bot tries first, is refused with the reason.
            assert await wait_for(lambda: d.store.pause_reason("alice"), 30, "the pause") == "paper_market"
        paused = [line for line in logs if "Paused (paper_market)" in line]
        assert paused and f"paper market paused: the upstream {up.rest_url} is unreachable since" in paused[0]


# ------------------------------------------------------------ as an operator runs it: three processes


async def _otobot(*args: str, cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=cwd, env=dict(os.environ),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def upstream_process() -> AsyncIterator[str]:
    """`otobot sim` serving config/paper-upstream.yaml (ZED, MOON, ORB) in its own process; yields its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otobot", "sim", "--sim-config", str(REPO / "config" / "paper-upstream.yaml"),
        "--port", "0", cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def test_otobot_paper_costs_what_plan_estimates_on_the_same_upstream(tmp_path: Path) -> None:
    received: list[dict[str, str]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    async with upstream_process() as url, local_http(hook) as webhook:
        (tmp_path / "users").mkdir()
        (tmp_path / "otobot.yaml").write_text(yaml.safe_dump({
            "database": "otobot.db", "logging": {"level": "WARNING"},
            "notify": {"webhook_url": webhook, "daily_summary_utc_hour": 0},
            "exchange": {"rest_url": url, "market_ws_url": url.replace("http", "ws") + "/w3w/wsa/stream",
                         "user_ws_url": url.replace("http", "ws") + "/w3w/stream"},
            "reliability": {"requests_per_second": 20}}))
        (tmp_path / "users" / "alice.yaml").write_text(yaml.safe_dump({
            "token": "ZED", "target": {"kind": "volume", "value": 100000}, "order": {"quote_amount": 20},
            "pricing": {"mode": "percent", "buy_offset": 0.3, "sell_offset": 0.8},
            "pause_between_cycles_s": 0.2, "notify": {"webhook_url": webhook + "/alice"},
            "credentials": {"source": "inline", "cookie": "p20t=the-real-session", "csrftoken": "the-real-csrf"}}))
        code, out, err = await _otobot("paper", "-c", "otobot.yaml", "--seconds", "15", "--usdt", "500",
                                       "--notify", cwd=tmp_path)
        assert code == 0, err[-2000:]
        assert not (tmp_path / "otobot.db").exists()  # the real database is never created nor touched
        row = next(line.split() for line in out.splitlines() if line.startswith("alice "))
        paper_bps, plan_at_end = D(row[-2]), D(row[-1])
        code, plan_out, err = await _otobot("plan", "--token", "ZED", "--target", "100000", "--quote-amount", "20",
                                            "--rest-url", url, "-c", str(tmp_path / "absent.yaml"), "--json",
                                            cwd=tmp_path)
        assert code == 0, err
        plan_bps = D(json.loads(plan_out)["candidates"][0]["cost_bps"])  # ZED is 1x: per counted = per bought
        assert abs(paper_bps - plan_bps) <= plan_bps * D("0.10"), (paper_bps, plan_bps, plan_at_end)
        assert int(row[3]) >= 3  # cycles
        root = tmp_path / "otobot.paper"
        code, status, _ = await _otobot("status", "-c", str(root / "otobot.yaml"), cwd=tmp_path)
        assert code == 0 and status.startswith(f"PAPER: virtual money on a simulator mirroring {url}")
        code, checked, _ = await _otobot("check", "-c", str(root / "otobot.yaml"), cwd=tmp_path)
        assert code == 0 and f"PAPER: virtual money, market of {url}" in checked.splitlines()[0]
        paper_user = load_user(root / "users" / "alice.yaml")
        assert paper_user.credentials is not None and "the-real" not in paper_user.credentials.cookie
        assert received and all(m["text"].startswith(f"PAPER (virtual money, market of {url}): ") for m in received)
        assert load_global(root / "otobot.yaml").paper_market == url
        async with aiohttp.ClientSession() as http, http.get(url + "/_sim/stats") as r:
            reached = set((await r.json())["requests"])
        assert reached and not reached & PRIVATE_PATHS
