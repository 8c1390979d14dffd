"""The simulator's REST side over real sockets: auth, public data, placing, cancelling, querying, error codes."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import aiohttp
from simkit import KOGE_PAIR, Api

from otobot.exchange import protocol as p
from otobot.exchange.errors import InsufficientBalance, error_for
from otobot.exchange.filters import pending_quantity
from otobot.exchange.models import AggTrade, AssetBalance, Order, SymbolFilters, Token, UserTrade, UserVolume
from otobot.sim.server import Simulator

D = Decimal
AUTH_BODY = '{"code":"100002001","message":"登录状态已经失效，请重新登录！","success":false}'


async def raw_get(http: aiohttp.ClientSession, sim: Simulator, path: str, headers: dict[str, str]) -> str:
    async with http.get(sim.rest_url + path, headers=headers) as r:
        assert r.status == 200
        return await r.text()


async def test_private_calls_without_a_valid_session_get_the_captured_auth_error(
        http: aiohttp.ClientSession, quiet: Simulator) -> None:
    creds = quiet.credentials("alice")
    bob = quiet.credentials("bob")
    cases = [
        {},
        {"csrftoken": creds.csrftoken},  # no cookie
        {"cookie": creds.cookie},  # no csrftoken
        {"csrftoken": creds.csrftoken, "cookie": bob.cookie},  # someone else's cookie
        {"csrftoken": creds.csrftoken, "cookie": creds.cookie.replace("p20t=", "p20t=x")},
    ]
    for headers in cases:
        assert await raw_get(http, quiet, p.OPEN_ORDERS, headers) == AUTH_BODY, headers
    ok = p.loads(await raw_get(http, quiet, p.OPEN_ORDERS, creds.request_headers()))
    assert ok == {"code": "000000", "message": None, "messageDetail": None, "data": [], "success": True}
    quiet.faults.expire_cookies("alice")
    assert await raw_get(http, quiet, p.USER_BASE_INFO, creds.request_headers()) == AUTH_BODY
    quiet.faults.restore_cookies("alice")
    info = p.loads(await raw_get(http, quiet, p.USER_BASE_INFO, creds.request_headers()))
    assert info["success"] is True and info["data"]["email"] == "alice@sim.invalid"


async def test_public_market_data_parses_with_the_client_models(http: aiohttp.ClientSession, quiet: Simulator,
                                                                alice: Api) -> None:
    tokens = [Token.parse(t) for t in (await alice.get(p.TOKEN_LIST))["data"]]
    assert {(t.symbol, t.alpha_id, t.mul_point) for t in tokens} == {("KOGE", "ALPHA_22", 1), ("AOP", "ALPHA_118", 4),
                                                                     ("NEX", "ALPHA_971", 2)}
    assert all(t.tradable and re.fullmatch(r"0x[0-9a-f]{40}", t.contract) for t in tokens)
    info = (await alice.get(p.EXCHANGE_INFO))["data"]
    filters = {f.symbol: f for f in map(SymbolFilters.parse, info["symbols"])}
    koge = filters[KOGE_PAIR]
    assert (koge.tick_size, koge.step_size, koge.min_notional) == (D("0.00000001"), D("0.0001"), D("0.1"))
    assert filters["ALPHA_971USDT"].tick_size == D("0.000000001")
    # Trade once so the tape has a row, then read ticker, agg-trades and depth.
    await alice.limit("BUY", "49", "1")
    ticker = (await alice.get(p.TICKER, symbol=KOGE_PAIR))["data"]
    trades = [AggTrade.parse(r, KOGE_PAIR) for r in (await alice.get(p.AGG_TRADES, symbol=KOGE_PAIR, limit=5))["data"]]
    assert trades and D(ticker["lastPrice"]) == trades[-1].price and trades[-1].buyer_is_maker is False
    assert sum(t.qty for t in trades) == D(1)
    depth = (await alice.get(p.FULL_DEPTH, symbol=KOGE_PAIR, limit=5))["data"]
    assert len(depth["bids"]) == len(depth["asks"]) == 5
    assert D(depth["bids"][0][0]) < D(depth["asks"][0][0])


async def test_oto_place_accepts_numbers_or_strings_and_answers_numeric_ids(alice: Api, quiet: Simulator) -> None:
    as_numbers = await alice.oto("40", "0.5", "60")
    assert as_numbers["success"] is True
    ids = as_numbers["data"]
    assert set(ids) == {"workingOrderId", "pendingOrderId"}
    assert all(isinstance(v, int) for v in ids.values())
    body = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in alice.oto_body("40", "0.5", "60").items()}
    assert (await alice.post(p.PLACE_OTO, body))["success"] is True
    rows = (await alice.get(p.OPEN_ORDERS))["data"]
    assert len(rows) == 4
    orders = {o.order_id: o for o in map(Order.parse, rows)}
    working, pending = orders[str(ids["workingOrderId"])], orders[str(ids["pendingOrderId"])]
    assert (working.side, working.status, working.contingency_position) == ("BUY", "NEW", "OTO_WORKING")
    assert (pending.side, pending.status, pending.orig_qty) == ("SELL", "PENDING", D(0))
    assert working.order_list_id == pending.order_list_id != "-1"
    assert [o.side for o in map(Order.parse, (await alice.get(p.OPEN_ORDERS, side="SELL"))["data"])] == ["SELL"] * 2
    assert (await alice.get(p.OPEN_ORDERS, symbol="ALPHA_971USDT"))["data"] == []
    assert quiet.exchange.balance("alice", "USDT") == (D(10000) - 40, D(40))


async def test_each_validation_error_has_its_code(alice: Api, quiet: Simulator) -> None:
    async def code_of(body: dict[str, Any]) -> tuple[str, str]:
        r = await alice.post(p.PLACE_OTO, {**alice.oto_body("40", "0.5", "60"), **body})
        assert r["success"] is False and r["data"] is None
        return r["code"], r["message"]

    assert await code_of({"workingPrice": D("40.000000001")}) == (
        "000002", "Price must be an integer multiple of the tick size.")
    assert await code_of({"workingQuantity": D("0.50001")}) == (
        "000002", "Order amount must be an integer multiple of the minimum amount movement.")
    assert await code_of({"paymentDetails": [{"amount": "20.00000001", "paymentWalletType": "CARD"}]}) == (
        "000002", "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)")
    small = alice.oto_body("40", "0.0001", "60")
    r = await alice.post(p.PLACE_OTO, small)
    assert (r["code"], r["message"]) == ("481013", "Total must be greater than 0.1")
    assert (await code_of({"baseAsset": "ALPHA_404"}))[0] == "000002"
    assert (await code_of({"workingPrice": "abc"}))[0] == "000002"
    assert (await alice.post(p.PLACE_OTO, raw="not json"))["code"] == "000002"
    big = alice.oto_body("40", "300", "60")  # 12 000 USDT > 10 000
    r = await alice.post(p.PLACE_OTO, big)
    assert r["code"] == "481020"
    assert isinstance(error_for(200, r, {}), InsufficientBalance)
    sell = await alice.limit("SELL", "50", "1")  # holds no KOGE
    assert sell["code"] == "481020"
    assert quiet.exchange.open_orders("alice") == [] and quiet.exchange.balance("alice", "USDT") == (D(10000), 0)


async def test_single_limit_orders_and_cancel(alice: Api, quiet: Simulator) -> None:
    r = await alice.limit("BUY", "40", "0.5")
    assert r["success"] is True and isinstance(r["data"], str) and r["data"].isdigit()
    assert (await alice.cancel(r["data"])) == {"code": "000000", "message": None, "messageDetail": None,
                                               "data": None, "success": True}
    for bad in (r["data"], "999999999", "abc"):  # already cancelled, unknown, garbage
        assert (await alice.cancel(bad))["code"] == "481004"
    bob_order = await Api(alice.http, quiet, "bob").limit("BUY", "40", "0.5")
    assert (await alice.cancel(bob_order["data"]))["code"] == "481004"  # not alice's
    filled = await alice.limit("BUY", "49", "0.5")  # crosses the ladder: FILLED at once
    assert quiet.exchange.by_id[int(filled["data"])].status == "FILLED"
    assert (await alice.cancel(filled["data"]))["code"] == "481004"
    free, locked = quiet.exchange.balance("alice", "ALPHA_22")
    assert (free, locked) == (D("0.5") - D("0.5") * D("0.0001"), 0)
    sell = await alice.limit("SELL", "60", "0.4")
    assert sell["success"] and quiet.exchange.balance("alice", "ALPHA_22") == (free - D("0.4"), D("0.4"))


async def test_filled_oto_shows_in_history_trades_wallet_and_volume(alice: Api, quiet: Simulator) -> None:
    placed = (await alice.oto("49", "0.5", "47"))["data"]  # both legs cross the ladder: a whole cycle at once
    w, pd = str(placed["workingOrderId"]), str(placed["pendingOrderId"])
    await alice.limit("BUY", "40", "0.5")  # stays open: not in the default history
    history = await alice.get(p.ORDER_HISTORY, page=1, rows=50, orderStatus=p.ORDER_HISTORY_STATUSES,
                              startTime=0, endTime=p.loads("99999999999999"))
    assert history["total"] == 2
    rows = {o.order_id: o for o in map(Order.parse, history["data"])}
    assert rows[w].status == rows[pd].status == "FILLED"
    assert rows[pd].orig_qty == pending_quantity(D("0.5"), D("0.0001")) == D("0.4999")
    assert (await alice.get(p.ORDER_HISTORY, side="SELL"))["total"] == 1
    assert (await alice.get(p.ORDER_HISTORY, orderStatus="CANCELED"))["total"] == 0
    assert (await alice.get(p.ORDER_HISTORY, rows=1, page=2))["data"][0]["orderId"] == w  # newest first
    buy_fills = [UserTrade.parse(r) for r in (await alice.get(p.USER_TRADES, orderId=w, symbol=KOGE_PAIR))["data"]]
    assert sum(f.qty for f in buy_fills) == D("0.5") and buy_fills[0].commission_asset == "ALPHA_22"
    sell_rows = (await alice.get(p.USER_TRADES, orderId=pd, symbol=KOGE_PAIR))["data"]
    assert sell_rows[-1]["lastTrade"] is True and sell_rows[0]["commissionAsset"] == "USDT"
    assert (await alice.get(p.USER_TRADES, orderId="12", symbol=KOGE_PAIR))["data"] == []
    # Wallets: the 0.00005 KOGE left by the floor of the pending qty, and USDT free/locked.
    wallet = (await alice.get(p.ALPHA_WALLET))["data"]
    koge = next(AssetBalance.parse_alpha(i) for i in wallet["list"] if i["tokenId"] == "ALPHA_22")
    assert koge.total == D("0.5") - D("0.00005") - D("0.4999") == D("0.00005")
    spot = (await alice.post(p.WALLET_ASSET, {"includeWallets": ["CARD", "MAIN", "SAVING"], "includeEq": True}))
    usdt = next(AssetBalance.parse_wallet_asset(i) for i in spot["data"] if i["asset"] == "USDT")
    assert (usdt.free, usdt.locked) == quiet.exchange.balance("alice", "USDT") and usdt.locked == 20
    volume = UserVolume.parse((await alice.get(p.USER_VOLUME))["data"])
    bought = sum(f.quote_qty for f in buy_fills)
    assert volume.total == bought and volume.by_token == {"KOGE": bought}  # buys only, KOGE is 1x


async def test_user_volume_of_a_4x_token_includes_the_multiplier_by_default(make_sim: Any,
                                                                             http: aiohttp.ClientSession) -> None:
    for option, mul in ((True, 4), (False, 1)):
        sim = await make_sim(volume_includes_multiplier=option)
        api = Api(http, sim, "alice")
        assert (await api.oto("0.21", "100", "0.19", alpha="ALPHA_118"))["success"]
        raw = (await api.get(p.USER_VOLUME))["data"]
        bought = sum(f.quote for f in sim.exchange.fills("alice") if f.side == "BUY")
        assert D(str(raw["totalVolume"])) == bought * mul
        assert raw["tradeVolumeInfoList"][0]["tokenName"] == "AOP"


async def test_listen_key_is_32_hex_and_renewed_or_rotated(make_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await make_sim()
    api = Api(http, sim, "alice")
    first = (await api.post(p.LISTEN_KEY))["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert (await api.post(p.LISTEN_KEY))["data"] == first
    rotating = await make_sim(rotate_on_post=True)
    api = Api(http, rotating, "alice")
    a, b = (await api.post(p.LISTEN_KEY))["data"], (await api.post(p.LISTEN_KEY))["data"]
    assert a != b and a not in rotating.exchange.by_key and b in rotating.exchange.by_key
