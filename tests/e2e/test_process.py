"""The daemon as users run it: a real subprocess, real signals (SIGHUP, SIGTERM, SIGKILL), a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from otobot.exchange import protocol as p
from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day
from tests.conftest import leaked
from tests.helpers import FAST_USER, check_invariants, merge, wait_for, write_config, write_user

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def daemon(config: Path, log: Path, env: dict[str, str] | None = None
                 ) -> AsyncIterator[asyncio.subprocess.Process]:
    """`otobot run` with stdout and stderr appended to `log`; `env` is added to this process's environment."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", "run", "-c", str(config),
                                                    cwd=REPO, stdout=err, stderr=err, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        # The daemon's own log (journald in production) never carries a session secret.
        assert not leaked(log.read_text().splitlines()), "a session secret reached the daemon log"


async def db_cycles(db: Path, user: str) -> int:
    if not db.exists():
        return 0
    store = await Store.open(db)
    try:
        return (await store.user_stats(user)).cycles
    finally:
        await store.close()


async def test_sighup_adds_changes_breaks_and_removes_users(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}})
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with daemon(config, log) as proc:
        await wait_for(lambda: db_cycles(db, "alice"), 30, "alice trading")
        # 1. a new user file + SIGHUP → bob starts.
        write_user(tmp_path, sim, "bob", {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2})
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: db_cycles(db, "bob"), 30, "bob trading after SIGHUP")
        # 2. a changed setting applies at alice's next cycle boundary.
        write_user(tmp_path, sim, "alice", {"target": {"value": 10**6}, "order": {"quote_amount": 12},
                                            "pause_between_cycles_s": 0.2})
        proc.send_signal(signal.SIGHUP)

        async def alice_small() -> bool:
            store = await Store.open(db)
            try:
                c = await store.last_cycle("alice")
                return c is not None and c.pay_amount < Decimal(13)
            finally:
                await store.close()

        await wait_for(alice_small, 30, "alice's new order size")
        # 3. a broken edit keeps bob on his old settings; the log says which file and key.
        (tmp_path / "users" / "bob.yaml").write_text("token: KOGE\norder:\n  quote_amount: lots\n")
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: "still running with its previous settings" in log.read_text(), 20, "reject logged")
        assert "key 'order.quote_amount' = 'lots'" in log.read_text()
        before = await db_cycles(db, "bob")
        await wait_for(lambda: _more(db, "bob", before), 30, "bob keeps trading")
        # 4. removing alice's file stops alice alone.
        (tmp_path / "users" / "alice.yaml").unlink()
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: "Stopping bot: removed or disabled" in log.read_text(), 20, "alice stopping")
        # Stopping lets a cycle in flight finish: once none is live, no new one can start.
        await wait_for(lambda: _no_live_cycle(db, "alice"), 20, "alice's last cycle closed")
        stopped_at = await db_cycles(db, "alice")
        await asyncio.sleep(1.0)
        assert await db_cycles(db, "alice") == stopped_at
        # 5. SIGTERM: out within 10 s, code 0, no working BUY left on the book.
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    for user in ("alice", "bob"):
        assert not [o for o in sim.state(user)["open_orders"] if o["side"] == "BUY"]


async def _more(db: Path, user: str, than: int) -> bool:
    return await db_cycles(db, user) > than


async def _volume_today(db: Path, user: str) -> Decimal:
    store = await Store.open(db)
    try:
        return (await store.day_volume(user, utc_day(int(time.time() * 1000)))).buy_quote
    finally:
        await store.close()


async def _finished(db: Path, user: str, target: Decimal) -> bool:
    """Today's volume is past `target` and no cycle is live: the bot has stopped placing."""
    return await _volume_today(db, user) > target and await _no_live_cycle(db, user)


async def _no_live_cycle(db: Path, user: str) -> bool:
    store = await Store.open(db)
    try:
        return await store.live_cycle(user) is None
    finally:
        await store.close()


async def test_kill_9_at_random_points_never_duplicates_or_loses_anything(tmp_path: Path) -> None:
    sim = Simulator(default_sim_config(users=2, seed=8))
    await sim.start()
    try:
        # A little latency on every request widens the windows a kill can land in (in flight, between legs).
        sim.faults.rest_delay_s = 0.02
        users = {n: {"target": {"value": 10**6}, "pause_between_cycles_s": 0.05, "timeouts": {"buy_s": 1, "sell_s": 2}}
                 for n in ("alice", "bob")}
        config = write_config(tmp_path, sim, users, reliability={"unknown_settle_s": 0.3})
        db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
        rng = random.Random(int(os.environ.get("OTOBOT_KILL_SEED", "4")))
        iterations = int(os.environ.get("OTOBOT_KILL_ITERATIONS", "6"))
        for i in range(iterations):
            async with daemon(config, log) as proc:
                # Count from the daemon's own start line, not from the spawn: under load the interpreter alone can
                # take longer than the shortest delay, and a kill before start-up tests nothing.
                await wait_for(lambda i=i: log.read_text().count("otobot started") > i, 30, "daemon started")
                await asyncio.sleep(rng.uniform(0.8, 2.5))  # the random kill point itself, not a synchronisation
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        sim.faults.rest_delay_s = 0.0
        # A last clean run to a quiet end: each bot reconciles what the kills left, then trades two more cycles to
        # a target and stops placing, so the check below sees nothing in flight. (A SIGTERM mid-cycle would test
        # the stop path instead, where a BUY that fills while being cancelled is recorded only at the next start.)
        targets = {user: await _volume_today(db, user) + 2 * FAST_USER["order"]["quote_amount"] for user in users}
        for user, target in targets.items():
            write_user(tmp_path, sim, user, merge(users[user], {"target": {"value": int(target) + 1}}))
        async with daemon(config, log) as proc:
            for user, target in targets.items():
                await wait_for(lambda u=user, t=target: _finished(db, u, t), 60, f"{user} trading after the kills")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        store = await Store.open(db)
        try:
            for user in ("alice", "bob"):
                inv = await check_invariants(sim, store, user)
                assert inv.ok, (user, inv)
                assert inv.base_gap < Decimal("0.001"), (user, inv)
            # Trading went on across the kills: each run started, and the last one, which began from whatever the
            # kills left, traded both users to their new target (asserted by the wait above).
            assert log.read_text().count("otobot started") == iterations + 1
        finally:
            await store.close()
    finally:
        await sim.stop()


async def test_demo_runs_to_a_summary() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", "demo", "--seconds", "6", cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "summary" in text
    for user in ("alice", "bob", "carol"):
        line = next(line for line in text.splitlines() if line.startswith(user))
        assert int(line.split()[1]) > 0, line  # cycles


async def test_kill_9_while_the_place_request_is_in_flight_adopts_the_order_after_restart(tmp_path: Path) -> None:
    sim = Simulator(default_sim_config(users=1, seed=9))
    await sim.start()
    try:
        config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}},
                              reliability={"rest_timeout_s": 10, "unknown_settle_s": 0.5})
        db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
        async with daemon(config, log) as proc:
            await wait_for(lambda: db.exists() and sim.requests.get(p.LISTEN_KEY, 0) > 0, 20, "daemon up")
            sim.faults.rest_delay_s = 1.5  # the server holds every request 1.5 s before applying it
            before = sim.requests.get(p.PLACE_OTO, 0)
            await wait_for(lambda: sim.requests.get(p.PLACE_OTO, 0) > before, 20, "a place request in flight")
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        await wait_for(lambda: len(sim.exchange.user_order_objs("alice")) >= 2 * (before + 1), 10,
                       "the exchange applied the orphaned request")
        sim.faults.rest_delay_s = 0.0
        async with daemon(config, log) as proc:
            await wait_for(lambda: "adopted, not placed again" in log.read_text(), 30, "adoption after restart")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        store = await Store.open(db)
        try:
            inv = await check_invariants(sim, store, "alice")
            assert inv.ok, inv
        finally:
            await store.close()
    finally:
        await sim.stop()
