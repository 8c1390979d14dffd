"""BookFeed over real websockets: bootstrap, a lost frame, a dropped socket, a quiet market and a silent socket, against
the engine; feeds sharing one DepthCache."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from simkit import KOGE_PAIR, poll

from otobot.exchange import protocol as p
from otobot.exchange.filters import fmt, pay_amount
from otobot.exchange.rest import AlphaRest
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator
from otobot.trading.bookfeed import BookFeed
from otobot.trading.depthcache import DepthCache

D = Decimal


@pytest.fixture
async def feeds(http: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Any]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(sim: Simulator, **kw: Any) -> BookFeed:
        feed = BookFeed(http, sim.market_ws_url, AlphaRest(http, sim.rest_url, None), KOGE_PAIR, **kw)
        tasks.append(asyncio.create_task(feed.run()))
        await poll(lambda: not feed.book.needs_resync, 5, "the first snapshot")
        return feed

    yield start
    for t in tasks:
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


def place_bid(sim: Simulator, price: str, qty: str) -> None:
    """Straight into the engine (no await), so a test can act before the next 100 ms publication."""
    pr, q = D(price), D(qty)
    sim.exchange.place_limit(sim.exchange.accounts["alice"], {
        "baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": BUY, "price": pr, "quantity": q,
        "paymentDetails": [{"amount": fmt(pay_amount(pr, q)), "paymentWalletType": "CARD"}]})


def same_as_engine(feed: BookFeed, sim: Simulator) -> bool:
    engine = sim.exchange.books[KOGE_PAIR]
    return feed.book.bids() == tuple(engine.depth(BUY, 1000)) and feed.book.asks() == tuple(engine.depth(SELL, 1000))


async def test_the_feed_bootstraps_and_follows_the_engine_book(quiet: Simulator, feeds: Callable[..., Any]) -> None:
    feed: BookFeed = await feeds(quiet)
    assert feed.snapshots == 1 and same_as_engine(feed, quiet)
    place_bid(quiet, "47.95", "0.5")
    await poll(lambda: (D("47.95"), D("0.5")) in feed.book.bids(), 5, "the new bid in the local book")
    assert same_as_engine(feed, quiet) and feed.snapshots == 1


async def test_a_lost_frame_is_a_gap_and_the_feed_resyncs_from_rest(quiet: Simulator,
                                                                    feeds: Callable[..., Any]) -> None:
    feed: BookFeed = await feeds(quiet)
    stream = p.full_depth_stream(KOGE_PAIR, p.FULL_DEPTH_100MS)
    place_bid(quiet, "47.95", "0.5")
    quiet.depth.lose_frame(stream, KOGE_PAIR)  # that change is never sent
    place_bid(quiet, "47.93", "0.25")
    await poll(lambda: feed.book.gaps == 1 and feed.snapshots == 2 and not feed.book.needs_resync, 5, "a resync")
    await poll(lambda: same_as_engine(feed, quiet), 5, "the book equal to the engine again")
    assert (D("47.95"), D("0.5")) in feed.book.bids()  # recovered from the snapshot, never seen in a frame


async def test_a_dropped_socket_reconnects_and_resyncs(quiet: Simulator, feeds: Callable[..., Any]) -> None:
    feed: BookFeed = await feeds(quiet, rng=random.Random(1), backoff_max_s=0.2)
    await quiet.drop_ws("market")
    await poll(lambda: feed.reconnects == 1 and feed.snapshots == 2 and not feed.book.needs_resync, 5,
               "reconnect and a fresh snapshot")
    place_bid(quiet, "47.91", "0.1")
    await poll(lambda: same_as_engine(feed, quiet) and (D("47.91"), D("0.1")) in feed.book.bids(), 5, "in sync")


async def test_a_quiet_market_keeps_the_book_fresh_through_rest_confirmations(
        quiet: Simulator, feeds: Callable[..., Any]) -> None:
    feed: BookFeed = await feeds(quiet, quiet_resnapshot_s=0.2)
    first = feed.book.updated_at
    assert first is not None
    await poll(lambda: (feed.book.updated_at or 0) > first + 0.5, 5, "the book confirmed again")
    assert feed.snapshots == 1 and same_as_engine(feed, quiet)  # confirmations, not resets


async def test_feeds_on_one_cache_decode_each_frame_once_and_share_the_applied_book(
        quiet: Simulator, feeds: Callable[..., Any]) -> None:
    cache = DepthCache()
    a: BookFeed = await feeds(quiet, depth_cache=cache)
    b: BookFeed = await feeds(quiet, depth_cache=cache)
    place_bid(quiet, "47.95", "0.5")
    await poll(lambda: all((D("47.95"), D("0.5")) in f.book.bids() for f in (a, b)), 5, "the bid in both books")
    assert same_as_engine(a, quiet) and same_as_engine(b, quiet)
    assert a.book.levels is b.book.levels  # applied once, shown by both


async def test_a_silent_depth_socket_is_detected_and_reconnected(quiet: Simulator, feeds: Callable[..., Any],
                                                                 logs: list[str]) -> None:
    feed: BookFeed = await feeds(quiet, quiet_resnapshot_s=0.2, rng=random.Random(1), backoff_max_s=0.2)
    assert quiet.mute_ws("market") == 1  # open, but no frame reaches the feed any more
    place_bid(quiet, "47.95", "0.5")
    await poll(lambda: feed.silent_closes == 1 and feed.reconnects == 1 and not feed.book.needs_resync, 10,
               "the silent socket closed and replaced")
    assert any("sent nothing while the book changed on REST" in line for line in logs)
    assert (D("47.95"), D("0.5")) in feed.book.bids()  # from REST: no frame ever carried it
    assert any("Book stream" in line and "lost (silent" in line for line in logs)
    frames = feed.frames
    place_bid(quiet, "47.91", "0.1")  # the new socket carries frames again
    await poll(lambda: (D("47.91"), D("0.1")) in feed.book.bids() and feed.frames > frames, 5, "a frame on the new one")
    assert same_as_engine(feed, quiet) and feed.reconnects == 1


async def test_a_quiet_market_is_confirmed_over_rest_and_never_reconnected(
        make_sim: Callable[..., Any], feeds: Callable[..., Any]) -> None:
    # The server pings every 0.1 s; without a client heartbeat those pings are still answered (autoping).
    sim: Simulator = await make_sim(ws_heartbeat_s=0.1)
    feed: BookFeed = await feeds(sim, quiet_resnapshot_s=0.2)
    first = feed.book.updated_at
    assert first is not None
    await poll(lambda: (feed.book.updated_at or 0) > first + 1.0, 10, "a second of REST confirmations")
    assert feed.reconnects == 0 and feed.silent_closes == 0 and feed.snapshots == 1 and feed.connected
    place_bid(sim, "47.95", "0.5")
    await poll(lambda: (D("47.95"), D("0.5")) in feed.book.bids(), 5, "the same socket still delivers")
    assert feed.reconnects == 0
