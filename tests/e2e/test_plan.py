"""`otobot plan` as a user runs it (a real subprocess) against a simulator whose tokens differ in spread and depth."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otobot.exchange.rest import AlphaRest
from otobot.sim.config import load_sim_config
from otobot.sim.server import Simulator
from otobot.trading.book import LocalBook
from otobot.trading.planner import cycle_cost
from otobot.trading.pricing_book import NoQuote, book_oto
from tests.helpers import wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
D = Decimal
CANDIDATE_KEYS = {"token", "mul_point", "spread_bps", "cost_quote", "cost_bps", "cycles", "seconds", "depth_ok"}


@pytest.fixture
async def varied() -> AsyncIterator[Simulator]:
    s = Simulator(load_sim_config(REPO / "config" / "sim-varied.yaml"))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def plan(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otobot", "plan", *args, cwd=REPO, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_plan_json_picks_the_cheapest_per_counted_volume_and_follows_a_widened_spread(
        varied: Simulator, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    args = ("--token", "auto", "--target", "15", "--target-kind", "points", "--quote-amount", "20",
            "--rest-url", varied.rest_url, "-c", str(tmp_path / "absent.yaml"), "--json")
    code, out, err = await plan(*args)
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"user", "target", "candidates", "choice"} and result["user"] is None
    by = {c["token"]: c for c in result["candidates"]}
    assert set(by) == {"KOGE", "AOP", "NEX"}
    for c in result["candidates"]:
        assert set(c) == CANDIDATE_KEYS and c["depth_ok"] is True
        assert all(isinstance(c[k], str) for k in ("spread_bps", "cost_quote", "cost_bps", "seconds"))
        assert isinstance(c["cycles"], int) and isinstance(c["mul_point"], int)
    # The 4x token with the widest spread is the cheapest way to 15 points, not the tightest 1x token.
    assert result["choice"] == "AOP"
    assert D(by["AOP"]["spread_bps"]) > D(by["KOGE"]["spread_bps"])
    assert D(by["AOP"]["cost_quote"]) < D(by["NEX"]["cost_quote"]) < D(by["KOGE"]["cost_quote"])
    assert by["AOP"]["cycles"] * 4 == pytest.approx(by["KOGE"]["cycles"], rel=0.01)

    async with http.post(varied.rest_url + "/_sim/spread", json={"symbol": "ALPHA_118USDT", "bps": 30}) as r:
        assert r.status == 200
    code, out, err = await plan(*args)
    assert code == 0, err
    widened = json.loads(out)
    assert widened["choice"] == "NEX"
    assert D(next(c for c in widened["candidates"] if c["token"] == "AOP")["spread_bps"]) > D(29)


async def test_plan_user_reads_the_users_file_and_prints_a_table(varied: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, varied, {"alice": {"token": "auto", "target": {"kind": "volume", "value": 390},
                                                       "order": {"quote_amount": 25},
                                                       "pause_between_cycles_s": 2}})
    code, out, err = await plan("alice", "-c", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("alice: target 390 USDT of buy volume, 25 USDT per cycle, 2 s pause")
    header = lines[1].split()
    assert header[:6] == ["token", "mul", "spread_bps", "cost_bps", "per_counted_bps", "cycles"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert set(rows) == {"KOGE", "AOP", "NEX"} and all(r[-1] == "ok" for r in rows.values())
    assert all(r[header.index("cycles")] == "16" for r in rows.values())  # 390 / 24.99… on every token
    # A volume target gains nothing from the multiplier: the cheapest per bought USDT wins (KOGE, 3 bps).
    assert lines[5].startswith("choice: KOGE")
    code, out, _ = await plan("alice", "-c", str(config), "--json")
    assert code == 0 and json.loads(out)["user"] == "alice" and json.loads(out)["choice"] == "KOGE"


@pytest.mark.parametrize(("args", "code", "message"), [
    ((), 2, "needs a USER"),
    (("--token", "NOPE", "--target", "100", "--quote-amount", "20"), 2, "'NOPE' is not on the Alpha token list"),
    (("--token", "KOGE", "--target", "lots", "--quote-amount", "20"), 2, "--target 'lots' is not a number"),
    (("--token", "KOGE", "--target", "15.5", "--target-kind", "points", "--quote-amount", "20"), 2,
     "whole number of points"),
    (("bob",), 2, "no user file bob.yaml"),
])
async def test_plan_refuses_bad_input_with_one_clear_message(varied: Simulator, tmp_path: Path,
                                                             args: tuple[str, ...], code: int, message: str) -> None:
    config = write_config(tmp_path, varied, {"alice": {}})
    rc, out, err = await plan(*args, "-c", str(config))
    assert rc == code and message in err and "Traceback" not in err and out == ""


async def test_plan_says_when_the_exchange_cannot_be_reached(tmp_path: Path) -> None:
    rc, _, err = await plan("--token", "KOGE", "--target", "100", "--quote-amount", "20", "--rest-url",
                            "http://127.0.0.1:9", "-c", str(tmp_path / "absent.yaml"))
    assert rc == 1 and "could not read the public market data from http://127.0.0.1:9" in err
    assert "Traceback" not in err


async def test_book_priced_cycles_cost_what_the_planner_predicted(varied: Simulator,
                                                                   http: aiohttp.ClientSession) -> None:
    """Ten OTO cycles on AOP priced from fullDepth by book_oto: the engine's bill is within 20 % of the estimate."""
    pair, amount = "ALPHA_118USDT", D(20)
    rest = AlphaRest(http, varied.rest_url, varied.credentials("alice"))
    filters = {f.symbol: f for f in await rest.exchange_info()}[pair]
    snap = await rest.full_depth(pair, 100)
    predicted = cycle_cost(snap.bids, snap.asks, amount, filters.step_size).cost_bps
    usdt_before = varied.exchange.balance("alice", "USDT")[0]
    for _ in range(10):
        book = LocalBook(pair)
        book.reset(await rest.full_depth(pair, 100), time.monotonic())
        order: Any = book_oto(book, amount, filters, 0, time.monotonic(), 5.0)
        assert not isinstance(order, NoQuote), order
        await rest.place_oto("ALPHA_118", "USDT", order)
        await wait_for(lambda: not varied.exchange.open_orders("alice"), 10, "both legs filled")
    fills = varied.exchange.fills("alice")
    bought = sum((f.quote for f in fills if f.side == "BUY"), D(0))
    left = sum(varied.exchange.balance("alice", "ALPHA_118"))
    bid = (await rest.full_depth(pair, 5)).bids[0][0]
    loss = usdt_before - varied.exchange.balance("alice", "USDT")[0] - left * bid * (1 - D("0.0001"))
    paid = loss / bought * 10_000
    assert predicted is not None and bought > D(190)
    assert abs(paid - predicted) <= predicted * D("0.2"), (paid, predicted)
