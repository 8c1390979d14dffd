"""Optional HTTP on control.health_port: GET /health (JSON, 200 when ok else 503), GET /metrics (Prometheus text),
and whatever routes the daemon hands in (the dashboard, issue 22); loopback, or a token on every path."""

from __future__ import annotations

import hmac
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from loguru import logger

from otobot.ops.metrics import Metrics

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HealthCheck = Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]
AddRoutes = Callable[[web.Application], None]  # mounts more paths (the dashboard) without ops importing them
TOKEN_COOKIE = "otobot_token"
TOKEN_COOKIE_MAX_AGE_S = 30 * 86400


class HealthServer:
    """Loopback without a token (for a local agent or an SSH tunnel); any other address only with a token, which
    then guards every path: `Authorization: Bearer TOKEN`, or a link `?token=TOKEN` that sets a cookie."""

    def __init__(self, health: HealthCheck, metrics: Metrics, *, port: int, host: str = "127.0.0.1",
                 token: str | None = None, routes: Sequence[AddRoutes] = ()) -> None:
        if host not in LOOPBACK and not token:
            raise ValueError(f"the health port binds loopback ({', '.join(LOOPBACK)}) unless a token is set; "
                             f"{host!r} needs control.web_token")
        self.health, self.metrics, self.port, self.host = health, metrics, port, host
        self.token = token
        self.routes = tuple(routes)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard] if self.token else [])
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        for add in self.routes:
            add(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.port == 0:  # an ephemeral port: report the one the kernel picked
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        token = self.token or ""
        link = request.query.get("token")
        if link is not None and _same(link, token):
            # The link's token becomes a cookie and leaves the address bar, the history and any Referer.
            rest = {k: v for k, v in request.query.items() if k != "token"}
            found = web.HTTPFound(str(request.rel_url.with_query(rest)))
            found.set_cookie(TOKEN_COOKIE, token, max_age=TOKEN_COOKIE_MAX_AGE_S, httponly=True, samesite="Strict",
                             path="/")
            raise found
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if (bearer and _same(bearer, token)) or _same(request.cookies.get(TOKEN_COOKIE, ""), token):
            return await handler(request)
        return web.Response(status=401, text="401: this port needs the token from control.web_token: send "
                            "`Authorization: Bearer TOKEN`, or open /?token=TOKEN once in the browser\n",
                            headers={"WWW-Authenticate": 'Bearer realm="otobot"'})

    async def _health(self, request: web.Request) -> web.Response:
        try:
            result = self.health()
            body = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # a broken check is itself unhealthy, never a 500 with a traceback
            logger.warning("The health check failed: {}", exc)
            body = {"ok": False, "error": str(exc) or type(exc).__name__}
        status = 200 if body.get("ok") else 503
        return web.Response(text=json.dumps(body, default=str), status=status, content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render().encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


def _same(given: str, token: str) -> bool:
    """Constant time, so the answer's timing does not spell the token out."""
    return bool(given) and bool(token) and hmac.compare_digest(given.encode(), token.encode())
