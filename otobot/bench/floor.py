"""The bench's floors: a bare aiohttp client (a websocket read, a POST) against the same simulator, same pacing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp

from otobot.exchange import protocol as p

# The latency floor's reaction POSTs this no-op admin call (an empty body changes no fault setting): a cheap request
# the simulator answers through the same aiohttp server, so the floor is loopback + framing + one event-loop turn.
FLOOR_PATH = "/_sim/faults"
# The CPU floor's reaction asks the simulator to publish trades on the client's symbol (nothing is traded), so the
# bare clients read as many frames per cycle as the daemon's bots did: a socket per user means every trade of a
# symbol reaches every socket on it, the cost that grows with the square of the users per symbol.
TRADES_PATH = "/_sim/trades"

Body = Callable[[], bytes]


@dataclass
class _Run:
    latencies: list[float] = field(default_factory=list)  # frame read → request headers written, one per reaction
    frames: int = 0  # text frames read by every client together


async def _user(session: aiohttp.ClientSession, base: str, pair: str, pause: float, run: _Run,
                started: asyncio.Event, path: str, body: Body) -> None:
    """One simulated user: read trade frames; after each pause, the next frame read triggers one POST. Runs until
    cancelled: no timeout per frame, which would cost the floor CPU that the daemon's streams do not spend."""
    async with session.ws_connect(f"ws://{base}/w3w/wsa/stream", heartbeat=None) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": [p.agg_trade_stream(pair)], "id": 1})
        started.set()
        ready_at = 0.0
        while True:
            msg = await ws.receive()
            read = time.monotonic()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            run.frames += 1
            if read < ready_at or '"aggTrade"' not in msg.data:
                continue
            # Frame read → request headers written to the socket (a trace hook): a floor a client cannot beat.
            async with session.post(f"http://{base}{path}", data=body(),
                                    trace_request_ctx={"read": read, "out": run.latencies}) as r:
                await r.read()
            ready_at = time.monotonic() + pause


async def _on_sent(session: aiohttp.ClientSession, ctx: SimpleNamespace,
                   params: aiohttp.TraceRequestHeadersSentParams) -> None:
    req = ctx.trace_request_ctx
    if req is not None:
        req["out"].append(time.monotonic() - req["read"])


async def _run(port: int, pairs: Sequence[str], pause: float, duration: float, path: str,
               bodies: Sequence[Body]) -> tuple[list[float], int, float, float]:
    """len(pairs) users for `duration` s once all are subscribed: (latencies s, frames read, elapsed s, CPU s)."""
    base = f"127.0.0.1:{port}"
    run = _Run()
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_sent)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        events = [asyncio.Event() for _ in pairs]
        tasks = [asyncio.create_task(_user(session, base, pair, pause, run, ev, path, body))
                 for pair, ev, body in zip(pairs, events, bodies, strict=True)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 30)
        run.latencies.clear()  # connection set-up is not steady state
        frames0, cpu0, t0 = run.frames, time.process_time(), time.monotonic()
        await asyncio.sleep(duration)
        cut, frames, cpu = len(run.latencies), run.frames - frames0, time.process_time() - cpu0
        elapsed = time.monotonic() - t0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return run.latencies[:cut], frames, elapsed, cpu


async def measure(port: int, pairs: Sequence[str], pause: float, duration: float) -> dict[str, float | int]:
    """Run len(pairs) users (one connection each, user i on pairs[i]) for `duration` s; latency percentiles in ms.

    The users run on this process's loop, serialising behind each other as the daemon's bots would."""
    latencies, frames, elapsed, _ = await _run(port, pairs, pause, duration, FLOOR_PATH,
                                               [lambda: b"{}"] * len(pairs))
    lat_ms = sorted(x * 1000 for x in latencies)

    def pct(q: float) -> float:
        return round(lat_ms[min(len(lat_ms) - 1, int(q * len(lat_ms)))], 3) if lat_ms else float("nan")

    return {"floor_n": len(lat_ms), "floor_p50_ms": pct(0.5), "floor_p99_ms": pct(0.99),
            "floor_reactions_per_s": round(len(lat_ms) / elapsed, 2) if elapsed > 0 else 0.0,
            # Its POSTs trade nothing, so these are the market's own trades: the CPU floor adds only the rest.
            "floor_frames_per_s": round(frames / elapsed, 1) if elapsed > 0 else 0.0}


def trades_body(pair: str, per_reaction: float) -> Body:
    """The CPU floor's POST body: `per_reaction` trades on average (a running remainder keeps the mean exact when
    it is not a whole number, e.g. 77 frames per cycle over 33 sockets on a symbol)."""
    owed = 0.0

    def body() -> bytes:
        nonlocal owed
        owed += per_reaction
        n = int(owed)
        owed -= n
        return p.dumps({"symbol": pair, "n": n}).encode()

    return body


async def measure_cpu(port: int, pairs: Sequence[str], pause: float, duration: float,
                      frames_per_cycle: float) -> dict[str, float | int]:
    """The CPU a bare client spends on one cycle's traffic: the same users, sockets and pacing, one POST per cycle,
    and `frames_per_cycle` websocket frames read per cycle (what the daemon read in the same run). The clients run
    on this process's loop after the daemon has stopped, so this process's CPU time is theirs."""
    per_pair = Counter(pairs)
    bodies = [trades_body(pair, frames_per_cycle / per_pair[pair]) for pair in pairs]
    latencies, frames, _, cpu = await _run(port, pairs, pause, duration, TRADES_PATH, bodies)
    cycles = len(latencies)
    return {"floor_cpu_cycles": cycles,
            "floor_cpu_ms_per_cycle": round(cpu * 1000 / cycles, 3) if cycles else float("nan"),
            "floor_cpu_frames_per_cycle": round(frames / cycles, 1) if cycles else float("nan")}
