"""The dashboard's routes: two pages, their static files and the JSON endpoints behind them (read-only)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from loguru import logger

from otobot.config.settings import LOOPBACK_HOSTS, USER_NAME, GlobalConfig, UsersScan, scan_users
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.views import reports
from otobot.web import data
from otobot.web.tape import PriceTape

Live = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]

OVERVIEW_FRESH_S = 1.0  # one computation serves every browser polling within this long (they poll every 2 s)
# ...and at least this many times as long as it took: however slow the database, the dashboard never takes more
# than about a fifth of the event loop the bots run on.
OVERVIEW_COST_FACTOR = 5.0
USERS_FRESH_S = 5.0  # the users folder is parsed at most this often (100 YAML files: ~90 ms); reloads need SIGHUP
HISTORY_DAYS = 14
CYCLES_SHOWN = 100
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"[a-z0-9_-]+\.(html|js|css|svg)")
# Everything from this origin, nothing inline, no frames: the page shows money and must not be framed or injected.
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _static_files() -> dict[str, bytes]:
    folder = resources.files("otobot.web") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if _STATIC_NAME.fullmatch(f.name)}


class Dashboard:
    """Read-only views of the running daemon: what `status`, `history`, `orders`, `audit` and `tokens` print.

    Built by the daemon with its store, its current settings, its live status and the price tape, and mounted on
    the health server (ops never imports this package)."""

    def __init__(self, store: Store, settings: Callable[[], GlobalConfig], live: Live,
                 tape: PriceTape | None = None, *, clock: Callable[[], float] = time.time,
                 loopback_names_only: bool = True) -> None:
        self.store, self.settings, self.live, self.tape, self.clock = store, settings, live, tape, clock
        # Without a token the page is guarded by the loopback bind alone; a web page elsewhere could still reach
        # it through a DNS name rebound to 127.0.0.1, which its Host header then names: answer loopback names only.
        self.loopback_names_only = loopback_names_only
        self.files = _static_files()
        self._overview: tuple[float, dict[str, Any]] | None = None
        self._overview_lock = asyncio.Lock()
        self._overview_cost_s = 0.0
        self._scan: tuple[float, UsersScan] | None = None

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, Handler]] = [
            ("/", self._page("overview.html")),
            ("/users/{user}", self._page("user.html")),
            ("/static/{name}", self._static),
            ("/api/overview", self._api_overview),
            ("/api/paper", self._api_paper),
            ("/api/tokens", self._api_tokens),
            ("/api/users/{user}/history", self._api_history),
            ("/api/users/{user}/stats", self._api_stats),
            ("/api/users/{user}/cycles", self._api_cycles),
            ("/api/users/{user}/cycles/{cycle}", self._api_cycle),
            ("/api/users/{user}/orders", self._api_orders),
            ("/api/users/{user}/audit", self._api_audit),
            ("/api/users/{user}/market", self._api_market),
        ]
        for path, handler in routes:
            app.router.add_get(path, self._checked(handler))

    def _checked(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.Response:
            if self.loopback_names_only and (request.url.host or "").strip("[]") not in LOOPBACK_HOSTS:
                raise web.HTTPMisdirectedRequest(text="421: this page answers to 127.0.0.1, localhost or [::1] only "
                                                      "(set control.web_token to serve it under another name)")
            return await handler(request)
        return checked

    # ------------------------------------------------------------ pages and files

    def _page(self, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def page(request: web.Request) -> web.Response:
            return web.Response(body=self.files[name], content_type="text/html", charset="utf-8", headers=HEADERS)
        return page

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = self.files.get(name)
        if body is None:
            raise web.HTTPNotFound(text=f"no static file {name}")
        kind = STATIC_TYPES["." + name.rsplit(".", 1)[1]]
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=HEADERS)

    # ------------------------------------------------------------ JSON

    async def overview(self) -> dict[str, Any]:
        """`otobot status --json` with totals; computed once per OVERVIEW_FRESH_S however many browsers poll."""
        async with self._overview_lock:
            now = self.clock()
            fresh_for = max(OVERVIEW_FRESH_S, OVERVIEW_COST_FACTOR * self._overview_cost_s)
            if self._overview is None or now - self._overview[0] >= fresh_for:
                started = time.perf_counter()
                self._overview = (now, await data.overview(self.settings(), self.store, await self._live(),
                                                           self.scan()))
                self._overview_cost_s = time.perf_counter() - started
            return self._overview[1]

    def scan(self) -> UsersScan:
        now = self.clock()
        if self._scan is None or now - self._scan[0] >= USERS_FRESH_S:
            self._scan = (now, scan_users(self.settings().users_dir))
        return self._scan[1]

    def users(self) -> data.Users:
        return self.scan().users

    async def _live(self) -> dict[str, Any] | None:
        try:
            return await self.live()
        except Exception as exc:  # a status that fails shows the database's view, never a 500
            logger.warning("The dashboard read no live status: {}", exc)
            return None

    async def _api_overview(self, request: web.Request) -> web.Response:
        return _json(await self.overview())

    async def _api_paper(self, request: web.Request) -> web.Response:
        # Both pages show this line above every figure of a paper run (#25), so no figure passes for a real one.
        return _json({"paper": reports.paper_banner(self.settings())})

    async def _api_tokens(self, request: web.Request) -> web.Response:
        return _json(await reports.token_rows(self.store))

    async def _user(self, request: web.Request) -> str:
        user = request.match_info["user"]
        if not USER_NAME.fullmatch(user) or not await data.known_user(self.users(), self.store, user):
            raise web.HTTPNotFound(text=json.dumps({"error": f"no user {user!r}"}), content_type="application/json")
        return user

    async def _api_history(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        days = _int(request, "days", HISTORY_DAYS, 1, 3660)
        return _json(await data.user_history(self.settings(), self.store, user, days, int(self.clock() * 1000),
                                             self.users()))

    async def _api_stats(self, request: web.Request) -> web.Response:
        return _json(await reports.stats_row(self.store, await self._user(request)))

    async def _api_cycles(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        return _json(await reports.cycle_rows(self.store, user, _int(request, "limit", CYCLES_SHOWN, 1, 1000)))

    async def _api_cycle(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        try:
            cycle_id = int(request.match_info["cycle"])
        except ValueError:
            raise web.HTTPBadRequest(text="a cycle is a number") from None
        detail = await reports.cycle_detail(self.store, user, cycle_id)
        if detail is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"{user} has no cycle {cycle_id}"}),
                                   content_type="application/json")
        return _json(detail)

    async def _api_orders(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        return _json(await reports.order_rows(self.store, user, status=None, since_ms=None, until_ms=None,
                                              limit=_int(request, "limit", 30, 1, 1000),
                                              page=_int(request, "page", 1, 1, 1_000_000)))

    async def _api_audit(self, request: web.Request) -> web.Response:
        return _json(await data.user_audit(self.store, await self._user(request)))

    async def _api_market(self, request: web.Request) -> web.Response:
        """The user's token with its filters, and the last hour's prices the bots saw on its symbol."""
        user = await self._user(request)
        token, symbol = await data.user_token(self.users(), self.store, user, await self._live())
        since = int(self.clock() * 1000) - 3_600_000
        prices = self.tape.points(symbol, since) if self.tape is not None and symbol else []
        return _json({"user": user, "symbol": symbol, "token": token,
                      "prices": [[ms, fmt(price)] for ms, price in prices]})


def _int(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{key}={text!r}: expected a whole number from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise web.HTTPBadRequest(text=f"{key}={value}: expected a whole number from {lo} to {hi}")
    return value


def _json(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body, default=str), content_type="application/json", headers=HEADERS)
