"""A market socket without aiohttp's per-message heartbeat (issue 12) still answers the server's pings, sends
none of its own, and is closed and reconnected by its watchdog when the feed goes silent; read in batches, it
still delivers every trade in order; real websockets."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import pytest
from aiohttp import web

from otobot.exchange.models import AggTrade
from otobot.exchange.streams import MarketStream
from tests.helpers import RecordingLog, local_ws, wait_for

TRADE = ('{"stream":"alpha_1usdt@aggTrade","data":{"e":"aggTrade","s":"ALPHA_1USDT","a":%d,"p":"1.5",'
         '"q":"2","T":1700000000000,"m":false}}')


class SilentFeed:
    """A market websocket that acks the subscription, sends `trades` trades and a ping, then says nothing."""

    def __init__(self, trades: int, spacing_s: float = 0.0) -> None:
        self.trades = trades
        self.spacing_s = spacing_s  # the feed's pace between trades
        self.connections = 0
        self.seen: list[list[aiohttp.WSMsgType]] = []  # per connection: what the client sent after subscribing
        self.close_codes: list[int | None] = []  # per connection that ended: the code the client closed with

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # so the client's pongs and pings reach us as messages
        await ws.prepare(request)
        self.connections += 1
        seen: list[aiohttp.WSMsgType] = []
        self.seen.append(seen)
        await ws.receive()  # SUBSCRIBE
        await ws.send_str('{"result":null,"id":1}')
        for i in range(self.trades):
            await ws.send_str(TRADE % i)
            if self.spacing_s:
                await asyncio.sleep(self.spacing_s)
        await ws.ping(b"still there?")
        async for msg in ws:  # until the client closes
            seen.append(msg.type)
        self.close_codes.append(ws.close_code)
        return ws


@pytest.mark.parametrize("read_every_s", [0.0, 0.1])
async def test_a_silent_market_socket_is_closed_and_reconnected_and_pings_are_answered(read_every_s: float) -> None:
    feed, log, trades = SilentFeed(trades=3), RecordingLog(), []

    def on_trade(trade: AggTrade) -> None:
        trades.append(trade)

    async with local_ws("/w3w/wsa/stream", feed.handle) as url, aiohttp.ClientSession() as session:
        # A heartbeat at 0.2 s would ping several times within the 1 s of silence before the watchdog acts.
        stream = MarketStream(session, url, "ALPHA_1USDT", on_trade, ping_interval_s=0.2, stale_after_s=1.0,
                              backoff_max_s=0.1, logger=log, read_every_s=read_every_s)
        task = asyncio.create_task(stream.run())
        try:
            await wait_for(lambda: feed.connections >= 2 and feed.close_codes and stream.frames >= 8, 15,
                           "a second connection served")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [t.agg_id for t in trades[:3]] == ["0", "1", "2"]
    assert stream.reconnects >= 1
    assert any("Market stream alpha_1usdt@aggTrade lost (no message for 1 s)" in w for w in log.warnings), log.warnings
    first = feed.seen[0]
    assert first[0] == aiohttp.WSMsgType.PONG  # autoping answered the server's ping
    assert aiohttp.WSMsgType.PING not in first  # and the client sent no heartbeat pings of its own
    assert feed.close_codes[0] == aiohttp.WSCloseCode.OK  # the watchdog closed the socket with a close frame


async def test_a_socket_read_in_batches_delivers_every_trade_in_order_a_batch_at_a_time() -> None:
    feed, arrivals = SilentFeed(trades=40, spacing_s=0.01), []

    def on_trade(trade: AggTrade) -> None:
        arrivals.append((asyncio.get_running_loop().time(), trade.agg_id))

    async with local_ws("/w3w/wsa/stream", feed.handle) as url, aiohttp.ClientSession() as session:
        stream = MarketStream(session, url, "ALPHA_1USDT", on_trade, stale_after_s=30.0, logger=RecordingLog(),
                              read_every_s=0.15)
        task = asyncio.create_task(stream.run())
        try:
            await wait_for(lambda: len(arrivals) >= 40, 15, "every trade delivered")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [agg_id for _, agg_id in arrivals] == [str(i) for i in range(40)]
    # Trades read together are handed over back to back; a new batch starts after a pause of about read_every_s.
    batches = 1 + sum(later - earlier > 0.05 for (earlier, _), (later, _) in itertools.pairwise(arrivals))
    assert 2 <= batches <= 20  # 40 trades 10 ms apart: a handful of batches, never one read per trade
