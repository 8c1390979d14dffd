"""Simulator settings: symbols, users, market model and the options for what the real exchange leaves UNCERTAIN."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml


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
    spread_bps: Decimal = Decimal("4")  # market maker's full spread
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
    usdt: Decimal = Decimal("10000")
    tokens: tuple[tuple[str, Decimal], ...] = ()  # (alphaId, amount) held at start

    @property
    def cookie(self) -> str:
        return f"p20t={self.session}; logined=y"


@dataclass(frozen=True, slots=True)
class SimConfig:
    symbols: tuple[SimSymbol, ...]
    users: tuple[SimUser, ...]
    seed: int = 1
    tick_interval_s: float = 0.1
    # UNCERTAIN (alpha-api.md §5.4): does cancelling one OTO leg cancel the other? Spot's rule says yes.
    cancel_other_leg: bool = True
    # UNCERTAIN (§5.5): a working BUY partly filled then cancelled. "cancel": the pending leg dies and the
    # user keeps the bought base (spot rule: pending activates only on a full fill). "activate": the pending
    # leg goes live with the partial quantity.
    pending_on_partial: str = "cancel"
    # UNCERTAIN (§6.2, §8.5): today/user-volume includes the token's multiplier (S1 believes so).
    volume_includes_multiplier: bool = True
    # UNCERTAIN (§4.4): listen-key lifetime and what a second POST does. Default: spot behaviour (POST
    # returns the active key and extends it); rotate_on_post: a new key, the old one expires.
    listen_key_ttl_s: float = 3600.0
    rotate_on_post: bool = False
    max_connection_age_s: float = 86400.0  # UNCERTAIN (§8.6): Binance's other streams drop at 24 h
    fee_rate: Decimal = Decimal("0.0001")


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
    names = [DEFAULT_USER_NAMES[i] if i < len(DEFAULT_USER_NAMES) else f"user{i + 1}" for i in range(users)]
    return SimConfig(symbols=DEFAULT_SYMBOLS, users=tuple(sim_user(n) for n in names), seed=seed, **options)


def load_sim_config(path: Path, users: int = 3, seed: int = 1) -> SimConfig:
    """YAML with optional `seed`, `options` (any SimConfig field), `users` (names or mappings), `symbols`."""
    raw = yaml.safe_load(path.read_text()) or {}
    base = default_sim_config(users=users, seed=int(raw.get("seed", seed)))
    opts = {f.name for f in fields(SimConfig)} - {"symbols", "users"}
    options = raw.get("options") or {}
    unknown = set(options) - opts
    if unknown:
        raise ValueError(f"{path}: unknown simulator options {sorted(unknown)}; known: {sorted(opts)}")
    changes: dict[str, Any] = {k: Decimal(str(v)) if k == "fee_rate" else v for k, v in options.items()}
    cfg = replace(base, **changes)
    if "users" in raw:
        us = []
        for u in raw["users"]:
            if isinstance(u, str):
                us.append(sim_user(u))
            else:
                tokens = tuple((k, Decimal(str(v))) for k, v in (u.get("tokens") or {}).items())
                us.append(replace(sim_user(u["name"], Decimal(str(u.get("usdt", "10000")))), tokens=tokens))
        cfg = replace(cfg, users=tuple(us))
    if "symbols" in raw:
        syms = []
        for s in raw["symbols"]:
            text_keys = ("alpha_id", "symbol", "name", "quote")
            kw: dict[str, Any] = {k: Decimal(str(v)) if isinstance(v, float | str) and k not in text_keys else v
                                  for k, v in s.items()}
            syms.append(SimSymbol(**kw))
        cfg = replace(cfg, symbols=tuple(syms))
    return cfg


