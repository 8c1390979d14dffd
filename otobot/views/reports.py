"""What `status`, `stats`, `orders`, `tokens` print: read from SQLite (and the daemon when it runs)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otobot.config.settings import GlobalConfig, UsersScan, scan_users
from otobot.exchange.filters import fmt
from otobot.exchange.models import Token
from otobot.store.db import Store
from otobot.store.records import CycleRow, OrderRow, UserStats
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


def waiting_text(waiting: Any) -> str | None:
    """A bot's waiting reason as people read it: "volatility 4.2 % > 3 % in 60 s since 12:01" (UTC); None when it
    is not waiting. `waiting` is the live row's {"reason", "text", "since_ms"} or None."""
    if not isinstance(waiting, dict) or not waiting.get("reason"):
        return None
    text = str(waiting.get("text") or waiting["reason"])
    since = waiting.get("since_ms")
    if isinstance(since, int | float) and not isinstance(since, bool):
        text += " since " + datetime.fromtimestamp(since / 1000, UTC).strftime("%H:%M")
    return text


def paper_banner(settings: GlobalConfig) -> str | None:
    """The line every view of a paper database starts with (#25), so no figure passes for a real one."""
    if not settings.paper_market:
        return None
    return (f"PAPER: virtual money on a simulator mirroring {settings.paper_market}; no order reached the exchange "
            f"(database {settings.database})")


def q2(d: Decimal) -> str:
    return fmt(d.quantize(Decimal("0.01")))


async def status_rows(settings: GlobalConfig, store: Store, live: dict[str, Any] | None,
                      scan: UsersScan | None = None) -> list[dict[str, Any]]:
    """One row per user file (and per user the database knows): state, progress, loss, pause reason; `scan`: the
    users folder already read (the dashboard reads it once for many requests)."""
    scan = scan if scan is not None else scan_users(settings.users_dir)
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
            "waiting": waiting_text((lv or {}).get("waiting")),
            "waiting_reason": ((lv or {}).get("waiting") or {}).get("reason"),
            "token_choice": (lv or {}).get("token_choice"),
            "last_cycle": utc_text(last.closed_ms or last.intent_ms) if last else None,
        })
    return rows


async def _cost(store: Store, s: UserStats) -> dict[str, str]:
    """Loss with otobot's unsold base (fee dust, an unfinished cycle) marked at its last fill price, shown apart;
    the user's own coins (their hand orders, issue 19) are never otobot's inventory, cost or loss: a column apart."""
    loss, inventory = marked_loss(s.buy_quote, s.sell_quote, s.sell_fees_quote, await store.holdings(s.user))
    theirs = sum((h.value for h in await store.user_holdings(s.user)), Decimal(0))
    bps = loss / s.buy_quote * 10000 if s.buy_quote else Decimal(0)
    own = fmt(inventory.quantize(Decimal("0.0001")))
    return {"loss": fmt(loss.quantize(Decimal("0.0001"))), "loss_bps": f"{bps:.2f}",
            "inventory": own, "inventory_own": own, "inventory_user": fmt(theirs.quantize(Decimal("0.0001")))}


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
    return [order_dict(r) for r in rows]


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def order_dict(r: OrderRow) -> dict[str, Any]:
    return {
        "time": utc_text(r.intent_ms), "cycle": r.cycle_id, "role": r.role, "order_id": r.order_id, "side": r.side,
        "price": fmt(r.price), "qty": fmt(r.quantity), "filled": fmt(r.cum_qty), "quote": fmt(r.cum_quote),
        "status": r.status, "fee": fmt(r.fee), "fee_asset": r.fee_asset,
    }


QUOTES = ("USDT", "USDC")  # the quote assets Alpha pairs use; a token's filters are shown for the first cached


async def token_rows(store: Store) -> list[dict[str, Any]]:
    """Each cached token with its pair's tick, step and minimum notional (`-` until exchange info is cached)."""
    return [await token_row(store, t, ms) for t, ms in await store.tokens()]


async def token_row(store: Store, t: Token, cached_ms: int) -> dict[str, Any]:
    f = None
    for quote in QUOTES:
        found = await store.symbol_filters(f"{t.alpha_id}{quote}")
        if found is not None:
            f = found[0]
            break
    return {"symbol": t.symbol, "alpha_id": t.alpha_id, "name": t.name, "mulPoint": t.mul_point,
            "tradable": "yes" if t.tradable else f"no ({t.untradable_reason})", "pair": f.symbol if f else None,
            "tick": fmt(f.tick_size) if f else None, "step": fmt(f.step_size) if f else None,
            "min_qty": fmt(f.min_qty) if f else None, "min_notional": fmt(f.min_notional) if f else None,
            "cached": datetime.fromtimestamp(cached_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")}


# ---------------------------------------------------------------- cycles (issue 22: `orders --cycle`, the web page)


def cycle_summary(c: CycleRow, orders: list[OrderRow]) -> dict[str, Any]:
    """One cycle as both its legs and unwinds add up: bought, sold, fees in quote, cost in bps of what it bought.
    Base the cycle did not sell (the BUY's fee, step rounding) counts as its cost here; `stats` values it apart."""
    buys = [o for o in orders if o.side == "BUY"]
    sells = [o for o in orders if o.side == "SELL"]
    bought = sum((o.cum_qty for o in buys), Decimal(0))
    buy_quote = sum((o.cum_quote for o in buys), Decimal(0))
    sold = sum((o.cum_qty for o in sells), Decimal(0))
    sell_quote = sum((o.cum_quote for o in sells), Decimal(0))
    avg_buy = buy_quote / bought if bought else c.working_price
    # A BUY's fee is paid in base, a SELL's in quote; a fee in any other asset is valued at the buy price too.
    fees = sum((o.fee if o.fee_asset == c.quote_asset else o.fee * avg_buy for o in orders), Decimal(0))
    sell_fees = sum((o.fee for o in sells if o.fee_asset == c.quote_asset), Decimal(0))
    cost = buy_quote - sell_quote + sell_fees
    return {
        "cycle": c.id, "time": utc_text(c.intent_ms), "kind": c.kind, "state": c.state, "symbol": c.symbol,
        "buy_price": fmt(c.working_price), "sell_price": fmt(c.pending_price), "qty": fmt(c.quantity),
        "bought": fmt(bought), "buy_quote": fmt(buy_quote), "sold": fmt(sold), "sell_quote": fmt(sell_quote),
        "fees": fmt(fees.quantize(Decimal("0.00000001"))), "cost": fmt(cost.quantize(Decimal("0.00000001"))),
        "cost_bps": f"{cost / buy_quote * 10000:.2f}" if buy_quote else None, "orders": len(orders),
        "closed": utc_text(c.closed_ms) if c.closed_ms else None, "reason": c.reason,
    }


async def cycle_rows(store: Store, user: str, limit: int = 100) -> list[dict[str, Any]]:
    """The user's newest `limit` cycles, newest first, each with what its orders add up to."""
    cycles = await store.recent_cycles(user, limit)
    by_cycle: dict[int, list[OrderRow]] = {}
    for o in await store.orders_of_cycles(c.id for c in cycles):
        by_cycle.setdefault(o.cycle_id, []).append(o)
    return [cycle_summary(c, by_cycle.get(c.id, [])) for c in cycles]


def _price8(text: str) -> str:
    """A fill's price is its quote over its quantity, exact to 28 digits; 8 decimals are what the exchange shows."""
    price = Decimal(text)
    return fmt(price.quantize(Decimal("0.00000001"))) if price != price.quantize(Decimal("0.00000001")) else text


async def cycle_detail(store: Store, user: str, cycle_id: int) -> dict[str, Any] | None:
    """One cycle with every order and every recorded fill (`otobot orders USER --cycle N`); None when the user
    has no such cycle."""
    c = await store.cycle(cycle_id)
    if c is None or c.user != user:
        return None
    orders = await store.cycle_orders(cycle_id)
    fills = []
    for o in orders:
        if o.order_id is None:
            continue
        for f in await store.fills(user, o.order_id):
            fills.append({"time": utc_text(int(f["time_ms"])), "order_id": f["order_id"], "side": f["side"],
                          "price": _price8(f["price"]), "qty": f["qty"], "quote": f["quote_qty"],
                          "fee": f["commission"], "fee_asset": f["commission_asset"], "source": f["source"]})
    return {"cycle": cycle_summary(c, orders), "orders": [order_dict(o) for o in orders], "fills": fills}


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
            if u.get("price_stream"):
                price = str(u["price_stream"])
                age = u.get("price_age_s")
                stream += f", price stream {price.upper() if price == 'down' else price}" + (
                    f" (last trade {age:.0f} s ago)" if isinstance(age, int | float) and price == "stale" else "")
            extra = f", paused {u['paused']}" if u.get("paused") else ""
            extra += f", error {u['error']}" if u.get("error") else ""
            lines.append(f"{name}: {u.get('state')}, {stream}{extra}")
        telegram = result.get("telegram")
        if isinstance(telegram, dict):
            lines.append("telegram commands: " + (f"FAILING: {telegram.get('problem')}" if telegram.get("problem")
                                                  else str(telegram.get("state"))))
        return "\n".join(lines)
    if action == "reload":
        parts = [f"{k}: {', '.join(v)}" for k, v in result.items() if v and k != "errors"]
        if result.get("errors"):
            parts.append(f"rejected (kept their previous settings if running): {', '.join(result['errors'])}")
        return "reloaded; " + ("; ".join(parts) if parts else "no change")
    if action in ("cancel", "flatten", "flatten_all"):
        return manual_text(result)
    user = result.get("user", "?")
    return f"{user}: {action}d; state {result.get('state')}, paused {result.get('paused') or 'no'}"
