"""The simulator's aiohttp server: the same paths, envelope, error codes and websocket frames as binance.com."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import WSMsgType, web
from loguru import logger

from otobot.exchange import protocol as p
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import AUTH_EXPIRED, ILLEGAL_PARAMETER
from otobot.exchange.filters import fmt
from otobot.sim import evidence
from otobot.sim.accounts import Account, SimError
from otobot.sim.config import SimConfig, SimSymbol
from otobot.sim.depth import DepthFeed
from otobot.sim.exchange import Exchange, now_ms
from otobot.sim.faults import Faults
from otobot.sim.market import Market
from otobot.sim.userside import bare_row, place_as_browser

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_QUEUED_FRAMES = 20_000  # a client this far behind is cut off rather than growing the server's memory
MAX_ADMIN_TRADES = 1_000  # /_sim/trades: enough for any cycle's frames, bounded so a typo cannot flood every socket


class PublicSide(Protocol):
    """What answers the public endpoints in place of the simulated market: a paper mirror (#25, sim/mirror.py)."""

    def token_list(self) -> list[dict[str, Any]]: ...
    def exchange_info(self) -> dict[str, Any]: ...
    async def ticker(self, pair: str) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...


def ok(data: Any, **extra: Any) -> web.Response:
    return web.Response(text=p.dumps({**p.envelope(data), **extra}), content_type="application/json")


def fail(code: str, message: str) -> web.Response:
    body: dict[str, Any] = p.envelope(None, code, message)
    if code == AUTH_EXPIRED:  # exactly the captured auth-expired body (§7.3)
        body = {"code": code, "message": message, "success": False}
    return web.Response(text=p.dumps(body), content_type="application/json")


class _Conn:
    """One websocket connection, what it subscribed to, and its outbound queue (one writer task, in order)."""

    def __init__(self, ws: web.WebSocketResponse, kind: str) -> None:
        self.ws = ws
        self.kind = kind
        self.opened = time.monotonic()
        self.streams: set[str] = set()
        self.user: str | None = None
        self.held: str | None = None  # a frame held back to be sent after the next one (reorder fault)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.cut_off = False
        self.muted = False  # a half-open connection: open, pings answered, but no frame reaches the client
        self.writer = asyncio.create_task(self._write())

    def send(self, frame: str) -> None:
        """Queue a frame without awaiting: one slow client never stalls the matching engine."""
        if self.ws.closed or self.cut_off or self.muted:
            return
        if self.queue.qsize() >= MAX_QUEUED_FRAMES:
            self.cut_off = True  # too slow: the writer closes the connection instead of sending more
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    async def _write(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await self.queue.get()
                try:
                    if frame is None:
                        await self.ws.close(code=1008, message=b"too slow")
                        return
                    await self.ws.send_str(frame)
                finally:
                    self.queue.task_done()

    async def flush(self, timeout_s: float = 1.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.queue.join()

    async def close(self) -> None:
        self.writer.cancel()
        with contextlib.suppress(BaseException):
            await self.writer


class Simulator:
    """Start with `await sim.start()`; point a client at `rest_url`, `market_ws_url`, `user_ws_url`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.faults = Faults(on_drop_ws=self.drop_ws, on_expire=self._set_expired)
        self.exchange = Exchange(config, self._emit, self._publish)
        self.market = Market(self.exchange, config.seed, config.tick_interval_s)
        self._market_conns: dict[str, set[_Conn]] = {}
        self._user_conns: dict[str, set[_Conn]] = {}  # listen key → connections
        self._conns: set[_Conn] = set()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._late: set[asyncio.Task[None]] = set()  # requests a "late" drop applies after the client gave up
        self.port = 0
        self._pairs_lower = {pair.lower(): pair for pair in self.exchange.symbols}
        self.requests: dict[str, int] = {}  # path → count: tests assert "exactly one order POST"
        # Frames queued to clients by kind (trade, book, user): the bench's frames per cycle, the load a client
        # reads, which grows as (bots on a symbol) × (trades on it) when every bot keeps its own price socket.
        self.frames: dict[str, int] = {"trade": 0, "book": 0, "user": 0}
        self.depth = DepthFeed(self.exchange.books, self.exchange.symbols, start_id=59_174_970_591,
                               crossed_p=config.crossed_book_p, seed=config.seed)
        self.public_side: PublicSide | None = None  # issue #25: token list, exchange info, ticker from an upstream
        self.order_bodies: deque[bytes] = deque(maxlen=1000)  # #23: order POST bodies as received, byte for byte

    # ------------------------------------------------------------ lifecycle

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def market_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/w3w/wsa/stream"

    @property
    def user_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/w3w/stream"

    def user_names(self) -> list[str]:
        return [u.name for u in self.config.users]

    def credentials(self, user: str) -> Credentials:
        """The Cookie header + csrftoken a client must send for `user`."""
        return self.exchange.credentials(user)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_middleware, self._evidence_middleware],
                              client_max_size=1 << 20)
        r = app.router
        r.add_get(p.TOKEN_LIST, self._token_list)
        r.add_get(p.EXCHANGE_INFO, self._exchange_info)
        r.add_get(p.TICKER, self._ticker)
        r.add_get(p.AGG_TRADES, self._agg_trades)
        r.add_get(p.FULL_DEPTH, self._depth)
        r.add_post(p.PLACE_OTO, self._private(self._place_oto))
        r.add_post(p.PLACE_ORDER, self._private(self._place_order))
        r.add_post(p.CANCEL_ORDER, self._private(self._cancel))
        r.add_get(p.OPEN_ORDERS, self._private(self._open_orders))
        r.add_get(p.ORDER_HISTORY, self._private(self._history))
        r.add_get(p.USER_TRADES, self._private(self._user_trades))
        r.add_get(p.ALPHA_WALLET, self._private(self._alpha_wallet))
        r.add_post(p.WALLET_ASSET, self._private(self._wallet_asset))
        r.add_get(p.USER_VOLUME, self._private(self._user_volume))
        r.add_post(p.LISTEN_KEY, self._private(self._listen_key))
        r.add_get(p.USER_BASE_INFO, self._private(self._base_info))
        r.add_get("/w3w/wsa/stream", self._market_ws)
        r.add_get("/w3w/stream", self._user_ws)
        r.add_post("/_sim/faults", self._admin_faults)
        r.add_post("/_sim/drop_ws", self._admin_drop_ws)
        r.add_post("/_sim/expire", self._admin_expire)
        r.add_post("/_sim/expire_listen_key", self._admin_expire_listen_key)
        r.add_post("/_sim/balance", self._admin_balance)
        r.add_post("/_sim/shock", self._admin_shock)
        r.add_post("/_sim/market", self._admin_market)
        r.add_post("/_sim/spread", self._admin_spread)
        r.add_post("/_sim/trades", self._admin_trades)
        r.add_get("/_sim/state", self._admin_state)
        r.add_post("/_sim/order", self._admin_order)  # issue 19: the user places an order by hand
        r.add_get("/_sim/stats", self._admin_stats)
        r.add_get("/_sim/upstream", self._admin_upstream)
        r.add_post("/_sim/delist", self._admin_delist)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._tasks = [asyncio.create_task(self._ticker_loop()), asyncio.create_task(self._housekeeping()),
                       asyncio.create_task(self._book_loop())]

    async def stop(self) -> None:
        for t in (*self._tasks, *self._late):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._late, return_exceptions=True)
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ticker_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval_s)
            try:
                self.market.tick()
            except Exception:  # a bug in the market model must not silently freeze every price
                logger.exception("Simulated market tick failed")

    async def _housekeeping(self) -> None:
        """Listen-key expiry (with the listenKeyExpired event) and the server's maximum connection age."""
        while True:
            await asyncio.sleep(0.25)
            for key in self.exchange.expired_keys():
                frame = p.dumps({"stream": p.user_stream(key),
                                 "data": {"e": "listenKeyExpired", "E": now_ms(), "listenKey": key}})
                for conn in list(self._user_conns.pop(key, set())):
                    with contextlib.suppress(Exception):
                        conn.send(frame)
                        await conn.flush()
                        await conn.ws.close()
            limit = self.config.max_connection_age_s
            for conn in list(self._conns):
                if time.monotonic() - conn.opened > limit:
                    with contextlib.suppress(Exception):
                        await conn.ws.close(code=1001, message=b"max connection age")

    # ------------------------------------------------------------ faults and auth

    @web.middleware
    async def _faults_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_sim") or path.startswith("/w3w"):
            return await handler(request)
        self.requests[path] = self.requests.get(path, 0) + 1
        # A request the exchange fully received is applied even if the client dies meanwhile (kill -9 mid-POST):
        # read the body now and shield the rest from aiohttp's cancellation on disconnect.
        await request.read()
        return await asyncio.shield(self._apply(request, handler, path))

    @web.middleware
    async def _evidence_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """#23: order bodies kept as received (and refused when strict_body_numbers says so); replies in the
        readings of alpha-api.md §7.7 that SimConfig asks for (otobot/sim/evidence.py)."""
        path = request.path
        if path in evidence.ORDER_PATHS:
            raw = await request.read()
            self.order_bodies.append(raw)
            why = evidence.body_number_problem(raw.decode(errors="replace")) if self.config.strict_body_numbers \
                else None
            if why is not None:
                return fail(ILLEGAL_PARAMETER, f"illegal parameter: {why}")
        response = await handler(request)
        if isinstance(response, web.Response) and response.text is not None and path.startswith("/bapi"):
            text = evidence.reply(path, response.text, self.config, self.exchange.delisted)
            if text is not None:
                response.text = text
        return response

    async def _apply(self, request: web.Request, handler: Handler, path: str) -> web.StreamResponse:
        delay = self.faults.delay_for(path)
        if delay > 0:
            await asyncio.sleep(delay)
        err = self.faults.take_http_error(path)
        if err is not None:
            headers = {"Retry-After": _seconds(err.retry_after)} if err.retry_after is not None else {}
            return web.Response(status=err.status, text="{}" if err.status < 500 else "Bad Gateway",
                                headers=headers)
        drop = self.faults.take_drop(path)
        if drop is not None and drop.when == "before":
            _abort(request)
            return web.Response(status=500)
        if drop is not None and drop.when == "late":
            # The client sees a dead connection at once; the exchange applies the request later (the body was
            # read above, so the handler can run after the transport is gone).
            _abort(request)
            task = asyncio.create_task(self._apply_late(request, handler, drop.apply_after_s))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return web.Response(status=500)
        response = await handler(request)
        if drop is not None:
            # Applied, then the connection dies: the client cannot know the order exists.
            _abort(request)
        return response

    @staticmethod
    async def _apply_late(request: web.Request, handler: Handler, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await handler(request)

    def _private(self, handler: Callable[[web.Request, Account], Awaitable[web.Response]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                account = self.exchange.authenticate(request.headers.get("csrftoken"), request.headers.get("cookie"))
                return await handler(request, account)
            except SimError as exc:
                return fail(exc.code, exc.message)
            except ValueError as exc:  # a malformed query parameter
                return fail(ILLEGAL_PARAMETER, f"illegal parameter: {exc}")
        return wrapped

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = p.loads(await request.text() or "{}")
        except ValueError:
            raise SimError(ILLEGAL_PARAMETER, "request body is not JSON") from None
        if not isinstance(body, dict):
            raise SimError(ILLEGAL_PARAMETER, "request body is not an object")
        return body

    # ------------------------------------------------------------ public endpoints

    def _token(self, s: SimSymbol) -> dict[str, Any]:
        """A token-list entry with the keys of the S1 capture (§7.6; icon URLs dropped)."""
        price = self.exchange.last_price[s.pair]
        _, quote, count = self.exchange.traded[s.pair]
        return {
            "tokenId": hashlib.md5(s.alpha_id.encode()).hexdigest().upper(), "chainId": "56", "chainName": "BSC",
            "contractAddress": contract_address(s), "name": s.name, "symbol": s.symbol, "price": fmt(price),
            "percentChange24h": "0", "volume24h": fmt(quote.quantize(Q8)), "marketCap": "100000000",
            "fdv": "100000000", "liquidity": "5000000", "totalSupply": "1000000000",
            "circulatingSupply": "1000000000", "holders": "10000", "decimals": 18, "listingCex": False,
            "hotTag": False, "cexCoinName": "", "canTransfer": False, "denomination": 1, "offline": False,
            "tradeDecimal": _digits(s.tick), "alphaId": s.alpha_id, "offsell": False, "priceHigh24h": fmt(price),
            "priceLow24h": fmt(price), "count24h": str(count), "onlineTge": False, "onlineAirdrop": False,
            "score": 100, "cexOffDisplay": False, "stockState": False, "listingTime": 1734687000000,
            "mulPoint": s.mul_point, "bnExclusiveState": False,
        }

    async def _token_list(self, request: web.Request) -> web.Response:
        if self.public_side is not None:
            return ok(self.public_side.token_list())
        return ok([self._token(s) for s in self.config.symbols])

    async def _exchange_info(self, request: web.Request) -> web.Response:
        if self.public_side is not None:
            return ok(self.public_side.exchange_info())
        return ok({"timezone": "UTC", "assets": [{"asset": s.alpha_id} for s in self.config.symbols],
                   "symbols": [exchange_symbol(s) for s in self.config.symbols], "orderTypes": ["LIMIT"]})

    def _pair(self, request: web.Request) -> SimSymbol:
        sym = self.exchange.symbols.get(request.query.get("symbol", ""))
        if sym is None:
            raise web.HTTPBadRequest(text=p.dumps(p.envelope(None, ILLEGAL_PARAMETER, "unknown symbol")),
                                     content_type="application/json")
        return sym

    async def _ticker(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        if self.public_side is not None:
            return ok(await self.public_side.ticker(sym.pair))
        last = self.exchange.last_price[sym.pair]
        base, quote, count = self.exchange.traded[sym.pair]
        t = now_ms()
        # issue 22: the range from the trades the simulator still holds of the last 24 h (`otobot price`)
        day = [last, *(Decimal(tr["p"]) for tr in self.exchange.recent_trades[sym.pair] if tr["T"] >= t - 86_400_000)]
        return ok({"symbol": sym.pair, "priceChange": "0", "priceChangePercent": "0",
                   "weightedAvgPrice": fmt((quote / base).quantize(sym.tick)) if base else fmt(last),
                   "lastPrice": fmt(last), "lastQty": "0", "openPrice": fmt(sym.price), "highPrice": fmt(max(day)),
                   "lowPrice": fmt(min(day)), "volume": fmt(base), "quoteVolume": fmt(quote.quantize(Q8)),
                   "openTime": t - 86_400_000, "closeTime": t, "firstId": 0, "lastId": count, "count": count})

    async def _agg_trades(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "500"))))
            from_id = int(request.query["fromId"]) if "fromId" in request.query else None
        except ValueError:
            return fail(ILLEGAL_PARAMETER, "limit and fromId must be integers")
        trades = self.exchange.recent_trades[sym.pair]
        if from_id is not None:
            trades = [t for t in trades if t["a"] >= from_id][:limit]
        else:
            trades = trades[-limit:]
        # REST rows: the stream's data without e/E/s (§7.6 capture).
        return ok([{k: v for k, v in t.items() if k not in ("e", "E", "s")} for t in trades])

    async def _depth(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "20"))))
        except ValueError:
            return fail(ILLEGAL_PARAMETER, "limit must be an integer")
        data = self.depth.snapshot(sym.pair, limit, now_ms())
        if self.config.depth_envelope == "capture":  # UNCERTAIN: §7.6 captured `{"data": …}` alone (SimConfig)
            return web.Response(text=p.dumps({"data": data}), content_type="application/json")
        return ok(data)

    # ------------------------------------------------------------ private endpoints

    async def _place_oto(self, request: web.Request, account: Account) -> web.Response:
        w, pnd = self.exchange.place_oto(account, await self._body(request))
        # JSON numbers here, strings elsewhere: as captured (§2.3).
        return ok({"workingOrderId": w, "pendingOrderId": pnd})

    async def _place_order(self, request: web.Request, account: Account) -> web.Response:
        return ok(str(self.exchange.place_limit(account, await self._body(request))))

    async def _cancel(self, request: web.Request, account: Account) -> web.Response:
        body = await self._body(request)
        self.exchange.cancel(account, body.get("orderId"), body.get("symbol"))
        return ok(None)

    async def _open_orders(self, request: web.Request, account: Account) -> web.Response:
        side, symbol = request.query.get("side") or None, request.query.get("symbol") or None
        rows = [self.exchange.order_row(o) for o in self.exchange.open_orders(account.name)
                if (side is None or o.side == side) and (symbol is None or o.symbol.pair == symbol)]
        return ok([bare_row(r) for r in rows] if self.config.open_order_rows == "bare" else rows)

    async def _history(self, request: web.Request, account: Account) -> web.Response:
        q = request.query
        statuses = set((q.get("orderStatus") or p.ORDER_HISTORY_STATUSES).split(","))
        start, end = int(q.get("startTime") or 0), int(q.get("endTime") or now_ms() + 1)
        page, rows_n = max(1, int(q.get("page") or 1)), max(1, min(500, int(q.get("rows") or 100)))
        base, side = q.get("baseAsset") or None, q.get("side") or None
        orders = [o for o in reversed(self.exchange.orders_since(account.name, start))
                  if o.status in statuses and start <= o.time <= end and (base is None or o.symbol.alpha_id == base)
                  and (side is None or o.side == side)]
        chunk = orders[(page - 1) * rows_n: page * rows_n]
        return ok([self.exchange.order_row(o) for o in chunk], total=len(orders))

    async def _user_trades(self, request: web.Request, account: Account) -> web.Response:
        try:
            order = self.exchange.by_id.get(int(request.query.get("orderId", "")))
        except ValueError:
            return fail(ILLEGAL_PARAMETER, "orderId is required")
        symbol = request.query.get("symbol")
        if order is None or order.user != account.name or (symbol and order.symbol.pair != symbol):
            return ok([])
        return ok([self.exchange.fill_row(f) for f in self.exchange.fills_of_order(order.id)])

    async def _alpha_wallet(self, request: web.Request, account: Account) -> web.Response:
        items, total = [], Decimal(0)
        for s in self.config.symbols:
            free, locked = account.free(s.alpha_id), account.locked(s.alpha_id)
            if free == 0 and locked == 0:
                continue
            value = ((free + locked) * self.exchange.last_price[s.pair]).quantize(Q8)
            total += value
            items.append({"chainId": "56", "contractAddress": contract_address(s), "cexAsset": False,
                          "name": s.name, "symbol": s.symbol, "tokenId": s.alpha_id, "free": fmt(free), "freeze": "0",
                          "locked": fmt(locked), "withdrawing": "0", "amount": fmt(free + locked),
                          "valuation": fmt(value)})
        return ok({"totalValuation": fmt(total), "list": items})

    async def _wallet_asset(self, request: web.Request, account: Account) -> web.Response:
        return ok(account.wallet_assets(self.config.wallet_quote_bucket))

    async def _user_volume(self, request: web.Request, account: Account) -> web.Response:
        # JSON numbers (floats on the real wire, §7.3); Decimal goes out as an exact number. Buys only (§6.1).
        items = [{"icon": f"/images/web3-data/public/token/logos/{a}.png",
                  "tokenName": self.exchange.by_alpha[a].symbol, "volume": v} for a, v in account.volume.items()]
        total = sum(account.volume.values(), Decimal(0))
        return ok({"totalVolume": total, "tradeVolumeInfoList": items})

    async def _listen_key(self, request: web.Request, account: Account) -> web.Response:
        return ok(self.exchange.listen_key(account))

    async def _base_info(self, request: web.Request, account: Account) -> web.Response:
        uid = int(hashlib.md5(account.name.encode()).hexdigest()[:8], 16)
        return ok({"userId": uid, "email": f"{account.name}@sim.invalid", "nickName": account.name,
                   "level": 1, "isExistMarginAccount": False})

    # ------------------------------------------------------------ websockets

    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.config.ws_heartbeat_s)
        await ws.prepare(request)
        conn = _Conn(ws, "market")
        self._conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = _json(msg.data)
                if req is None:
                    continue
                method, params = req.get("method"), req.get("params") or []
                if method == "LIST_SUBSCRIPTIONS":
                    conn.send(p.dumps({"result": sorted(conn.streams), "id": req.get("id")}))
                    continue
                for stream in map(str, params):
                    if method == "SUBSCRIBE":
                        self._market_conns.setdefault(stream, set()).add(conn)
                        conn.streams.add(stream)
                        pair = self._pairs_lower.get(stream.split("@", 1)[0])
                        if pair is not None and p.book_stream_kind(stream) is not None:
                            self.depth.start(stream, pair)
                    elif method == "UNSUBSCRIBE":
                        self._market_conns.get(stream, set()).discard(conn)
                        conn.streams.discard(stream)
                conn.send(p.dumps({"result": None, "id": req.get("id")}))
        finally:
            await conn.close()
            self._conns.discard(conn)
            for stream in conn.streams:
                self._market_conns.get(stream, set()).discard(conn)
        return ws

    async def _book_loop(self) -> None:
        """`@bookTicker` and `@fulldepth@<speed>` frames from the matching engine's books, every 100 ms."""
        n = 0
        while True:
            await asyncio.sleep(BOOK_INTERVAL_S)
            n += 1
            try:
                self._publish_books(n)
            except Exception:  # a bug here must not silently stop every book stream
                logger.exception("Simulated book publishing failed")

    def _publish_books(self, n: int) -> None:
        t = now_ms()
        for stream, subs in list(self._market_conns.items()):
            kind = p.book_stream_kind(stream)
            pair = self._pairs_lower.get(stream.split("@", 1)[0])
            if kind is None or pair is None:
                continue
            if not subs:
                self.depth.forget(stream)
                continue
            if kind == p.FULL_DEPTH_500MS and n % 5:
                continue
            data = (self.depth.ticker_frame(stream, pair, t) if kind == p.BOOK_TICKER
                    else self.depth.depth_frame(stream, pair, t))
            if data is None:
                continue
            frame = p.dumps({"stream": stream, "data": data})
            self.frames["book"] += len(subs)
            for conn in subs:
                conn.send(frame)

    async def _user_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.config.ws_heartbeat_s)
        await ws.prepare(request)
        conn = _Conn(ws, "user")
        self._conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = _json(msg.data)
                if req is None:
                    continue
                method, params = req.get("method"), req.get("params") or []
                error = None
                for stream in map(str, params):
                    key = stream.removeprefix(p.USER_STREAM_PREFIX)
                    account = self.exchange.by_key.get(key)
                    if method == "SUBSCRIBE":
                        if account is None or not stream.startswith(p.USER_STREAM_PREFIX):
                            error = {"code": 2, "msg": f"Invalid or expired listen key: {stream[:12]}…"}
                            continue
                        self._user_conns.setdefault(key, set()).add(conn)
                        conn.streams.add(key)
                        conn.user = account.name
                    elif method == "UNSUBSCRIBE":
                        self._user_conns.get(key, set()).discard(conn)
                        conn.streams.discard(key)
                # Binance's refusal shape: an `error` object instead of `result` (UNCERTAIN for Alpha, §4.2).
                reply = {"error": error, "id": req.get("id")} if error else {"result": None, "id": req.get("id")}
                conn.send(p.dumps(reply))
        finally:
            await conn.close()
            self._conns.discard(conn)
            for key in conn.streams:
                self._user_conns.get(key, set()).discard(conn)
        return ws

    def publish_trade(self, sym: SimSymbol, data: dict[str, Any]) -> None:
        """Send one aggTrade `data` to the symbol's subscribers (a paper mirror forwards the upstream's prints)."""
        self._publish(sym, data)

    def _publish(self, sym: SimSymbol, data: dict[str, Any]) -> None:
        stream = p.agg_trade_stream(sym.pair)
        subs = self._market_conns.get(stream)
        if not subs:
            return
        frame = p.dumps({"stream": stream, "data": data})  # serialised once for every subscriber
        self.frames["trade"] += len(subs)
        for conn in subs:
            conn.send(frame)

    def _emit(self, user: str, data: dict[str, Any]) -> None:
        key = self.exchange.accounts[user].listen_key
        if key is None:
            return
        conns = self._user_conns.get(key)
        if not conns:
            return
        frame = p.dumps({"stream": p.user_stream(key), "data": data})
        self.frames["user"] += len(conns)
        f = self.faults
        for conn in list(conns):
            if f.chance(f.malformed_p, "malformed"):
                conn.send(frame[: len(frame) // 2])  # a truncated frame, then the real one
            if conn.held is not None:  # the held-back event goes out after this one: a swap
                held, conn.held = conn.held, None
                conn.send(frame)
                conn.send(held)
                continue
            if f.chance(f.reorder_p, "reorder"):
                conn.held = frame
                asyncio.get_running_loop().call_later(0.05, self._flush_held, conn)
                continue
            conn.send(frame)
            if f.chance(f.duplicate_p, "duplicate"):
                conn.send(frame)

    @staticmethod
    def _flush_held(conn: _Conn) -> None:
        """A held event with no successor within 50 ms goes out anyway: reordering never loses an event."""
        if conn.held is not None:
            held, conn.held = conn.held, None
            conn.send(held)

    async def drop_ws(self, which: str = "all", user: str | None = None) -> int:
        """Close websockets of a kind ("user" / "market" / "all"); with `user`, only that user's user streams
        (market streams carry no identity, so they are not dropped when a user is named)."""
        n = 0
        for conn in list(self._conns):
            if which not in ("all", conn.kind):
                continue
            if user is not None and conn.user != user:
                continue
            n += 1
            self.faults.count(f"drop_ws_{conn.kind}")
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1006)
        return n

    def mute_ws(self, which: str = "market") -> int:
        """Silence the open websockets of a kind without closing them (a half-open connection); new ones are fine."""
        muted = [conn for conn in self._conns if which in ("all", conn.kind)]
        for conn in muted:
            conn.muted = True
        return len(muted)

    def _set_expired(self, user: str, expired: bool) -> None:
        self.exchange.account(user).expired = expired

    # ------------------------------------------------------------ admin

    async def _admin_faults(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        f = self.faults
        if body.get("clear"):
            f.clear()
        for key in ("rest_delay_s", "duplicate_p", "reorder_p", "malformed_p"):
            if key in body:
                setattr(f, key, float(body[key]))
        if "rest_delay_path" in body:
            f.rest_delay_path = body["rest_delay_path"]
        if "drop_response" in body:
            d = body["drop_response"]
            f.drop_response(d["path"], int(d.get("count", 1)), d.get("when", "after"),
                            float(d.get("apply_after_s", 0)))
        if "http_error" in body:
            e = body["http_error"]
            retry = e.get("retry_after")
            f.http_error(int(e["status"]), int(e.get("count", 1)), e.get("path"),
                         float(retry) if retry is not None else None)
        return web.json_response({"ok": True, "injected": f.injected})

    async def _admin_drop_ws(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        n = await self.faults.drop_ws(body.get("which", "all"), body.get("user"))
        return web.json_response({"ok": True, "dropped": n})

    async def _admin_expire(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        self._set_expired(body["user"], bool(body.get("expired", True)))
        return web.json_response({"ok": True})

    async def _admin_expire_listen_key(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        self.exchange.expire_listen_key(body["user"])
        return web.json_response({"ok": True})

    async def _admin_balance(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        self.exchange.set_balance(body["user"], body.get("asset", "USDT"), Decimal(str(body["free"])),
                                  body.get("bucket", "funding"))
        return web.json_response({"ok": True})

    async def _admin_order(self, request: web.Request) -> web.Response:
        """`{"user", "token", "side", "quantity", "price"?}`: an order for the user as the browser places it."""
        try:
            placed = place_as_browser(self.exchange, await _admin_body(request))
        except (SimError, KeyError, ArithmeticError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True, **placed})

    async def _admin_shock(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        self.market.shock(body["symbol"], Decimal(str(body["pct"])))
        return web.json_response({"ok": True, "mid": fmt(self.market.mid[body["symbol"]])})

    async def _admin_market(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        self.market.paused = bool(body.get("paused", False))
        return web.json_response({"ok": True, "paused": self.market.paused})

    async def _admin_spread(self, request: web.Request) -> web.Response:
        """Move a token's market-maker spread during a run: `{"symbol": "ALPHA_118USDT", "bps": 40}`."""
        body = await _admin_body(request)
        try:
            self.market.set_spread(str(body.get("symbol")), Decimal(str(body.get("bps"))))
        except (KeyError, ValueError, ArithmeticError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True, "symbol": body["symbol"], "bps": str(body["bps"])})

    async def _admin_trades(self, request: web.Request) -> web.Response:
        """Publish `n` aggTrade frames on a symbol's stream at its last price, `{"symbol": "ALPHA_118USDT", "n": 2}`,
        touching no book, order or balance: the bench's CPU floor makes a cycle's frames this way without trading."""
        body = await _admin_body(request)
        sym = self.exchange.symbols.get(str(body.get("symbol")))
        try:
            n = int(body.get("n", 1))
        except (TypeError, ValueError):
            n = -1
        if sym is None or not 0 <= n <= MAX_ADMIN_TRADES:
            return web.json_response({"ok": False, "error": f"need a simulated symbol and 0 ≤ n ≤ {MAX_ADMIN_TRADES}; "
                                      f"symbols: {sorted(self.exchange.symbols)}"}, status=400)
        price, t = self.exchange.last_price[sym.pair], now_ms()
        for _ in range(n):
            self._publish(sym, self.exchange.agg_trade(sym, price, sym.min_qty, t, False))
        return web.json_response({"ok": True, "published": n})

    async def _admin_delist(self, request: web.Request) -> web.Response:
        """#23: fully delist a token during a run, or list it again: `{"token": "ALPHA_22", "delisted": true}`."""
        body = await _admin_body(request)
        token = str(body.get("token"))
        if token not in self.exchange.by_alpha:
            return web.json_response({"ok": False, "error": f"no simulated token {token!r}; tokens: "
                                      f"{sorted(self.exchange.by_alpha)}"}, status=400)
        if body.get("delisted", True):
            self.exchange.delisted.add(token)
        else:
            self.exchange.delisted.discard(token)
        return web.json_response({"ok": True, "delisted": sorted(self.exchange.delisted)})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        """Counters for the bench: websocket frames queued by kind, requests by path, open connections."""
        body = {"frames": dict(self.frames), "requests": dict(self.requests), "connections": len(self._conns)}
        return web.Response(text=p.dumps(body), content_type="application/json")

    async def _admin_upstream(self, request: web.Request) -> web.Response:
        """Paper mode (#25): the mirror's upstream, whether it is up, why orders are refused if they are."""
        if self.public_side is None:
            return web.json_response({"ok": False, "error": "this simulator mirrors no upstream"}, status=404)
        return web.Response(text=p.dumps(self.public_side.status()), content_type="application/json")

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.Response(text=p.dumps(self.state(request.query["user"])), content_type="application/json")

    def state(self, user: str) -> dict[str, Any]:
        """A user's balances, orders and fills, for assertions and the admin endpoint."""
        ex = self.exchange
        account = ex.account(user)
        return {
            "balances": {a: {"free": fmt(v[0]), "locked": fmt(v[1])} for a, v in account.balances.items()},
            "open_orders": [ex.order_row(o) for o in ex.open_orders(user)],
            "orders": [ex.order_row(o) for o in ex.orders(user)],
            "fills": [ex.fill_row(f) for f in ex.fills(user)],
            "earn": {a: fmt(v) for a, v in account.earn.items()},
            "volume": {a: fmt(v) for a, v in account.volume.items()},
            "expired": account.expired,
        }


Q8 = Decimal("0.00000001")
BOOK_INTERVAL_S = 0.1  # the fastest book stream Alpha lists is @100ms (§4.1); 0ms streams get the same cadence


def _digits(step: Decimal) -> int:
    """Decimal places of a tick or step: 0.00000001 → 8, 0.10 → 1, 1 → 0."""
    return max(0, -int(step.normalize().as_tuple().exponent))


def contract_address(s: SimSymbol) -> str:
    """A stable fake BSC contract address per token."""
    return "0x" + hashlib.sha1(s.alpha_id.encode()).hexdigest()


def exchange_symbol(s: SimSymbol) -> dict[str, Any]:
    """One exchange-info symbol with the keys, filter set and string values of the §7.6 ALPHA_22USDT capture."""
    pp, qp = _digits(s.tick), _digits(s.step)

    def q(x: Decimal) -> str:
        return fmt(x.quantize(Decimal(1).scaleb(-qp)))

    return {
        "symbol": s.pair, "status": "TRADING", "baseAsset": s.alpha_id, "quoteAsset": s.quote,
        "pricePrecision": pp, "quantityPrecision": qp, "baseAssetPrecision": qp, "quotePrecision": 8,
        "orderTypes": ["LIMIT"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick), "maxPrice": "100000", "tickSize": fmt(s.tick)},
            {"filterType": "LOT_SIZE", "stepSize": q(s.step), "maxQty": "9999999999", "minQty": q(s.min_qty)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(s.min_notional)},
            {"filterType": "MAX_NOTIONAL", "maxNotional": "1000000"},
            {"filterType": "NOTIONAL", "minNotional": fmt(s.min_notional), "maxNotional": "1000000"},
            {"filterType": "PERCENT_PRICE", "multiplierDown": "0.00001", "multiplierUp": "100000"},
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "100000", "askMultiplierUp": "100000",
             "bidMultiplierDown": "0.00001", "askMultiplierDown": "0.00001"},
        ],
    }


async def _admin_body(request: web.Request) -> dict[str, Any]:
    body = json.loads(await request.text() or "{}")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="admin body must be a JSON object")
    return body


def _json(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
