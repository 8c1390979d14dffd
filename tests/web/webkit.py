"""Test harness for the dashboard: the daemon's supervisor with the health server and the dashboard mounted
exactly as `otobot run` mounts them, against the simulator on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from otobot.daemon.run import dashboard_routes
from otobot.ops.health import HealthServer
from otobot.ops.metrics import Metrics
from tests.helpers import Daemon, running


@dataclass
class Served:
    daemon: Daemon
    url: str

    async def get(self, path: str, **kw: object) -> aiohttp.ClientResponse:
        async with aiohttp.ClientSession() as session, session.get(self.url + path, **kw) as r:  # type: ignore[arg-type]
            await r.read()
            return r

    async def json(self, path: str) -> object:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as r:
            assert r.status == 200, (path, r.status, await r.text())
            return await r.json()

    async def text(self, path: str) -> str:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as r:
            assert r.status == 200, (path, r.status)
            return await r.text()


@contextlib.asynccontextmanager
async def served(config: Path) -> AsyncIterator[Served]:
    """The supervisor running `config`, and the health port (ephemeral) with the dashboard on it."""
    async with running(config) as d:
        # before the supervisor task first runs: its bots are built with the tape as their trade cache
        routes = dashboard_routes(d.settings, d.store, d.supervisor)
        server = HealthServer(d.supervisor.health, Metrics(), port=0, routes=routes)
        await server.start()
        try:
            yield Served(d, server.url)
        finally:
            await server.stop()
