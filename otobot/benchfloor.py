"""The bench's floor: a bare aiohttp client (a websocket read, a POST) against the same simulator, same pacing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from types import SimpleNamespace

import aiohttp

from otobot.exchange import protocol as p

# The floor's reaction POSTs this no-op admin call (an empty body changes no fault setting): a cheap request the
# simulator answers through the same aiohttp server, so the floor is loopback + framing + one event-loop turn.
FLOOR_PATH = "/_sim/faults"


async def _user(session: aiohttp.ClientSession, base: str, pair: str, pause: float, end: float,
                latencies: list[float], started: asyncio.Event) -> int:
    """One simulated user: read trade frames; after each pause, the next frame read triggers one POST."""
    reactions = 0
    async with session.ws_connect(f"ws://{base}/w3w/wsa/stream", heartbeat=None) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": [p.agg_trade_stream(pair)], "id": 1})
        started.set()
        ready_at = 0.0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            try:
                msg = await asyncio.wait_for(ws.receive(), end - now)
            except TimeoutError:
                break
            read = time.monotonic()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            if read < ready_at or '"aggTrade"' not in msg.data:
                continue
            # Frame read → request headers written to the socket (a trace hook): a floor a client cannot beat.
            async with session.post(f"http://{base}{FLOOR_PATH}", data=b"{}",
                                    trace_request_ctx={"read": read, "out": latencies}) as r:
                await r.read()
            reactions += 1
            ready_at = time.monotonic() + pause
    return reactions


async def _on_sent(session: aiohttp.ClientSession, ctx: SimpleNamespace,
                   params: aiohttp.TraceRequestHeadersSentParams) -> None:
    req = ctx.trace_request_ctx
    if req is not None:
        req["out"].append(time.monotonic() - req["read"])


async def measure(port: int, pairs: Sequence[str], pause: float, duration: float) -> dict[str, float | int]:
    """Run len(pairs) users (one connection each, user i on pairs[i]) for `duration` s; latency percentiles in ms.

    The users run on this process's loop, serialising behind each other as the daemon's bots would."""
    base = f"127.0.0.1:{port}"
    latencies: list[float] = []
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_sent)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        events = [asyncio.Event() for _ in pairs]
        end = time.monotonic() + duration + 30.0  # replaced below once every user is subscribed
        tasks = [asyncio.create_task(_user(session, base, pair, pause, end, latencies, ev))
                 for pair, ev in zip(pairs, events, strict=True)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 30)
        latencies.clear()  # connection set-up is not steady state
        t0 = time.monotonic()
        await asyncio.sleep(duration)
        cut = len(latencies)
        elapsed = time.monotonic() - t0
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    del results
    lat_ms = sorted(x * 1000 for x in latencies[:cut])

    def pct(q: float) -> float:
        return round(lat_ms[min(len(lat_ms) - 1, int(q * len(lat_ms)))], 3) if lat_ms else float("nan")

    return {"floor_n": len(lat_ms), "floor_p50_ms": pct(0.5), "floor_p99_ms": pct(0.99),
            "floor_reactions_per_s": round(len(lat_ms) / elapsed, 2) if elapsed > 0 else 0.0}
