"""The wallet as captured (§7.3b): spendable USDT is the funding bucket; spot may be null; Earn is named, not spent."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp

from otobot.exchange import protocol as p
from otobot.exchange.models import Bucket
from otobot.exchange.rest import AlphaRest
from otobot.sim.server import Simulator
from tests.helpers import running, wait_for, write_config

D = Decimal
REPO = Path(__file__).resolve().parents[2]


async def test_client_reads_spendable_usdt_from_funding_like_the_capture(sim: Simulator) -> None:
    sim.exchange.set_balance("alice", "USDT", D("103.20318663"))
    sim.exchange.set_balance("alice", "USDT", D("9207.42344884"), bucket="earn")
    async with aiohttp.ClientSession() as session:
        usdt = await AlphaRest(session, sim.rest_url, sim.credentials("alice")).quote_balance("USDT")
    assert usdt.free == D("103.20318663") and usdt.spot is None
    assert usdt.funding == Bucket(D("103.20318663"), D(0)) and usdt.earn == Bucket(D("9207.42344884"), D(0))
    assert usdt.shortfall_hint(D("20")) is None


async def test_money_in_spot_reads_as_nothing_to_spend_and_the_bot_pauses_naming_the_buckets(
        sim: Simulator, tmp_path: Path, logs: list[str]) -> None:
    sim.config = replace(sim.config, wallet_quote_bucket="spot")  # the reply is built per request from this
    async with aiohttp.ClientSession() as session:
        usdt = await AlphaRest(session, sim.rest_url, sim.credentials("alice")).quote_balance("USDT")
    assert (usdt.free, usdt.funding) == (D(0), None) and usdt.spot == Bucket(D("10000"), D(0))
    config = write_config(tmp_path, sim, {"alice": {}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.paused_reason == "insufficient_balance", 20, "alice paused")
        assert await d.store.pause_reason("alice") == "insufficient_balance"
    paused = next(line for line in logs if "Paused (insufficient_balance)" in line)
    assert "Funding wallet, which has 0 USDT free of 20 USDT needed" in paused
    assert "funding null, spot 10000 USDT, earn 0 USDT" in paused
    assert "10000 USDT sits in Spot; transfer it to Funding" in paused
    assert not sim.state("alice")["orders"] and sim.requests.get(p.PLACE_OTO, 0) == 0


async def test_funding_short_with_usdt_in_earn_says_redeem_it(sim: Simulator, tmp_path: Path,
                                                              logs: list[str]) -> None:
    sim.exchange.set_balance("alice", "USDT", D("5"))
    sim.exchange.set_balance("alice", "USDT", D("9207.42344884"), bucket="earn")
    config = write_config(tmp_path, sim, {"alice": {}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.paused_reason == "insufficient_balance", 20, "alice paused")
    paused = next(line for line in logs if "Paused (insufficient_balance)" in line)
    assert "9207.42344884 USDT sits in Earn; redeem it to Funding" in paused
    assert not sim.state("alice")["orders"]


async def otobot(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=REPO, env=dict(os.environ),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_balance_command_shows_funding_spot_and_earn(sim: Simulator, tmp_path: Path) -> None:
    sim.exchange.set_balance("alice", "USDT", D("7.5"))
    sim.exchange.set_balance("alice", "USDT", D("9207.42344884"), bucket="earn")
    config = write_config(tmp_path, sim, {"alice": {}})
    code, out, err = await otobot("balance", "-c", str(config), "alice")
    assert code == 0, err
    rows = {tuple(line.split()[:3]) for line in out.splitlines()}
    assert ("USDT", "funding", "(pays") in rows and ("USDT", "spot", "-") in rows
    assert ("USDT", "earn", "9207.42344884") in rows
    assert "funding (pays orders)  7.5" in out
    assert "7.5 USDT free of 20 USDT needed" in out and "9207.42344884 USDT sits in Earn; redeem it to Funding" in out
