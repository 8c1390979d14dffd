"""Optional localhost HTTP: GET /health (JSON, 200 when ok else 503) and GET /metrics (Prometheus text)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from loguru import logger

from otobot.ops.metrics import Metrics

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HealthCheck = Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]


def price_stream_state(row: dict[str, Any]) -> str:
    """A bot's price stream from its status row: `fresh` (connected, last trade within max_price_age_s), `stale`
    (connected, but the last trade is older: the bot will not trade on it), `down`, or `none` (no token yet)."""
    stream = row.get("market_stream")
    if stream in ("none", "down", "fresh", "stale"):
        return str(stream)
    if stream != "up":
        return "down"
    age, limit = row.get("price_age_s"), row.get("max_price_age_s")
    if not isinstance(age, int | float) or not isinstance(limit, int | float):
        return "stale" if age is None and limit is not None else "fresh"
    return "fresh" if age <= limit else "stale"


class HealthServer:
    """Binds loopback only: the endpoints are unauthenticated, so they are for a local agent or an SSH tunnel."""

    def __init__(self, health: HealthCheck, metrics: Metrics, *, port: int, host: str = "127.0.0.1") -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the health endpoint binds loopback only ({', '.join(LOOPBACK)}), not {host!r}")
        self.health, self.metrics, self.port, self.host = health, metrics, port, host
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
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
