"""What a reload changed in a user's settings, key by key under the YAML's own names, secrets masked."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from otobot.config.settings import UserConfig
from otobot.exchange.filters import fmt

# UserConfig fields whose YAML key differs from the field name.
YAML_KEYS = {
    "order_quote_amount": "order.quote_amount",
    "buy_timeout_s": "timeouts.buy_s",
    "sell_timeout_s": "timeouts.sell_s",
    "volatility_window_s": "volatility.window_s",
    "volatility_max_pct": "volatility.max_move_pct",
}
SKIP = frozenset({"name", "path"})
# Never written to the audit table: only that they changed.
SECRET = ("credentials", "bot_token", "webhook_url")
HIDDEN = "(changed, not shown)"


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A config dataclass as {dotted YAML key: display text}."""
    out: dict[str, str] = {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if not prefix and f.name in SKIP:
                continue
            key = YAML_KEYS.get(f.name, f.name) if not prefix else f"{prefix}.{f.name}"
            inner = getattr(value, f.name)
            if any(s in key for s in SECRET):
                out[key] = "set" if inner is not None else "-"
            elif dataclasses.is_dataclass(inner):
                out.update(flatten(inner, key))
            else:
                out[key] = _text(inner)
        return out
    out[prefix] = _text(value)
    return out


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, Decimal):
        return fmt(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_text(x) for x in v) + "]"
    return str(v)


def user_changes(old: UserConfig, new: UserConfig) -> dict[str, list[str]]:
    """{key: [old, new]} for every key whose value differs; a secret shows as changed, never its value."""
    a, b = flatten(old), flatten(new)
    changes: dict[str, list[str]] = {}
    for key in sorted(a.keys() | b.keys()):
        before, after = a.get(key, "-"), b.get(key, "-")
        if before != after:
            changes[key] = [before, after]
    for key in _secret_changes(old, new):
        changes[key] = [HIDDEN, HIDDEN]
    return changes


def _secret_changes(old: UserConfig, new: UserConfig) -> list[str]:
    """Secrets still set on both sides whose value changed (flatten shows only set or unset)."""
    out = []
    if old.credentials is not None and new.credentials is not None and old.credentials != new.credentials:
        out.append("credentials")
    o, n = old.notify, new.notify
    if o is not None and n is not None:
        if o.telegram and n.telegram and o.telegram.bot_token != n.telegram.bot_token:
            out.append("notify.telegram.bot_token")
        if o.webhook_url and n.webhook_url and o.webhook_url != n.webhook_url:
            out.append("notify.webhook_url")
    return out
