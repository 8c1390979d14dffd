"""Simulator settings: symbols, users, market model and the options for what the real exchange leaves UNCERTAIN."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from otobot.exchange.filters import FEE_RATE


@dataclass(frozen=True, slots=True)
class SimSymbol:
    alpha_id: str  # ALPHA_22
    symbol: str  # display name, KOGE
    name: str
    price: Decimal  # starting mid
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    mul_point: int = 1
    quote: str = "USDT"
    min_notional: Decimal = Decimal("0.1")
    volatility_bps: Decimal = Decimal("1")  # std-dev of the mid's move per tick, in basis points
    spread_bps: Decimal = Decimal("4")  # market maker's full spread, in basis points of mid
    spread_ticks: int = 0  # if > 0: the full spread in ticks instead (for coarse-tick tokens)
    levels: int = 10  # price levels per side
    level_quote: Decimal = Decimal("3000")  # quote value resting per level
    trades_per_s: float = 4.0  # other traders' taker orders per second (a rate, not money)
    trade_quote: Decimal = Decimal("40")  # their average size

    @property
    def pair(self) -> str:
        return f"{self.alpha_id}{self.quote}"


@dataclass(frozen=True, slots=True)
class SimUser:
    name: str
    csrftoken: str
    session: str  # value of the p20t cookie
    usdt: Decimal = Decimal("10000")  # in the bucket CARD payments spend (funding, as captured)
    tokens: tuple[tuple[str, Decimal], ...] = ()  # (alphaId, amount) held at start
    earn_usdt: Decimal = Decimal(0)  # USDT in flexible Earn: shown by get-wallet-asset, never spendable here

    @property
    def cookie(self) -> str:
        return f"p20t={self.session}; logined=y"


@dataclass(frozen=True, slots=True)
class SimConfig:
    symbols: tuple[SimSymbol, ...]
    users: tuple[SimUser, ...]
    seed: int = 1
    tick_interval_s: float = 0.1  # the background market moves once per tick
    # UNCERTAIN: alpha-api.md §5.4 — does cancelling one OTO leg cancel the other? Spot's rule says yes.
    cancel_other_leg: bool = True
    # UNCERTAIN: alpha-api.md §5.5 — the pending leg activates only when the working BUY is fully filled
    # (spot rule). If a partly filled working BUY is cancelled: "cancel" = the pending leg dies and the user
    # keeps the bought base; "activate" = the pending leg goes live with the partial quantity (less fee).
    pending_on_partial: str = "cancel"
    # UNCERTAIN: alpha-api.md §6.2, §8.5 — today/user-volume counts buys × the token's mulPoint (S1 believes so).
    volume_includes_multiplier: bool = True
    # UNCERTAIN: alpha-api.md §4.4, §8.1 — listen-key lifetime and what a second POST does. Default: POST
    # returns the active key and extends it; rotate_on_post: a new key each time, the old one expires.
    listen_key_ttl_s: float = 3600.0
    rotate_on_post: bool = False
    # UNCERTAIN: alpha-api.md §4.4, §8.6 — Binance's other streams drop connections at 24 h.
    max_connection_age_s: float = 86400.0
    ws_heartbeat_s: float = 30.0  # server pings every websocket this often (client pings are always answered)
    fee_rate: Decimal = FEE_RATE
    # UNCERTAIN: alpha-api.md §7.6 — the captured fullDepth reply is `{"data": …}` with no code/success, while §2.1
    # says every bapi reply has the envelope. "capture" serves it as captured, "envelope" with code/success.
    depth_envelope: str = "capture"
    # alpha-api.md §7.6: the captured book is crossed (best bid above best ask). The chance per published update
    # that a phantom bid appears above the best ask (or goes away); 0 keeps the published book uncrossed.
    crossed_book_p: float = 0.0
    # Spread changes during the run, ((after_s, pair, bps), …) on the market's clock: what `/_sim/spread` does, but
    # scheduled in sim.yaml (`spread_moves: [{after_s: 60, symbol: ALPHA_118USDT, bps: 30}]`).
    spread_moves: tuple[tuple[float, str, Decimal], ...] = ()
    # Which get-wallet-asset bucket shows the USDT that orders spend. "funding" is the captured reply (§7.3b:
    # `"spot": null`, money in funding). "spot" plays the reading otobot once assumed (money in spot, funding
    # null), so tests can show a client that reads funding reports 0 spendable and says where the money is.
    wallet_quote_bucket: str = "funding"
    # Issue #25, paper trading: the upstream whose public side this simulator mirrors (sim/mirror.py), or "" for
    # the synthetic market. When set, paper fills are not published as prints: the streams carry the upstream's.
    market_from: str = ""
    # --- #23: the readings the public evidence shows (alpha-api.md §7.7); the client tolerates each.
    # Tokens (alphaIds) fully delisted: listed with `fullyDelisted: true` (`offline` stays false, as S15 allows), their
    # pair's status DELISTED in exchange info, orders refused. `/_sim/delist` changes the set during a run.
    delisted: tuple[str, ...] = ()
    # Whether token-list entries carry `fullyDelisted` (S15's lists do; the S1 capture predates it). Without the key
    # a delisted token can only be shown `offline`.
    token_fully_delisted_key: bool = True
    # Whether order rows (history, open orders) carry `cumQuote`; False plays S3's older rows, which lack it.
    order_rows_cum_quote: bool = True
    # Which success replies carry `success`: "always" (§2.1), "except-agg-trades" (S13: the official agg-trades
    # reply has none), "never" (no reply has it, error replies included).
    success_key: str = "except-agg-trades"
    # Refuse an order body whose numbers are not written as the browser writes them (trailing zeros, exponent).
    # UNCERTAIN: the real server is not known to care; False accepts both, as it appears to (§2.2).
    strict_body_numbers: bool = False
    # ---- issue 19: whose coins
    # UNCERTAIN: alpha-api.md §2.4 lists get-open-order rows with no orderListId / contingencyType /
    # contingencyOrderPosition (S2 types.rs), while history rows carry them. "full" serves open orders with them
    # (as history does); "bare" as §2.4 shows, so an OTO's legs can be told apart only by side, price and time.
    open_order_rows: str = "full"

    def __post_init__(self) -> None:
        if self.open_order_rows not in ("full", "bare"):
            raise ValueError(f"open_order_rows must be 'full' or 'bare', not {self.open_order_rows!r}")
        if self.pending_on_partial not in ("cancel", "activate"):
            raise ValueError(f"pending_on_partial must be 'cancel' or 'activate', not {self.pending_on_partial!r}")
        if self.depth_envelope not in ("capture", "envelope"):
            raise ValueError(f"depth_envelope must be 'capture' or 'envelope', not {self.depth_envelope!r}")
        if not 0 <= self.crossed_book_p <= 1:
            raise ValueError(f"crossed_book_p must be a probability in [0, 1], not {self.crossed_book_p!r}")
        if self.wallet_quote_bucket not in ("funding", "spot"):
            raise ValueError(f"wallet_quote_bucket must be 'funding' or 'spot', not {self.wallet_quote_bucket!r}")
        if self.success_key not in ("always", "except-agg-trades", "never"):
            raise ValueError(f"success_key must be 'always', 'except-agg-trades' or 'never', not {self.success_key!r}")
        names = [u.name for u in self.users]
        if len(set(names)) != len(names) or len({u.csrftoken for u in self.users}) != len(names):
            raise ValueError("simulated users need unique names and csrftokens")


def sim_user(name: str, usdt: Decimal = Decimal("10000")) -> SimUser:
    """Deterministic credentials, so config/users/*.yaml can ship working values for the simulator."""
    return SimUser(name=name, csrftoken=f"sim-csrf-{name}", session=f"sim-session-{name}", usdt=usdt)


DEFAULT_USER_NAMES = ("alice", "bob", "carol")

DEFAULT_SYMBOLS = (
    SimSymbol(alpha_id="ALPHA_22", symbol="KOGE", name="48 Club Token", price=Decimal("48.0"),
              tick=Decimal("0.00000001"), step=Decimal("0.0001"), min_qty=Decimal("0.0001")),
    SimSymbol(alpha_id="ALPHA_118", symbol="AOP", name="AOP Token", price=Decimal("0.2"), tick=Decimal("0.00001"),
              step=Decimal("0.01"), min_qty=Decimal("0.01"), mul_point=4),
    SimSymbol(alpha_id="ALPHA_971", symbol="NEX", name="Nex Token", price=Decimal("0.0000056"),
              tick=Decimal("0.000000001"), step=Decimal("0.1"), min_qty=Decimal("0.1"), mul_point=2),
)


def default_sim_config(users: int = 3, seed: int = 1, **options: Any) -> SimConfig:
    """KOGE (1x), AOP (4x), NEX (2x, tiny price) and `users` users: alice, bob, carol, then user4, user5 …"""
    names = [DEFAULT_USER_NAMES[i] if i < len(DEFAULT_USER_NAMES) else f"user{i + 1}" for i in range(users)]
    return SimConfig(symbols=DEFAULT_SYMBOLS, users=tuple(sim_user(n) for n in names), seed=seed, **options)


def load_sim_config(path: Path, users: int = 3, seed: int = 1) -> SimConfig:
    """YAML with optional `seed`, `options` (any SimConfig field), `users` (names, or mappings with name, usdt,
    earn_usdt, tokens {alphaId: amount}, csrftoken, session) and `symbols` (mappings of SimSymbol fields)."""
    raw = yaml.safe_load(path.read_text()) or {}
    base = default_sim_config(users=users, seed=int(raw.get("seed", seed)))
    opts = {f.name for f in fields(SimConfig)} - {"symbols", "users"}
    options = raw.get("options") or {}
    unknown = set(options) - opts
    if unknown:
        raise ValueError(f"{path}: unknown simulator options {sorted(unknown)}; known: {sorted(opts)}")
    changes: dict[str, Any] = {k: Decimal(str(v)) if k == "fee_rate" else v for k, v in options.items()}
    if "delisted" in changes:
        changes["delisted"] = tuple(str(a) for a in changes["delisted"] or [])
    if "spread_moves" in changes:
        changes["spread_moves"] = tuple((float(m["after_s"]), str(m["symbol"]), Decimal(str(m["bps"])))
                                        for m in changes["spread_moves"] or [])
    cfg = replace(base, **changes)
    if "users" in raw:
        us = []
        for u in raw["users"]:
            if isinstance(u, str):
                us.append(sim_user(u))
            else:
                tokens = tuple((k, Decimal(str(v))) for k, v in (u.get("tokens") or {}).items())
                user = replace(sim_user(u["name"], Decimal(str(u.get("usdt", "10000")))), tokens=tokens,
                               earn_usdt=Decimal(str(u.get("earn_usdt", "0"))))
                if u.get("csrftoken"):
                    user = replace(user, csrftoken=str(u["csrftoken"]))
                if u.get("session"):
                    user = replace(user, session=str(u["session"]))
                us.append(user)
        cfg = replace(cfg, users=tuple(us))
    if "symbols" in raw:
        cfg = replace(cfg, symbols=tuple(_symbol(s) for s in raw["symbols"]))
    return cfg


def _symbol(raw: dict[str, Any]) -> SimSymbol:
    """A SimSymbol from YAML: money fields through str → Decimal (never float), the rest by their declared type."""
    types = {f.name: f.type for f in fields(SimSymbol)}
    unknown = set(raw) - set(types)
    if unknown:
        raise ValueError(f"unknown symbol fields {sorted(unknown)}; known: {sorted(types)}")
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        t = types[k]
        kw[k] = Decimal(str(v)) if t == "Decimal" else int(v) if t == "int" else float(v) if t == "float" else str(v)
    return SimSymbol(**kw)
