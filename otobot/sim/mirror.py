"""Paper trading: the simulator's public side mirrored from an upstream exchange, its private side its own.

The upstream's book levels rest in the simulator's matching engine as orders of the owner "upstream" (no account,
no events), so a paper order matches them as a taker would: level by level at the upstream's prices, with the
simulator's fees (§6.4). A level a paper order consumed stays consumed until the upstream changes that level. A
paper order that rests is reached by the upstream's prints: each print is replayed as an immediate-or-cancel order
at its price, side and quantity, so price-time priority decides whether the paper order fills (a print below a
paper bid fills it at the bid). Paper fills are never published: the market streams carry the upstream's prints
only, so paper users never move each other's prices. Crossed upstream books (§7.6) are made tradable by leaving
out the bids at or above the best ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
from loguru import logger

from otobot.exchange import protocol as p
from otobot.exchange.models import AggTrade
from otobot.sim.config import SimConfig
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator
from otobot.sim.upstream import Listing, PairBook, Upstream

UPSTREAM = "upstream"  # owner of the mirrored levels in the matching engine
PRINT = "print"  # owner of the replayed upstream prints
TICKER_MAX_AGE_S = 2.0  # the ticker is read from the upstream at most this often per pair
TOKENS_MAX_AGE_S = 60.0
HALT_GRACE_S = 5.0  # a reconnect shorter than this keeps orders matching against the last mirrored book
RECENT_MAX = 1500


class Mirror:
    """Keeps a Simulator's books and prints in step with an Upstream, and answers its public endpoints."""

    def __init__(self, sim: Simulator, upstream: Upstream, listings: list[Listing], *,
                 halt_grace_s: float = HALT_GRACE_S) -> None:
        self.sim = sim
        self.exchange = sim.exchange
        self.upstream = upstream
        self.listings = {x.sim.pair: x for x in listings}
        self.halt_grace_s = halt_grace_s
        # pair → side → price → (the upstream's quantity there, the mirror's orders at it, oldest first)
        self._quoted: dict[str, dict[str, dict[Decimal, tuple[Decimal, list[int]]]]] = {
            pair: {BUY: {}, SELL: {}} for pair in self.listings}
        self._tickers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._tokens_at = time.monotonic()
        self._down_since: float | None = time.monotonic()  # not up until every book is synced
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.owned_session: aiohttp.ClientSession | None = None  # closed by `stop` (start_paper_sim made it)
        self.prints = 0
        upstream.on_book = self.on_book
        upstream.on_trade = self.on_trade
        upstream.on_state = self.on_state
        sim.public_side = self
        self.exchange.halted = self.halt_reason

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Seed REST agg-trades with the upstream's latest prints, then follow the upstream."""
        for pair in self.listings:
            with contextlib.suppress(Exception):
                rows = await self.upstream.recent_prints(pair)
                self.exchange.recent_trades[pair] = [{"e": "aggTrade", "E": r.get("T"), "s": pair, **r}
                                                     for r in rows]
                if rows:
                    self.exchange.last_price[pair] = Decimal(str(rows[-1]["p"]))
        self._task = asyncio.create_task(self.upstream.run(), name="paper-upstream")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        if self.owned_session is not None:
            await self.owned_session.close()
            self.owned_session = None

    # ------------------------------------------------------------ upstream → simulator

    def on_book(self, pair: str, book: PairBook) -> None:
        """Bring every changed level to the upstream's quantity. Removals and shrinks first, then growth (asks,
        then bids below the best ask): mirrored levels never cross each other, so a match that happens here is
        always a paper order the book moved through.

        Queue places are kept as on the exchange: a level that grows gets the new quantity behind the paper orders
        already waiting there (it arrived after them); one that shrinks loses it from its newest part, so the
        quantity ahead of a paper order goes only through prints (replayed in `on_trade`)."""
        sym = self.exchange.symbols[pair]
        engine = self.exchange.books[pair]
        quoted = self._quoted[pair]
        best_ask = min(book.asks) if book.asks else None
        targets = {SELL: book.asks,
                   BUY: book.bids if best_ask is None or max(book.bids, default=best_ask) < best_ask
                   else {px: q for px, q in book.bids.items() if px < best_ask}}
        grow: list[tuple[str, Decimal, Decimal]] = []
        for side in (SELL, BUY):
            target, mine = targets[side], quoted[side]
            for price in [px for px, (q, _) in mine.items() if target.get(px) != q]:
                _, oids = mine.pop(price)
                want = target.get(price)
                if want is None:
                    for oid in oids:
                        engine.cancel(oid)
                    continue
                live = [o for o in (engine.resting(oid) for oid in oids) if o is not None]
                have = sum((o.remaining for o in live), Decimal(0))
                for o in reversed(live):  # newest first
                    if have <= want:
                        break
                    cut = min(o.remaining, have - want)
                    engine.reduce(o.order_id, o.remaining - cut)
                    have -= cut
                mine[price] = (want, [o.order_id for o in live if o.order_id in engine])
                if want > have:
                    grow.append((side, price, want - have))
            grow += [(side, price, qty) for price, qty in target.items() if price not in mine]
        for side, price, qty in sorted(grow, key=lambda g: g[0] != SELL):  # asks before bids
            oid = self.exchange.submit_background(sym, UPSTREAM, side, price, qty, rest=True)
            _, oids = quoted[side].get(price, (Decimal(0), []))
            quoted[side][price] = (targets[side][price], [*oids, oid])

    def on_trade(self, pair: str, data: dict[str, Any], trade: AggTrade) -> None:
        """Fill the paper orders the print reached, then pass the print on to the simulator's clients."""
        sym = self.exchange.symbols.get(pair)
        if sym is None:
            return
        self.prints += 1
        # `m`: the buyer was the maker, so a seller took the bids down to this price.
        side = SELL if trade.buyer_is_maker else BUY
        self.exchange.submit_background(sym, PRINT, side, trade.price, trade.qty, rest=False)
        self.exchange.last_price[pair] = trade.price
        recent = self.exchange.recent_trades[pair]
        recent.append(data)
        if len(recent) > RECENT_MAX:
            del recent[: RECENT_MAX // 3]
        self.sim.publish_trade(sym, data)

    def on_state(self, up: bool, reason: str) -> None:
        if up:
            self._down_since = None
            logger.info("Paper market: {}", reason)
        elif self._down_since is None:
            self._down_since = time.monotonic()

    def halt_reason(self) -> str | None:
        """Why paper orders are refused now, or None. A reconnect shorter than the grace goes unnoticed (the last
        mirrored book is at most that old); before the first book, or after the grace, every order is refused."""
        if self._down_since is None:
            return None
        down_for = time.monotonic() - self._down_since
        if not any(b.update_id is not None for b in self.upstream.books.values()):
            return f"paper market not ready: waiting for the first book from {self.upstream.rest_url}"
        if down_for < self.halt_grace_s:
            return None
        since = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() - down_for))
        return (f"paper market paused: the upstream {self.upstream.rest_url} is unreachable since {since} "
                f"({self.upstream.reason}); orders match again once it is back, then `otobot ctl resume USER`")

    # ------------------------------------------------------------ public endpoints (the Simulator asks)

    def token_list(self) -> list[dict[str, Any]]:
        """The upstream's own rows for the mirrored tokens, with the price brought up to the last print."""
        self._refresh_tokens()
        return [{**x.token_row, "price": _text(self.exchange.last_price[pair])} for pair, x in self.listings.items()]

    def exchange_info(self) -> dict[str, Any]:
        return {"timezone": "UTC", "assets": [{"asset": x.sim.alpha_id} for x in self.listings.values()],
                "symbols": [x.symbol_row for x in self.listings.values()], "orderTypes": ["LIMIT"]}

    async def ticker(self, pair: str) -> dict[str, Any]:
        """The upstream's 24 h ticker, read at most every TICKER_MAX_AGE_S; lastPrice is the last print seen."""
        cached = self._tickers.get(pair)
        now = time.monotonic()
        if cached is None or now - cached[0] > TICKER_MAX_AGE_S:
            try:
                data = await self.upstream.get(p.TICKER, {"symbol": pair})
                if isinstance(data, dict):
                    cached = (now, data)
                    self._tickers[pair] = cached
            except Exception as exc:  # the last answer (or a minimal one) beats an error for a read-only figure
                logger.debug("Paper market: ticker of {} not refreshed ({})", pair, exc)
        body = dict(cached[1]) if cached else {"symbol": pair}
        body["lastPrice"] = _text(self.exchange.last_price[pair])
        return body

    def status(self) -> dict[str, Any]:
        return {**self.upstream.status(), "paper": True, "halted": self.halt_reason(), "prints": self.prints,
                "mirrored_levels": {pair: {side.lower(): len(q) for side, q in sides.items()}
                                    for pair, sides in self._quoted.items()}}

    def _refresh_tokens(self) -> None:
        """Token rows older than TOKENS_MAX_AGE_S are refreshed in the background (mulPoint and flags can change)."""
        if time.monotonic() - self._tokens_at < TOKENS_MAX_AGE_S:
            return
        self._tokens_at = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._fetch_tokens())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fetch_tokens(self) -> None:
        with contextlib.suppress(Exception):
            rows = await self.upstream.get(p.TOKEN_LIST)
            by_id = {str(r.get("alphaId")): r for r in rows if isinstance(r, dict)}
            for pair, x in list(self.listings.items()):
                row = by_id.get(x.sim.alpha_id)
                if row is not None:
                    self.listings[pair] = replace(x, token_row=row)


def _text(price: Decimal) -> str:
    return format(price, "f")


async def start_paper_sim(base: SimConfig, market_from: str, *, tokens: tuple[str, ...] = (),
                          ws_url: str | None = None, port: int = 0,
                          session: aiohttp.ClientSession | None = None) -> tuple[Simulator, Mirror]:
    """Discover the upstream's tokens, build a Simulator for exactly those (with `base`'s users and options) and
    start it mirroring. The caller stops both (`stop_paper_sim`)."""
    own = session is None
    session = session or aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    try:
        upstream = Upstream(session, market_from, ws_url)
        listings = await upstream.discover(tokens)
        config = replace(base, symbols=tuple(x.sim for x in listings), market_from=upstream.rest_url)
        sim = Simulator(config)
        mirror = Mirror(sim, upstream, listings)
        if own:
            mirror.owned_session = session
        await sim.start(port=port)
        await mirror.start()
    except BaseException:
        if own:
            await session.close()
        raise
    return sim, mirror


async def stop_paper_sim(sim: Simulator, mirror: Mirror) -> None:
    await mirror.stop()
    await sim.stop()
