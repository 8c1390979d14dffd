"""The simulator plays the user beside otobot (issue 19): their own starting coins, orders placed as the browser
would (`/_sim/order`: fills at once or rests, executions on their stream), open-order rows as §2.4 shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
from simkit import KOGE, KOGE_PAIR, Api, UserStream, capture, open_user_stream

from otobot.exchange import protocol as p
from otobot.exchange.models import OTO_PENDING, OTO_WORKING, Order
from otobot.sim.config import default_sim_config, sim_user
from otobot.sim.server import Simulator

D = Decimal


async def admin_order(http: aiohttp.ClientSession, sim: Simulator, **body: Any) -> dict[str, Any]:
    async with http.post(sim.rest_url + "/_sim/order", json=body) as r:
        out: dict[str, Any] = await r.json()
        return out


async def test_a_user_starts_with_coins_of_their_own(http: aiohttp.ClientSession) -> None:
    from dataclasses import replace

    cfg = default_sim_config(users=1)
    sim = Simulator(replace(cfg, users=(replace(sim_user("alice"), tokens=((KOGE, D("5")),)),)))
    await sim.start()
    try:
        assert sim.exchange.balance("alice", KOGE) == (D("5"), D("0"))
    finally:
        await sim.stop()


async def test_a_hand_order_through_the_market_fills_at_once_and_reaches_the_users_stream(
        http: aiohttp.ClientSession, quiet: Simulator, alice: Api, streams: list[UserStream]) -> None:
    us = await open_user_stream(alice)
    streams.append(us)
    placed = await admin_order(http, quiet, user="alice", token="KOGE", side="BUY", quantity="0.25")
    assert placed["ok"] and placed["status"] == "FILLED" and placed["executedQty"] == "0.25"
    await us.wait(lambda ev: any(e["X"] == "FILLED" for e in us.of(placed["orderId"])))
    event = us.of(placed["orderId"])[-1]
    assert event["il"] in ("-1", -1) and event["s"] == KOGE_PAIR and event["S"] == "BUY"
    assert quiet.exchange.balance("alice", KOGE)[0] == D("0.25") - D("0.25") * quiet.config.fee_rate


async def test_a_hand_order_s_events_have_the_captured_keys_order_and_types(
        http: aiohttp.ClientSession, quiet: Simulator, alice: Api, streams: list[UserStream]) -> None:
    """Every frame a hand order puts on the user's stream is a §7.4 executionReport: the same keys in the same
    order, the same JSON types (ids and numbers as strings, `id` and times as numbers), `n`/`N` on TRADE only. A
    single order has no `ct`/`cp` (it is in no OTO) and `il` "-1", as history rows say for no list (§2.4)."""
    captured = [f["data"] for f in capture("captures_user_stream.jsonl") if "data" in f]
    new_ev, trade_ev = captured[0], captured[2]
    us = await open_user_stream(alice)
    streams.append(us)
    for side, qty in (("BUY", "0.25"), ("SELL", "0.2")):
        placed = await admin_order(http, quiet, user="alice", token="KOGE", side=side, quantity=qty)
        assert placed["ok"] and placed["status"] == "FILLED"
        await us.wait(lambda ev, oid=placed["orderId"]: any(e["X"] == "FILLED" for e in us.of(oid)))
        events = us.of(placed["orderId"])
        assert [e["x"] for e in events] == ["NEW", "TRADE"] or events[0]["x"] == "TRADE"
        for ev in events:
            model = trade_ev if ev["x"] == "TRADE" else new_ev
            assert list(ev) == [k for k in model if k not in ("ct", "cp")], ev
            assert {k: type(v) for k, v in ev.items()} == {k: type(model[k]) for k in ev}, ev
            assert ev["il"] == "-1" and ev["c"].startswith("web_") and len(ev["c"]) == 36
        trade = next(e for e in events if e["x"] == "TRADE")
        assert trade["N"] == (KOGE if side == "BUY" else "USDT")  # §6.4: BUY fee in base, SELL fee in USDT


async def test_a_hand_order_far_from_the_market_rests_and_is_listed_as_a_plain_order(
        http: aiohttp.ClientSession, quiet: Simulator, alice: Api) -> None:
    placed = await admin_order(http, quiet, user="alice", token="ALPHA_22", side="BUY", quantity="0.5", price="30")
    assert placed["ok"] and placed["status"] == "NEW"
    rows = [Order.parse(r) for r in (await alice.get(p.OPEN_ORDERS))["data"]]
    assert [(o.order_id, o.order_list_id, o.contingency_position) for o in rows] == [(placed["orderId"], "-1", None)]
    bad = await admin_order(http, quiet, user="alice", token="NOPE", side="BUY", quantity="1")
    assert not bad["ok"] and "NOPE" in bad["error"]


async def test_open_order_rows_full_carry_the_oto_fields(quiet: Simulator, alice: Api) -> None:
    ids = (await alice.oto("40", "0.5", "40.1"))["data"]
    rows = {o.order_id: o for o in map(Order.parse, (await alice.get(p.OPEN_ORDERS))["data"])}
    w, pd = rows[str(ids["workingOrderId"])], rows[str(ids["pendingOrderId"])]
    assert (w.contingency_position, pd.contingency_position) == (OTO_WORKING, OTO_PENDING)
    assert w.order_list_id == pd.order_list_id not in ("", "-1")


async def test_open_order_rows_bare_have_no_list_id_and_the_client_reads_them_as_unknown(make_sim: Any,
                                                                                       http: aiohttp.ClientSession
                                                                                       ) -> None:
    sim: Simulator = await make_sim(open_order_rows="bare")
    alice = Api(http, sim, "alice")
    ids = (await alice.oto("40", "0.5", "40.1"))["data"]
    raw = (await alice.get(p.OPEN_ORDERS))["data"]
    assert raw and all("orderListId" not in r and "contingencyOrderPosition" not in r for r in raw)
    rows = {o.order_id: o for o in map(Order.parse, raw)}
    w = rows[str(ids["workingOrderId"])]
    assert (w.order_list_id, w.contingency_position) == ("", None)  # unknown: still adoptable, unlike a "-1"
