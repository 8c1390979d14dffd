"""The simulator's published book: fullDepth, `@fulldepth` diffs, `@bookTicker`, from the engine (§4.1, §7.6)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from simkit import KOGE_PAIR, Api, capture, poll

from otobot.exchange import protocol as p
from otobot.exchange.book import BookTicker, DepthUpdate
from otobot.exchange.models import AggTrade
from otobot.exchange.rest import AlphaRest
from otobot.sim.config import load_sim_config
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator
from otobot.trading.book import Applied, LocalBook
from otobot.trading.planner import spread_bps

D = Decimal
REPO = Path(__file__).resolve().parents[2]


def kinds(value: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in value.items()}


@dataclass
class MarketReader:
    """A market websocket subscribed to some streams, recording every frame (Decimal-exact)."""

    ws: aiohttp.ClientWebSocketResponse
    frames: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = p.loads(msg.data)
                if "stream" in frame:
                    self.frames.append(frame)

    def of(self, stream: str) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames if f["stream"] == stream]


@pytest.fixture
async def market(http: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Any]]:
    readers: list[MarketReader] = []

    async def open_(sim: Simulator, *streams: str) -> MarketReader:
        ws = await http.ws_connect(sim.market_ws_url)
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": 7}))
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 7}
        reader = MarketReader(ws)
        reader.task = asyncio.create_task(reader._read())
        readers.append(reader)
        return reader

    yield open_
    for r in readers:
        await r.ws.close()
        if r.task is not None:
            r.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await r.task


async def test_full_depth_reply_has_the_captured_shape_and_the_client_reads_both_envelopes(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any]) -> None:
    (captured,) = capture("captures_full_depth.json")
    for envelope in ("capture", "envelope"):
        sim: Simulator = await make_sim(depth_envelope=envelope)
        async with http.get(sim.rest_url + p.FULL_DEPTH, params={"symbol": KOGE_PAIR, "limit": "5"}) as r:
            body = json.loads(await r.text())
        if envelope == "capture":
            assert set(body) == {"data"}  # exactly the §7.6 reply: no code, no success
        else:
            assert set(body) == {"code", "message", "messageDetail", "data", "success"}
        data = body["data"]
        assert list(data) == list(captured["data"]) and kinds(data) == kinds(captured["data"])
        assert all(isinstance(x, str) for level in data["bids"] + data["asks"] for x in level)
        assert len(data["bids"]) == len(data["asks"]) == 5
        snap = await AlphaRest(http, sim.rest_url, None).full_depth(KOGE_PAIR, 5)
        engine = sim.exchange.books[KOGE_PAIR]
        assert snap.bids == tuple(engine.depth(BUY, 5)) and snap.asks == tuple(engine.depth(SELL, 5))
        assert snap.last_update_id == data["lastUpdateId"]


async def test_a_local_book_fed_by_fulldepth_frames_equals_the_engine_book(
        quiet: Simulator, alice: Api, http: aiohttp.ClientSession, market: Callable[..., Any]) -> None:
    stream = p.full_depth_stream(KOGE_PAIR, p.FULL_DEPTH_100MS)
    reader: MarketReader = await market(quiet, stream)
    book = LocalBook(KOGE_PAIR)
    engine = quiet.exchange.books[KOGE_PAIR]
    # Bootstrap as §4.1 says: frames buffered, REST snapshot, then only frames after it.
    await alice.limit(BUY, "47.95", "0.5")  # a new bid level between the maker's levels
    await poll(lambda: reader.of(stream), 5, "a first depth frame")
    for frame in reader.of(stream):
        book.apply(DepthUpdate.parse(frame), 0.0)
    book.reset(await AlphaRest(http, quiet.rest_url, None).full_depth(KOGE_PAIR, 1000), 1.0)
    seen = len(reader.of(stream))
    assert book.bids() == tuple(engine.depth(BUY, 1000)) and (D("47.95"), D("0.5")) in book.bids()

    order_id = (await alice.limit(BUY, "47.93", "0.25"))["data"]
    await alice.cancel(order_id)
    assert (await alice.limit(BUY, str(engine.best(SELL)), "1"))["success"]  # takes part of the best ask
    assert (await alice.limit(SELL, "48.07", "0.3"))["success"]  # a new ask level
    await poll(lambda: any(D(p_) == D("48.07") for f in reader.of(stream)[seen:] for p_, _ in f["a"]), 5,
               "the new ask level in a frame")
    results = [book.apply(DepthUpdate.parse(f), 2.0) for f in reader.of(stream)[seen:]]
    assert Applied.GAP not in results and Applied.APPLIED in results
    assert book.bids() == tuple(engine.depth(BUY, 1000)) and book.asks() == tuple(engine.depth(SELL, 1000))
    assert all(price != D("47.93") for price, _ in book.bids())  # added then removed within the frames
    frames = reader.of(stream)
    # One id sequence: each frame links to the previous one by pu, and U..u never goes backwards.
    for before, after in itertools.pairwise(frames):
        assert after["pu"] == before["u"] and after["U"] > before["u"] and after["u"] >= after["U"]


async def test_depth_frames_have_the_captured_keys_types_and_zero_quantity_removals(
        quiet: Simulator, alice: Api, market: Callable[..., Any]) -> None:
    (captured,) = capture("captures_depth_update.json")
    stream = p.full_depth_stream(KOGE_PAIR, p.FULL_DEPTH_500MS)
    reader: MarketReader = await market(quiet, stream)
    order_id = (await alice.limit(BUY, "47.95", "0.5"))["data"]
    await poll(lambda: reader.of(stream), 5, "a 500 ms depth frame")
    await alice.cancel(order_id)
    await poll(lambda: any(["47.95000000", "0.0000"] in f["b"] for f in reader.of(stream)), 5, "the removal")
    frame = next(f for f in reader.of(stream) if f["b"])
    assert reader.frames[0]["stream"] == "alpha_22usdt@fulldepth@500ms"
    assert list(frame) == list(captured["data"])
    assert kinds(frame) == {k: ("Decimal" if t == "float" else t) for k, t in kinds(captured["data"]).items()}
    assert all(isinstance(x, str) for level in frame["b"] + frame["a"] for x in level)
    assert DepthUpdate.parse(frame).symbol == KOGE_PAIR


async def test_book_ticker_follows_the_engine_top(quiet: Simulator, alice: Api, market: Callable[..., Any]) -> None:
    stream = p.book_ticker_stream(KOGE_PAIR)
    reader: MarketReader = await market(quiet, stream)
    engine = quiet.exchange.books[KOGE_PAIR]
    better = engine.best(BUY) + D("0.001")  # type: ignore[operator]
    await alice.limit(BUY, str(better), "0.2")
    await poll(lambda: any(D(f["b"]) == better for f in reader.of(stream)), 5, "the better bid on bookTicker")
    frame = next(f for f in reader.of(stream) if D(f["b"]) == better)
    assert set(frame) == {"e", "E", "T", "u", "s", "b", "B", "a", "A"} and frame["e"] == "bookTicker"
    ticker = BookTicker.parse(frame)
    assert (ticker.bid_price, ticker.bid_qty, ticker.ask_price) == (better, D("0.2"), engine.best(SELL))
    top = LocalBook(KOGE_PAIR)
    top.set_top(ticker, 1.0)
    assert top.bids() == ((better, D("0.2")),)


async def test_spread_admin_moves_one_tokens_published_spread(quiet: Simulator, http: aiohttp.ClientSession) -> None:
    rest = AlphaRest(http, quiet.rest_url, None)
    aop = "ALPHA_118USDT"
    before = await rest.full_depth(aop, 5)
    assert spread_bps(before.bids, before.asks) < D(6)  # type: ignore[operator]
    async with http.post(quiet.rest_url + "/_sim/spread", json={"symbol": aop, "bps": 40}) as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    after = await rest.full_depth(aop, 5)
    assert D(39) <= spread_bps(after.bids, after.asks) <= D(42)  # type: ignore[operator]
    koge = await rest.full_depth(KOGE_PAIR, 5)
    assert spread_bps(koge.bids, koge.asks) < D(6)  # type: ignore[operator]
    async with http.post(quiet.rest_url + "/_sim/spread", json={"symbol": "NOPE", "bps": 40}) as r:
        assert r.status == 400 and "NOPE" in (await r.json())["error"]


async def test_trades_admin_publishes_captured_shape_trades_to_every_socket_and_trades_nothing(
        quiet: Simulator, http: aiohttp.ClientSession, market: Callable[..., Any]) -> None:
    """The bench's CPU floor reads a cycle's frames this way: real aggTrade frames, no book or balance moved."""
    stream = p.agg_trade_stream(KOGE_PAIR)
    readers = [await market(quiet, stream) for _ in range(3)]
    book_before = quiet.exchange.books[KOGE_PAIR].depth(BUY, 20), quiet.exchange.books[KOGE_PAIR].depth(SELL, 20)
    async with http.post(quiet.rest_url + "/_sim/trades", json={"symbol": KOGE_PAIR, "n": 4}) as r:
        assert r.status == 200 and (await r.json()) == {"ok": True, "published": 4}
    await poll(lambda: all(len(x.of(stream)) == 4 for x in readers))
    captured = capture("captures_agg_trade.jsonl")[0]["data"]
    for reader in readers:
        trades = reader.of(stream)
        assert len(trades) == 4
        for t in trades:
            assert set(t) == set(captured) and kinds(t) == {k: kinds(captured)[k] for k in t}
        assert len({t["a"] for t in trades}) == 4  # each its own aggregate id
        assert {AggTrade.parse(t).price for t in trades} == {quiet.exchange.last_price[KOGE_PAIR]}
    assert (quiet.exchange.books[KOGE_PAIR].depth(BUY, 20), quiet.exchange.books[KOGE_PAIR].depth(SELL, 20)) \
        == book_before
    for bad in ({"symbol": "NOPE", "n": 1}, {"symbol": KOGE_PAIR, "n": 5000}, {"symbol": KOGE_PAIR, "n": "x"}):
        async with http.post(quiet.rest_url + "/_sim/trades", json=bad) as r:
            assert r.status == 400 and "symbols" in (await r.json())["error"]


async def test_crossed_book_setting_publishes_crossed_books_the_engine_never_has(
        make_sim: Callable[..., Any], http: aiohttp.ClientSession) -> None:
    sim: Simulator = await make_sim(crossed_book_p=1.0)  # the phantom bid toggles on every observation
    rest = AlphaRest(http, sim.rest_url, None)
    snaps = [await rest.full_depth(KOGE_PAIR, 20) for _ in range(4)]
    crossed = [s for s in snaps if s.bids[0][0] > s.asks[0][0]]
    assert crossed and len(crossed) < len(snaps)
    assert not sim.exchange.books[KOGE_PAIR].crossed()
    book = LocalBook(KOGE_PAIR)
    book.reset(crossed[0], 0.0)
    assert book.crossed() and book.best_bid() == crossed[0].bids[0][0]


def test_the_varied_token_preset_differs_in_spread_depth_and_multiplier() -> None:
    cfg = load_sim_config(REPO / "config" / "sim-varied.yaml")
    by = {s.symbol: s for s in cfg.symbols}
    assert {s.mul_point for s in cfg.symbols} == {1, 2, 4}
    assert by["KOGE"].spread_bps < by["AOP"].spread_bps and by["AOP"].level_quote < by["KOGE"].level_quote


async def test_a_scheduled_spread_move_widens_the_book_during_the_run(tmp_path: Path,
                                                                     http: aiohttp.ClientSession) -> None:
    (tmp_path / "sim.yaml").write_text("options:\n  tick_interval_s: 0.05\n  spread_moves:\n"
                                       "    - {after_s: 1.0, symbol: ALPHA_118USDT, bps: 30}\n")
    cfg = load_sim_config(tmp_path / "sim.yaml")
    assert cfg.spread_moves == ((1.0, "ALPHA_118USDT", D(30)),)
    sim = Simulator(cfg)
    await sim.start()
    try:
        rest = AlphaRest(http, sim.rest_url, None)
        first = await rest.full_depth("ALPHA_118USDT", 5)
        assert spread_bps(first.bids, first.asks) < D(6)  # type: ignore[operator]

        async def wide() -> bool:
            s = await rest.full_depth("ALPHA_118USDT", 5)
            return D(29) <= spread_bps(s.bids, s.asks) <= D(32)  # type: ignore[operator]

        deadline = asyncio.get_running_loop().time() + 10
        while not await wide():
            assert asyncio.get_running_loop().time() < deadline, "the spread never moved"
            await asyncio.sleep(0.05)
        assert sim.market.elapsed_s >= 1.0
    finally:
        await sim.stop()
