"""`otobot paper`: the operator's own config traded on a paper market (the exchange's public side, mirrored live),
by the same daemon as `otobot run`, into a paper database kept apart from the real one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from otobot.config.settings import ConfigError, GlobalConfig, UserConfig, load_global, load_user, user_files
from otobot.exchange.filters import FEE_RATE, fmt
from otobot.sim.config import SimConfig, sim_user
from otobot.sim.mirror import Mirror, start_paper_sim, stop_paper_sim
from otobot.sim.server import Simulator
from otobot.sim.upstream import UpstreamError
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseLocked, DatabaseUnreadable, DbLock
from otobot.trading.planner import BPS, cycle_cost
from otobot.views import reports

AUTO = "auto"
# Sections of the operator's otobot.yaml a paper run keeps: how the daemon behaves. Not kept: where it trades
# and stores (replaced), the credentials key, the health port (the real daemon's), notify unless asked for.
KEPT_SECTIONS = ("reliability", "logging", "retention_days")


class PaperProblem(Exception):
    """Something the operator fixes before a paper run: one paragraph naming the file, key or flag."""


@dataclass(frozen=True, slots=True)
class PaperRun:
    root: Path  # the paper folder: otobot.yaml, users/, paper.db, otobot.sock
    config: Path
    market_from: str


def paper_root(settings: GlobalConfig) -> Path:
    """`/var/lib/otobot/otobot.db` → `/var/lib/otobot/otobot.paper/`: beside the real database, never it."""
    return settings.database.parent / f"{settings.database.stem}.paper"


def tokens_of(users: list[UserConfig], extra: tuple[str, ...]) -> tuple[str, ...]:
    """Every token an enabled user may trade (its candidates for `token: auto`), plus `extra`; refuses an auto
    user without candidates, since mirroring every listed token would cost the upstream a stream each."""
    wanted: list[str] = list(extra)
    for u in users:
        if not u.enabled:
            continue
        if u.token.lower() == AUTO:
            if not u.candidates and not extra:
                raise PaperProblem(f"{u.path}: token: auto without candidates; a paper run mirrors named tokens "
                                   f"only: list them under candidates: in that file or give --tokens A,B")
            wanted.extend(u.candidates)
        else:
            wanted.append(u.token)
    return tuple(dict.fromkeys(w.upper() for w in wanted))


def fresh_database(root: Path) -> Path | None:
    """Every paper run starts from an empty paper.db, as its virtual balances start afresh (a database that
    remembered coins the new simulator never gave would pause the users at once). The last run's database is kept
    as paper-<its UTC time>.db, which is returned. Refused while another paper run holds it."""
    db = root / "paper.db"
    if not db.exists():
        return None
    lock = DbLock.acquire(db)  # DatabaseLocked names the paper run that holds it
    try:
        kept = root / f"paper-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(db.stat().st_mtime))}.db"
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{db}{suffix}")
            if src.exists():
                src.rename(Path(f"{kept}{suffix}"))
    finally:
        lock.release()
    return kept


def write_paper_config(settings: GlobalConfig, sim: Simulator, market_from: str, root: Path, *,
                       keep_notify: bool = False) -> Path:
    """The paper folder's otobot.yaml and one file per user: each user file as the operator wrote it, with the
    simulator's session in place of the real one. With `keep_notify` the notify sections stay (every message then
    starts with PAPER), except Telegram commands: the real daemon answers those."""
    raw = yaml.safe_load(settings.path.read_text()) or {}
    cfg: dict[str, Any] = {k: raw[k] for k in KEPT_SECTIONS if k in raw}
    if keep_notify and isinstance(raw.get("notify"), dict):
        cfg["notify"] = dict(raw["notify"])
        if isinstance(cfg["notify"].get("telegram"), dict):
            cfg["notify"]["telegram"] = {**cfg["notify"]["telegram"], "commands": False}
    cfg.update({
        "paper_market": market_from, "database": "paper.db", "users_dir": "users",
        "exchange": {"rest_url": sim.rest_url, "market_ws_url": sim.market_ws_url, "user_ws_url": sim.user_ws_url},
        "control": {"socket": "otobot.sock"},
    })
    (root / "users").mkdir(parents=True, exist_ok=True)
    config = root / "otobot.yaml"
    config.write_text("# Written by `otobot paper`: a paper run of " + str(settings.path) + "\n"
                      + yaml.safe_dump(cfg, sort_keys=False))
    names = set(sim.user_names())
    for path in user_files(settings.users_dir):
        user = yaml.safe_load(path.read_text()) or {}
        if path.stem in names:
            creds = sim.credentials(path.stem)
            user["credentials"] = {"source": "inline", "cookie": creds.cookie, "csrftoken": creds.csrftoken}
        else:  # disabled, or rejected: carried over so the paper run shows the same users
            user.pop("credentials", None)
        if not keep_notify:
            user.pop("notify", None)
        (root / "users" / path.name).write_text(yaml.safe_dump(user, sort_keys=False))
    return config


async def summary(run: PaperRun, mirror: Mirror) -> str:
    """Per user: what the paper run cost per counted volume, and what `otobot plan` estimates on the same book now
    (the comparison to make before going live)."""
    settings = load_global(run.config)
    store = await Store.open(settings.database)
    rows = []
    try:
        for path in user_files(settings.users_dir):
            cfg = load_user(path)
            stats = await store.user_stats(cfg.name)
            row = await reports.stats_row(store, cfg.name)
            listing = next((x for x in mirror.listings.values()
                            if cfg.token.upper() in (x.sim.symbol.upper(), x.sim.alpha_id.upper())), None)
            mul = listing.sim.mul_point if listing else 1
            realised = (Decimal(str(row["loss"])) / stats.buy_quote * BPS / mul
                        if stats.buy_quote > 0 and row.get("loss") not in (None, "-") else None)
            planned = None
            if listing is not None:
                book = mirror.upstream.books[listing.sim.pair]
                cost = cycle_cost(tuple(sorted(book.bids.items(), reverse=True)), tuple(sorted(book.asks.items())),
                                  cfg.order_quote_amount, listing.sim.step, FEE_RATE)
                planned = cost.counted_bps(mul)
            rows.append({"user": cfg.name, "token": cfg.token, "mul": f"{mul}x", "cycles": row["cycles"],
                         "buy_volume": row["buy_volume"], "loss": row["loss"],
                         "paper_bps_per_counted": _bps(realised), "plan_bps_per_counted": _bps(planned)})
    finally:
        await store.close()
    return reports.table(rows, ["user", "token", "mul", "cycles", "buy_volume", "loss", "paper_bps_per_counted",
                                "plan_bps_per_counted"])


def _bps(value: Decimal | None) -> str | None:
    return fmt(value.quantize(Decimal("0.01"))) if value is not None else None


async def run_paper(config: Path, *, market_from: str | None, tokens: tuple[str, ...], usdt: Decimal, port: int,
                    seconds: float | None, keep_notify: bool = False) -> int:
    from otobot.daemon.run import run_daemon  # the daemon's whole stack, only when a paper run really starts

    settings = load_global(config)
    users = [load_user(p) for p in user_files(settings.users_dir)]
    enabled = [u for u in users if u.enabled]
    if not enabled:
        raise PaperProblem(f"no enabled user in {settings.users_dir}: a paper run trades the users of your config")
    upstream = (market_from or settings.exchange.rest_url).rstrip("/")
    ws_url = settings.exchange.market_ws_url if upstream == settings.exchange.rest_url.rstrip("/") else None
    base = SimConfig(symbols=(), users=tuple(sim_user(u.name, usdt) for u in enabled))
    sim, mirror = await start_paper_sim(base, upstream, tokens=tokens_of(enabled, tokens), ws_url=ws_url, port=port)
    root = paper_root(settings)
    try:
        kept = fresh_database(root)
        if kept is not None:
            print(f"the last paper run's database is kept as {kept}", flush=True)
        run = PaperRun(root, write_paper_config(settings, sim, upstream, root, keep_notify=keep_notify), upstream)
        print(f"PAPER run of {config}: the market of {upstream} mirrored by a simulator on {sim.rest_url}; "
              f"{len(enabled)} users with {fmt(usdt)} virtual USDT each; database {root / 'paper.db'}", flush=True)
        print(f"while it runs: otobot status -c {run.config} (and stats, orders, history)", flush=True)
        loop = asyncio.get_running_loop()
        stopper = loop.call_later(seconds, os.kill, os.getpid(), signal.SIGTERM) if seconds else None
        try:
            code = await run_daemon(run.config)
        finally:
            if stopper is not None:
                stopper.cancel()
        print(reports.paper_banner(load_global(run.config)) or "")
        print(await summary(run, mirror), flush=True)
        return code
    finally:
        await stop_paper_sim(sim, mirror)


def main_paper(config: Path, *, market_from: str | None, tokens: tuple[str, ...], usdt: str, port: int,
               seconds: float | None, keep_notify: bool = False) -> int:
    from otobot.daemon import eventloop

    try:
        amount = Decimal(usdt)
    except ArithmeticError:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0:
        sys.stderr.write(f"otobot paper: --usdt {usdt!r} must be a positive amount, e.g. --usdt 500\n")
        return 2
    try:
        return eventloop.run(run_paper(config, market_from=market_from, tokens=tokens, usdt=amount, port=port,
                                       seconds=seconds, keep_notify=keep_notify), os.environ)
    except (ConfigError, PaperProblem, DatabaseLocked, DatabaseUnreadable) as exc:
        sys.stderr.write(f"otobot paper: {exc}\n")
        return 1
    except UpstreamError as exc:
        sys.stderr.write(f"otobot paper: the market to mirror: {exc}\n")
        return 1
    except OSError as exc:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"otobot paper: {exc.strerror or exc}\n")
        return 1
