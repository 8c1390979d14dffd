"""`otobot bench`: the simulator in its own process, the daemon here; reaction latency, throughput, footprint, cost."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import aiohttp
import yaml
from loguru import logger

from otobot.bench import floor as benchfloor
from otobot.bench import invariants
from otobot.bench import report as benchreport
from otobot.bench import writes as benchwrites
from otobot.config.settings import load_global
from otobot.daemon import eventloop
from otobot.daemon.run import freeze_startup_heap
from otobot.daemon.supervisor import CredentialSource, Supervisor
from otobot.exchange.protocol import PLACE_OTO
from otobot.ops import logsetup
from otobot.sim.config import DEFAULT_SYMBOLS, sim_user
from otobot.store.db import Store

TOKENS = [(s.symbol, s.pair) for s in DEFAULT_SYMBOLS]
# Three pricing groups on the same market: otobot's percent offsets, its book pricing, and the naive fixed 1 %
# offsets of a well-known peer (S1: buy = last × 1.01, pending = buy × 0.99).
OTOBOT_PRICING = {"mode": "percent", "buy_offset": 0.5, "sell_offset": 1.0}
BOOK_PRICING = {"mode": "book", "guard_ticks": 0}
NAIVE_PRICING = {"mode": "percent", "buy_offset": 1.0, "sell_offset": 1.0}
GROUPS = (OTOBOT_PRICING, NAIVE_PRICING, BOOK_PRICING)  # users take turns by token round, so each group trades all
SPREAD_BPS = Decimal(DEFAULT_SYMBOLS[0].spread_bps)
FEE_BPS = Decimal(1)  # 0.01 % per side


class _Progress:
    """A line on stderr every few seconds, so a long bench never looks hung (stdout keeps the results)."""

    def __init__(self, every_s: float = 3.0) -> None:
        self.every_s = every_s
        self.last = float("-inf")

    def say(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every_s:
            self.last = now
            print(f"bench: {text}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (the simulator), from /proc; 0 where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


async def _loop_lag(out: list[float], every_s: float = 0.01) -> None:
    """How late a 10 ms timer fires, over and over: the event loop's backlog as a bot's timer sees it."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every_s)
        out.append(time.perf_counter() - started - every_s)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _write_config(root: Path, port: int, users: int, *, burst: bool, pause: float, shared: bool) -> Path:
    (root / "users").mkdir(parents=True)
    base = f"127.0.0.1:{port}"
    cfg = {
        "database": "bench.db", "users_dir": "users", "logging": {"level": "WARNING"},
        "control": {"socket": "bench.sock"},
        "exchange": {"rest_url": f"http://{base}", "market_ws_url": f"ws://{base}/w3w/wsa/stream",
                     "user_ws_url": f"ws://{base}/w3w/stream", "shared_price_stream": shared},
        # The simulator has no rate limit; the bench measures otobot, not the (default 2/s) limiter.
        "reliability": {"requests_per_second": 50, "request_burst": 50, "unknown_settle_s": 1.0,
                        "market_stale_after_s": 120, "disconnect_grace_s": 120},
    }
    (root / "otobot.yaml").write_text(yaml.safe_dump(cfg))
    for i in range(users):
        u = sim_user(f"u{i:04d}")
        token = TOKENS[i % len(TOKENS)][0]
        pricing = GROUPS[(i // len(TOKENS)) % len(GROUPS)]
        if burst:
            pricing = {"mode": "fixed", "buy_offset": 0, "sell_offset": 400}
        user = {
            "token": token, "target": {"kind": "volume", "value": 10**9}, "order": {"quote_amount": 10},
            "pricing": pricing,
            "timeouts": {"buy_s": 600 if burst else 5, "sell_s": 10},
            "pause_between_cycles_s": 0 if burst else pause, "max_price_age_s": 3600,
            "volatility": {"max_move_pct": 50},
            "credentials": {"source": "inline", "cookie": u.cookie, "csrftoken": u.csrftoken},
        }
        (root / "users" / f"{u.name}.yaml").write_text(yaml.safe_dump(user))
    return root / "otobot.yaml"


def _sim_config(root: Path, users: int, seed: int, burst: bool) -> Path:
    path = root / "sim.yaml"
    spec: dict[str, Any] = {"seed": seed, "users": [{"name": f"u{i:04d}", "usdt": 1_000_000} for i in range(users)]}
    if burst:
        spec["options"] = {"tick_interval_s": 0.1}
    path.write_text(yaml.safe_dump(spec))
    return path


async def _admin(session: aiohttp.ClientSession, port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"http://127.0.0.1:{port}/_sim/{path}"
    if body is None:
        async with session.get(url) as r:
            return await r.json(content_type=None)
    async with session.post(url, json=body) as r:
        return await r.json(content_type=None)


async def _wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the simulator did not open port {port}")


class _GcTimer:
    """Every garbage collection's pause, from gc.callbacks: a full collection stops every bot at once."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


async def _bench(users: int, duration: float, seed: int, burst: bool, chaos: bool,
                 pause: float = 0.0, shared: bool = False, writes_floor: bool = False) -> dict[str, Any]:
    timer = _GcTimer()
    gc.callbacks.append(timer)
    # Its database, configs and socket go when it ends: a 1,000-user run leaves ~90 MB behind otherwise.
    with tempfile.TemporaryDirectory(prefix="otobot-bench-", ignore_cleanup_errors=True) as tmp:
        try:
            return await _bench_run(Path(tmp), users, duration, seed, burst, chaos, pause, shared, timer.pauses,
                                    writes_floor)
        finally:
            gc.callbacks.remove(timer)


async def _bench_run(root: Path, users: int, duration: float, seed: int, burst: bool, chaos: bool, pause: float,
                     shared: bool, gc_pauses: list[float], writes_floor: bool = False) -> dict[str, Any]:
    logsetup.setup("WARNING")
    port = _free_port()
    sim_cfg = _sim_config(root, users, seed, burst)
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otobot", "sim", "--port", str(port), "--sim-config", str(sim_cfg), "--users",
        str(users), "--seed", str(seed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss_before = _rss_mb()
    progress = _Progress()
    progress.say(f"starting the simulator and {users} users", force=True)
    try:
        await _wait_port(port)
        config = _write_config(root, port, users, burst=burst, pause=pause, shared=shared)
        settings = load_global(config)
        store = await Store.open(settings.database)
        recorder = _record_writes(store) if writes_floor else None
        sup = Supervisor(settings, store, CredentialSource(store, None))
        freeze_startup_heap()  # as the daemon does before its bots start
        cpu0 = time.process_time()
        task = asyncio.create_task(sup.run(install_signals=False))
        async with aiohttp.ClientSession() as http:
            bots = []
            for _ in range(600):
                bots = [s.bot for s in sup.slots.values() if s.bot is not None]
                if len(bots) == users and all(b.stream_up for b in bots):
                    break
                progress.say(f"{sum(1 for b in bots if b.stream_up)}/{users} users connected")
                await asyncio.sleep(0.1)
            progress.say(f"{sum(1 for b in bots if b.stream_up)}/{users} users connected; "
                         f"{'burst' if burst else f'trading for {duration:g} s'}", force=True)
            ready = sum(1 for b in bots if b.stream_up)
            injected: dict[str, int] = {}
            if burst:
                result_extra = await _burst(http, port, bots)
            else:
                await asyncio.sleep(min(3.0, duration / 4))  # warm-up: connections settle, caches fill
                for b in bots:
                    b.latencies.clear()
                start_cycles = {b.name: b.cycles_completed for b in bots}
                group = getattr(store, "group", None)
                tx0 = (group.transactions, group.writes) if group is not None else None
                flush0 = group.flush_total_s if group is not None else 0.0
                if group is not None:
                    group.flush_s.clear()  # the window's commits only (the last FLUSHES_KEPT of them)
                recorded0 = len(recorder.transactions) if recorder is not None else 0
                stats0 = await _admin(http, port, "stats")
                gc_pauses.clear()
                lags: list[float] = []
                lag_task = asyncio.create_task(_loop_lag(lags))
                t0 = time.monotonic()
                cpu_t0 = time.process_time()
                sim_cpu0 = _proc_cpu_s(sim.pid)
                end = t0 + duration
                i = 0
                while time.monotonic() < end:
                    await asyncio.sleep(1.0)
                    progress.say(f"{time.monotonic() - t0:.0f}/{duration:g} s, "
                                 f"{sum(b.cycles_completed - start_cycles[b.name] for b in bots)} cycles")
                    if chaos:
                        i += 1
                        await _inject(http, port, i, seed)
                elapsed = time.monotonic() - t0
                cpu = time.process_time() - cpu_t0
                if recorder is not None:
                    recorded = range(recorded0, len(recorder.transactions))
                    recorder.stop()
                sim_cpu = _proc_cpu_s(sim.pid) - sim_cpu0
                lag_task.cancel()
                stats1 = await _admin(http, port, "stats")
                window_gc = list(gc_pauses)
                lag_ms = [x * 1000 for x in lags]
                cycles = {b.name: b.cycles_completed - start_cycles[b.name] for b in bots}
                cycles_total = sum(cycles.values())
                result_extra = {"cycles": sum(cycles.values()), "elapsed_s": round(elapsed, 2),
                                "cycles_per_s": round(sum(cycles.values()) / elapsed, 2),
                                "cycles_per_s_per_user": round(sum(cycles.values()) / elapsed / max(1, users), 3),
                                "cpu_s_in_window": round(cpu, 2),
                                "daemon_cpu_pct_of_core": round(100 * cpu / elapsed, 1),
                                "sim_cpu_pct_of_core": round(100 * sim_cpu / elapsed, 1),
                                "cores": os.cpu_count()}
                if group is not None and tx0 is not None and cycles_total:
                    result_extra["sqlite_commits_per_cycle"] = round((group.transactions - tx0[0]) / cycles_total, 2)
                    result_extra["sqlite_writes_per_cycle"] = round((group.writes - tx0[1]) / cycles_total, 2)
                    flushes = [x * 1000 for x in group.flush_s]
                    if flushes:  # how long the writer held the loop: a COMMIT on the loop's thread
                        result_extra["sqlite_flush_ms"] = {"p50": round(_pct(flushes, 0.5), 3),
                                                           "p99": round(_pct(flushes, 0.99), 3),
                                                           "max": round(max(flushes), 3)}
                        # The writer's share of the CPU per cycle (wall time on the loop's thread; SQLite releases
                        # the GIL while it works, so a --gil profile does not see it).
                        spent_ms = (group.flush_total_s - flush0) * 1000
                        result_extra["sqlite_ms_per_cycle"] = round(spent_ms / cycles_total, 3)
                frames = {k: stats1["frames"].get(k, 0) - stats0["frames"].get(k, 0) for k in stats1["frames"]}
                result_extra["frames_per_s"] = {k: round(v / elapsed, 1) for k, v in frames.items()}
                if cycles_total:
                    result_extra["frames_per_cycle"] = {k: round(v / cycles_total, 1) for k, v in frames.items()}
                    requests = sum(stats1["requests"].values()) - sum(stats0["requests"].values())
                    result_extra["requests_per_cycle"] = round(requests / cycles_total, 2)
                result_extra["loop_lag_ms"] = {"p50": round(_pct(lag_ms, 0.5), 2), "p99": round(_pct(lag_ms, 0.99), 2),
                                               "max": round(max(lag_ms), 2) if lag_ms else 0.0}
                result_extra["gc_pause_ms"] = {"n": len(window_gc), "total": round(sum(window_gc) * 1000, 1),
                                               "max": round(max(window_gc) * 1000, 1) if window_gc else 0.0}
            progress.say("measuring done; pausing the bots and adding up costs", force=True)
            lat_ms = [x * 1000 for b in bots for x in b.latencies]
            rss = _rss_mb()
            # All at once: one by one, a saturated daemon took seconds per bot at 1,000 users. Each bot would warn
            # that the operator paused it: the bench's own doing, a line per user, so only errors are shown now.
            logsetup.setup("ERROR")
            await asyncio.gather(*(b.pause() for b in bots))
            if chaos:
                with contextlib.suppress(Exception):
                    await _admin(http, port, "faults", {"clear": True})
                    injected = (await _admin(http, port, "faults", {})).get("injected", {})
            await asyncio.sleep(1.0)
            cost = await _cost(store, bots)
            checked = await _check(http, port, store, bots) if chaos else None
        sup.request_stop()
        await asyncio.wait_for(task, 60)
        await store.close()
        floor = (await _floor(port, users, pause, duration, progress, result_extra.get("frames_per_cycle"))
                 if not burst else {})
        cycles_n = result_extra.get("cycles", 0)
        headline = {
            "cpu_ms_per_cycle": (round(result_extra["cpu_s_in_window"] * 1000 / cycles_n, 3)
                                 if cycles_n else None),
            "reaction_p50_ms": round(_pct(lat_ms, 0.5), 3), "reaction_p99_ms": round(_pct(lat_ms, 0.99), 3),
            "cost_bps": cost.get("otobot", {}).get("loss_bps"),
            "saturated": benchreport.limit(result_extra),
        }
        served = floor.get("floor_reactions_per_s")
        if served and "cycles_per_s" in result_extra:
            # What the same simulator served the bare clients: the most this run could have completed.
            headline["kept_up_pct"] = round(100 * min(1.0, result_extra["cycles_per_s"] / served), 1)
        result = {
            **headline, **floor,
            "users": users, "users_connected": ready, "duration_s": duration, "seed": seed,
            "mode": "burst" if burst else ("chaos" if chaos else "steady"), "pause_between_cycles_s": pause,
            "json_decoder": "orjson" if _has_orjson() else "json", "shared_price_stream": shared,
            "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            "reaction_ms": {"n": len(lat_ms), "p50": round(_pct(lat_ms, 0.5), 3), "p99": round(_pct(lat_ms, 0.99), 3),
                            "max": round(max(lat_ms), 3) if lat_ms else None,
                            "mean": round(statistics.fmean(lat_ms), 3) if lat_ms else None},
            **result_extra,
            "rss_mb": round(rss, 1), "rss_mb_before_bots": round(rss_before, 1),
            "rss_mb_per_user": round((rss - rss_before) / max(1, users), 3),
            "cpu_s_total": round(time.process_time() - cpu0, 2),
            "cost": cost, "injected": injected, "invariants": checked,
        }
        # A truncated recording is left out: its part of the window would read as the whole.
        if recorder is not None and cycles_n and not burst and not recorder.truncated:
            progress.say(f"replaying the window's {len(recorded)} write transactions into a new file", force=True)
            spent = benchwrites.replay(recorder.transactions, root / "replay.db", recorded)
            result["writes_floor_ms_per_cycle"] = round(spent * 1000 / cycles_n, 3)
            result["writes_floor_transactions"] = len(recorded)
        return result
    finally:
        with contextlib.suppress(ProcessLookupError):
            sim.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.wait(), 10)


async def _floor(port: int, users: int, pause: float, duration: float, progress: _Progress,
                 frames_per_cycle: dict[str, float] | None) -> dict[str, Any]:
    """The same users, connections and pacing as a bare client (benchfloor), after the daemon has stopped: first
    its latency, then (when the daemon completed cycles) its CPU for the frames a cycle made the daemon read."""
    span = min(duration, 10.0)
    progress.say(f"measuring the floor: {users} bare clients for {span:g} s", force=True)
    pairs = [TOKENS[i % len(TOKENS)][1] for i in range(users)]
    floor: dict[str, Any] = dict(await benchfloor.measure(port, pairs, pause, span))
    if not frames_per_cycle or not floor["floor_reactions_per_s"]:
        return floor
    # The market's own trades reach the bare clients anyway (the latency floor read nothing else): ask only for
    # the rest, so both read the same frames per cycle.
    own = floor["floor_frames_per_s"] / floor["floor_reactions_per_s"]
    wanted = sum(frames_per_cycle.values())
    progress.say(f"measuring the CPU floor: {users} bare clients reading {wanted:.1f} frames per cycle for "
                 f"{span:g} s", force=True)
    return {**floor, **await benchfloor.measure_cpu(port, pairs, pause, span, max(0.0, wanted - own))}


async def _burst(http: aiohttp.ClientSession, port: int, bots: list[Any]) -> dict[str, Any]:
    """Freeze the market and lift the book 1 % so every bot's BUY (at the last trade price) rests below it;
    then drop the book 2 %: the maker's new asks cross every resting BUY in one move."""
    for _ in range(300):  # every bot needs a trade price before the market freezes
        if all(b.last_trade is not None for b in bots):
            break
        await asyncio.sleep(0.1)
    await _admin(http, port, "market", {"paused": True})
    for _, pair in TOKENS:
        await _admin(http, port, "shock", {"symbol": pair, "pct": 1})
    for _ in range(300):
        if all(b.cycle.state == "pending" for b in bots):
            break
        await asyncio.sleep(0.1)
    resting = sum(1 for b in bots if b.cycle.state == "pending")
    for b in bots:
        b.latencies.clear()
    for _, pair in TOKENS:
        await _admin(http, port, "shock", {"symbol": pair, "pct": -2})
    await asyncio.sleep(3.0)
    await _admin(http, port, "market", {"paused": False})
    return {"resting_before_move": resting, "filled_by_move": sum(1 for b in bots if b.latencies)}


async def _inject(http: aiohttp.ClientSession, port: int, i: int, seed: int) -> None:
    kind = (i + seed) % 4
    if kind == 0:
        await _admin(http, port, "drop_ws", {"which": "user"})
    elif kind == 1:
        await _admin(http, port, "faults", {"drop_response": {"path": PLACE_OTO, "count": 2, "when": "after"}})
    elif kind == 2:
        await _admin(http, port, "faults", {"http_error": {"status": 429, "count": 5, "retry_after": 0.2}})
    else:
        await _admin(http, port, "faults", {"duplicate_p": 0.05, "reorder_p": 0.05})


async def _cost(store: Store, bots: list[Any]) -> dict[str, Any]:
    """Loss per 1,000 quote of buy volume, by pricing group, with fees and spread crossing broken out."""
    groups: dict[str, dict[str, Decimal]] = {}
    unsold: dict[str, dict[str, str]] = {}
    for b in bots:
        group = ("book" if b.cfg.pricing.mode == "book" else "naive_1pct" if b.cfg.pricing.buy_offset == Decimal(1)
                 else "otobot")
        s = await store.user_stats(b.name)
        g = groups.setdefault(group, {"buy": Decimal(0), "loss": Decimal(0), "fees": Decimal(0), "cycles": Decimal(0),
                                      "inventory": Decimal(0)})
        # Base still held at the end (fee dust below the sweep threshold, a cycle in flight), marked to market.
        held = [h for h in await store.holdings(b.name) if h.quantity]
        price = b.last_trade.price if b.last_trade is not None else None
        value = sum((h.quantity * (price if price is not None and h.symbol == b.symbol else h.last_price)
                     for h in held), Decimal(0))
        unsold[b.name] = {"base": ", ".join(f"{format(h.quantity, 'f')} {h.base_asset}" for h in held) or "0",
                          "value_quote": format(value.quantize(Decimal("0.0001")), "f")}
        g["buy"] += s.buy_quote
        g["loss"] += s.loss_quote
        g["fees"] += s.fees_quote
        g["cycles"] += s.cycles
        g["inventory"] += value
    out: dict[str, Any] = {"floor_bps": float(2 * FEE_BPS + SPREAD_BPS),
                           "target_bps": float(2 * FEE_BPS + SPREAD_BPS + 2 * FEE_BPS + SPREAD_BPS / 2)}
    for name, g in groups.items():
        if g["buy"] == 0:
            continue
        loss_bps = g["loss"] / g["buy"] * 10000
        fee_bps = g["fees"] / g["buy"] * 10000
        marked_bps = (g["loss"] - g["inventory"]) / g["buy"] * 10000
        out[name] = {"cycles": int(g["cycles"]), "buy_volume": float(round(g["buy"], 2)),
                     "loss_bps": float(round(loss_bps, 2)), "fees_bps": float(round(fee_bps, 2)),
                     "marked_loss_bps": float(round(marked_bps, 2)),
                     "inventory_quote": float(round(g["inventory"], 4)),
                     "spread_and_slippage_bps": float(round(loss_bps - fee_bps, 2)),
                     "loss_per_1000_quote": float(round(g["loss"] / g["buy"] * 1000, 4))}
    out["unsold_base"] = unsold
    return out


async def _check(http: aiohttp.ClientSession, port: int, store: Store, bots: list[Any]) -> dict[str, Any]:
    totals: dict[str, Any] = {"users_ok": 0, "duplicates": 0, "lost_fills": 0, "untracked_orders": 0,
                               "overlapping_otos": 0, "exchange_orders": 0}
    untracked: dict[str, list[dict[str, Any]]] = {}  # per user, the first few: what to look up in the daemon's log
    for b in bots:
        state = await _admin(http, port, f"state?user={b.name}")
        held = sum((Decimal(v["free"]) + Decimal(v["locked"]) for a, v in state["balances"].items()
                    if a not in ("USDT", "USDC")), Decimal(0))
        claimed = await store.claimed_order_ids(str(o["orderId"]) for o in state["orders"])
        inv = invariants.check(state["orders"], held, await store.fills(b.name), claimed)
        totals["users_ok"] += inv.ok
        if inv.untracked_rows:
            untracked[b.name] = list(inv.untracked_rows)
        for k in ("duplicates", "lost_fills", "untracked_orders", "overlapping_otos", "exchange_orders"):
            totals[k] += getattr(inv, k)
    if untracked:
        totals["untracked"] = untracked
    return totals


def _record_writes(store: Store) -> benchwrites.Recorder | None:
    """--writes-floor: the writer's connection records every transaction from here on (its SQL and parameters)."""
    recorders: list[benchwrites.Recorder] = []

    def wrap(conn: sqlite3.Connection) -> sqlite3.Connection:
        recorders.append(benchwrites.Recorder(conn))
        return cast(sqlite3.Connection, recorders[0])
    return recorders[0] if store.group.wrap_connection(wrap) else None


def _has_orjson() -> bool:
    return importlib.util.find_spec("orjson") is not None


def run_bench(*, users: int, duration: float, seed: int, burst: bool, chaos: bool, json_path: Path | None,
              pause: float = 0.0, shared: bool = False, writes_floor: bool = False) -> int:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8 * users + 256)), hard))
    except (ImportError, ValueError, OSError):
        pass
    result = eventloop.run(_bench(users, duration, seed, burst, chaos, pause, shared, writes_floor), os.environ)
    split = benchreport.cpu_split(result)
    if split is not None:
        result["cpu_split_ms_per_cycle"] = split
    print(benchreport.render(result))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2))
        print(f"results written to {json_path}")
    logger.remove()
    ok = result.get("invariants") is None or result["invariants"]["users_ok"] == users
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_bench(users=int(os.environ.get("N", "10")), duration=10, seed=1, burst=False, chaos=False,
                       json_path=None))
