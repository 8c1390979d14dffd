"""Reading a websocket in batches: one wake-up per batch of frames instead of one per frame."""

from __future__ import annotations

import asyncio

import aiohttp


class ReadBatches:
    """After a frame, the socket is not read for `every_s`: the kernel gathers what arrives meanwhile and one read
    hands it all over, so a price socket costs one wake-up per batch instead of one per frame (measured: ~45 µs
    of daemon CPU per frame read one by one, ~15 µs at 50 ms batches, ~9 µs at 100 ms). Prices then reach the
    bot up to `every_s` late; a silent socket, pings and the close handshake wait at most as long."""

    def __init__(self, transport: asyncio.ReadTransport, every_s: float) -> None:
        self.transport = transport
        self.every_s = every_s
        self._resume: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, ws: aiohttp.ClientWebSocketResponse, every_s: float) -> ReadBatches | None:
        if every_s <= 0:
            return None
        # aiohttp shows no transport on a websocket; its connection holds one. Looked up defensively, so an
        # aiohttp that moves it turns batching off rather than breaking the stream.
        transport = getattr(getattr(ws, "_conn", None), "transport", None)
        if not isinstance(transport, asyncio.ReadTransport):
            return None
        return cls(transport, every_s)

    def read_later(self) -> None:
        if self._resume is None and self.transport.is_reading():
            self.transport.pause_reading()
            self._resume = asyncio.get_running_loop().call_later(self.every_s, self._read_now)

    def _read_now(self) -> None:
        self._resume = None
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def stop(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
