"""What `status`, `stats`, `orders`, `tokens` print: read from SQLite (and the daemon when it runs)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otobot.config.settings import GlobalConfig, scan_users
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.store.records import UserStats
from otobot.trading import daybook as points
from otobot.trading.daybook import DayBook, marked_loss
from otobot.trading.manual import manual_text


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table (what an operator reads over ssh)."""
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "-" for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def q2(d: Decimal) -> str:
    return fmt(d.quantize(Decimal("0.01")))


async def status_rows(settings: GlobalConfig, store: Store, live: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per user file (and per user the database knows): state, progress, loss, pause reason."""
    scan = scan_users(settings.users_dir)
    live_by_user = {u["user"]: u for u in (live or {}).get("users", [])}
    day = points.utc_day(int(time.time() * 1000))
    names = sorted(set(scan.users) | set(scan.errors) | {u["name"] for u in await store.users()})
    rows = []
    for name in names:
        cfg = scan.users.get(name)
        vol = await store.day_volume(name, day)
        stats = await store.user_stats(name)
        lv = live_by_user.get(name)
        token = (lv or {}).get("token") or (cfg.token if cfg else "?")  # token: auto shows what it chose
        mul = 1
        if cfg is not None:
            tok = await store.token(token)
            mul = tok[0].mul_point if tok else 1
        book = DayBook(day=day, volume=vol.buy_quote, cycles=vol.cycles)  # the bot's own day book, offline
        if cfg is not None:
            book.set_target(cfg.target.kind, cfg.target.value, mul)
        target = book.target
        per_cycle = cfg.order_quote_amount if cfg else Decimal(0)
        left = book.status(per_cycle)["cycles_left_est"]
        last = await store.last_cycle(name)
        state = lv["state"] if lv else ("disabled" if cfg is not None and not cfg.enabled else
                                        (f"stopped ({last.state})" if last else "stopped"))
        rows.append({
            "user": name,
            "state": "config error" if name in scan.errors else state,
            "token": token,
            "today": q2(vol.buy_quote),
            "target": q2(target),
            "done%": f"{(vol.buy_quote / target * 100):.1f}" if target else "-",
            "cycles": vol.cycles,
            "left_est": left if per_cycle else "-",
            **(await _cost(store, stats)),
            "paused": (lv or {}).get("paused") or await store.pause_reason(name),
            "token_choice": (lv or {}).get("token_choice"),
        })
    return rows


async def _cost(store: Store, s: UserStats) -> dict[str, str]:
    """Loss with unsold base (fee dust, an unfinished cycle) marked at its last fill price, shown apart."""
    loss, inventory = marked_loss(s.buy_quote, s.sell_quote, s.sell_fees_quote, await store.holdings(s.user))
    bps = loss / s.buy_quote * 10000 if s.buy_quote else Decimal(0)
    return {"loss": fmt(loss.quantize(Decimal("0.0001"))), "loss_bps": f"{bps:.2f}",
            "inventory": fmt(inventory.quantize(Decimal("0.0001")))}


async def stats_row(store: Store, user: str) -> dict[str, Any]:
    s = await store.user_stats(user)
    return {
        "user": user, "cycles": s.cycles, "buy_volume": q2(s.buy_quote), "sell_volume": q2(s.sell_quote),
        "fees": fmt(s.fees_quote.quantize(Decimal("0.0001"))), **(await _cost(store, s)),
    }


async def order_rows(store: Store, user: str, *, status: str | None, since_ms: int | None, until_ms: int | None,
                     limit: int, page: int) -> list[dict[str, Any]]:
    rows = await store.orders_page(user, status=status, since_ms=since_ms, until_ms=until_ms, limit=limit,
                                   offset=(page - 1) * limit)
    return [{
        "time": datetime.fromtimestamp(r.intent_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "cycle": r.cycle_id, "role": r.role, "order_id": r.order_id, "side": r.side, "price": fmt(r.price),
        "qty": fmt(r.quantity), "filled": fmt(r.cum_qty), "quote": fmt(r.cum_quote), "status": r.status,
    } for r in rows]


async def token_rows(store: Store) -> list[dict[str, Any]]:
    return [{"symbol": t.symbol, "alpha_id": t.alpha_id, "name": t.name, "mulPoint": t.mul_point,
             "tradable": "yes" if t.tradable else "no",
             "cached": datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")}
            for t, ms in await store.tokens()]


def ctl_text(action: str, result: dict[str, Any]) -> str:
    """The daemon's reply to `otobot ctl ACTION` as an operator reads it (`--json` prints the reply itself)."""
    if action == "status":
        rows = [{"user": u.get("user"), "state": u.get("state"), "paused": u.get("paused"),
                 "today": u.get("volume_today"), "target": u.get("target_volume"), "done%": u.get("pct_done"),
                 "cycles": u.get("cycles_today"), "user_stream": u.get("user_stream"), "restarts": u.get("restarts"),
                 "error": u.get("error")} for u in result.get("users", [])]
        lines = [table(rows, list(rows[0])) if rows else "the daemon runs no user"]
        lines += [f"rejected file: {text}" for text in (result.get("file_errors") or {}).values()]
        return "\n".join(lines)
    if action == "health":
        lines = [f"daemon: {'healthy' if result.get('ok') else 'UNHEALTHY'}; database "
                 f"{'ok' if result.get('database') else 'NOT readable'}"]
        for name, u in sorted((result.get("users") or {}).items()):
            stream = "user stream up" if u.get("user_stream") else "user stream DOWN"
            extra = f", paused {u['paused']}" if u.get("paused") else ""
            extra += f", error {u['error']}" if u.get("error") else ""
            lines.append(f"{name}: {u.get('state')}, {stream}{extra}")
        return "\n".join(lines)
    if action == "reload":
        parts = [f"{k}: {', '.join(v)}" for k, v in result.items() if v and k != "errors"]
        if result.get("errors"):
            parts.append(f"rejected (kept their previous settings if running): {', '.join(result['errors'])}")
        return "reloaded; " + ("; ".join(parts) if parts else "no change")
    if action in ("cancel", "flatten"):
        return manual_text(result)
    user = result.get("user", "?")
    return f"{user}: {action}d; state {result.get('state')}, paused {result.get('paused') or 'no'}"
