"""The simulator's replies in the variants the public evidence shows (alpha-api.md §7.7, issue #23).

Each is a pure function of a reply the server already built and the SimConfig settings, applied by one server
middleware (`reply`), so the handlers stay as the captures have them and a reading can be switched per test.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from otobot.exchange import protocol as p
from otobot.sim.config import SimConfig

# SimConfig.success_key: which success replies carry `success`.
SUCCESS_ALWAYS = "always"  # §2.1: every reply
SUCCESS_EXCEPT_AGG_TRADES = "except-agg-trades"  # S13: the official agg-trades reply has no `success`
SUCCESS_NEVER = "never"  # no reply has it, errors included: the client must read `code`
SUCCESS_KEY_MODES = (SUCCESS_ALWAYS, SUCCESS_EXCEPT_AGG_TRADES, SUCCESS_NEVER)

ORDER_PATHS = frozenset({p.PLACE_OTO, p.PLACE_ORDER})
ORDER_ROW_PATHS = frozenset({p.OPEN_ORDERS, p.ORDER_HISTORY})

# An unquoted JSON number (after `:`, `[` or `,`) with a fraction ending in 0, or written with an exponent.
_TRAILING_ZERO = re.compile(r"[:\[,]\s*-?\d+\.\d*0(?=\s*[,\]}])")
_EXPONENT = re.compile(r"[:\[,]\s*-?\d+(\.\d+)?[eE][+-]?\d+")


def drops_success(mode: str, path: str) -> bool:
    """Whether the reply to `path` goes out without its `success` key under SimConfig.success_key `mode`."""
    if mode == SUCCESS_NEVER:
        return not path.startswith("/_sim")
    return mode == SUCCESS_EXCEPT_AGG_TRADES and path == p.AGG_TRADES


def reply(path: str, text: str, config: SimConfig, delisted: Collection[str]) -> str | None:
    """The reply to `path` in the readings `config` asks for, or None when it goes out as built."""
    drop_success = drops_success(config.success_key, path)
    tokens = path == p.TOKEN_LIST and (config.token_fully_delisted_key or bool(delisted))
    pairs = path == p.EXCHANGE_INFO and bool(delisted)
    rows = path in ORDER_ROW_PATHS and not config.order_rows_cum_quote
    if not (drop_success or tokens or pairs or rows):
        return None
    try:
        body = p.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if tokens and isinstance(data, list):
        body["data"] = [token_entry(e, delisted=e.get("alphaId") in delisted, with_key=config.token_fully_delisted_key)
                        if isinstance(e, dict) else e for e in data]
    if pairs and isinstance(data, dict) and isinstance(data.get("symbols"), list):
        data["symbols"] = [{**s, "status": "DELISTED"} if isinstance(s, dict) and s.get("baseAsset") in delisted
                           else s for s in data["symbols"]]
    if rows and isinstance(data, list):
        body["data"] = [older_order_row(r) if isinstance(r, dict) else r for r in data]
    if drop_success:
        body.pop("success", None)
    return p.dumps(body)


OLDER_ROW_MISSING = ("cumQuote", "orderListId")  # §7.7: S3's row has "no `cumQuote`, no `orderListId`"


def older_order_row(row: dict[str, Any]) -> dict[str, Any]:
    """An order row as S3's 2025 history replies had it: no `cumQuote` and no `orderListId` (§7.7)."""
    return {k: v for k, v in row.items() if k not in OLDER_ROW_MISSING}


def token_entry(entry: dict[str, Any], *, delisted: bool, with_key: bool) -> dict[str, Any]:
    """A token-list entry with `fullyDelisted` (S15: beside `offline`, which may stay false) when the list carries
    the key; an older list without it can only show a delisted token as `offline`."""
    if with_key:  # an entry that already says (a paper mirror's upstream row, #25) keeps its own word
        return {**entry, "fullyDelisted": True if delisted else entry.get("fullyDelisted", False)}
    return {**entry, "offline": True} if delisted else entry


def body_number_problem(text: str) -> str | None:
    """Why an order body's number text is not what the browser writes (§7.1: no trailing zeros, no exponent), or
    None. Only SimConfig.strict_body_numbers refuses such a body: the real server is not known to."""
    if (m := _EXPONENT.search(text)) is not None:
        return f"number written with an exponent: {m.group(0).lstrip(':[, ')}"
    if (m := _TRAILING_ZERO.search(text)) is not None:
        return f"number written with trailing zeros: {m.group(0).lstrip(':[, ')}"
    return None
