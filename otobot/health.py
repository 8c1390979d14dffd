"""Optional localhost HTTP: GET /health (200 or 503 with JSON) and GET /metrics (Prometheus text)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from otobot.metrics import Metrics


class HealthServer:
    def __init__(self, health: Callable[[], Awaitable[dict[str, Any]]], metrics: Metrics, *, port: int,
                 host: str = "127.0.0.1") -> None:
        self.health, self.metrics, self.port, self.host = health, metrics, port, host
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        body = await self.health()
        return web.json_response(body, status=200 if body.get("ok") else 503, dumps=_dumps)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str)
