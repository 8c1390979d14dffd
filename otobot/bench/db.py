"""`python -m otobot.bench.db DIR`: build a multi-GB database of realistic rows, then time status, stats and pruning."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from otobot.store.db import Store
from otobot.store.pruning import Pruned
from otobot.store.records import Fill
from otobot.store.retention import BATCH_AUDIT, BATCH_CYCLES, DAY_MS, cutoff_ms, prune
from otobot.store.schema import MIGRATIONS
from otobot.trading import daybook as points

D = Decimal
TABLES = ("cycles", "orders", "fills", "audit")


async def template_cycle() -> dict[str, list[dict[str, Any]]]:
    """One round trip written by the real store (intent, placed, BUY fill, SELL in two fills, close): the rows
    every generated cycle copies, so their sizes are what the daemon writes."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "t.db")
        t0, day = 1_764_000_000_000, "2025-11-24"
        cid, _, _ = await store.create_cycle(
            user="user000", day=day, symbol="ALPHA_373USDT", base_asset="ALPHA_373", quote_asset="USDT",
            mul_point=1, working_price=D("0.23106122"), pending_price=D("0.22877389"), quantity=D("86.55"),
            pay_amount=D("19.99834859"), now_ms=t0)
        await store.attach_oto(cid, "51481849", "51481850", "89863105", t0 + 180,
                               transition=("user000", "placing", "pending", "placed: working 51481849"))
        fills = (("51481849", "BUY", "86.55", "19.98010000", "86.55", "0.00865500", "ALPHA_373", "FILLED"),
                 ("51481850", "SELL", "40", "9.13201600", "40", "0.00091320", "USDT", "PARTIALLY_FILLED"),
                 ("51481850", "SELL", "86.55", "19.76023200", "46.55", "0.00106282", "USDT", "FILLED"))
        for order_id, side, cum_qty, cum_quote, last, fee, asset, status in fills:
            await store.apply_fill(Fill(user="user000", cycle_id=None, order_id=order_id, side=side,
                                        price=D("0.2283"), cum_qty=D(cum_qty), cum_quote=D(cum_quote),
                                        last_qty=D(last), commission=D(fee), commission_asset=asset,
                                        time_ms=t0 + 900, day=day, source="ws", status=status))
        await store.set_cycle_state(cid, "user000", "pending", "selling", "BUY 86.55 filled, SELL live", t0 + 900)
        await store.close_cycle(cid, "user000", day, "selling", "SELL filled: +19.76 USDT back", t0 + 2100,
                                "ready for the next cycle")
        rows = {}
        with sqlite3.connect(Path(tmp) / "t.db") as c:
            c.row_factory = sqlite3.Row
            for table in TABLES:
                rows[table] = [dict(r) for r in c.execute(f"SELECT * FROM {table} ORDER BY id")]
        await store.close()
    return rows


def generate(db: Path, template: dict[str, list[dict[str, Any]]], users: int, days: int, per_day: int,
             now_ms: int) -> int:
    """Rows for `users` × `days` × `per_day` cycles ending at `now_ms`, in time order as the daemon would write
    them, at schema version 1 (the migrations after it run, and are timed, at the first open)."""
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA journal_mode=OFF")
    c.execute("PRAGMA synchronous=OFF")
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            c.execute(stmt)
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    # Cycles keep their given id (orders, fills and audit point at it); the other tables number themselves.
    # Columns later migrations add are left out here: those migrations fill them in (with their defaults).
    v1 = {t: {r[1] for r in c.execute(f"PRAGMA table_info({t})")} for t in TABLES}
    # A table the template cycle wrote no row to (the audit, since it keeps no routine transition) gets none.
    cols = {t: [k for k in template[t][0] if (k != "id" or t == "cycles") and k in v1[t]] if template[t] else []
            for t in TABLES}
    sql = {t: f"INSERT INTO {t}({', '.join(cols[t])}) VALUES ({', '.join('?' * len(cols[t]))})" for t in TABLES}
    t_start = now_ms - days * DAY_MS  # the last cycle closes just before now
    step = DAY_MS // per_day
    cycle_id = order_seq = 0
    daily: dict[tuple[str, str], int] = {}
    c.execute("BEGIN")
    for day_i in range(days):
        for slot in range(per_day):
            batch: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
            for u in range(users):
                user = f"user{u:03d}"
                cycle_id += 1
                t = t_start + day_i * DAY_MS + slot * step + u * (step // max(users, 1))
                day = points.utc_day(t)
                daily[user, day] = daily.get((user, day), 0) + 1
                ids = {o["order_id"]: str(60_000_000 + order_seq + i) for i, o in enumerate(template["orders"])}
                order_seq += len(ids)
                for table in TABLES:
                    batch[table] += [_clone(r, cols[table], user, cycle_id, t, day, ids) for r in template[table]]
            for table in TABLES:
                if batch[table]:
                    c.executemany(sql[table], batch[table])
        c.execute("COMMIT")
        c.execute("BEGIN")
        print(f"\r  day {day_i + 1}/{days}: {cycle_id:,} cycles", end="", file=sys.stderr, flush=True)
    # The day's totals as the fills would have summed them (the template's BUY and SELL quote, fees in quote).
    c.executemany("INSERT INTO daily_volume(user, day, buy_quote, sell_quote, fees_quote, sell_fees_quote, cycles) "
                  "VALUES (?,?,?,?,?,?,?)",
                  [(user, day, str(D("19.98010000") * n), str(D("19.76023200") * n), str(D("0.00395367") * n),
                    str(D("0.00197602") * n), n) for (user, day), n in daily.items()])
    c.executemany("INSERT INTO users(name, created_ms) VALUES (?, ?)",
                  [(f"user{u:03d}", t_start) for u in range(users)])
    c.execute("COMMIT")
    c.close()
    print(file=sys.stderr)
    return cycle_id


def _clone(row: dict[str, Any], cols: list[str], user: str, cycle_id: int, t: int, day: str,
           ids: dict[str, str]) -> tuple[Any, ...]:
    shift = t - 1_764_000_000_000
    out: list[Any] = []
    for k in cols:
        v = row[k]
        if k == "user":
            v = user
        elif k == "id" or (k == "cycle_id" and v is not None):
            v = cycle_id
        elif k == "day":
            v = day
        elif k == "order_id" and v in ids:
            v = ids[v]
        elif k == "exec_key":
            oid, _, qty = str(v).partition(":")
            v = f"{ids.get(oid, oid)}:{qty}"
        elif k == "order_list_id" and v is not None:
            v = str(80_000_000 + cycle_id)
        elif k.endswith("_ms") and isinstance(v, int):
            v = v + shift
        out.append(v)
    return tuple(out)


class _TimedStore(Store):
    """The store with each prune batch timed: the longest one is the longest write lock pruning takes."""

    batch_s: list[float]

    async def prune_batch(self, cutoff_ms: int, cycles: int, audit: int) -> Pruned:
        started = time.perf_counter()
        done = await super().prune_batch(cutoff_ms, cycles, audit)
        self.batch_s.append(time.perf_counter() - started)
        return done


def _cli(config: Path, *args: str, runs: int = 3) -> float:
    """The median wall time of an `otobot` command, process start included (what an operator waits)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "otobot", *args, "-c", str(config)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


async def measure(root: Path, retention_days: int, now_ms: int, batch: tuple[int, int]) -> dict[str, Any]:
    db, config = root / "otobot.db", root / "otobot.yaml"
    out: dict[str, Any] = {"db_bytes_before": _size(db)}
    started = time.perf_counter()
    store = await _TimedStore.open(db)  # runs the migrations after version 1: the new indexes on a full file
    assert isinstance(store, _TimedStore)
    out["migrate_s"] = time.perf_counter() - started
    with sqlite3.connect(db) as c:
        out["rows"] = {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    store.batch_s = []
    started = time.perf_counter()
    pruned = await prune(store, cutoff_ms(now_ms, retention_days), cycles=batch[0], audit=batch[1])
    out["prune_s"] = time.perf_counter() - started
    out["pruned"] = pruned
    out["prune_batches"] = len(store.batch_s)
    ms = sorted(t * 1000 for t in store.batch_s) or [0.0]
    out["prune_batch_ms_p50_p99_max"] = (round(ms[len(ms) // 2], 1), round(ms[len(ms) * 99 // 100], 1),
                                         round(ms[-1], 1))
    out["prune_batches_over_100ms"] = sum(t > 100 for t in ms)
    await store.close()
    out["db_bytes_after"] = _size(db)
    out["status_s"] = _cli(config, "status")
    out["stats_s"] = _cli(config, "stats", "user042")
    out["orders_s"] = _cli(config, "orders", "user042")
    return out


def write_config(root: Path, users: int) -> None:
    (root / "users").mkdir(parents=True, exist_ok=True)
    (root / "otobot.yaml").write_text("database: otobot.db\nusers_dir: users\n"
                                        "exchange: {rest_url: 'https://www.binance.com'}\n")
    for u in range(users):
        (root / "users" / f"user{u:03d}.yaml").write_text("token: ALPHA_373\norder: {quote_amount: 20}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m otobot.bench.db", description=__doc__)
    ap.add_argument("dir", type=Path, help="where otobot.yaml, users/ and otobot.db go (the db is rebuilt)")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--days", type=int, default=91, help="days of history; one more than retention = a daily pass")
    ap.add_argument("--cycles-per-day", type=int, default=100)
    ap.add_argument("--retention-days", type=int, default=90)
    ap.add_argument("--batch", type=int, nargs=2, default=(BATCH_CYCLES, BATCH_AUDIT), metavar=("CYCLES", "AUDIT"),
                    help="rows per prune transaction (the daemon's defaults)")
    ap.add_argument("--reuse", action="store_true", help="measure the existing database, do not rebuild it")
    args = ap.parse_args(argv)
    root: Path = args.dir
    root.mkdir(parents=True, exist_ok=True)
    db = root / "otobot.db"
    now_ms = int(time.time() * 1000)
    if not args.reuse:
        for p in root.glob("otobot.db*"):
            p.unlink()
        write_config(root, args.users)
        started = time.perf_counter()
        n = generate(db, asyncio.run(template_cycle()), args.users, args.days, args.cycles_per_day, now_ms)
        print(f"generated {n:,} cycles in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    result = asyncio.run(measure(root, args.retention_days, now_ms, tuple(args.batch)))
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
