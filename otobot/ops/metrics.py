"""A tiny Prometheus registry: counters, gauges and sum/count summaries with labels, rendered as text exposition."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

PREFIX = "otobot_"

# Metric values are floats: this is telemetry for Prometheus, never an input to a decision. Money stays
# Decimal everywhere else; volume_quote and loss_quote are exported as float only because Prometheus has no other type.
DECLARED: dict[str, tuple[str, str]] = {
    "orders_placed_total": ("counter", "Orders placed on the exchange, by user."),
    "orders_failed_total": ("counter", "Order place requests that failed, by user and reason."),
    "fills_total": ("counter", "Fills recorded, by user."),
    "cycle_seconds": ("summary", "Duration of completed OTO cycles."),
    "ws_reconnects_total": ("counter", "Websocket reconnects, by user and stream."),
    "rest_latency_seconds": ("summary", "Latency of REST requests to the exchange, by path."),
    "rest_requests_total": ("counter", "REST requests to the exchange, by user, path and outcome (ok or the error)."),
    "ws_frame_delay_seconds": ("summary", "Websocket frame delay: local receive time minus the event time, by "
                                          "user and stream."),
    "bot_restarts_total": ("counter", "Bot crashes restarted by the supervisor, by user."),
    "volume_quote": ("gauge", "Today's traded volume in the quote asset (float export of a Decimal), by user."),
    "loss_quote": ("gauge", "Today's loss in the quote asset: bought - sold + fees, unsold base counted until sold "
                            "(float export of a Decimal), by user; set as each cycle closes."),
}

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

LabelKey = tuple[tuple[str, str], ...]
# Bound: label sets per metric. Labels are users, REST paths and error class names, a few hundred at most; past
# this a new set is counted under {overflow="true"}, so a label that turned out unbounded cannot grow the daemon.
MAX_SERIES = 10_000
OVERFLOW: LabelKey = (("overflow", "true"),)


@dataclass
class _Family:
    kind: str  # counter | gauge | summary
    help: str
    values: dict[LabelKey, float] = field(default_factory=dict)  # the value, or a summary's sum
    counts: dict[LabelKey, int] = field(default_factory=dict)  # a summary's count


class Metrics:
    """`inc`/`set`/`observe` by name and labels; a name not in DECLARED is registered on first use."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        family, key = self._slot(name, "counter", labels)
        family.values[key] = family.values.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        family, key = self._slot(name, "gauge", labels)
        family.values[key] = float(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """One sample (seconds, for the *_seconds summaries) into a sum/count summary."""
        family, key = self._slot(name, "summary", labels)
        family.values[key] = family.values.get(key, 0.0) + value
        family.counts[key] = family.counts.get(key, 0) + 1

    def get(self, name: str, **labels: str) -> float:
        """A counter's or gauge's value, a summary's sum; 0.0 when never touched."""
        family = self._families.get(name)
        return family.values.get(_key(labels), 0.0) if family else 0.0

    def count(self, name: str, **labels: str) -> int:
        family = self._families.get(name)
        return family.counts.get(_key(labels), 0) if family else 0

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        for name in sorted(self._families):
            family = self._families[name]
            full = PREFIX + name
            lines += [f"# HELP {full} {_escape_help(family.help)}", f"# TYPE {full} {family.kind}"]
            for key, value in sorted(family.values.items()):
                if family.kind == "summary":
                    lines.append(f"{full}_sum{_labels(key)} {_number(value)}")
                    lines.append(f"{full}_count{_labels(key)} {family.counts.get(key, 0)}")
                else:
                    lines.append(f"{full}{_labels(key)} {_number(value)}")
        return "\n".join(lines) + "\n" if lines else ""

    def _slot(self, name: str, kind: str, labels: dict[str, str]) -> tuple[_Family, LabelKey]:
        family = self._families.get(name)
        if family is None:
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid Prometheus metric name")
            declared_kind, text = DECLARED.get(name, (kind, name.replace("_", " ")))
            family = self._families[name] = _Family(declared_kind, text)
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a valid Prometheus label name (metric {name})")
        key = _key(labels)
        if key not in family.values and len(family.values) >= MAX_SERIES:
            return family, OVERFLOW
        return family, key


def _key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _labels(key: LabelKey) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{_escape_value(v)}"' for k, v in key) + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
