"""Fault injection, from Python and over the /_sim admin endpoints: lost responses, 429/5xx, delays, ws faults."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from simkit import KOGE_PAIR, Api, UserStream, open_user_stream, poll

from otobot.exchange import protocol as p
from otobot.sim.server import Simulator

D = Decimal


async def admin(http: aiohttp.ClientSession, sim: Simulator, path: str, body: dict[str, Any]) -> Any:
    async with http.post(sim.rest_url + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_response_lost_after_the_order_was_placed(alice: Api, quiet: Simulator) -> None:
    quiet.faults.drop_response(p.PLACE_OTO, count=1, when="after")
    with pytest.raises(aiohttp.ClientError):
        await alice.oto("40", "0.5", "60")
    open_orders = quiet.exchange.open_orders("alice")
    assert [(o.side, o.status) for o in open_orders] == [("BUY", "NEW"), ("SELL", "PENDING")]
    assert quiet.requests[p.PLACE_OTO] == 1 and quiet.faults.injected["drop_after"] == 1
    assert (await alice.oto("40", "0.5", "60"))["success"]  # only the next one was dropped


async def test_request_lost_before_it_was_applied(alice: Api, quiet: Simulator) -> None:
    quiet.faults.drop_response(p.PLACE_ORDER, count=1, when="before")
    with pytest.raises(aiohttp.ClientError):
        await alice.limit("BUY", "40", "0.5")
    assert quiet.exchange.orders("alice") == []


async def test_http_429_with_retry_after_then_normal(http: aiohttp.ClientSession, alice: Api,
                                                     quiet: Simulator) -> None:
    quiet.faults.http_error(429, count=2, retry_after=1)
    for _ in range(2):
        async with http.get(quiet.rest_url + p.OPEN_ORDERS, headers=alice.headers) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "1"
    assert (await alice.get(p.OPEN_ORDERS))["success"]


async def test_5xx_only_on_the_chosen_path_and_nothing_applied(http: aiohttp.ClientSession, alice: Api,
                                                               quiet: Simulator) -> None:
    quiet.faults.http_error(503, count=1, path=p.PLACE_OTO)
    assert (await alice.get(p.OPEN_ORDERS))["success"]
    async with http.post(quiet.rest_url + p.PLACE_OTO, data=p.dumps(alice.oto_body("40", "0.5", "60")),
                         headers=alice.headers) as r:
        assert r.status == 503
    assert quiet.exchange.orders("alice") == []


async def test_rest_delay(alice: Api, quiet: Simulator) -> None:
    quiet.faults.delay_rest(0.3, path=p.OPEN_ORDERS)
    t0 = time.monotonic()
    await alice.get(p.OPEN_ORDERS)
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    await alice.get(p.USER_VOLUME)
    assert time.monotonic() - t0 < 0.3
    quiet.faults.clear()


async def test_drop_user_streams_of_one_user_only(http: aiohttp.ClientSession, quiet: Simulator,
                                                  streams: list[UserStream]) -> None:
    a = await open_user_stream(Api(http, quiet, "alice"))
    b = await open_user_stream(Api(http, quiet, "bob"))
    streams.extend([a, b])
    async with http.ws_connect(quiet.market_ws_url) as market:
        assert await quiet.faults.drop_ws("user", user="alice") == 1
        await asyncio.wait_for(a.closed.wait(), 5)
        assert not b.closed.is_set() and not market.closed
        assert await quiet.faults.drop_ws("market") == 1
        msg = await market.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    dropped = await admin(http, quiet, "/_sim/drop_ws", {"which": "all"})
    assert dropped == {"ok": True, "dropped": 1}
    await asyncio.wait_for(b.closed.wait(), 5)


async def _events_with(make_sim: Any, http: aiohttp.ClientSession, streams: list[UserStream],
                       **faults: float) -> tuple[Simulator, UserStream, list[int]]:
    sim: Simulator = await make_sim()
    for k, v in faults.items():
        setattr(sim.faults, k, v)
    api = Api(http, sim, "alice")
    us = await open_user_stream(api)
    streams.append(us)
    ids = [int((await api.limit("BUY", "40", "0.5"))["data"]) for _ in range(4)]
    expected = len(ids)  # one NEW event per order
    await poll(lambda: len({e["id"] for e in us.events()}) >= expected, 5, "every event")
    await asyncio.sleep(0.1)  # a held (reordered) frame is released within 50 ms
    return sim, us, ids


async def test_duplicated_user_events(make_sim: Any, http: aiohttp.ClientSession,
                                      streams: list[UserStream]) -> None:
    _, us, ids = await _events_with(make_sim, http, streams, duplicate_p=1.0)
    assert [int(e["i"]) for e in us.events()] == [i for i in ids for _ in range(2)]


async def test_reordered_user_events(make_sim: Any, http: aiohttp.ClientSession, streams: list[UserStream]) -> None:
    sim, us, ids = await _events_with(make_sim, http, streams, reorder_p=1.0)
    got = [int(e["i"]) for e in us.events()]
    assert sorted(got) == ids and got != ids and sim.faults.injected["reorder"] >= 1


async def test_malformed_user_frames(make_sim: Any, http: aiohttp.ClientSession, streams: list[UserStream]) -> None:
    _, us, ids = await _events_with(make_sim, http, streams, malformed_p=1.0)
    assert [int(e["i"]) for e in us.events()] == ids  # every real event still arrives, in order
    assert sum(1 for f in us.frames if f is None) == len(ids)  # each preceded by a truncated frame


async def test_admin_endpoints(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    await admin(http, quiet, "/_sim/faults", {"http_error": {"status": 429, "count": 1, "retry_after": 2}})
    async with http.get(quiet.rest_url + p.OPEN_ORDERS, headers=alice.headers) as r:
        assert r.status == 429 and r.headers["Retry-After"] == "2"
    await admin(http, quiet, "/_sim/faults", {"drop_response": {"path": p.PLACE_ORDER, "when": "after"}})
    with pytest.raises(aiohttp.ClientError):
        await alice.limit("BUY", "40", "0.5")
    await admin(http, quiet, "/_sim/faults", {"clear": True})
    await admin(http, quiet, "/_sim/expire", {"user": "alice"})
    assert (await alice.get(p.OPEN_ORDERS))["code"] == "100002001"
    await admin(http, quiet, "/_sim/expire", {"user": "alice", "expired": False})
    await admin(http, quiet, "/_sim/balance", {"user": "alice", "asset": "USDT", "free": "5"})
    assert (await alice.oto("40", "0.5", "60"))["code"] == "481020"
    async with http.get(quiet.rest_url + "/_sim/state", params={"user": "alice"}) as r:
        state = p.loads(await r.text())
    assert state["balances"]["USDT"] == {"free": "5", "locked": "20.00000000"}
    assert [o["status"] for o in state["open_orders"]] == ["NEW"] and len(state["orders"]) == 1
    assert state["fills"] == []
    shocked = await admin(http, quiet, "/_sim/shock", {"symbol": KOGE_PAIR, "pct": -2})
    assert D(shocked["mid"]) == quiet.market.mid[KOGE_PAIR] == D(48) * D("0.98")
    assert (await admin(http, quiet, "/_sim/market", {"paused": False}))["paused"] is False
    await poll(lambda: quiet.market.mid[KOGE_PAIR] != D(48) * D("0.98"), 5, "the market to move again")
    assert (await admin(http, quiet, "/_sim/market", {"paused": True}))["paused"] is True


async def test_expire_listen_key_from_admin(http: aiohttp.ClientSession, alice: Api, quiet: Simulator,
                                            streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    await admin(http, quiet, "/_sim/expire_listen_key", {"user": "alice"})
    await asyncio.wait_for(us.closed.wait(), 5)
    assert json.loads(us.raw[-1])["data"]["e"] == "listenKeyExpired"


async def test_late_apply_lands_after_the_client_gave_up(alice: Api, quiet: Simulator) -> None:
    quiet.faults.drop_response(p.PLACE_OTO, count=1, when="late", apply_after_s=0.5)
    began = time.monotonic()
    with pytest.raises(aiohttp.ClientError):
        await alice.oto("40", "0.5", "60")
    assert time.monotonic() - began < 0.5  # the client learns nothing and gives up at once
    assert quiet.exchange.orders("alice") == []  # ... and at that moment the exchange has nothing
    await poll(lambda: len(quiet.exchange.open_orders("alice")) == 2, 5, "the late apply")
    assert time.monotonic() - began >= 0.5
    assert [(o.side, o.status) for o in quiet.exchange.open_orders("alice")] == [("BUY", "NEW"), ("SELL", "PENDING")]
    assert quiet.requests[p.PLACE_OTO] == 1 and quiet.faults.injected["drop_late"] == 1


async def test_late_apply_over_the_admin_endpoint(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    await admin(http, quiet, "/_sim/faults", {"drop_response": {"path": p.PLACE_ORDER, "when": "late",
                                                                 "apply_after_s": 0.3}})
    with pytest.raises(aiohttp.ClientError):
        await alice.limit("BUY", "40", "0.5")
    await poll(lambda: len(quiet.exchange.orders("alice")) == 1, 5, "the late limit order")
    with pytest.raises(ValueError, match="only goes with when='late'"):
        quiet.faults.drop_response(p.PLACE_ORDER, when="after", apply_after_s=1)
