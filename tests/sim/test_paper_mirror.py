"""Paper trading (#25): a simulator whose public side mirrors an upstream (here another simulator with tokens the
default one does not have), whose private side stays its own; the real client talks to both over 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otobot.exchange import protocol as p
from otobot.exchange.errors import MarketHalted
from otobot.exchange.filters import LimitOrder, OtoOrder, pay_amount
from otobot.exchange.rest import AlphaRest
from otobot.sim.config import SimSymbol, default_sim_config
from otobot.sim.matching import SELL
from otobot.sim.mirror import Mirror, start_paper_sim, stop_paper_sim
from otobot.sim.server import Simulator
from otobot.sim.upstream import Listing, PairBook, Upstream, UpstreamError, market_ws_for
from tests.helpers import local_app, wait_for

D = Decimal
ZED = SimSymbol(alpha_id="ALPHA_901", symbol="ZED", name="Zed Token", price=D("1.2345"), tick=D("0.0001"),
                step=D("0.1"), min_qty=D("0.1"), mul_point=2, level_quote=D("50"))
MOON = SimSymbol(alpha_id="ALPHA_902", symbol="MOON", name="Moon Token", price=D("0.0123"), tick=D("0.000001"),
                 step=D("1"), min_qty=D("1"), mul_point=4)
ZED_PAIR = ZED.pair
PRIVATE_PATHS = {p.PLACE_OTO, p.PLACE_ORDER, p.CANCEL_ORDER, p.OPEN_ORDERS, p.ORDER_HISTORY, p.USER_TRADES,
                 p.ALPHA_WALLET, p.WALLET_ASSET, p.USER_VOLUME, p.LISTEN_KEY, p.USER_BASE_INFO}


async def start_upstream(port: int = 0) -> Simulator:
    up = Simulator(replace(default_sim_config(users=1, seed=11), symbols=(ZED, MOON)))
    up.market.paused = True  # the book changes only when a test moves it
    await up.start(port=port)
    return up


@pytest.fixture
async def upstream() -> AsyncIterator[Simulator]:
    up = await start_upstream()
    yield up
    await up.stop()


@pytest.fixture
async def paper(upstream: Simulator) -> AsyncIterator[tuple[Simulator, Mirror]]:
    sim, mirror = await start_paper_sim(default_sim_config(users=3), upstream.rest_url, tokens=("ZED",))
    await wait_for(lambda: mirror.halt_reason() is None, 10, "the mirror's first book")
    yield sim, mirror
    await stop_paper_sim(sim, mirror)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


def client(http: aiohttp.ClientSession, sim: Simulator, user: str = "alice") -> AlphaRest:
    return AlphaRest(http, sim.rest_url, sim.credentials(user), retries=0)


async def same_book(http: aiohttp.ClientSession, paper: Simulator, upstream: Simulator) -> bool:
    a = await AlphaRest(http, paper.rest_url, None).full_depth(ZED_PAIR, 50)
    b = await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 50)
    return a.bids == b.bids and a.asks == b.asks


def limit(side: str, price: str, qty: str) -> LimitOrder:
    pr, q = D(price), D(qty)
    return LimitOrder(side, pr, q, pay_amount(pr, q) if side == "BUY" else q)


async def test_the_paper_simulator_lists_the_upstreams_token_with_its_own_rows(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, _ = paper
    mine = await AlphaRest(http, sim.rest_url, None).token_list()
    assert [(t.symbol, t.alpha_id, t.mul_point) for t in mine] == [("ZED", "ALPHA_901", 2)]
    assert "ALPHA_22USDT" not in sim.exchange.symbols  # none of the simulator's own tokens
    filters = await AlphaRest(http, sim.rest_url, None).exchange_info()
    theirs = {f.symbol: f for f in await AlphaRest(http, upstream.rest_url, None).exchange_info()}
    assert filters == [theirs[ZED_PAIR]]
    assert await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    ticker = await AlphaRest(http, sim.rest_url, None).ticker_price(ZED_PAIR)
    assert ticker == upstream.exchange.last_price[ZED_PAIR]


async def raw_token_rows(http: aiohttp.ClientSession, sim: Simulator) -> dict[str, dict[str, Any]]:
    async with http.get(sim.rest_url + p.TOKEN_LIST) as r:
        return {row["alphaId"]: row for row in p.loads(await r.text())["data"]}


async def test_the_paper_token_list_keeps_the_upstreams_rows_and_their_fully_delisted_flag(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, mirror = paper
    theirs, mine = (await raw_token_rows(http, upstream))["ALPHA_901"], (await raw_token_rows(http, sim))["ALPHA_901"]
    assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}
    assert {k: v for k, v in mine.items() if k != "price"} == {k: v for k, v in theirs.items() if k != "price"}
    # The upstream fully delists ZED (S15); the mirror's refresh takes its row, and paper clients must see it dead.
    upstream.exchange.delisted.add("ALPHA_901")
    row = (await raw_token_rows(http, upstream))["ALPHA_901"]
    assert row["fullyDelisted"] is True and row["offline"] is False
    mirror.listings[ZED_PAIR] = replace(mirror.listings[ZED_PAIR], token_row=row)  # what the 60 s refresh does
    assert (await raw_token_rows(http, sim))["ALPHA_901"]["fullyDelisted"] is True
    [zed] = await AlphaRest(http, sim.rest_url, None).token_list()
    assert not zed.tradable


async def test_a_paper_buy_fills_level_by_level_at_the_upstream_prices(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, _ = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    asks = (await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)).asks
    # Everything on the first two levels and 1.0 of the third, at a limit price reaching the third.
    qty = asks[0][1] + asks[1][1] + D("1.0")
    rest = client(http, sim)
    order_id = await rest.place_limit("ALPHA_901", "USDT", limit("BUY", str(asks[2][0]), str(qty)))
    fills = await rest.user_trades(ZED_PAIR, order_id)
    assert [(f.price, f.qty) for f in fills] == [(asks[0][0], asks[0][1]), (asks[1][0], asks[1][1]),
                                                 (asks[2][0], D("1.0"))]
    fee = sum((f.commission for f in fills), D(0))
    assert fee == qty * D("0.0001") and {f.commission_asset for f in fills} == {"ALPHA_901"}
    free, _ = sim.exchange.balance("alice", "USDT")
    assert free == D(10000) - sum((f.quote_qty for f in fills), D(0))
    # The consumed levels stay consumed until the upstream changes them; the upstream itself is untouched.
    after = (await AlphaRest(http, sim.rest_url, None).full_depth(ZED_PAIR, 10)).asks
    assert after[0] == (asks[2][0], asks[2][1] - D("1.0"))
    assert (await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)).asks == asks
    assert not set(upstream.requests) & PRIVATE_PATHS


async def test_an_oto_buys_on_the_asks_and_its_pending_sell_fills_on_the_bids(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, _ = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    book = await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)
    qty = D("10.0")
    wp = book.asks[0][0]
    placed = await client(http, sim).place_oto("ALPHA_901", "USDT",
                                               OtoOrder(wp, qty, pay_amount(wp, qty), book.bids[2][0]))
    buy = await client(http, sim).user_trades(ZED_PAIR, placed.working_order_id)
    sell = await client(http, sim).user_trades(ZED_PAIR, placed.pending_order_id)
    assert [f.price for f in buy] == [book.asks[0][0]]
    assert [f.price for f in sell] == [book.bids[0][0]]
    assert sum((f.qty for f in sell), D(0)) == D("9.9")  # bought less the 0.01 % base fee, floored to the step
    assert sim.state("alice")["volume"] == {"ALPHA_901": str(pay_amount(wp, qty) * 2)}  # counted × mulPoint 2


async def test_a_resting_paper_order_fills_when_an_upstream_print_reaches_it(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, mirror = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    book = await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)
    inside = book.bids[0][0] + ZED.tick  # inside the spread: rests in the paper book, not upstream
    assert inside < book.asks[0][0]
    rest = client(http, sim, "bob")
    order_id = await rest.place_limit("ALPHA_901", "USDT", limit("BUY", str(inside), "5.0"))
    assert not await rest.user_trades(ZED_PAIR, order_id)
    prints = mirror.prints
    # A seller takes the upstream's best bid: below the paper bid, so that bid would have been hit first.
    upstream.exchange.submit_background(ZED, "taker", SELL, book.bids[0][0], D("3.0"), rest=False)
    await wait_for(lambda: mirror.prints > prints, 5, "the upstream print")
    fills = await rest.user_trades(ZED_PAIR, order_id)
    assert [(f.price, f.qty) for f in fills] == [(inside, D("3.0"))]
    # The market stream carried the upstream's print, never the paper fill.
    last = sim.exchange.recent_trades[ZED_PAIR][-1]
    assert (D(last["p"]), D(last["q"])) == (book.bids[0][0], D("3.0"))


async def test_a_paper_bid_fills_at_its_price_when_the_upstream_asks_move_through_it(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, _ = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    book = await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)
    bid = book.bids[0][0] + ZED.tick
    rest = client(http, sim, "carol")
    order_id = await rest.place_limit("ALPHA_901", "USDT", limit("BUY", str(bid), "2.0"))
    upstream.market.shock(ZED_PAIR, D("-1"))  # the maker requotes 1 % lower: its asks now sit below the paper bid

    async def filled() -> bool:
        return bool(await rest.user_trades(ZED_PAIR, order_id))
    await wait_for(filled, 5, "the paper bid filled")
    assert [(f.price, f.qty) for f in await rest.user_trades(ZED_PAIR, order_id)] == [(bid, D("2.0"))]


async def test_a_depth_gap_resyncs_from_rest(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, mirror = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    snapshots = mirror.upstream.snapshots
    stream = p.full_depth_stream(ZED_PAIR)
    upstream.market.shock(ZED_PAIR, D("0.5"))
    upstream.depth.lose_frame(stream, ZED_PAIR)  # those changes never reach the mirror: the next frame is a gap
    upstream.market.shock(ZED_PAIR, D("0.5"))
    await wait_for(lambda: mirror.upstream.books[ZED_PAIR].gaps == 1, 5, "the gap")
    await wait_for(lambda: mirror.upstream.snapshots > snapshots, 5, "a REST resync")
    assert await wait_for(lambda: same_book(http, sim, upstream), 5, "the book after the resync")


async def test_one_upstream_connection_serves_every_paper_client(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    sim, _ = paper
    sockets = [await http.ws_connect(sim.market_ws_url) for _ in range(4)]
    try:
        for i, ws in enumerate(sockets):
            await ws.send_str(p.dumps({"method": "SUBSCRIBE", "id": i,
                                       "params": [p.agg_trade_stream(ZED_PAIR), p.full_depth_stream(ZED_PAIR)]}))
            await ws.receive(timeout=5)
        upstream.exchange.submit_background(ZED, "taker", SELL, ZED.price / 2, D("1.0"), rest=False)
        for ws in sockets:
            while True:
                frame = p.loads((await ws.receive(timeout=5)).data)
                if frame.get("data", {}).get("e") == "aggTrade":
                    break
        async with http.get(upstream.rest_url + "/_sim/stats") as r:
            stats = p.loads(await r.text())
        assert stats["connections"] == 1  # the mirror's one socket, however many paper clients read
    finally:
        for ws in sockets:
            await ws.close()


async def test_an_upstream_gone_refuses_paper_orders_with_the_reason_and_recovers(
        http: aiohttp.ClientSession) -> None:
    up = await start_upstream()
    port = up.port
    sim, mirror = await start_paper_sim(default_sim_config(users=1), up.rest_url, tokens=("ZED",))
    mirror.halt_grace_s = 0.5
    mirror.upstream.backoff_max_s = 0.5
    try:
        await wait_for(lambda: mirror.halt_reason() is None, 10, "the first book")
        await up.stop()
        await wait_for(lambda: mirror.halt_reason() is not None and "unreachable" in (mirror.halt_reason() or ""),
                       10, "the halt")
        with pytest.raises(MarketHalted) as refused:
            await client(http, sim).place_limit("ALPHA_901", "USDT", limit("BUY", "1.2000", "1.0"))
        assert f"paper market paused: the upstream http://127.0.0.1:{port} is unreachable" in str(refused.value)
        async with http.get(sim.rest_url + "/_sim/upstream") as r:
            status = p.loads(await r.text())
        assert status["up"] is False and "unreachable" in status["halted"]
        up = await start_upstream(port)
        await wait_for(lambda: mirror.halt_reason() is None, 10, "the mirror back")
        await client(http, sim).place_limit("ALPHA_901", "USDT", limit("BUY", "1.2000", "1.0"))
        assert mirror.upstream.reconnects >= 1
    finally:
        await stop_paper_sim(sim, mirror)
        await up.stop()


async def test_the_mirror_sends_no_credentials_and_names_a_missing_token(http: aiohttp.ClientSession) -> None:
    seen: list[dict[str, str]] = []

    async def public(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        data: Any = [] if request.path == p.TOKEN_LIST else {"symbols": []}
        return web.json_response({"code": "000000", "data": data, "success": True})

    app = web.Application()
    app.router.add_get(p.TOKEN_LIST, public)
    app.router.add_get(p.EXCHANGE_INFO, public)
    async with local_app(app) as port:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            session.cookie_jar.update_cookies({"p20t": "must-not-leave"})
            up = Upstream(session, f"http://127.0.0.1:{port}")
            with pytest.raises(UpstreamError, match="lists no tradable USDT pair for NOPE; its tradable tokens: none"):
                await up.discover(("NOPE",))
    assert seen
    for headers in seen:
        assert not {k.lower() for k in headers} & {"cookie", "csrftoken", "clienttype", "x-trace-id"}


def test_the_market_stream_goes_with_the_rest_url() -> None:
    assert market_ws_for("https://www.binance.com") == p.REAL_MARKET_WS_URL
    assert market_ws_for("http://127.0.0.1:9000/") == "ws://127.0.0.1:9000/w3w/wsa/stream"
    with pytest.raises(UpstreamError, match="not an http"):
        market_ws_for("binance.com")


def _update(prev: int, first: int, last: int, bids: Any = (), asks: Any = ()) -> Any:
    from otobot.exchange.book import DepthUpdate
    return DepthUpdate("X", first, last, prev, tuple(bids), tuple(asks), 0)


def test_pair_book_follows_the_continuity_rule() -> None:
    from otobot.exchange.book import DepthSnapshot
    book = PairBook()
    assert book.apply(_update(90, 95, 99, asks=[(D(2), D(1))])) == "buffered"
    assert book.reset(DepthSnapshot("X", 100, ((D(1), D(5)),), ((D(2), D(3)),), 0))
    assert book.asks == {D(2): D(3)}  # the buffered frame was older than the snapshot
    assert book.apply(_update(97, 120, 125, bids=[(D(1), D(0))])) == "applied"  # first after: pu ≤ snapshot id
    assert book.bids == {}
    assert book.apply(_update(124, 130, 131)) == "gap"  # pu must now equal the previous u
    assert not book.synced and book.gaps == 1


async def test_a_crossed_upstream_book_is_mirrored_without_its_crossing_bids() -> None:
    """§7.6: Alpha's aggregated book can be crossed. The mirror leaves out the bids at or above the best ask, so its
    levels never trade with each other, and a paper SELL meets the highest bid below the best ask."""
    sim = Simulator(replace(default_sim_config(users=1), symbols=(replace(ZED, levels=0, trades_per_s=0.0),),
                            market_from="http://upstream.invalid"))
    async with aiohttp.ClientSession() as session:
        upstream = Upstream(session, "http://upstream.invalid")
        upstream.pairs, upstream.books = [ZED_PAIR], {ZED_PAIR: PairBook()}
        mirror = Mirror(sim, upstream, [Listing({}, {}, sim.config.symbols[0])])
        book = PairBook(bids={D("1.2500"): D(5), D("1.2000"): D(5)}, asks={D("1.2200"): D(5), D("1.3000"): D(5)})
        mirror.on_book(ZED_PAIR, book)
        engine = sim.exchange.books[ZED_PAIR]
        assert engine.depth("BUY", 10) == [(D("1.2000"), D(5))]
        assert engine.depth("SELL", 10) == [(D("1.2200"), D(5)), (D("1.3000"), D(5))]  # whole: nothing traded
        book.asks.pop(D("1.2200"))  # the crossing ask goes: the bid at 1.25 is tradable again
        mirror.on_book(ZED_PAIR, book)
        assert engine.depth("BUY", 10) == [(D("1.2500"), D(5)), (D("1.2000"), D(5))]


async def test_a_paper_order_keeps_its_place_in_the_queue_when_the_upstream_level_grows(
        upstream: Simulator, paper: tuple[Simulator, Mirror], http: aiohttp.ClientSession) -> None:
    """Quantity the upstream adds at a price arrives behind the paper order waiting there; the quantity ahead of it
    goes only through prints. So half the level's old size traded does not reach the paper bid, the rest does."""
    sim, mirror = paper
    await wait_for(lambda: same_book(http, sim, upstream), 5, "the mirrored book")
    bid, ahead = (await AlphaRest(http, upstream.rest_url, None).full_depth(ZED_PAIR, 10)).bids[0]
    rest = client(http, sim, "bob")
    order_id = await rest.place_limit("ALPHA_901", "USDT", limit("BUY", str(bid), "1.0"))
    upstream.exchange.submit_background(ZED, "mm2", "BUY", bid, D("30.0"), rest=True)  # another bidder joins
    await wait_for(lambda: mirror.upstream.books[ZED_PAIR].bids.get(bid) == ahead + D("30.0"), 5, "the growth")
    half = (ahead / 2).quantize(ZED.step)
    prints = mirror.prints
    upstream.exchange.submit_background(ZED, "taker", SELL, bid, half, rest=False)
    await wait_for(lambda: mirror.prints > prints, 5, "the first print")
    assert not await rest.user_trades(ZED_PAIR, order_id)  # still behind what was there before it
    upstream.exchange.submit_background(ZED, "taker", SELL, bid, ahead - half + D("1.0"), rest=False)
    await wait_for(lambda: mirror.prints > prints + 1, 5, "the second print")
    assert [(f.price, f.qty) for f in await rest.user_trades(ZED_PAIR, order_id)] == [(bid, D("1.0"))]


def test_reducing_a_resting_order_keeps_its_place_in_the_queue() -> None:
    from otobot.sim.matching import BookOrder, OrderBook
    book = OrderBook()
    book.submit(BookOrder(1, "upstream", "BUY", D("1.0"), D("5")))
    book.submit(BookOrder(2, "paper", "BUY", D("1.0"), D("1")))
    book.reduce(1, D("2"))
    trades = book.submit(BookOrder(3, "print", SELL, D("1.0"), D("2.5")), rest=False)
    assert [(t.maker_id, t.qty) for t in trades] == [(1, D("2")), (2, D("0.5"))]
    book.reduce(2, D("0"))
    assert 2 not in book
