"""What the page shows, on the command line: `tokens` with tick/step/min notional, `orders USER --cycle N` with
fills and fees, `price TOKEN` from the public ticker; each against the simulator, as real processes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.views import reports
from tests.cli.clirun import otobot, refused
from tests.helpers import running, wait_for, write_config


async def traded_cycle(store: Store, user: str) -> int | None:
    for c in await reports.cycle_rows(store, user):
        if c["state"] == "done" and c["bought"] != "0" and c["sold"] != "0":
            return int(c["cycle"])
    return None


async def test_orders_cycle_shows_one_oto_with_its_fills_and_fees(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    async with running(config) as d:
        cycle = await wait_for(lambda: traded_cycle(d.store, "alice"), 30, "a cycle that bought and sold")
        detail = await reports.cycle_detail(d.store, "alice", cycle)
    assert detail is not None

    r = await otobot("orders", "alice", "--cycle", str(cycle), "-c", str(config))
    assert r.code == 0, r.err
    assert f"cycle {cycle} (oto, done) on ALPHA_22USDT" in r.out
    assert f"fees {detail['cycle']['fees']} (in quote)" in r.out and "bps" in r.out
    for o in detail["orders"]:
        assert o["order_id"] in r.out
    fills = r.out.split("fills:\n", 1)[1]
    assert len(fills.strip().splitlines()) == 1 + len(detail["fills"])  # header + one line per fill
    for f in detail["fills"]:
        assert f["fee"] in fills and f["fee_asset"] in fills

    r = await otobot("orders", "alice", "--cycle", str(cycle), "--json", "-c", str(config))
    assert r.code == 0 and json.loads(r.out) == detail  # the same document the dashboard serves

    refused(await otobot("orders", "alice", "--cycle", "99999", "-c", str(config)), 1, "alice has no cycle 99999")


async def test_tokens_prints_tick_step_and_min_notional(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {}})
    r = await otobot("tokens", "--refresh", "-c", str(config))
    assert r.code == 0, r.err
    header, *lines = r.out.splitlines()
    assert header.split() == ["symbol", "alpha_id", "name", "mulPoint", "tradable", "pair", "tick", "step",
                              "min_notional", "cached"]
    koge = next(line for line in lines if line.startswith("KOGE "))
    assert "ALPHA_22USDT" in koge and "0.00000001" in koge and "0.0001" in koge and "0.1" in koge

    rows = json.loads((await otobot("tokens", "--json", "-c", str(config))).out)
    for sym in sim.config.symbols:
        row = next(r for r in rows if r["alpha_id"] == sym.alpha_id)
        assert (Decimal(row["tick"]), Decimal(row["step"]), Decimal(row["min_notional"])) == \
            (sym.tick, sym.step, sym.min_notional)


async def test_price_prints_the_last_price_and_the_24h_range_from_the_public_ticker(sim: Simulator,
                                                                                     tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    async with running(config):
        await wait_for(lambda: len(sim.exchange.recent_trades["ALPHA_22USDT"]) >= 5, 30, "a few trades on KOGE")
    traded = [Decimal(t["p"]) for t in sim.exchange.recent_trades["ALPHA_22USDT"]]  # the market trades on
    r = await otobot("price", "KOGE", "--json", "-c", str(config))
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["token"] == "KOGE" and doc["symbol"] == "ALPHA_22USDT"
    last = sim.exchange.last_price["ALPHA_22USDT"]
    assert Decimal(doc["low_24h"]) <= Decimal(doc["last"]) <= Decimal(doc["high_24h"])
    assert Decimal(doc["low_24h"]) <= min(traded) and Decimal(doc["high_24h"]) >= max(traded)
    assert abs(Decimal(doc["last"]) - last) / last < Decimal("0.01")  # the market may have moved since

    r = await otobot("price", "ALPHA_22", "-c", str(config))
    assert r.code == 0 and r.out.startswith("KOGE (ALPHA_22USDT): last ") and "24 h: low " in r.out
    refused(await otobot("price", "NOPE", "-c", str(config)), 1, "no Alpha token 'NOPE'", "otobot tokens")
