"""Websockets over real sockets: aggTrade frames, the OTO event sequence, leg cancellation, listen keys, age limits."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
from simkit import KOGE_PAIR, Api, UserStream, open_user_stream, poll

from otobot.exchange import protocol as p
from otobot.exchange.filters import pending_quantity
from otobot.exchange.models import AggTrade, ExecutionReport
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator

D = Decimal


def statuses(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["x"], e["X"]) for e in events]


async def test_market_stream_subscribe_frames_and_unsubscribe(http: aiohttp.ClientSession, quiet: Simulator,
                                                              alice: Api) -> None:
    stream = p.agg_trade_stream(KOGE_PAIR)
    async with http.ws_connect(quiet.market_ws_url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1}))
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 1}
        await alice.limit("BUY", "49", "0.3")
        frame = p.loads((await ws.receive(timeout=5)).data)
        assert frame["stream"] == "alpha_22usdt@aggTrade"
        trade = AggTrade.parse(frame["data"])
        assert (trade.symbol, trade.qty, trade.buyer_is_maker) == (KOGE_PAIR, D("0.3"), False)
        await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": [stream], "id": 2}))
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 2}
        await alice.limit("BUY", "49", "0.3")
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert await ws.receive_json(timeout=5) == {"result": [], "id": 3}  # no aggTrade came in between


async def test_background_market_trades_reach_every_subscriber_as_the_same_frame(
        http: aiohttp.ClientSession, sim: Simulator) -> None:
    stream = p.agg_trade_stream(KOGE_PAIR)
    received: list[list[str]] = [[], []]
    sockets = [await http.ws_connect(sim.market_ws_url) for _ in range(2)]
    try:
        for ws in sockets:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1}))
            assert await ws.receive_json(timeout=5) == {"result": None, "id": 1}
        for i, ws in enumerate(sockets):
            while len(received[i]) < 3:
                received[i].append((await ws.receive(timeout=10)).data)
        common = set(received[0]) & set(received[1])
        assert common, "both subscribers got identical frames for the same trades"
    finally:
        for ws in sockets:
            await ws.close()


async def test_oto_cycle_events_pending_new_filled_with_the_fee_reduced_quantity(
        alice: Api, quiet: Simulator, streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    # The ladder quotes 47.9904 / 48.0096. The working BUY at 48 rests as the best bid; sellers hit it in two
    # fills; the pending SELL activates at 48.005 and rests as the best ask until a buyer lifts it.
    ids = (await alice.oto("48", "0.5", "48.005"))["data"]
    w, pd = ids["workingOrderId"], ids["pendingOrderId"]
    await us.wait(lambda ev: len(ev) >= 2)
    assert statuses(us.of(w)) == [("NEW", "NEW")]
    pending_new = us.of(pd)[0]
    assert (pending_new["x"], pending_new["X"], pending_new["q"]) == ("NEW", "PENDING", "0")
    assert pending_new["T"] == us.of(w)[0]["T"] and pending_new["il"] == us.of(w)[0]["il"]
    sym = quiet.exchange.symbols[KOGE_PAIR]
    quiet.exchange.submit_background(sym, "seller", SELL, D(48), D("0.2"), rest=False)
    quiet.exchange.submit_background(sym, "seller", SELL, D(48), D("0.3"), rest=False)
    await us.wait(lambda ev: len(us.of(pd)) >= 2)
    working = [ExecutionReport.parse(e) for e in us.of(w)]
    assert [(e.exec_type, e.status) for e in working] == [("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED"),
                                                          ("TRADE", "FILLED")]
    assert [e.last_qty for e in working[1:]] == [D("0.2"), D("0.3")]
    assert [e.commission for e in working[1:]] == [D("0.00002"), D("0.00003")]
    assert all(e.commission_asset == "ALPHA_22" for e in working[1:])
    activated = ExecutionReport.parse(us.of(pd)[1])
    assert (activated.exec_type, activated.status) == ("NEW", "NEW")
    assert activated.orig_qty == pending_quantity(D("0.5"), sym.step) == D("0.4999")
    assert activated.transact_time_ms == working[-1].transact_time_ms  # the same millisecond (§5.3)
    assert "n" not in us.of(pd)[1] and us.of(pd)[1]["t"] == "0"
    # A buyer lifts the pending SELL: TRADE FILLED, fee in USDT.
    quiet.exchange.submit_background(sym, "buyer", BUY, D("48.005"), D(1), rest=False)
    await us.wait(lambda ev: len(us.of(pd)) >= 3)
    sold = ExecutionReport.parse(us.of(pd)[2])
    assert (sold.exec_type, sold.status, sold.cum_qty, sold.commission_asset) == ("TRADE", "FILLED", D("0.4999"),
                                                                                  "USDT")
    assert sold.cum_quote == D("23.99769950") and sold.commission == D("0.00239977")
    ids_seen = [e["id"] for e in us.events()]
    assert len(set(ids_seen)) == len(ids_seen) and all(isinstance(i, int) for i in ids_seen)


async def test_sub_fills_of_one_taker_match_share_a_trade_id(alice: Api, quiet: Simulator,
                                                             streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    ids = (await alice.oto("49", "100", "47"))["data"]  # 4 800 USDT: sweeps two 3 000-USDT ask levels
    await us.wait(lambda ev: any(e["X"] == "FILLED" for e in us.of(ids["workingOrderId"])))
    trades = [e for e in us.of(ids["workingOrderId"]) if e["x"] == "TRADE"]
    assert len(trades) > 1 and len({e["t"] for e in trades}) == 1 and len({e["id"] for e in trades}) == len(trades)
    rows = (await alice.get(p.USER_TRADES, orderId=ids["workingOrderId"], symbol=KOGE_PAIR))["data"]
    assert len(rows) == len(trades) and len({r["tradeId"] for r in rows}) == 1
    assert len({r["pageId"] for r in rows}) == len(rows)
    assert [r["lastTrade"] for r in rows] == [False] * (len(rows) - 1) + [True]


async def test_cancelling_the_working_leg_cancels_the_pending_leg(alice: Api, quiet: Simulator,
                                                                  streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    ids = (await alice.oto("40", "0.5", "60"))["data"]
    assert (await alice.cancel(ids["workingOrderId"]))["success"]
    await us.wait(lambda ev: len(ev) >= 4)
    assert statuses(us.of(ids["workingOrderId"]))[-1] == ("CANCELED", "CANCELED")
    assert statuses(us.of(ids["pendingOrderId"]))[-1] == ("CANCELED", "CANCELED")
    assert quiet.exchange.open_orders("alice") == []
    assert quiet.exchange.balance("alice", "USDT") == (D(10000), 0)
    # Cancelling the pending leg cancels the working one too.
    ids = (await alice.oto("40", "0.5", "60"))["data"]
    assert (await alice.cancel(ids["pendingOrderId"]))["success"]
    assert quiet.exchange.by_id[ids["workingOrderId"]].status == "CANCELED"


async def test_cancel_other_leg_off_leaves_the_other_leg(make_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await make_sim(cancel_other_leg=False)
    api = Api(http, sim, "alice")
    ids = (await api.oto("40", "0.5", "60"))["data"]
    await api.cancel(ids["workingOrderId"])
    assert sim.exchange.by_id[ids["pendingOrderId"]].status == "PENDING"


async def test_partly_filled_working_leg_cancelled_keeps_the_base_and_cancels_the_pending_leg(
        make_sim: Any, http: aiohttp.ClientSession) -> None:
    for option in ("cancel", "activate"):
        sim = await make_sim(pending_on_partial=option)
        api = Api(http, sim, "alice")
        ids = (await api.oto("48", "0.5", "60"))["data"]  # the best bid (ladder: 47.9904 / 48.0096)
        sym = sim.exchange.symbols[KOGE_PAIR]
        sim.exchange.submit_background(sym, "seller", SELL, D(48), D("0.2"), rest=False)
        assert sim.exchange.by_id[ids["pendingOrderId"]].status == "PENDING"  # only a full fill activates it
        await api.cancel(ids["workingOrderId"])
        pending = sim.exchange.by_id[ids["pendingOrderId"]]
        free, locked = sim.exchange.balance("alice", "ALPHA_22")
        if option == "cancel":
            assert pending.status == "CANCELED" and (free, locked) == (D("0.19998"), 0)
        else:
            assert pending.status == "NEW" and pending.orig_qty == D("0.1999") and locked == D("0.1999")


async def test_listen_key_expiry_sends_the_expired_event_and_closes(make_sim: Any, http: aiohttp.ClientSession,
                                                                    streams: list[UserStream]) -> None:
    sim = await make_sim(listen_key_ttl_s=0.3)
    api = Api(http, sim, "alice")
    us = await open_user_stream(api)
    streams.append(us)
    await asyncio.wait_for(us.closed.wait(), 5)
    last = us.frames[-1]
    assert last["stream"] == f"alpha@{us.key}"
    assert set(last["data"]) == {"e", "E", "listenKey"} and last["data"]["e"] == "listenKeyExpired"
    assert last["data"]["listenKey"] == us.key and isinstance(last["data"]["E"], int)
    # The lapsed key cannot be subscribed again; a fresh POST gives a new one.
    async with http.ws_connect(sim.user_ws_url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [p.user_stream(us.key)], "id": 7}))
        reply = await ws.receive_json(timeout=5)
        assert reply["id"] == 7 and reply["error"]["code"] == 2 and "result" not in reply
    assert (await api.post(p.LISTEN_KEY))["data"] != us.key


async def test_rotated_listen_key_expires_the_old_stream(make_sim: Any, http: aiohttp.ClientSession,
                                                        streams: list[UserStream]) -> None:
    sim = await make_sim(rotate_on_post=True)
    api = Api(http, sim, "alice")
    us = await open_user_stream(api)
    streams.append(us)
    await api.post(p.LISTEN_KEY)
    await asyncio.wait_for(us.closed.wait(), 5)
    assert us.frames[-1]["data"]["e"] == "listenKeyExpired"


async def test_server_closes_connections_older_than_the_maximum_age(make_sim: Any,
                                                                    http: aiohttp.ClientSession) -> None:
    sim = await make_sim(max_connection_age_s=0.3)
    async with http.ws_connect(sim.market_ws_url) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1001


async def test_client_pings_are_answered(http: aiohttp.ClientSession, quiet: Simulator) -> None:
    async with http.ws_connect(quiet.user_ws_url, autoping=False) as ws:
        await ws.ping(b"hi")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"hi")


async def test_plain_orders_carry_no_contingency_keys(alice: Api, quiet: Simulator,
                                                      streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    oid = (await alice.limit("BUY", "40", "0.5"))["data"]
    await poll(lambda: us.of(oid))
    event = us.of(oid)[0]
    assert "ct" not in event and "cp" not in event and event["il"] == "-1"
