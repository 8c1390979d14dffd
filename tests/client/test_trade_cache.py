"""A shared TradeCache: bots on one symbol decode each market frame once; a malformed frame is never cached."""

from __future__ import annotations

from decimal import Decimal

import aiohttp

from otobot.exchange.models import AggTrade
from otobot.exchange.streams import MarketStream, TradeCache

FRAME = ('{"stream":"alpha_1usdt@aggTrade","data":{"e":"aggTrade","s":"ALPHA_1USDT","a":7,"p":"1.2345",'
         '"q":"10","T":1700000000000,"m":false}}')


async def test_bots_on_one_symbol_share_one_decode() -> None:
    cache = TradeCache(size=2)
    got: list[list[AggTrade]] = [[], []]
    async with aiohttp.ClientSession() as session:
        streams = [MarketStream(session, "ws://127.0.0.1:9/w3w/wsa/stream", "ALPHA_1USDT", got[i].append,
                                trade_cache=cache) for i in range(2)]
        # The same text read from two sockets (a second copy, so it is not the same str object).
        assert streams[0]._on_text(FRAME) and streams[1]._on_text("".join(list(FRAME)))
    assert got[0][0] is got[1][0]  # one parse served both
    assert got[0][0].price == Decimal("1.2345") and streams[1].last_trade is got[0][0]


async def test_malformed_frames_are_not_cached_and_the_cache_stays_bounded() -> None:
    cache = TradeCache(size=2)
    got: list[AggTrade] = []
    async with aiohttp.ClientSession() as session:
        stream = MarketStream(session, "ws://127.0.0.1:9/w3w/wsa/stream", "ALPHA_1USDT", got.append,
                              trade_cache=cache)
        bad = FRAME.replace('"p":"1.2345"', '"p":"x"')
        assert not stream._on_text(bad) and not stream._on_text(bad)
        assert cache.get(bad) is None and got == []
        for i in range(5):
            assert stream._on_text(FRAME.replace('"a":7', f'"a":{i}'))
    assert [t.agg_id for t in got] == ["0", "1", "2", "3", "4"]
    assert cache.get(FRAME.replace('"a":7', '"a":4')) is got[-1]
    assert cache.get(FRAME.replace('"a":7', '"a":0')) is None  # the oldest went first
