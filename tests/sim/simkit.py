"""Simulator test kit: a REST client per simulated user, a user-stream reader, capture fixtures, polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from otobot.exchange import protocol as p
from otobot.exchange.filters import fmt, pay_amount
from otobot.sim.server import Simulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KOGE = "ALPHA_22"
KOGE_PAIR = "ALPHA_22USDT"


def capture(name: str) -> list[Any]:
    """The JSON values of tests/fixtures/<name> (one per line; verbatim from alpha-api.md §7)."""
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


async def poll(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Api:
    """A minimal bapi client for one simulated user: the headers a browser sends, bodies decoded Decimal-exact."""

    http: aiohttp.ClientSession
    sim: Simulator
    user: str

    @property
    def headers(self) -> dict[str, str]:
        return self.sim.credentials(self.user).request_headers()

    async def get(self, path: str, **params: Any) -> Any:
        async with self.http.get(self.sim.rest_url + path, params={k: str(v) for k, v in params.items()},
                                 headers=self.headers) as r:
            assert r.status == 200, (r.status, await r.text())
            return p.loads(await r.text())

    async def post(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        text = raw if raw is not None else p.dumps(body if body is not None else {})
        async with self.http.post(self.sim.rest_url + path, data=text,
                                  headers={**self.headers, "content-type": "application/json"}) as r:
            assert r.status == 200, (r.status, await r.text())
            return p.loads(await r.text())

    @staticmethod
    def oto_body(working: str, qty: str, pending: str, alpha: str = KOGE, amount: str | None = None) -> dict[str, Any]:
        """An OTO body as the page sends it: prices/quantity as JSON numbers, the pay amount as a string."""
        wp, wq = Decimal(working), Decimal(qty)
        return {"baseAsset": alpha, "quoteAsset": "USDT", "workingSide": "BUY", "workingPrice": wp,
                "workingQuantity": wq, "paymentDetails": [{"amount": amount or fmt(pay_amount(wp, wq)),
                                                           "paymentWalletType": "CARD"}],
                "pendingPrice": Decimal(pending), "pendingType": "LIMIT"}

    async def oto(self, working: str, qty: str, pending: str, alpha: str = KOGE, **over: Any) -> Any:
        return await self.post(p.PLACE_OTO, {**self.oto_body(working, qty, pending, alpha), **over})

    async def limit(self, side: str, price: str, qty: str, alpha: str = KOGE) -> Any:
        pr, q = Decimal(price), Decimal(qty)
        amount: Any = fmt(pay_amount(pr, q)) if side == "BUY" else q
        wallet = "CARD" if side == "BUY" else "ALPHA"
        return await self.post(p.PLACE_ORDER, {"baseAsset": alpha, "quoteAsset": "USDT", "side": side, "price": pr,
                                               "quantity": q, "paymentDetails": [{"amount": amount,
                                                                                   "paymentWalletType": wallet}],
                                               "orderType": "LIMIT"})

    async def cancel(self, order_id: Any, symbol: str = KOGE_PAIR) -> Any:
        return await self.post(p.CANCEL_ORDER, {"orderId": str(order_id), "symbol": symbol})


@dataclass
class UserStream:
    """A subscribed user-data websocket that records every frame (parsed) and raw text."""

    ws: aiohttp.ClientWebSocketResponse
    key: str
    frames: list[Any] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.raw.append(msg.data)
                    try:
                        self.frames.append(json.loads(msg.data))
                    except ValueError:
                        self.frames.append(None)
        finally:
            self.closed.set()

    def events(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames
                if isinstance(f, dict) and isinstance(f.get("data"), dict) and f["data"].get("e") == "executionReport"]

    def of(self, order_id: Any) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["i"] == str(order_id)]

    async def wait(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 5.0) -> Any:
        return await poll(lambda: predicate(self.events()), timeout, "user-stream events")


async def open_user_stream(api: Api) -> UserStream:
    key = (await api.post(p.LISTEN_KEY))["data"]
    ws = await api.http.ws_connect(api.sim.user_ws_url)
    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [p.user_stream(key)], "id": 2}))
    ack = await ws.receive_json(timeout=5)
    assert ack == {"result": None, "id": 2}
    stream = UserStream(ws, key)
    stream.task = asyncio.create_task(stream._read())
    return stream
