"""The user stream's own heartbeat (issue 24, in place of aiohttp's `heartbeat=`, see test_no_cyclic_garbage): it
pings, answers the server's pings, and reconnects a socket that stops answering."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from otobot.exchange.models import ExecutionReport
from otobot.exchange.streams import UserStream
from tests.helpers import RecordingLog, local_ws, wait_for


async def _noop() -> None:
    return None


async def _ignore(event: ExecutionReport) -> None:
    return None


class Keys:
    """The listen-key call the stream makes before each connection (§3): a new key each time."""

    def __init__(self) -> None:
        self.issued = 0

    async def listen_key(self) -> str:
        self.issued += 1
        return f"key{self.issued:030d}"


class PongingFeed:
    """A user-stream socket that acks the subscription and pings the client once. The first `answering`
    connections answer the client's pings with pongs and are closed by the server after three; the later ones
    answer nothing. It records what the client sent on each."""

    def __init__(self, answering: int) -> None:
        self.answering = answering
        self.connections = 0
        self.seen: list[list[aiohttp.WSMsgType]] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pings and pongs reach this handler as messages
        await ws.prepare(request)
        self.connections += 1
        answer = self.connections <= self.answering
        seen: list[aiohttp.WSMsgType] = []
        self.seen.append(seen)
        sub = await ws.receive_json()
        await ws.send_json({"result": None, "id": sub["id"]})
        await ws.ping(b"are you there")
        async for msg in ws:
            seen.append(msg.type)
            if msg.type is aiohttp.WSMsgType.PING and answer:
                await ws.pong(msg.data)
                if seen.count(aiohttp.WSMsgType.PING) >= 3:  # long enough: the server ends it, cleanly
                    await ws.close()
        return ws


async def test_pings_are_sent_and_answered_and_a_socket_without_pongs_is_reconnected() -> None:
    feed, log, keys = PongingFeed(answering=1), RecordingLog(), Keys()
    async with local_ws("/w3w/stream", feed.handle) as url, aiohttp.ClientSession() as session:
        stream = UserStream(session, url, keys, on_event=_ignore, on_synced=_noop, ping_interval_s=0.3,
                            backoff_max_s=0.1, logger=log, name="alice")
        task = asyncio.create_task(stream.run())
        try:
            # The first connection answers three pings and stays up until the server closes it; the second
            # answers nothing and is closed by the client after two ping intervals, and replaced.
            await wait_for(lambda: feed.connections >= 3, 15, "the silent second socket replaced")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    first, second = feed.seen[0], feed.seen[1]
    assert aiohttp.WSMsgType.PONG in first  # the server's ping answered by the client itself (autoping is off)
    assert first.count(aiohttp.WSMsgType.PING) == 3  # pinged every interval, and not reconnected while answered
    assert second.count(aiohttp.WSMsgType.PING) <= 3  # unanswered: given up two intervals after the last answer
    warnings = [w for w in log.warnings if w.startswith("User stream for alice lost")]
    assert "no pong" not in warnings[0] and "no pong for 0.6 s" in warnings[1], warnings
