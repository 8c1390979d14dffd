"""Contract: the simulator's bodies and frames have the key sets and JSON types of the real captures (§7)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import aiohttp
from simkit import FIXTURES, KOGE_PAIR, Api, UserStream, capture, open_user_stream

from otobot.exchange import protocol as p
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator

# Keys the simulator's history/open-order rows carry beyond the §7.5 capture: listed in §2.4 (S2 types, S3).
ORDER_ROW_EXTRAS = {"time", "updateTime", "stopPrice", "targetStrategy"}


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__  # str, dict, list


def shape(value: Any) -> dict[str, str]:
    return {k: kind(v) for k, v in value.items()}


def assert_same_shape(ours: dict[str, Any], theirs: dict[str, Any], extras: frozenset[str] | set[str] = frozenset(),
                      *, nullable: frozenset[str] | set[str] = frozenset()) -> None:
    """Same key set (plus documented `extras`) and the same JSON type per key (`nullable` keys may be null)."""
    assert set(ours) == set(theirs) | extras, (sorted(set(ours) ^ (set(theirs) | extras)))
    for key, t in shape(theirs).items():
        if key in nullable and ours[key] is None:
            continue
        assert kind(ours[key]) == t, (key, ours[key], theirs[key])


async def raw(http: aiohttp.ClientSession, sim: Simulator, method: str, path: str, api: Api | None = None,
              body: Any = None, params: dict[str, str] | None = None) -> Any:
    headers = api.headers if api else {}
    async with http.request(method, sim.rest_url + path, headers=headers, params=params,
                            data=json.dumps(body) if body is not None else None) as r:
        return json.loads(await r.text())  # plain json: floats stay floats, as a browser would see them


async def test_user_stream_frames_match_the_captured_oto_cycle(http: aiohttp.ClientSession, alice: Api,
                                                               quiet: Simulator, streams: list[UserStream]) -> None:
    ack, working_new, pending_new, working_filled, pending_active, sell_partial, sell_filled = capture(
        "captures_user_stream.jsonl")
    us = await open_user_stream(alice)
    streams.append(us)
    assert ack == {"result": None, "id": 2}  # open_user_stream asserted the same ack
    # Working BUY rests at 48 (the best bid), fills in one go; pending activates at 48.005 and fills in two.
    ids = (await alice.oto("48", "0.5", "48.005"))["data"]
    sym = quiet.exchange.symbols[KOGE_PAIR]
    quiet.exchange.submit_background(sym, "seller", SELL, p.loads("48"), p.loads("0.5"), rest=False)
    quiet.exchange.submit_background(sym, "buyer", BUY, p.loads("48.005"), p.loads("0.2"), rest=False)
    quiet.exchange.submit_background(sym, "buyer", BUY, p.loads("48.005"), p.loads("1"), rest=False)
    await us.wait(lambda ev: len(ev) >= 6)
    frames = [json.loads(r) for r in us.raw]
    assert all(set(f) == {"stream", "data"} and f["stream"] == f"alpha@{us.key}" for f in frames)
    events = [f["data"] for f in frames]
    w, pd = str(ids["workingOrderId"]), str(ids["pendingOrderId"])
    ours = {
        "working_new": next(e for e in events if e["i"] == w and e["x"] == "NEW"),
        "pending_new": next(e for e in events if e["i"] == pd and e["X"] == "PENDING"),
        "working_filled": next(e for e in events if e["i"] == w and e["X"] == "FILLED"),
        "pending_active": next(e for e in events if e["i"] == pd and e["x"] == "NEW" and e["X"] == "NEW"),
        "sell_partial": next(e for e in events if e["i"] == pd and e["X"] == "PARTIALLY_FILLED"),
        "sell_filled": next(e for e in events if e["i"] == pd and e["X"] == "FILLED"),
    }
    theirs = {"working_new": working_new, "pending_new": pending_new, "working_filled": working_filled,
              "pending_active": pending_active, "sell_partial": sell_partial, "sell_filled": sell_filled}
    for name, frame in theirs.items():
        assert_same_shape(ours[name], frame["data"])
        assert [k for k in ours[name] if k in frame["data"]] == list(frame["data"]), name  # same key order too
        for key in ("x", "X", "S", "o", "f", "ot", "st", "P", "Q", "ct", "cp", "qa", "e"):
            assert ours[name][key] == frame["data"][key], (name, key)
    assert ours["pending_new"]["q"] == "0" and ours["working_new"]["t"] == "0"
    assert ours["working_new"]["c"].startswith("web_") and len(ours["working_new"]["c"]) == 36


async def test_oto_place_order_place_and_cancel_bodies(http: aiohttp.ClientSession, alice: Api,
                                                       quiet: Simulator) -> None:
    oto_request, oto_response, koge_request, _ = capture("captures_oto_place.jsonl")
    buy_request, _, order_response, cancel_request, cancel_response = capture("captures_orders.jsonl")
    # The captured KOGE body, verbatim but for a pending price that rests, is accepted as sent.
    placed = await raw(http, quiet, "POST", p.PLACE_OTO, alice, {**koge_request, "pendingPrice": 60})
    assert_same_shape(placed, oto_response)
    assert_same_shape(placed["data"], oto_response["data"])
    # The captured NEX (ALPHA_971) OTO, amounts exactly as captured.
    nex_body = {**oto_request, "workingPrice": 0.000005, "pendingPrice": 0.00001,
                "paymentDetails": [{"amount": "8.89838000", "paymentWalletType": "CARD"}]}
    nex = await raw(http, quiet, "POST", p.PLACE_OTO, alice, nex_body)
    assert nex["success"] is True, nex
    single = await raw(http, quiet, "POST", p.PLACE_ORDER, alice, {**buy_request, "price": 0.000005,
                                                                  "quantity": 1791151.7,
                                                                  "paymentDetails": [{"amount": "8.95575850",
                                                                                      "paymentWalletType": "CARD"}]})
    assert_same_shape(single, order_response)
    cancelled = await raw(http, quiet, "POST", p.CANCEL_ORDER, alice, {**cancel_request, "orderId": single["data"]})
    assert cancelled == cancel_response


async def test_auth_volume_and_wallet_bodies(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    (auth,) = capture("captures_auth_expired.json")
    (volume,) = capture("captures_user_volume.json")
    (wallet,) = capture("captures_wallet.json")
    assert await raw(http, quiet, "GET", p.USER_VOLUME) == auth
    await alice.oto("49", "0.5", "60")
    ours = await raw(http, quiet, "GET", p.USER_VOLUME, alice)
    assert_same_shape(ours, volume)
    assert_same_shape(ours["data"], volume["data"])
    assert_same_shape(ours["data"]["tradeVolumeInfoList"][0], volume["data"]["tradeVolumeInfoList"][0])
    ours = await raw(http, quiet, "GET", p.ALPHA_WALLET, alice)
    assert_same_shape(ours, wallet)
    assert_same_shape(ours["data"], wallet["data"])
    assert_same_shape(ours["data"]["list"][0], wallet["data"]["list"][0])


def wallet_asset_capture() -> list[dict[str, Any]]:
    """§7.3b verbatim (one JSON value over several lines, as the doc prints it)."""
    value: list[dict[str, Any]] = json.loads((FIXTURES / "captures_wallet_asset.json").read_text())
    return value


def assert_same_buckets(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys and JSON types per key, nulls included, down into each bucket object."""
    assert_same_shape(ours, theirs)
    for bucket in ("spot", "funding", "earn"):
        if theirs[bucket] is not None:
            assert_same_shape(ours[bucket], theirs[bucket])


async def test_wallet_asset_reply_matches_the_capture_nulls_included(http: aiohttp.ClientSession, alice: Api,
                                                                      make_sim: Any) -> None:
    usdt, doge = wallet_asset_capture()
    sim = await make_sim()
    sim.exchange.set_balance("alice", "USDT", D("9207.42344884"), bucket="earn")
    api = Api(http, sim, "alice")
    body = await raw(http, sim, "POST", p.WALLET_ASSET, api, {"includeWallets": ["CARD", "MAIN", "SAVING"],
                                                               "includeEq": True})
    assert set(body) == {"code", "message", "messageDetail", "data", "success"} and body["success"] is True
    ours_usdt, ours_second = body["data"]
    assert_same_buckets(ours_usdt, usdt)  # spot null, money in funding, earn an object
    assert_same_buckets(ours_second, doge)  # a second asset held in Earn only: funding null too
    assert ours_usdt["funding"]["free"] == "10000" and ours_usdt["earn"]["free"] == "9207.42344884"


async def test_wallet_asset_can_play_the_money_in_spot_reading(http: aiohttp.ClientSession, make_sim: Any) -> None:
    sim = await make_sim(wallet_quote_bucket="spot")
    api = Api(http, sim, "alice")
    ours_usdt = (await raw(http, sim, "POST", p.WALLET_ASSET, api, {}))["data"][0]
    assert ours_usdt["funding"] is None and ours_usdt["spot"]["free"] == "10000"
    assert kind(ours_usdt["earn"]) == "dict" and set(ours_usdt["spot"]) == set(wallet_asset_capture()[0]["earn"])


async def test_history_and_user_trades_rows(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    working_row, pending_row = capture("captures_history.jsonl")
    (trades,) = capture("captures_user_trades.json")
    ids = (await alice.oto("49", "0.5", "47"))["data"]
    history = await raw(http, quiet, "GET", p.ORDER_HISTORY, alice, params={"page": "1", "rows": "10"})
    assert {"code", "message", "messageDetail", "data", "success", "total"} == set(history)
    assert isinstance(history["total"], int)
    rows = {r["contingencyOrderPosition"]: r for r in history["data"]}
    assert_same_shape(rows["OTO_WORKING"], working_row, ORDER_ROW_EXTRAS)
    assert_same_shape(rows["OTO_PENDING"], pending_row, ORDER_ROW_EXTRAS)
    opened = await raw(http, quiet, "GET", p.OPEN_ORDERS, alice)
    assert opened["data"] == []
    await alice.limit("BUY", "40", "0.5")
    plain = (await raw(http, quiet, "GET", p.OPEN_ORDERS, alice))["data"][0]
    assert_same_shape(plain, working_row, ORDER_ROW_EXTRAS, nullable={"contingencyType", "contingencyOrderPosition"})
    fills = await raw(http, quiet, "GET", p.USER_TRADES, alice,
                      params={"orderId": str(ids["pendingOrderId"]), "symbol": KOGE_PAIR})
    assert_same_shape(fills, trades)
    assert_same_shape(fills["data"][0], trades["data"][0])


async def test_market_data_bodies_and_frames(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    frame_971, frame_373 = capture("captures_agg_trade.jsonl")
    (rest_row,) = capture("captures_agg_trades_rest.json")
    (depth,) = capture("captures_full_depth.json")
    nex_symbol, koge_symbol = capture("captures_exchange_info.jsonl")
    (token,) = capture("captures_token_list.json")
    async with http.ws_connect(quiet.market_ws_url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["alpha_22usdt@aggTrade"], "id": 1}))
        await ws.receive_json(timeout=5)
        await alice.limit("BUY", "49", "0.5")
        frame = await ws.receive_json(timeout=5)
    for theirs in (frame_971, frame_373):
        assert set(frame) == set(theirs)
        assert_same_shape(frame["data"], theirs["data"])
    rows = (await raw(http, quiet, "GET", p.AGG_TRADES, params={"symbol": KOGE_PAIR, "limit": "5"}))["data"]
    assert_same_shape(rows[-1], rest_row)
    ours = (await raw(http, quiet, "GET", p.FULL_DEPTH, params={"symbol": KOGE_PAIR, "limit": "5"}))["data"]
    assert_same_shape(ours, depth["data"])
    assert all(kind(x) == "str" for level in ours["bids"] + ours["asks"] for x in level)
    info = (await raw(http, quiet, "GET", p.EXCHANGE_INFO))["data"]
    assert {"timezone", "assets", "symbols", "orderTypes"} <= set(info)
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    ours_koge, ours_nex = by_symbol["ALPHA_22USDT"], by_symbol["ALPHA_971USDT"]
    assert_same_shape(ours_koge, koge_symbol)
    assert [f["filterType"] for f in ours_koge["filters"]] == [f["filterType"] for f in koge_symbol["filters"]]
    for ours_f, theirs_f in zip(ours_koge["filters"], koge_symbol["filters"], strict=True):
        assert_same_shape(ours_f, theirs_f)
    nex_filters = {f["filterType"]: f for f in ours_nex["filters"]}
    for theirs_f in nex_symbol["filters"]:
        assert_same_shape(nex_filters[theirs_f["filterType"]], theirs_f)
    assert nex_filters["PRICE_FILTER"]["tickSize"] == "0.000000001"
    tokens = (await raw(http, quiet, "GET", p.TOKEN_LIST))["data"]
    # `fullyDelisted`: S15's lists carry it beside `offline` (§7.7); the S1 capture predates it.
    assert_same_shape(next(t for t in tokens if t["symbol"] == "KOGE"), token, {"fullyDelisted"})


async def test_listen_key_and_market_ack(http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    body = await raw(http, quiet, "POST", p.LISTEN_KEY, alice, {})
    assert set(body) == {"code", "message", "messageDetail", "data", "success"} and kind(body["data"]) == "str"
    async with http.ws_connect(quiet.market_ws_url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["alpha_971usdt@aggTrade"], "id": "abc"}))
        assert await ws.receive_json(timeout=5) == {"result": None, "id": "abc"}
