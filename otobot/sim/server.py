"""The simulator's aiohttp server: the same paths, envelope, error codes and websocket frames as binance.com."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from otobot.exchange import protocol as p
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import ILLEGAL_PARAMETER
from otobot.exchange.filters import fmt
from otobot.sim.config import SimConfig, SimSymbol
from otobot.sim.exchange import Account, Exchange, SimError, now_ms
from otobot.sim.faults import Faults
from otobot.sim.market import Market

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(data: Any, **extra: Any) -> web.Response:
    return web.Response(text=p.dumps({**p.envelope(data), **extra}), content_type="application/json")


def fail(code: str, message: str) -> web.Response:
    body = {"code": code, "message": message, "messageDetail": None, "data": None, "success": False}
    if code == "100002001":  # exactly the captured auth-expired body (§7.3)
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
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    def send(self, frame: str) -> None:
        """Queue a frame without awaiting: one slow client never stalls the matching engine."""
        if not self.ws.closed:
            self.queue.put_nowait(frame)

    async def _write(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await self.queue.get()
                try:
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
        self.faults = Faults()
        self.exchange = Exchange(config, self._emit, self._publish)
        self.market = Market(self.exchange, config.seed, config.tick_interval_s)
        self._market_conns: dict[str, set[_Conn]] = {}
        self._user_conns: dict[str, set[_Conn]] = {}  # listen key → connections
        self._conns: set[_Conn] = set()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.requests: dict[str, int] = {}  # path → count: tests assert "exactly one order POST"

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
        u = next(x for x in self.config.users if x.name == user)
        return Credentials(cookie=u.cookie, csrftoken=u.csrftoken)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_middleware], client_max_size=1 << 20)
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
        r.add_post("/_sim/balance", self._admin_balance)
        r.add_post("/_sim/shock", self._admin_shock)
        r.add_post("/_sim/market", self._admin_market)
        r.add_get("/_sim/state", self._admin_state)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._tasks = [asyncio.create_task(self._ticker_loop()), asyncio.create_task(self._housekeeping())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ticker_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval_s)
            self.market.tick()

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
        if self.faults.rest_delay_s > 0:
            self.faults.count("rest_delay")
            await asyncio.sleep(self.faults.rest_delay_s)
        err = self.faults.take_http_error(path)
        if err is not None:
            headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
            return web.Response(status=err.status, text="{}" if err.status < 500 else "Bad Gateway",
                                headers=headers)
        drop = self.faults.take_drop(path)
        if drop is not None and drop.when == "before":
            _abort(request)
            return web.Response(status=500)
        response = await handler(request)
        if drop is not None:
            # Applied, then the connection dies: the client cannot know the order exists.
            _abort(request)
        return response

    def _private(self, handler: Callable[[web.Request, Account], Awaitable[web.Response]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                account = self.exchange.authenticate(request.headers.get("csrftoken"), request.headers.get("cookie"))
                return await handler(request, account)
            except SimError as exc:
                return fail(exc.code, exc.message)
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
        return {
            "tokenId": s.alpha_id.replace("ALPHA_", "T") + "0" * 20, "chainId": "56", "chainName": "BSC",
            "contractAddress": "0x" + s.alpha_id.encode().hex().ljust(40, "0")[:40], "name": s.name,
            "symbol": s.symbol, "price": fmt(self.exchange.last_price[s.pair]), "percentChange24h": "0",
            "volume24h": "1000000", "decimals": 18, "listingCex": False, "offline": False, "tradeDecimal": 8,
            "alphaId": s.alpha_id, "offsell": False, "stockState": False, "mulPoint": s.mul_point,
            "onlineTge": False, "onlineAirdrop": False, "score": 100, "cexOffDisplay": False,
            "listingTime": 1734687000000, "bnExclusiveState": False,
        }

    async def _token_list(self, request: web.Request) -> web.Response:
        return ok([self._token(s) for s in self.config.symbols])

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = [{
            "symbol": s.pair, "status": "TRADING", "baseAsset": s.alpha_id, "quoteAsset": s.quote,
            "pricePrecision": -s.tick.as_tuple().exponent, "quantityPrecision": -s.step.as_tuple().exponent,  # type: ignore[operator]
            "baseAssetPrecision": 8, "quotePrecision": 8, "orderTypes": ["LIMIT"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick), "maxPrice": "1000000", "tickSize": fmt(s.tick)},
                {"filterType": "LOT_SIZE", "stepSize": fmt(s.step), "maxQty": "99999999999", "minQty": fmt(s.min_qty)},
                {"filterType": "MIN_NOTIONAL", "minNotional": fmt(s.min_notional)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            ],
        } for s in self.config.symbols]
        return ok({"timezone": "UTC", "assets": [], "symbols": symbols, "orderTypes": ["LIMIT"]})

    def _pair(self, request: web.Request) -> SimSymbol:
        sym = self.exchange.symbols.get(request.query.get("symbol", ""))
        if sym is None:
            raise web.HTTPBadRequest(text=p.dumps(p.envelope(None, ILLEGAL_PARAMETER, "unknown symbol")),
                                     content_type="application/json")
        return sym

    async def _ticker(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        return ok({"symbol": sym.pair, "lastPrice": fmt(self.exchange.last_price[sym.pair])})

    async def _agg_trades(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        limit = max(1, min(1000, int(request.query.get("limit", "500"))))
        rows = [{k: v for k, v in t.items() if k not in ("e", "E", "s")}
                for t in self.exchange.recent_trades[sym.pair][-limit:]]
        return ok(rows)

    async def _depth(self, request: web.Request) -> web.Response:
        sym = self._pair(request)
        book = self.exchange.books[sym.pair]
        limit = int(request.query.get("limit", "20"))
        return ok({"lastUpdateId": 1, "symbol": sym.pair, "E": now_ms(), "T": now_ms(),
                   "bids": [[fmt(a), fmt(b)] for a, b in book.depth("BUY", limit)],
                   "asks": [[fmt(a), fmt(b)] for a, b in book.depth("SELL", limit)]})

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
        rows = [self.exchange.order_row(o) for o in self.exchange.user_order_objs(account.name)
                if o.open and (side is None or o.side == side) and (symbol is None or o.symbol.pair == symbol)]
        return ok(rows)

    async def _history(self, request: web.Request, account: Account) -> web.Response:
        q = request.query
        statuses = set((q.get("orderStatus") or "FILLED,PARTIALLY_FILLED,EXPIRED,CANCELED,REJECTED").split(","))
        start, end = int(q.get("startTime", "0")), int(q.get("endTime", str(now_ms() + 1)))
        page, rows_n = max(1, int(q.get("page", "1"))), max(1, min(500, int(q.get("rows", "100"))))
        base, side = q.get("baseAsset"), q.get("side")
        orders = [o for o in reversed(self.exchange.user_order_objs(account.name))
                  if o.status in statuses and start <= o.time <= end and (base is None or o.symbol.alpha_id == base)
                  and (side is None or o.side == side)]
        chunk = orders[(page - 1) * rows_n: page * rows_n]
        return ok([self.exchange.order_row(o) for o in chunk], total=len(orders))

    async def _user_trades(self, request: web.Request, account: Account) -> web.Response:
        oid = request.query.get("orderId")
        return ok([self.exchange.fill_row(f) for f in self.exchange.fills[account.name] if str(f.order_id) == oid])

    async def _alpha_wallet(self, request: web.Request, account: Account) -> web.Response:
        items, total = [], Decimal(0)
        for s in self.config.symbols:
            free, locked = account.balances.get(s.alpha_id, [Decimal(0), Decimal(0)])
            if free == 0 and locked == 0:
                continue
            value = (free + locked) * self.exchange.last_price[s.pair]
            total += value
            items.append({"chainId": "56", "contractAddress": "0x0", "cexAsset": False, "name": s.name,
                          "symbol": s.symbol, "tokenId": s.alpha_id, "free": fmt(free), "freeze": "0",
                          "locked": fmt(locked), "withdrawing": "0", "amount": fmt(free + locked),
                          "valuation": fmt(value.quantize(Decimal("0.00000001")))})
        return ok({"totalValuation": fmt(total.quantize(Decimal("0.00000001"))), "list": items})

    async def _wallet_asset(self, request: web.Request, account: Account) -> web.Response:
        rows = []
        for asset in ("USDT", "USDC"):
            free, locked = account.balances.get(asset, [Decimal(0), Decimal(0)])
            zero = {"free": "0", "locked": "0", "freeze": "0", "withdrawing": "0"}
            rows.append({"asset": asset, "coinBusinessType": "NORMAL",
                         "spot": {"free": fmt(free), "locked": fmt(locked), "freeze": "0", "withdrawing": "0"},
                         "funding": zero, "earn": zero})
        return ok(rows)

    async def _user_volume(self, request: web.Request, account: Account) -> web.Response:
        # JSON numbers (floats on the real wire, §7.3): Decimal goes out as an exact number here.
        items = [{"icon": "", "tokenName": self.exchange.by_alpha[a].symbol, "volume": v}
                 for a, v in account.volume.items()]
        total = sum(account.volume.values(), Decimal(0))
        return ok({"totalVolume": total, "tradeVolumeInfoList": items})

    async def _listen_key(self, request: web.Request, account: Account) -> web.Response:
        return ok(self.exchange.listen_key(account, self.config.listen_key_ttl_s))

    async def _base_info(self, request: web.Request, account: Account) -> web.Response:
        return ok({"userId": abs(hash(account.name)) % 10**9, "email": f"{account.name}@sim.invalid"})

    # ------------------------------------------------------------ websockets

    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=30.0)
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
                for stream in params:
                    subs = self._market_conns.setdefault(str(stream), set())
                    if method == "SUBSCRIBE":
                        subs.add(conn)
                        conn.streams.add(str(stream))
                    elif method == "UNSUBSCRIBE":
                        subs.discard(conn)
                conn.send(p.dumps({"result": None, "id": req.get("id")}))
        finally:
            await conn.close()
            self._conns.discard(conn)
            for stream in conn.streams:
                self._market_conns.get(stream, set()).discard(conn)
        return ws

    async def _user_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=30.0)
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
                for stream in params:
                    key = str(stream).removeprefix(p.USER_STREAM_PREFIX)
                    account = self.exchange.by_key.get(key)
                    if method == "SUBSCRIBE":
                        if account is None:
                            error = {"code": 2, "msg": f"invalid or expired listen key {key[:6]}…"}
                            continue
                        self._user_conns.setdefault(key, set()).add(conn)
                        conn.streams.add(key)
                        conn.user = account.name
                    elif method == "UNSUBSCRIBE":
                        self._user_conns.get(key, set()).discard(conn)
                        conn.streams.discard(key)
                reply: dict[str, Any] = {"result": None, "id": req.get("id")}
                if error:
                    reply["error"] = error
                conn.send(p.dumps(reply))
        finally:
            await conn.close()
            self._conns.discard(conn)
            for key in conn.streams:
                self._user_conns.get(key, set()).discard(conn)
        return ws

    def _publish(self, sym: SimSymbol, data: dict[str, Any]) -> None:
        stream = p.agg_trade_stream(sym.pair)
        subs = self._market_conns.get(stream)
        if not subs:
            return
        frame = p.dumps({"stream": stream, "data": data})  # serialised once for every subscriber
        for conn in list(subs):
            conn.send(frame)

    def _emit(self, user: str, data: dict[str, Any]) -> None:
        account = self.exchange.accounts[user]
        key = account.listen_key
        if key is None:
            return
        conns = self._user_conns.get(key)
        if not conns:
            return
        frame = p.dumps({"stream": p.user_stream(key), "data": data})
        f = self.faults
        for conn in list(conns):
            if f.chance(f.malformed_p, "malformed"):
                conn.send(frame[: len(frame) // 2])  # a truncated frame, then the real one
            if conn.held is not None:
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
        if conn.held is not None:
            held, conn.held = conn.held, None
            conn.send(held)

    async def drop_ws(self, which: str = "all", user: str | None = None) -> int:
        n = 0
        for conn in list(self._conns):
            if which not in ("all", conn.kind):
                continue
            if user is not None and conn.user != user and conn.kind == "user":
                continue
            n += 1
            self.faults.count(f"drop_ws_{conn.kind}")
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1006)
        return n

    # ------------------------------------------------------------ admin

    async def _admin_faults(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        f = self.faults
        if body.get("clear"):
            f.clear()
        for key in ("rest_delay_s", "duplicate_p", "reorder_p", "malformed_p"):
            if key in body:
                setattr(f, key, float(body[key]))
        if "drop_response" in body:
            d = body["drop_response"]
            f.drop_response(d["path"], int(d.get("count", 1)), d.get("when", "after"))
        if "http_error" in body:
            e = body["http_error"]
            f.http_error(int(e["status"]), int(e.get("count", 1)), e.get("path"), e.get("retry_after"))
        return web.json_response({"ok": True, "injected": f.injected})

    async def _admin_drop_ws(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        n = await self.drop_ws(body.get("which", "all"), body.get("user"))
        return web.json_response({"ok": True, "dropped": n})

    async def _admin_expire(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.exchange.accounts[body["user"]].expired = bool(body.get("expired", True))
        return web.json_response({"ok": True})

    async def _admin_balance(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        account = self.exchange.accounts[body["user"]]
        account.balances.setdefault(body.get("asset", "USDT"), [Decimal(0), Decimal(0)])[0] = Decimal(str(body["free"]))
        return web.json_response({"ok": True})

    async def _admin_shock(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.market.shock(body["symbol"], Decimal(str(body["pct"])))
        return web.json_response({"ok": True})

    async def _admin_market(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.market.paused = bool(body.get("paused", False))
        return web.json_response({"ok": True, "paused": self.market.paused})

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.Response(text=p.dumps(self.state(request.query["user"])), content_type="application/json")

    def state(self, user: str) -> dict[str, Any]:
        """A user's balances, orders and fills, for assertions and the admin endpoint."""
        ex = self.exchange
        account = ex.accounts[user]
        return {
            "balances": {a: {"free": fmt(v[0]), "locked": fmt(v[1])} for a, v in account.balances.items()},
            "open_orders": [ex.order_row(o) for o in ex.user_order_objs(user) if o.open],
            "orders": [ex.order_row(o) for o in ex.user_order_objs(user)],
            "fills": [ex.fill_row(f) for f in ex.fills[user]],
            "volume": {a: fmt(v) for a, v in account.volume.items()},
        }


def _json(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
