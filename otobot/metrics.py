"""A tiny Prometheus registry: counters, gauges and sum/count summaries with labels, rendered as text."""

from __future__ import annotations

from collections import defaultdict

# Metrics are floats: they are telemetry for Prometheus, never used for money decisions.
HELP = {
    "orders_placed_total": ("counter", "OTO orders placed"),
    "orders_failed_total": ("counter", "order place requests that failed, by reason"),
    "fills_total": ("counter", "fills recorded"),
    "ws_reconnects_total": ("counter", "websocket reconnects"),
    "bot_restarts_total": ("counter", "bot crashes restarted by the supervisor"),
    "volume_quote": ("gauge", "today's buy volume in quote"),
    "rest_latency_seconds": ("summary", "REST request latency"),
    "cycle_seconds": ("summary", "cycle duration"),
}


class Metrics:
    def __init__(self) -> None:
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._counts: dict[str, dict[tuple[tuple[str, str], ...], int]] = defaultdict(dict)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self._values[name][key] = self._values[name].get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self._values[name][key] = self._values[name].get(key, 0.0) + value
        self._counts[name][key] = self._counts[name].get(key, 0) + 1

    def get(self, name: str, **labels: str) -> float:
        return self._values[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._values):
            kind, text = HELP.get(name, ("untyped", name))
            lines += [f"# HELP otobot_{name} {text}", f"# TYPE otobot_{name} {kind}"]
            for key, value in sorted(self._values[name].items()):
                if kind == "summary":
                    lines.append(f"otobot_{name}_sum{_labels(key)} {value}")
                    lines.append(f"otobot_{name}_count{_labels(key)} {self._counts[name].get(key, 0)}")
                else:
                    lines.append(f"otobot_{name}{_labels(key)} {value}")
        return "\n".join(lines) + "\n"


def _labels(key: tuple[tuple[str, str], ...]) -> str:
    if not key:
        return ""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in key)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(key, escaped, strict=True)) + "}"
