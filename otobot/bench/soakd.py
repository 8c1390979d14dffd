"""The soak bench's daemon process: `otobot run` itself, plus a JSON line of samples appended to a file every interval.

`python -m otobot.bench.soakd CONFIG SAMPLES EVERY_S` runs the daemon exactly as `otobot run` does (control socket,
retention, daily summary, frozen startup heap); the only addition is a task that appends, every EVERY_S seconds,
the cycles completed so far and the reaction times since the last line. RSS is read by the harness from /proc, so
nothing the harness keeps is counted. With OTOBOT_SOAK_TRACE=1 each line also carries the allocation sites that
grew most since the first line (tracemalloc) and the object types whose counts grew most: how the bounds were found.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from otobot.daemon import eventloop
from otobot.daemon.run import run_daemon
from otobot.daemon.supervisor import Supervisor

TRACE_ENV = "OTOBOT_SOAK_TRACE"
TRACE_BASE_ENV = "OTOBOT_SOAK_TRACE_BASE"  # which line is the baseline (default the first): later, past warm-up
# Cyclic garbage (objects only a full collection frees) counted by type at every line: with the daemon's rare full
# collections (daemon/run.py GC_THRESHOLDS) it piles up between them and lifts the RSS in steps.
GARBAGE_ENV = "OTOBOT_SOAK_GARBAGE"
TOP = 15  # growth lines kept per sample in trace mode


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


class _Sampler:
    def __init__(self, sup: Supervisor, path: Path, every_s: float, trace: bool, garbage: bool = False) -> None:
        self.sup = sup
        self.garbage = garbage
        self.path = path
        self.every_s = every_s
        self.trace = trace
        self.cycles: dict[str, int] = {}  # per user: completed cycles counted so far (a restarted bot starts at 0)
        self.last_count: dict[str, int] = {}
        # Per user: the reaction deque last read and how long it was then. The deque is read, never cleared, so
        # the daemon's memory holds exactly what it would without the sampler.
        self.seen: dict[str, tuple[int, int]] = {}
        self.base: tracemalloc.Snapshot | None = None
        self.base_types: collections.Counter[str] | None = None
        self.lines = 0
        self.base_line = int(os.environ.get(TRACE_BASE_ENV, "1"))

    def _take(self) -> dict[str, Any]:
        lat: list[float] = []
        for name, slot in self.sup.slots.items():
            bot = slot.bot
            if bot is None:
                continue
            now = bot.cycles_completed
            before = self.last_count.get(name, 0)
            self.cycles[name] = self.cycles.get(name, 0) + (now - before if now >= before else now)
            self.last_count[name] = now
            lat.extend(self._new_reactions(name, bot.latencies))
        ms = [x * 1000 for x in lat]
        line: dict[str, Any] = {"t": time.time(), "cycles": sum(self.cycles.values()),
                                "reaction_ms": {"n": len(ms), "p50": _pct(ms, 0.5), "p99": _pct(ms, 0.99)},
                                "gc_objects": len(gc.get_objects()) if self.trace else None}
        if self.trace:
            line.update(self._growth())
        if self.garbage:
            line["garbage"] = self._garbage()
        return line

    @staticmethod
    def _garbage() -> dict[str, Any]:
        """What a full collection finds unreachable now (gc.DEBUG_SAVEALL keeps it for counting), by type."""
        found = gc.collect()
        types = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        frames = collections.Counter(f"{o.f_code.co_filename.rsplit('/', 2)[-1]}:{o.f_code.co_name}"
                                     for o in gc.garbage if type(o).__name__ == "frame")
        gc.garbage.clear()
        return {"objects": found, "types": dict(types.most_common(TOP)), "frames": dict(frames.most_common(TOP))}

    def _new_reactions(self, name: str, latencies: collections.deque[float]) -> list[float]:
        """The reactions appended since the last line; once the deque is full (it drops its oldest), all it holds."""
        ident, before = self.seen.get(name, (0, 0))
        self.seen[name] = (id(latencies), len(latencies))
        if ident == id(latencies) and len(latencies) < (latencies.maxlen or 0) and before <= len(latencies):
            return list(itertools.islice(latencies, before, None))
        return list(latencies)

    def _growth(self) -> dict[str, Any]:
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        types = collections.Counter(type(o).__name__ for o in gc.get_objects())
        self.lines += 1
        if self.base is None or self.base_types is None or self.lines <= self.base_line:
            self.base, self.base_types = snap, types  # the baseline: after the warm-up lines (OTOBOT_SOAK_TRACE_BASE)
            return {}
        stats = snap.compare_to(self.base, "lineno")
        grew = [{"where": str(s.traceback[0]), "kb": round(s.size_diff / 1024, 1), "count": s.count_diff}
                for s in stats[:TOP]]
        base_types = self.base_types
        by_type = sorted(((n, c - base_types.get(n, 0)) for n, c in types.items()), key=lambda x: -x[1])[:TOP]
        return {"grew": grew, "types_grew": dict(by_type)}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            line = self._take()
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")


def main(argv: list[str]) -> int:
    config, samples, every_s = Path(argv[0]), Path(argv[1]), float(argv[2])
    trace = os.environ.get(TRACE_ENV, "") not in ("", "0")
    garbage = os.environ.get(GARBAGE_ENV, "") not in ("", "0")
    if trace:
        tracemalloc.start(int(os.environ[TRACE_ENV]) if os.environ[TRACE_ENV].isdigit() else 1)
    tasks: set[asyncio.Task[None]] = set()

    def started(sup: Supervisor) -> None:
        if garbage:
            gc.set_debug(gc.DEBUG_SAVEALL)
        task = asyncio.create_task(_Sampler(sup, samples, every_s, trace, garbage).run(), name="soak-sampler")
        tasks.add(task)  # held here: the loop keeps only a weak reference to a task

    return eventloop.run(run_daemon(config, started=started), os.environ)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
