"""Alpha REST client: one method per endpoint, typed results, and the retry policy in one readable table."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import aiohttp
from loguru import logger as default_logger

from otobot.exchange import protocol as p
from otobot.exchange.book import DepthSnapshot
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import ExchangeError, MalformedMessage, RateLimited, ServerError, UnknownOutcome, error_for
from otobot.exchange.filters import LimitOrder, OtoOrder, body_number, fmt
from otobot.exchange.models import (
    BUY,
    AggTrade,
    AssetBalance,
    Order,
    OtoPlaced,
    SymbolFilters,
    Token,
    UserTrade,
    UserVolume,
    dec,
    ident,
    parse_listen_key,
)
from otobot.exchange.ticker import Ticker24h

DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
HISTORY_MAX_PAGES = 20
DERIVED_QUOTE_MEMORY = 10_000  # order ids whose derived quote total was logged; beyond this the memory restarts
T = TypeVar("T")


class Policy(Enum):
    """How a request may be repeated. The whole retry policy of the client is this enum and `_send`."""

    READ = "read"  # GETs and read-only POSTs: retried on network errors, 5xx and 429 (Retry-After honoured)
    IDEMPOTENT = "idempotent"  # cancel, listen key: repeating does no harm, so retried like a read
    ORDER = "order"  # order place: NEVER retried (no client order id); maybe-sent failures → UnknownOutcome


class AlphaRest:
    """The private and public bapi endpoints for one user's session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, credentials: Credentials | None, *,
                 limiter: Any | None = None, timeout_s: float = 10.0, retries: int = 3, logger: Any = None,
                 on_latency: Callable[[str, float], None] | None = None,
                 on_outcome: Callable[[str, str], None] | None = None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.limiter = limiter
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.log = logger or default_logger
        self.on_latency = on_latency
        self.on_outcome = on_outcome  # (path, "ok" or the error's class name) per HTTP exchange: for metrics
        self._quote_logged: set[str] = set()

    # ------------------------------------------------------------ transport

    def _headers(self, post: bool) -> dict[str, str]:
        headers = self.credentials.request_headers() if self.credentials else {"clienttype": "web"}
        if not any(k.lower() == "user-agent" for k in headers):
            headers["user-agent"] = DEFAULT_USER_AGENT
        headers["accept"] = "application/json"
        if post:
            headers["content-type"] = "application/json"
        return headers

    async def _once(self, method: str, path: str, params: Mapping[str, str] | None, body: Any,
                    policy: Policy) -> Any:
        """One HTTP exchange → the envelope's `data`, or a typed error. Never retries."""
        if self.on_outcome is None:
            return await self._exchange(method, path, params, body, policy)
        try:
            result = await self._exchange(method, path, params, body, policy)
        except Exception as exc:
            self.on_outcome(path, type(exc).__name__)
            raise
        self.on_outcome(path, "ok")
        return result

    async def _exchange(self, method: str, path: str, params: Mapping[str, str] | None, body: Any,
                        policy: Policy) -> Any:
        if self.limiter is not None:
            await self.limiter.acquire()
        data = p.dumps(body) if body is not None else None
        started = time.monotonic()
        sent = False
        try:
            async with self.session.request(method, self.base_url + path, params=params, data=data,
                                            headers=self._headers(method == "POST"),
                                            timeout=self.timeout) as resp:
                sent = True
                # Bytes: JSON names its own encoding, and `text()` worked out a charset per reply (profiled).
                body_bytes = await resp.read()
                status, headers = resp.status, resp.headers
        except aiohttp.ClientConnectorError as exc:
            # Could not connect: nothing reached the server, so even an order POST is a known failure.
            raise ServerError(f"cannot connect to {self.base_url}: {exc.os_error or exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            if policy is Policy.ORDER:
                raise UnknownOutcome(f"{path} {what} after sending; the order may exist") from exc
            raise ServerError(f"{path} {what}") from exc
        finally:
            elapsed = time.monotonic() - started
            if self.on_latency is not None:
                self.on_latency(path, elapsed)
        self.log.debug("{} {} → HTTP {} in {:.1f} ms", method, path, status, elapsed * 1000)
        try:
            parsed = p.loads(body_bytes) if body_bytes else None
        except ValueError:
            parsed = None
        error = error_for(status, parsed, headers)
        if isinstance(error, RateLimited) and self.limiter is not None:
            self.limiter.pause_until(time.monotonic() + (error.retry_after or 1.0))
        if error is not None:
            # `error` is dropped from this frame as it is raised: the traceback holds the frame, and a frame holding
            # its own exception is a cycle only a (rare, by design) full collection frees, with the response,
            # headers and every caller's frame in it: ~150 objects a refused request (issue 24's garbage count).
            try:
                if policy is Policy.ORDER and isinstance(error, ServerError) and sent:
                    raise UnknownOutcome(f"{path}: {error}; the order may exist") from error
                raise error
            finally:
                del error
        assert isinstance(parsed, dict)
        return parsed.get("data"), parsed

    async def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None,
                    policy: Policy = Policy.READ) -> tuple[Any, dict[str, Any]]:
        if policy is Policy.ORDER:
            result: tuple[Any, dict[str, Any]] = await self._once(method, path, params, body, policy)
            return result
        # A read is retried on a 5xx or a rate limit, `retries` more times; any other error is raised at once. A
        # plain loop: tenacity's retry state and the exception's traceback referenced each other, ~60 objects of
        # cyclic garbage per refused read that only a (rare, by design) full collection freed (issue 24).
        for attempt in range(1, self.retries + 2):
            try:
                done: tuple[Any, dict[str, Any]] = await self._once(method, path, params, body, policy)
                return done
            except (ServerError, RateLimited) as exc:
                if attempt > self.retries:
                    raise
                wait = _backoff(exc, attempt)
            await asyncio.sleep(wait)  # out of the handler: nothing holds the exception meanwhile
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _data(self, method: str, path: str, **kw: Any) -> Any:
        data, _ = await self._send(method, path, **kw)
        return data

    # ------------------------------------------------------------ public market data

    async def token_list(self) -> list[Token]:
        return _parse_each(await self._data("GET", p.TOKEN_LIST), Token.parse, self.log, "token")

    async def exchange_info(self) -> list[SymbolFilters]:
        data = await self._data("GET", p.EXCHANGE_INFO)
        symbols = data.get("symbols") if isinstance(data, dict) else None
        return _parse_each(symbols, SymbolFilters.parse, self.log, "symbol")

    async def agg_trades(self, symbol: str, limit: int = 1) -> list[AggTrade]:
        data = await self._data("GET", p.AGG_TRADES, params={"symbol": symbol, "limit": str(limit)})
        return _parse_each(data, lambda r: AggTrade.parse(r, symbol), self.log, "aggTrade")

    async def full_depth(self, symbol: str, limit: int = 100) -> DepthSnapshot:
        """The whole public book (limit ∈ 5, 10, 20, 50, 100, 500, 1000; §1.1); may be crossed (§7.6)."""
        data = await self._data("GET", p.FULL_DEPTH, params={"symbol": symbol, "limit": str(limit)})
        return DepthSnapshot.parse(data, symbol)

    async def ticker_price(self, symbol: str) -> Decimal:
        data = await self._data("GET", p.TICKER, params={"symbol": symbol})
        if not isinstance(data, dict):
            raise MalformedMessage("ticker data is not an object")
        return dec(data, "lastPrice")

    async def ticker(self, symbol: str) -> Ticker24h:
        """The 24 h ticker: last price, high, low, volumes (`otobot price`)."""
        return Ticker24h.parse(await self._data("GET", p.TICKER, params={"symbol": symbol}), symbol)

    # ------------------------------------------------------------ orders (never retried)

    async def place_oto(self, base_asset: str, quote_asset: str, order: OtoOrder) -> OtoPlaced:
        # Numbers as the page writes them (§7.1); the pay amount stays the 8-dp string both captures show.
        body = {
            "baseAsset": base_asset, "quoteAsset": quote_asset, "workingSide": BUY,
            "workingPrice": body_number(order.working_price), "workingQuantity": body_number(order.quantity),
            "paymentDetails": [{"amount": fmt(order.pay_amount), "paymentWalletType": "CARD"}],
            "pendingPrice": body_number(order.pending_price), "pendingType": "LIMIT",
        }
        data = await self._data("POST", p.PLACE_OTO, body=body, policy=Policy.ORDER)
        try:
            return OtoPlaced.parse(data)
        except MalformedMessage as exc:
            raise UnknownOutcome(f"OTO place answered success without ids ({exc}); the order may exist") from exc

    async def place_limit(self, base_asset: str, quote_asset: str, order: LimitOrder) -> str:
        if order.side == BUY:
            payment: dict[str, Any] = {"amount": fmt(order.pay_amount), "paymentWalletType": "CARD"}
        else:
            payment = {"amount": body_number(order.quantity), "paymentWalletType": "ALPHA"}
        body = {"baseAsset": base_asset, "quoteAsset": quote_asset, "side": order.side,
                "price": body_number(order.price), "quantity": body_number(order.quantity),
                "paymentDetails": [payment], "orderType": "LIMIT"}
        data = await self._data("POST", p.PLACE_ORDER, body=body, policy=Policy.ORDER)
        try:
            return ident({"id": data}, "id")
        except MalformedMessage as exc:
            raise UnknownOutcome(f"order place answered success without an id ({exc})") from exc

    async def cancel(self, symbol: str, order_id: str) -> None:
        await self._data("POST", p.CANCEL_ORDER, body={"orderId": order_id, "symbol": symbol},
                         policy=Policy.IDEMPOTENT)

    # ------------------------------------------------------------ private reads

    async def open_orders(self, symbol: str | None = None, side: str | None = None) -> list[Order]:
        params = {"side": side or ""}
        if symbol:
            params["symbol"] = symbol
        data = await self._data("GET", p.OPEN_ORDERS, params=params)
        return self._log_derived(_parse_each(data, Order.parse, self.log, "open order"))

    async def order_history(self, start_ms: int, end_ms: int, *, base_asset: str | None = None, page: int = 1,
                            rows: int = 100) -> list[Order]:
        params = {"page": str(page), "rows": str(rows), "orderStatus": p.ORDER_HISTORY_STATUSES,
                  "startTime": str(start_ms), "endTime": str(end_ms)}
        if base_asset:
            params["baseAsset"] = base_asset
        data = await self._data("GET", p.ORDER_HISTORY, params=params)
        return self._log_derived(_parse_each(data, Order.parse, self.log, "history row"))

    def _log_derived(self, rows: list[Order]) -> list[Order]:
        """One warning per order whose row came without `cumQuote` (an older reply format, §7.7): the books then
        hold a worked-out value, and an operator comparing with the exchange should know which."""
        for o in rows:
            if o.quote_derived is None or o.order_id in self._quote_logged:
                continue
            if len(self._quote_logged) >= DERIVED_QUOTE_MEMORY:
                self._quote_logged.clear()
            self._quote_logged.add(o.order_id)
            self.log.warning("Order {} on {} ({} {} filled, {}) came without cumQuote, an older reply format: "
                             "valued at {} = {}", o.order_id, o.symbol, o.side, fmt(o.executed_qty), o.status,
                             o.quote_derived, fmt(o.cum_quote))
        return rows

    async def history_all(self, start_ms: int, end_ms: int, base_asset: str | None = None,
                          rows: int = 100) -> list[Order]:
        out: list[Order] = []
        for page in range(1, HISTORY_MAX_PAGES + 1):
            batch = await self.order_history(start_ms, end_ms, base_asset=base_asset, page=page, rows=rows)
            out += batch
            if len(batch) < rows:
                break
        return out

    async def user_trades(self, symbol: str, order_id: str) -> list[UserTrade]:
        data = await self._data("GET", p.USER_TRADES, params={"orderId": order_id, "symbol": symbol})
        return _parse_each(data, UserTrade.parse, self.log, "user trade")

    async def alpha_balances(self) -> list[AssetBalance]:
        data = await self._data("GET", p.ALPHA_WALLET)
        items = data.get("list") if isinstance(data, dict) else None
        return _parse_each(items, AssetBalance.parse_alpha, self.log, "wallet item")

    async def quote_balance(self, asset: str = "USDT") -> AssetBalance:
        data = await self._data("POST", p.WALLET_ASSET, body={"includeWallets": ["CARD", "MAIN", "SAVING"],
                                                              "includeEq": True})
        for item in _parse_each(data, AssetBalance.parse_wallet_asset, self.log, "wallet asset"):
            if item.asset == asset:
                return item
        return AssetBalance(asset=asset, free=Decimal(0), locked=Decimal(0))

    async def user_volume(self) -> UserVolume:
        return UserVolume.parse(await self._data("GET", p.USER_VOLUME))

    async def listen_key(self) -> str:
        data, body = await self._send("POST", p.LISTEN_KEY, body={}, policy=Policy.IDEMPOTENT)
        return parse_listen_key(data, body)

    async def check_session(self) -> None:
        """Raises AuthExpired when the cookies are no longer logged in."""
        await self._data("GET", p.USER_BASE_INFO)


def _backoff(exc: BaseException, attempt: int) -> float:
    """After failed attempt number `attempt` (1 = the first): Retry-After when the server gave one, else capped
    exponential backoff with full jitter."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return exc.retry_after
    return random.uniform(0, min(8.0, 0.25 * 2 ** attempt))


def _parse_each(items: Any, parse: Callable[[Any], T], log: Any, what: str) -> list[T]:
    """Parse a list; a malformed item is logged with a sample and skipped, never fatal."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedMessage(f"expected a list of {what}s, got {type(items).__name__}")
    out: list[T] = []
    for raw in items:
        try:
            out.append(parse(raw))
        except MalformedMessage as exc:
            log.warning("Skipping a malformed {} ({}): {:.200}", what, exc, str(raw))
    return out


__all__ = ["AlphaRest", "ExchangeError", "Policy"]
