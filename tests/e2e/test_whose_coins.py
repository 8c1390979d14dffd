"""Issue 19's proof run: the real daemon (a subprocess) beside three users who hold coins of their own, buy more by
hand mid-run and leave an order of their own resting, with `kill -9` at random moments. At the end every user's own
coins are all there (held at start + bought by hand, to the unit), their resting order was never cancelled, otobot's
cycles went on after every restart, with no duplicate OTO and no lost fill.

CI runs a few restarts; `-m soak` (or OTOBOT_COINS_RESTARTS) runs at least 20."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otobot.sim.config import default_sim_config, sim_user
from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day
from tests.e2e.test_process import daemon
from tests.helpers import check_invariants, merge, wait_for, write_config, write_user

D = Decimal
# user → (token, alphaId, held at start, bought by hand mid-run, resting BUY of their own: (qty, price))
USERS: dict[str, tuple[str, str, Decimal, Decimal, tuple[Decimal, Decimal]]] = {
    "alice": ("KOGE", "ALPHA_22", D("5"), D("0.25"), (D("0.5"), D("24"))),
    "bob": ("AOP", "ALPHA_118", D("100"), D("60"), (D("100"), D("0.1"))),
    "carol": ("NEX", "ALPHA_971", D("2000000"), D("2000000"), (D("2000000"), D("0.0000028"))),
}
TRADING = {"target": {"value": 10**6}, "pause_between_cycles_s": 0.05, "timeouts": {"buy_s": 1, "sell_s": 2}}


async def _db(db: Path) -> Store:
    return await Store.open(db)


async def _cycles(db: Path) -> dict[str, int]:
    store = await _db(db)
    try:
        return {u: (await store.user_stats(u)).cycles for u in USERS}
    finally:
        await store.close()


async def _claimed(db: Path, order_id: str) -> bool:
    store = await _db(db)
    try:
        return bool(await store.claimed_order_ids([order_id]))
    finally:
        await store.close()


async def _quiet(db: Path, user: str, target: Decimal) -> bool:
    store = await _db(db)
    try:
        today = (await store.day_volume(user, utc_day(int(time.time() * 1000)))).buy_quote
        return today > target and not await store.live_cycles(user)
    finally:
        await store.close()


async def _admin_order(sim: Simulator, **body: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(sim.rest_url + "/_sim/order", json=body) as r:
        out: dict[str, Any] = await r.json()
    assert out.get("ok"), out
    return out


def _held(sim: Simulator, user: str, alpha: str) -> Decimal:
    free, locked = sim.exchange.balance(user, alpha)
    return free + locked


async def proof_run(tmp_path: Path, restarts: int, seed: int) -> dict[str, Any]:
    cfg = default_sim_config(users=3, seed=seed)
    sim_users = tuple(replace(sim_user(name), tokens=((alpha, start),))
                      for name, (_tok, alpha, start, _hand, _rest) in USERS.items())
    sim = Simulator(replace(cfg, users=sim_users))
    await sim.start()
    try:
        sim.faults.rest_delay_s = 0.02  # widens the windows a kill can land in
        users = {name: merge(TRADING, {"token": tok}) for name, (tok, *_rest) in USERS.items()}
        config = write_config(tmp_path, sim, users, reliability={"unknown_settle_s": 0.3})
        db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
        rng = random.Random(seed)
        hand_at = min(1, restarts - 1)
        hand: dict[str, tuple[str, Decimal]] = {}  # user → (order id, base it put in the user's account)
        resting: dict[str, str] = {}
        progressed = 0
        for i in range(restarts):
            async with daemon(config, log) as proc:
                await wait_for(lambda i=i: log.read_text().count("otobot started") > i, 60, "daemon started")
                before = await _cycles(db)

                async def moved(before: dict[str, int] = before) -> bool:
                    now = await _cycles(db)
                    return all(now[u] > before[u] for u in USERS)

                # otobot's cycles go on after this restart: a new one closes for every user before the next kill.
                await wait_for(moved, 90, f"every user trading after restart {i}")
                progressed += 1
                if i == hand_at:
                    for name, (tok, _alpha, _start, qty, (rest_qty, rest_price)) in USERS.items():
                        bought = await _admin_order(sim, user=name, token=tok, side="BUY", quantity=str(qty))
                        assert bought["status"] == "FILLED", bought
                        fills = sim.exchange.fills_of_order(int(bought["orderId"]))
                        hand[name] = (bought["orderId"], sum((f.qty - f.commission for f in fills), D(0)))
                        rest = await _admin_order(sim, user=name, token=tok, side="BUY", quantity=str(rest_qty),
                                                  price=str(rest_price))
                        assert rest["status"] == "NEW", rest
                        resting[name] = rest["orderId"]
                        for oid in (bought["orderId"], rest["orderId"]):
                            await wait_for(lambda oid=oid: _claimed(db, oid), 30, f"{name}'s order {oid} recorded")
                await asyncio.sleep(rng.uniform(0.1, 1.5))  # the random kill point itself
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        sim.faults.rest_delay_s = 0.0
        # A last clean run to a quiet end (two more cycles each, then no cycle live), so nothing is in flight below.
        store = await _db(db)
        try:
            day = utc_day(int(time.time() * 1000))
            targets = {u: (await store.day_volume(u, day)).buy_quote + 40 for u in USERS}
        finally:
            await store.close()
        for name, target in targets.items():
            write_user(tmp_path, sim, name, merge(users[name], {"target": {"value": int(target) + 1}}))
        async with daemon(config, log) as proc:
            for name, target in targets.items():
                await wait_for(lambda u=name, t=target: _quiet(db, u, t), 90, f"{name} trading after the kills")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        figures: dict[str, Any] = {"restarts": restarts, "runs_that_traded": progressed, "users": {}}
        store = await _db(db)
        try:
            for name, (_tok, alpha, start, _qty, _rest) in USERS.items():
                inv = await check_invariants(sim, store, name)
                pair = f"{alpha}USDT"
                own = await store.own_base(name, pair)
                theirs = start + hand[name][1]
                held = _held(sim, name, alpha)
                rest_row = sim.exchange.order(int(resting[name]))
                figures["users"][name] = {
                    "held_at_end": format(held, "f"), "users_own": format(theirs, "f"),
                    "otobot_dust": format(own, "f"), "resting_order": rest_row.status,
                    "cycles": (await store.user_stats(name)).cycles, "duplicates": inv.duplicates,
                    "lost_fills": inv.lost_fills, "untracked_orders": inv.untracked_orders,
                    "overlapping_otos": inv.overlapping_otos,
                }
                # The user's coins are all there, to the unit: what the exchange holds is theirs plus otobot's own
                # dust, which the ledger knows exactly, and otobot never sold into theirs.
                assert held == theirs + own, (name, held, theirs, own)
                assert own >= 0
                assert rest_row.status == "NEW", (name, rest_row.status)  # never cancelled
                assert inv.ok, (name, inv)
        finally:
            await store.close()
        assert log.read_text().count("otobot started") == restarts + 1
        return figures
    finally:
        await sim.stop()


async def test_users_own_coins_survive_kill_9_beside_otobot(tmp_path: Path) -> None:
    restarts = int(os.environ.get("OTOBOT_COINS_RESTARTS", "3"))
    figures = await proof_run(tmp_path, restarts, seed=int(os.environ.get("OTOBOT_COINS_SEED", "19")))
    print(json.dumps(figures, indent=1))


@pytest.mark.soak
async def test_users_own_coins_survive_twenty_kill_9s(tmp_path: Path) -> None:
    figures = await proof_run(tmp_path, max(20, int(os.environ.get("OTOBOT_COINS_RESTARTS", "22"))), seed=1919)
    print(json.dumps(figures, indent=1))
