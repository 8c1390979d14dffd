"""One bot's user-data stream: its executions, (re)subscriptions and losses become inbox messages for the driver."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from otobot.config.settings import GlobalConfig
from otobot.exchange.errors import AuthExpired, RiskChallenge
from otobot.exchange.models import ExecutionReport
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import UserStream
from otobot.trading import inbox
from otobot.trading.ports import Clock


class UserFeed:
    """Owns the user stream's run loop. It only posts messages: every change of state happens in the driver."""

    def __init__(self, session: aiohttp.ClientSession, settings: GlobalConfig, rest: AlphaRest,
                 queue: asyncio.Queue[inbox.Msg], creds_changed: asyncio.Event, clock: Clock, log: Any) -> None:
        rel = settings.reliability
        self.queue = queue
        self.creds_changed = creds_changed  # set by the driver when new credentials arrive (reload, resume)
        self.clock = clock
        self.stream = UserStream(session, settings.exchange.user_ws_url, rest, on_event=self._on_event,
                                 on_synced=self._on_synced, on_down=self._on_down,
                                 renew_every_s=rel.listen_key_renew_s, ping_interval_s=rel.ws_ping_interval_s,
                                 backoff_max_s=rel.ws_backoff_max_s, logger=log)

    async def run(self) -> None:
        while True:
            try:
                await self.stream.run()
                return
            except (AuthExpired, RiskChallenge) as exc:
                await self.queue.put(inbox.AuthLost(exc))
                # No retry loop against dead cookies: wait for new credentials (ctl resume / reload).
                await self.creds_changed.wait()
                self.creds_changed.clear()

    async def _on_event(self, report: ExecutionReport) -> None:
        received = getattr(self.stream, "last_receive_monotonic", None) or self.clock.monotonic()
        self.queue.put_nowait(inbox.Exec(report, received))

    async def _on_synced(self) -> None:
        # The stream buffers events until this returns: reconciliation sees REST first, then the replay.
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(inbox.Synced(fut))
        await fut

    async def _on_down(self) -> None:
        self.queue.put_nowait(inbox.Down())
