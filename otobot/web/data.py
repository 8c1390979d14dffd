"""The dashboard's JSON documents, built from the same functions the CLI's `--json` prints (one source for both)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from otobot.config.settings import GlobalConfig, UserConfig, UsersScan
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.trading import daybook as points
from otobot.trading.pauses import Pause
from otobot.views import history, reports
from otobot.views.audit import KINDS, audit_entries

AUDIT_SHOWN = 200  # the newest entries of the trail; `otobot audit USER` prints all of them

# What an operator does about each pause, in a line (the log and notifications carry the long form).
FIXES = {
    Pause.operator: "paused by an operator: `otobot ctl resume {user}` when ready",
    Pause.disconnected: "the user stream was down too long: check the network, then `otobot ctl resume {user}`",
    Pause.auth_expired: "the session is logged out: `otobot creds import {user}`, then `otobot ctl resume {user}`",
    Pause.risk_challenge: "complete the security check on binance.com, `otobot creds import {user}`, then "
                          "`otobot ctl resume {user}`",
    Pause.insufficient_balance: "top up the quote balance or lower order.quote_amount, then `otobot ctl resume {user}`",
    Pause.config: "fix the user's file (see `otobot check`), then reload (SIGHUP)",
    Pause.unwind_failed: "sell the leftover by hand or widen unwind.ladder_pct, then `otobot ctl resume {user}`",
    Pause.rejected: "the exchange rejected an order: check the file and the log, then `otobot ctl resume {user}`",
}


def fix_for(user: str, paused: str | None) -> str | None:
    if not paused:
        return None
    try:
        return FIXES[Pause(paused)].format(user=user)
    except (ValueError, KeyError):
        return f"see the log, then `otobot ctl resume {user}`"


def _dec(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The overview's last line: sums over every user (a user's `-` counts as nothing)."""
    today = sum((_dec(r.get("today")) for r in rows), Decimal(0))
    target = sum((_dec(r.get("target")) for r in rows), Decimal(0))
    states: dict[str, int] = {}
    for r in rows:
        states[str(r.get("state"))] = states.get(str(r.get("state")), 0) + 1
    return {"users": len(rows), "today": reports.q2(today), "target": reports.q2(target),
            "done%": f"{today / target * 100:.1f}" if target else None,
            "cycles": sum(int(r.get("cycles") or 0) for r in rows),
            "loss": fmt(sum((_dec(r.get("loss")) for r in rows), Decimal(0))),
            "paused": sum(1 for r in rows if r.get("paused")), "states": states}


async def overview(settings: GlobalConfig, store: Store, live: dict[str, Any] | None,
                   scan: UsersScan | None = None) -> dict[str, Any]:
    """`otobot status --json` ({"daemon", "users"}) plus the totals and each paused user's fix."""
    rows = await reports.status_rows(settings, store, live, scan)
    return {"daemon": "running" if live is not None else "not running", "users": rows, "totals": totals(rows),
            "fixes": {r["user"]: fix for r in rows if (fix := fix_for(r["user"], r.get("paused")))}}


Users = Mapping[str, UserConfig]  # the users folder as scanned (name → valid file)


async def known_user(users: Users, store: Store, user: str) -> bool:
    return user in users or user in {u["name"] for u in await store.users()}


async def user_history(settings: GlobalConfig, store: Store, user: str, days: int, now_ms: int,
                       users: Users) -> dict[str, Any]:
    """`otobot history USER --days N --json`."""
    target = await history.user_target(settings, store, user, users)
    rows = await history.history(store, user, target, points.utc_day(now_ms), days)
    return history.json_doc(user, target, rows)


async def user_audit(store: Store, user: str) -> list[dict[str, Any]]:
    """`otobot audit USER --json`, its newest AUDIT_SHOWN entries."""
    return audit_entries(await store.audit_since(user, 0, KINDS), user)[-AUDIT_SHOWN:]


async def user_token(users: Users, store: Store, user: str, live: dict[str, Any] | None,
                     ) -> tuple[dict[str, Any] | None, str | None]:
    """The row of `otobot tokens --json` for the token the user trades, and the symbol its price chart shows."""
    lv = next((u for u in (live or {}).get("users", []) if u.get("user") == user), None)
    cfg = users.get(user)
    alias = (lv or {}).get("token") or (cfg.token if cfg else None)
    if alias is None:
        return None, None
    tok = await store.token(alias)
    symbol = (lv or {}).get("symbol") or (f"{tok[0].alpha_id}{cfg.quote}" if tok and cfg else None)
    if tok is None:
        return None, symbol
    return await reports.token_row(store, *tok), symbol
