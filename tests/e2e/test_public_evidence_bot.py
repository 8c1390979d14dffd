"""The daemon and the CLI against a simulator playing the readings of alpha-api.md §7.7 (issue #23): a fully delisted
token is never traded and `otobot tokens` says so; fills read from rows without cumQuote are booked at their worth
over replies without `success`; a reverse OTO the user places by hand is followed and reported as what it is."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from otobot.exchange import protocol as p
from otobot.exchange.rest import AlphaRest
from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator
from otobot.trading import plan
from otobot.trading.autotoken import pool
from otobot.trading.planner import Target
from tests.cli.clirun import otobot
from tests.helpers import assert_clean, check_invariants, running, wait_for, write_config

D = Decimal


async def started(**options: object) -> Simulator:
    sim = Simulator(default_sim_config(users=1, seed=11, **options))  # type: ignore[arg-type]
    await sim.start()
    return sim


async def test_otobot_tokens_marks_a_fully_delisted_token(tmp_path: Path) -> None:
    sim = await started(delisted=("ALPHA_118",))
    try:
        config = str(write_config(tmp_path, sim, {"alice": {}}))
        r = await otobot("tokens", "--json", "--refresh", "-c", config)
        assert r.code == 0, r.err
        rows = {t["symbol"]: t for t in json.loads(r.out)}
        assert rows["AOP"]["tradable"] == "no (fully delisted)" and rows["KOGE"]["tradable"] == "yes"
        r = await otobot("tokens", "-c", config)
        assert r.code == 0, r.err
        aop = next(line for line in r.out.splitlines() if "ALPHA_118" in line)
        assert "no (fully delisted)" in aop
    finally:
        await sim.stop()


async def test_token_auto_and_the_plan_never_choose_a_fully_delisted_token(tmp_path: Path) -> None:
    sim = await started(delisted=("ALPHA_22", "ALPHA_971"))
    try:
        async with aiohttp.ClientSession() as http:
            tokens = await AlphaRest(http, sim.rest_url, None).token_list()
        write_config(tmp_path, sim, {"alice": {"token": "auto"}})
        from otobot.config.settings import load_user

        cfg = load_user(tmp_path / "users" / "alice.yaml")
        assert pool(cfg, tokens) == ("ALPHA_118",)
        inp = plan.PlanInput(user=None, tokens=(plan.AUTO,), quote="USDT", target=Target("volume", D(100)),
                             quote_amount=D(20), pause_s=D("0.05"), requests_per_second=D(50), reserve=D(0),
                             rest_url=sim.rest_url)
        ranked, best = await plan.run(inp)
        assert [c.token for c in ranked] == ["AOP"] and best is not None and best.token == "AOP"
    finally:
        await sim.stop()


async def test_a_bot_on_a_fully_delisted_token_pauses_and_never_places(tmp_path: Path, logs: list[str]) -> None:
    sim = await started(delisted=("ALPHA_22",))
    try:
        config = write_config(tmp_path, sim, {"alice": {"token": "KOGE"}})
        async with running(config) as d:
            await wait_for(lambda: d.store.pause_reason("alice"), 30, "a pause")
            assert await d.store.pause_reason("alice") == "config"
        assert sim.requests.get(p.PLACE_OTO, 0) == 0 and sim.requests.get(p.PLACE_ORDER, 0) == 0
        assert any("KOGE (ALPHA_22) is not tradable now" in line and "fully delisted" in line for line in logs), \
            [line for line in logs if "tradable" in line]
    finally:
        await sim.stop()


async def test_a_pair_delisted_while_its_token_is_still_listed_is_never_resolved_for_trading(tmp_path: Path) -> None:
    from otobot.config.settings import load_user
    from otobot.store.db import Store
    from otobot.trading.catalog import CatalogProblem, resolve

    sim = await started(delisted=("ALPHA_22",))
    store = await Store.open(tmp_path / "otobot.db")
    try:
        write_config(tmp_path, sim, {"alice": {"token": "KOGE"}})
        cfg = load_user(tmp_path / "users" / "alice.yaml")
        async with aiohttp.ClientSession() as http:
            rest = AlphaRest(http, sim.rest_url, None)
            # A token list that has not caught up with exchange info (the token still listed, its pair DELISTED).
            now = int(time.time() * 1000)
            await store.put_tokens([replace(t, fully_delisted=False) for t in await rest.token_list()], now)
            with pytest.raises(CatalogProblem, match="ALPHA_22USDT is DELISTED on the exchange, not TRADING"):
                await resolve(store, rest, cfg, now)
            market = await resolve(store, rest, cfg, now, require_tradable=False)  # a cycle in flight still ends
            assert market.filters.status == "DELISTED"
    finally:
        await store.close()
        await sim.stop()


async def test_a_token_delisted_mid_run_stops_the_bot_at_the_first_refused_place(tmp_path: Path) -> None:
    sim = await started()
    try:
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10000}}})
        async with running(config) as d:
            bot = await d.bot("alice")
            await wait_for(lambda: bot.cycles_completed >= 1, 30, "trading")
            async with aiohttp.ClientSession() as http, \
                    http.post(sim.rest_url + "/_sim/delist", json={"token": "ALPHA_22"}) as r:
                assert r.status == 200
            await wait_for(lambda: d.store.pause_reason("alice"), 30, "a pause")
            assert await d.store.pause_reason("alice") == "order_rejected"  # a business error: never retried blindly
            placed = sim.requests[p.PLACE_OTO]
            await wait_for(lambda: bot.cycle.state == "paused", 20)
            assert sim.requests[p.PLACE_OTO] == placed
            await assert_clean(sim, d.store, "alice")
    finally:
        await sim.stop()


async def test_fills_settled_from_rows_without_cum_quote_are_booked_at_their_worth(tmp_path: Path,
                                                                                    logs: list[str]) -> None:
    # Every reply without `success` and every order row without `cumQuote`; the first OTO's answer is lost, so its
    # fills reach the books from those rows only (its stream events arrive while the request is being settled).
    sim = await started(success_key="never", order_rows_cum_quote=False)
    try:
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}}})
        sim.faults.drop_response(p.PLACE_OTO, count=1, when="after")
        async with running(config) as d:
            bot = await d.bot("alice")
            await wait_for(lambda: bot.cycle.state == "finished", 30, "target reached")
            assert [r for r in await d.store.audit_rows("alice", 500) if r["kind"] == "adopt"], "nothing adopted"
            rest_fills = [f for f in await d.store.fills("alice") if f["source"] == "rest"]
            assert rest_fills and all(D(f["quote_qty"]) > 0 for f in rest_fills), rest_fills
            for row in await d.store.orders_page("alice", limit=200):
                if row.order_id is None or row.cum_qty == 0:
                    continue
                exact = sim.exchange.order(row.order_id).cum_quote
                assert abs(row.cum_quote - exact) <= D("0.00000001"), (row.order_id, row.cum_quote, exact)
            await assert_clean(sim, d.store, "alice")
        said = [line for line in logs if "without cumQuote" in line]
        ids = [re.search(r"Order (\d+) on", line).group(1) for line in said]  # type: ignore[union-attr]
        assert ids and len(ids) == len(set(ids)), said  # once per order
    finally:
        await sim.stop()


async def test_a_reverse_oto_placed_by_hand_is_followed_as_a_stray_and_never_taken_for_ours(
        tmp_path: Path, logs: list[str]) -> None:
    sim = await started()
    try:
        sim.exchange.set_balance("alice", "ALPHA_22", D("1"))  # the user's own KOGE, bought by hand earlier
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10000}}})
        async with running(config) as d:
            bot = await d.bot("alice")
            await wait_for(lambda: bot.cycles_completed >= 1, 30, "trading")
            # The user sells 0.5 KOGE below the bids and buys it back above the asks: both legs fill at once.
            last = sim.exchange.last_price["ALPHA_22USDT"]
            body = {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "workingSide": "SELL",
                    "workingPrice": (last * D("0.98")).quantize(D("0.01")), "workingQuantity": D("0.5"),
                    "paymentDetails": [{"amount": D("0.5"), "paymentWalletType": "ALPHA"}],
                    "pendingPrice": (last * D("1.02")).quantize(D("0.01")), "pendingType": "LIMIT"}
            headers = {**sim.credentials("alice").request_headers(), "content-type": "application/json"}
            async with aiohttp.ClientSession() as http, \
                    http.post(sim.rest_url + p.PLACE_OTO, data=p.dumps(body), headers=headers) as r:
                ids = p.loads(await r.text())["data"]
            w, pd = str(ids["workingOrderId"]), str(ids["pendingOrderId"])
            assert sim.exchange.order(pd).status == "FILLED"
            done = bot.cycles_completed
            await wait_for(lambda: bot.cycles_completed >= done + 2, 30, "trading on beside the stray")

            async def both_legs_are_strays() -> bool:
                strays = {r.order_id for r in await d.store.orders_page("alice", limit=500) if r.role == "stray"}
                return {w, pd} <= strays

            await wait_for(both_legs_are_strays, 15, "both legs recorded as strays")
            legs = {f["order_id"]: (f["side"], D(f["qty"])) for f in await d.store.fills("alice")
                    if f["order_id"] in (w, pd)}
            # S14: the BUY back is for the SELL's quote value at the higher reverse price, so fewer than 0.5.
            bought = sim.exchange.order(pd).orig_qty
            assert legs == {w: ("SELL", D("0.5")), pd: ("BUY", bought)} and bought < D("0.5")
            await d.supervisor.pause("alice")
            await wait_for(lambda: bot.cycle.state == "paused", 20)
            inv = await check_invariants(sim, d.store, "alice")
            # Clean, but for the 1 KOGE the user held before otobot started (never in otobot's fills).
            assert inv.ok and abs(inv.base_gap - 1) < D("0.001"), inv
        stray_lines = [line for line in logs if "not one of otobot's" in line]
        list_id = str(sim.exchange.order(w).list_id)
        # Each leg reported as what it is: told apart by position and side, not taken for a BUY-first OTO.
        assert any(w in line and f"the working SELL of reverse OTO {list_id}" in line for line in stray_lines), \
            stray_lines
        assert any(pd in line and f"the pending BUY of reverse OTO {list_id}" in line for line in stray_lines), \
            stray_lines
    finally:
        await sim.stop()

