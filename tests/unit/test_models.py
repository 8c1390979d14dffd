"""Wire → typed values (alpha-api.md §7 capture shapes): str ids, exact Decimals, floats and gaps refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange import protocol
from otobot.exchange.errors import MalformedMessage
from otobot.exchange.models import (
    OTO_PENDING,
    OTO_WORKING,
    AggTrade,
    AssetBalance,
    Bucket,
    ExecutionReport,
    Order,
    OtoPlaced,
    SymbolFilters,
    Token,
    UserTrade,
    UserVolume,
    parse_listen_key,
)

D = Decimal

# ------------------------------------------------------------------ §7 snippets, verbatim

OTO_PLACED_S2 = ('{"code":"000000","message":null,"messageDetail":null,'
                 '"data":{"workingOrderId":2465664,"pendingOrderId":2465665},"success":true}')
BUY_FILLED = ('{"s":"ALPHA_373USDT","c":"web_164e079573c1491795e1ee245d5ed293","S":"BUY","o":"LIMIT","f":"GTC",'
              '"q":"869.56000000","p":"0.23000000","ap":"0.226904689","P":"0","x":"TRADE","X":"FILLED",'
              '"i":"51481849","l":"869.56000000","z":"869.56000000","L":"0.22690469","n":"0.08695600",'
              '"N":"ALPHA_373","t":"798491","m":false,"ot":"LIMIT","st":1,"O":1759043608334,"Z":"197.30724223",'
              '"Y":"197.30724223","Q":"0","ba":"ALPHA_373","qa":"USDT","id":12501200714,"il":"89863105","ct":"OTO",'
              '"cp":"OTO_WORKING","e":"executionReport","T":1759043609181,"u":1759043609181,"E":1759043609340}')
PENDING_NEW = ('{"s":"ALPHA_373USDT","c":"web_732ffda298914d2590743f2d4be9241e","S":"SELL","o":"LIMIT","f":"GTC",'
               '"q":"0","p":"0.00010000","ap":"0","P":"0","x":"NEW","X":"PENDING","i":"51481850","l":"0","z":"0",'
               '"L":"0","t":"0","m":false,"ot":"LIMIT","st":1,"O":1759043608334,"Z":"0","Y":"0","Q":"0",'
               '"ba":"ALPHA_373","qa":"USDT","id":12501197287,"il":"89863105","ct":"OTO","cp":"OTO_PENDING",'
               '"e":"executionReport","T":1759043608334,"u":1759043608334,"E":1759043608346}')
HISTORY_WORKING = ('{"kind":"LIMIT","orderId":"2414051","symbol":"ALPHA_971USDT","status":"FILLED",'
                   '"price":"0.000005929","avgPrice":"0.000005929","origQty":"1686625","executedQty":"1686625",'
                   '"cumQuote":"9.99999962","type":"LIMIT","side":"BUY","orderListId":"1393062340",'
                   '"baseAsset":"ALPHA_971","quoteAsset":"USDT","alphaId":"ALPHA_971","contingencyType":"OTO",'
                   '"contingencyOrderPosition":"OTO_WORKING","workingTime":1779368069148}')
HISTORY_PENDING = ('{"kind":"LIMIT","orderId":"2414052","symbol":"ALPHA_971USDT","status":"FILLED",'
                   '"price":"0.000005924","avgPrice":"0.000005928","origQty":"1686456.3","executedQty":"1686456.3",'
                   '"cumQuote":"9.99731294","type":"LIMIT","side":"SELL","orderListId":"1393062340",'
                   '"baseAsset":"ALPHA_971","quoteAsset":"USDT","alphaId":"ALPHA_971","contingencyType":"OTO",'
                   '"contingencyOrderPosition":"OTO_PENDING","workingTime":1779368069401}')
USER_TRADE = ('{"symbol":"ALPHA_971USDT","id":"163778","orderId":"2466831","tradeId":"163778","side":"SELL",'
              '"price":"0.000005619","qty":"485278.90","quoteQty":"2.72678213","commission":"0.00027268",'
              '"commissionAsset":"USDT","time":1779369064032,"pageId":"59177352871","buyer":false,'
              '"baseAsset":"ALPHA_971","quoteAsset":"USDT","orderType":"LIMIT","lastTrade":true}')
AGG_TRADE = ('{"e":"aggTrade","E":1779369537030,"T":1779369536868,"s":"ALPHA_971USDT","a":164916,'
             '"p":"0.000005540","q":"98228237.90","f":164918,"l":164918,"m":false}')
EXINFO_971 = ('{"symbol":"ALPHA_971USDT","status":"TRADING","baseAsset":"ALPHA_971","quoteAsset":"USDT",'
              '"pricePrecision":9,"quantityPrecision":2,"baseAssetPrecision":2,"quotePrecision":8,"filters":['
              '{"filterType":"PRICE_FILTER","minPrice":"0.000000001","maxPrice":"1000","tickSize":"0.000000001"},'
              '{"filterType":"LOT_SIZE","stepSize":"0.10","maxQty":"9999999999","minQty":"0.10"},'
              '{"filterType":"MIN_NOTIONAL","minNotional":"0.1"}],"orderTypes":["LIMIT"]}')
EXINFO_22 = ('{"symbol":"ALPHA_22USDT","status":"TRADING","baseAsset":"ALPHA_22","quoteAsset":"USDT",'
             '"pricePrecision":8,"quantityPrecision":8,"baseAssetPrecision":8,"quotePrecision":8,'
             '"orderTypes":["LIMIT"],"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.00000001",'
             '"maxPrice":"100000","tickSize":"0.00000001"},{"filterType":"LOT_SIZE","stepSize":"0.00010000",'
             '"maxQty":"19909","minQty":"0.00010000"},{"filterType":"MAX_NUM_ORDERS","limit":200},'
             '{"filterType":"MIN_NOTIONAL","minNotional":"0.1"},{"filterType":"MAX_NOTIONAL",'
             '"maxNotional":"1000000"},{"filterType":"NOTIONAL","minNotional":"0.1","maxNotional":"1000000"},'
             '{"filterType":"PERCENT_PRICE","multiplierDown":"0.00001","multiplierUp":"100000"},'
             '{"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"100000","askMultiplierUp":"100000",'
             '"bidMultiplierDown":"0.00001","askMultiplierDown":"0.00001"}]}')
KOGE = ('{"tokenId":"CC1F457B32142B93198987B7FC893B26","chainId":"56","chainName":"BSC",'
        '"contractAddress":"0xe6df05ce8c8301223373cf5b969afcb1498c5528","name":"48 Club Token","symbol":"KOGE",'
        '"price":"48.02764722909907599956","decimals":18,"offline":false,"tradeDecimal":8,"alphaId":"ALPHA_22",'
        '"offsell":false,"stockState":false,"listingTime":1734687000000,"mulPoint":1}')
USER_VOLUME = ('{"code":"000000","message":null,"messageDetail":null,"data":{"totalVolume":197.43566840519998,'
               '"tradeVolumeInfoList":[{"icon":"/x.png","tokenName":"AITECH","volume":197.43566840519998}]},'
               '"success":true}')
WALLET_ITEM = ('{"chainId":"56","contractAddress":"0x0a8d","cexAsset":false,"name":"ChainOpera AI","symbol":"COAI",'
               '"tokenId":"ALPHA_391","free":"250","freeze":"1.5","locked":"0.25","withdrawing":"0","amount":"250",'
               '"valuation":"47.26643294"}')


def wire(text: str) -> Any:
    return protocol.loads(text)


# ------------------------------------------------------------------ ids are str


def test_oto_place_ids_arrive_as_json_numbers_and_come_out_as_str() -> None:
    placed = OtoPlaced.parse(wire(OTO_PLACED_S2)["data"])
    assert placed == OtoPlaced(working_order_id="2465664", pending_order_id="2465665")
    assert isinstance(placed.working_order_id, str)


def test_an_id_sent_as_a_string_stays_the_same_string() -> None:
    placed = OtoPlaced.parse({"workingOrderId": "176849327", "pendingOrderId": "176849328"})
    assert (placed.working_order_id, placed.pending_order_id) == ("176849327", "176849328")


@pytest.mark.parametrize("bad", [None, "", True, 1.5, [1]])
def test_an_oto_place_without_a_usable_id_is_malformed(bad: Any) -> None:
    with pytest.raises(MalformedMessage, match="workingOrderId"):
        OtoPlaced.parse({"workingOrderId": bad, "pendingOrderId": 2})


def test_an_id_decoded_as_a_fractional_decimal_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="not an integer"):
        OtoPlaced.parse(wire('{"workingOrderId": 2465664.5, "pendingOrderId": 2465665}'))


def test_an_integral_decimal_id_is_accepted_as_its_integer_text() -> None:
    assert OtoPlaced.parse({"workingOrderId": D("2465664"), "pendingOrderId": D("2465665.0")}).pending_order_id \
        == "2465665"


# ------------------------------------------------------------------ execution reports


def test_the_captured_buy_fill_parses_with_exact_decimals_and_str_ids() -> None:
    r = ExecutionReport.parse(wire(BUY_FILLED))
    assert r.event_id == "12501200714"  # a JSON number on the wire
    assert (r.order_id, r.order_list_id, r.trade_id) == ("51481849", "89863105", "798491")
    assert (r.side, r.exec_type, r.status, r.contingency_position) == ("BUY", "TRADE", "FILLED", OTO_WORKING)
    assert r.price == D("0.23000000") and r.orig_qty == D("869.56")
    assert r.last_qty == r.cum_qty == D("869.56000000")
    assert r.last_price == D("0.22690469")
    assert r.cum_quote == D("197.30724223") and str(r.cum_quote) == "197.30724223"
    assert (r.commission, r.commission_asset) == (D("0.08695600"), "ALPHA_373")
    assert (r.event_time_ms, r.transact_time_ms) == (1759043609340, 1759043609181)
    assert r.is_trade


def test_the_dormant_pending_leg_parses_with_zero_quantity_and_is_not_a_trade() -> None:
    r = ExecutionReport.parse(wire(PENDING_NEW))
    assert (r.status, r.exec_type, r.contingency_position) == ("PENDING", "NEW", OTO_PENDING)
    assert r.orig_qty == 0 and r.cum_qty == 0
    assert r.commission == 0 and r.commission_asset == ""  # n/N only come on TRADE events
    assert not r.is_trade


def test_an_execution_report_with_a_float_number_is_refused() -> None:
    import json
    raw = json.loads(BUY_FILLED)
    raw["p"] = 0.23  # a binary float: decode with protocol.loads instead
    with pytest.raises(MalformedMessage, match="binary float"):
        ExecutionReport.parse(raw)


@pytest.mark.parametrize("key", ["id", "i", "s", "S", "x", "X", "p"])
def test_an_execution_report_missing_a_required_field_is_malformed(key: str) -> None:
    raw = wire(BUY_FILLED)
    del raw[key]
    with pytest.raises(MalformedMessage, match=repr(key)):
        ExecutionReport.parse(raw)


def test_a_frame_that_is_not_an_execution_report_is_refused() -> None:
    with pytest.raises(MalformedMessage, match="not an executionReport"):
        ExecutionReport.parse({"e": "outboundAccountPosition"})
    with pytest.raises(MalformedMessage, match="not an object"):
        ExecutionReport.parse(["executionReport"])


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity"])
def test_a_number_field_that_is_not_a_finite_number_is_malformed(value: str) -> None:
    raw = wire(BUY_FILLED)
    raw["z"] = value
    with pytest.raises(MalformedMessage, match="'z'"):
        ExecutionReport.parse(raw)


# ------------------------------------------------------------------ REST orders and trades


def test_history_rows_of_one_oto_share_the_order_list_id_and_name_their_positions() -> None:
    w, p = Order.parse(wire(HISTORY_WORKING)), Order.parse(wire(HISTORY_PENDING))
    assert (w.order_id, p.order_id) == ("2414051", "2414052")
    assert w.order_list_id == p.order_list_id == "1393062340"
    assert (w.contingency_position, p.contingency_position) == (OTO_WORKING, OTO_PENDING)
    assert w.price == D("0.000005929") and p.orig_qty == D("1686456.3")
    assert w.cum_quote == D("9.99999962") and w.is_final
    assert w.time_ms == 1779368069148  # no `time` key: workingTime stands in


def test_an_open_order_without_an_order_list_id_gets_an_unknown_one_and_no_position() -> None:
    # Unknown (""), not "-1": a "-1" is a plain order, never an OTO leg, while a row that omits the field may be one.
    o = Order.parse({"orderId": 7, "symbol": "ALPHA_971USDT", "side": "BUY", "status": "NEW",
                     "price": "0.000005619", "origQty": "100", "time": 1, "updateTime": 2})
    assert (o.order_id, o.order_list_id, o.contingency_position, o.is_final) == ("7", "", None, False)
    assert o.executed_qty == 0
    plain = Order.parse({"orderId": 8, "symbol": "ALPHA_971USDT", "side": "BUY", "status": "NEW",
                         "price": "0.000005619", "origQty": "100", "time": 1, "orderListId": "-1"})
    assert plain.order_list_id == "-1"


def test_a_user_trade_keeps_its_repeating_trade_id_and_exact_amounts() -> None:
    t = UserTrade.parse(wire(USER_TRADE))
    assert (t.trade_id, t.order_id, t.side) == ("163778", "2466831", "SELL")
    assert t.qty == D("485278.90") and t.quote_qty == D("2.72678213") and t.commission == D("0.00027268")
    assert t.commission_asset == "USDT"


def test_a_user_trade_missing_its_price_is_malformed() -> None:
    raw = wire(USER_TRADE)
    del raw["price"]
    with pytest.raises(MalformedMessage, match="'price'"):
        UserTrade.parse(raw)


def test_an_agg_trade_parses_exactly_and_refuses_numbers_where_strings_belong() -> None:
    t = AggTrade.parse(wire(AGG_TRADE))
    assert (t.symbol, t.price, t.qty, t.trade_time_ms, t.agg_id) == (
        "ALPHA_971USDT", D("0.000005540"), D("98228237.90"), 1779369536868, "164916")
    raw = wire(AGG_TRADE)
    raw["p"] = D("0.000005540")
    with pytest.raises(MalformedMessage, match="field types"):
        AggTrade.parse(raw)
    del raw["T"]
    with pytest.raises(MalformedMessage, match="lacks"):
        AggTrade.parse(raw)


# ------------------------------------------------------------------ exchange info


def test_alpha_971_filters_come_from_the_exchange_info_capture() -> None:
    f = SymbolFilters.parse(wire(EXINFO_971))
    assert f == SymbolFilters(symbol="ALPHA_971USDT", base_asset="ALPHA_971", quote_asset="USDT", status="TRADING",
                              tick_size=D("0.000000001"), step_size=D("0.10"), min_qty=D("0.10"),
                              max_qty=D("9999999999"), min_price=D("0.000000001"), max_price=D("1000"),
                              min_notional=D("0.1"))
    assert f.trading


def test_alpha_22_uses_the_step_size_not_the_quantity_precision() -> None:
    f = SymbolFilters.parse(wire(EXINFO_22))
    assert f.step_size == D("0.0001")  # quantityPrecision says 8 decimals; the LOT_SIZE step is 4
    assert f.tick_size == D("0.00000001")
    assert (f.min_qty, f.max_qty, f.min_notional) == (D("0.0001"), D("19909"), D("0.1"))


def test_exchange_info_without_a_lot_size_is_malformed_naming_the_symbol() -> None:
    raw = wire(EXINFO_971)
    raw["filters"] = [f for f in raw["filters"] if f["filterType"] != "LOT_SIZE"]
    with pytest.raises(MalformedMessage, match=r"ALPHA_971USDT.*LOT_SIZE"):
        SymbolFilters.parse(raw)


def test_exchange_info_with_a_zero_tick_is_malformed() -> None:
    raw = wire(EXINFO_971)
    raw["filters"][0]["tickSize"] = "0"
    with pytest.raises(MalformedMessage, match="zero tick or step"):
        SymbolFilters.parse(raw)


def test_exchange_info_filters_with_null_keys_fall_back_to_defaults() -> None:
    # S1's cache carries every key with null for unused ones.
    raw = wire(EXINFO_971)
    raw["filters"][1].update({"minQty": None, "maxQty": None})
    raw["filters"][2]["minNotional"] = None
    f = SymbolFilters.parse(raw)
    assert f.min_qty == f.step_size == D("0.10")
    assert f.min_notional == 0 and f.max_qty > D("1e20")


# ------------------------------------------------------------------ tokens, wallet, volume, listen key


def test_the_koge_token_entry_parses_and_is_tradable() -> None:
    t = Token.parse(wire(KOGE))
    assert (t.alpha_id, t.symbol, t.name, t.chain_id, t.mul_point) == ("ALPHA_22", "KOGE", "48 Club Token", "56", 1)
    assert t.contract == "0xe6df05ce8c8301223373cf5b969afcb1498c5528"
    assert t.tradable


@pytest.mark.parametrize("flag", ["offline", "offsell", "stockState"])
def test_a_token_that_is_delisted_paused_or_unsellable_is_not_tradable(flag: str) -> None:
    raw = wire(KOGE)
    raw[flag] = True
    assert not Token.parse(raw).tradable


def test_a_token_without_an_alpha_id_is_malformed() -> None:
    raw = wire(KOGE)
    del raw["alphaId"]
    with pytest.raises(MalformedMessage, match="alphaId"):
        Token.parse(raw)


def test_a_wallet_item_counts_freeze_and_locked_as_locked() -> None:
    b = AssetBalance.parse_alpha(wire(WALLET_ITEM))
    assert (b.asset, b.free, b.locked, b.total) == ("ALPHA_391", D("250"), D("1.75"), D("251.75"))


WALLET_ASSET = (Path(__file__).resolve().parents[1] / "fixtures" / "captures_wallet_asset.json").read_text()


def test_wallet_asset_capture_spendable_usdt_is_the_funding_bucket() -> None:
    usdt, doge = (AssetBalance.parse_wallet_asset(i) for i in wire(WALLET_ASSET))
    assert (usdt.asset, usdt.free, usdt.locked) == ("USDT", D("103.20318663"), D("0"))
    assert usdt.spot is None and usdt.funding == Bucket(D("103.20318663"), D("0"))
    assert usdt.earn == Bucket(D("9207.42344884"), D("0"))
    assert (doge.asset, doge.free, doge.spot, doge.funding) == ("DOGE", D("0"), None, None)
    assert doge.earn is not None and doge.earn.free == D("0.90589984")


def test_wallet_asset_never_reads_spot_as_spendable() -> None:
    b = AssetBalance.parse_wallet_asset({"asset": "USDT", "spot": {"free": "12.5", "locked": "1"}, "funding": None,
                                         "earn": None})
    assert (b.free, b.locked, b.spot, b.funding) == (D("0"), D("0"), Bucket(D("12.5"), D("1")), None)
    assert AssetBalance.parse_wallet_asset({"asset": "USDT"}).free == 0  # every bucket missing: nothing to spend
    with pytest.raises(MalformedMessage, match="funding bucket"):
        AssetBalance.parse_wallet_asset({"asset": "USDT", "funding": "103"})


@pytest.mark.parametrize(("item", "need", "hint"), [
    ({"funding": {"free": "103.20318663"}, "earn": {"free": "9207.42344884"}, "spot": None}, "100", None),
    ({"funding": {"free": "103.20318663"}, "earn": {"free": "9207.42344884"}, "spot": None}, "120",
     "Alpha orders pay from the Funding wallet, which has 103.20318663 USDT free of 120 USDT needed (free by "
     "bucket: funding 103.20318663 USDT, spot null, earn 9207.42344884 USDT); 9207.42344884 USDT sits in Earn; "
     "redeem it to Funding"),
    ({"funding": None, "earn": {"free": "0"}, "spot": {"free": "5000", "locked": "20"}}, "20",
     "Alpha orders pay from the Funding wallet, which has 0 USDT free of 20 USDT needed (free by bucket: funding "
     "null, spot 5000 USDT, earn 0 USDT); 5000 USDT sits in Spot; transfer it to Funding"),
    ({"funding": {"free": "3"}, "earn": None, "spot": None}, "20",
     "Alpha orders pay from the Funding wallet, which has 3 USDT free of 20 USDT needed (free by bucket: funding "
     "3 USDT, spot null, earn null)"),
])
def test_shortfall_hint_names_the_buckets_and_where_the_money_sits(item: dict[str, Any], need: str,
                                                                   hint: str | None) -> None:
    assert AssetBalance.parse_wallet_asset({"asset": "USDT", **item}).shortfall_hint(D(need)) == hint


def test_user_volume_floats_decode_exactly_through_protocol_loads() -> None:
    v = UserVolume.parse(wire(USER_VOLUME)["data"])
    assert v.total == D("197.43566840519998")
    assert v.by_token == {"AITECH": D("197.43566840519998")}


def test_user_volume_decoded_with_plain_json_floats_is_refused() -> None:
    import json
    with pytest.raises(MalformedMessage, match="binary float"):
        UserVolume.parse(json.loads(USER_VOLUME)["data"])


@pytest.mark.parametrize(("data", "body", "key"), [
    ("0123456789abcdef0123456789abcdef", {}, "0123456789abcdef0123456789abcdef"),  # S2/S3: data is the key
    ({"listenKey": "k-in-data", "validTime": 3600}, {}, "k-in-data"),  # S1 spec variant
    (None, {"listenKey": "k-top-level"}, "k-top-level"),  # S1 doc variant
])
def test_the_listen_key_is_found_in_every_response_variant(data: Any, body: dict[str, Any], key: str) -> None:
    assert parse_listen_key(data, body) == key


@pytest.mark.parametrize(("data", "body"), [(None, {}), ("", {}), ({"listenKey": 5}, {}), ({}, {"listenKey": None})])
def test_a_listen_key_response_without_a_key_is_malformed(data: Any, body: dict[str, Any]) -> None:
    with pytest.raises(MalformedMessage, match="no key"):
        parse_listen_key(data, body)


# ------------------------------------------------------------------ protocol: exact JSON


def test_dumps_writes_decimals_as_exact_json_numbers() -> None:
    assert protocol.dumps({"p": D("0.000005619")}) == '{"p":0.000005619}'
    assert protocol.dumps({"p": D("5.929E-7")}) == '{"p":0.0000005929}'


def test_the_captured_oto_request_body_round_trips_digit_for_digit() -> None:
    body = ('{"baseAsset":"ALPHA_971","quoteAsset":"USDT","workingSide":"BUY","workingPrice":0.000005619,'
            '"workingQuantity":1779676,"paymentDetails":[{"amount":"9.99999944","paymentWalletType":"CARD"}],'
            '"pendingPrice":0.0000058,"pendingType":"LIMIT"}')
    decoded = protocol.loads(body)
    assert decoded["workingPrice"] == D("0.000005619") and isinstance(decoded["workingPrice"], Decimal)
    assert decoded["paymentDetails"][0]["amount"] == "9.99999944"
    assert protocol.dumps(decoded) == body


def test_dumps_handles_nested_lists_strings_and_literals() -> None:
    text = protocol.dumps({"a": [D("1.10"), 2, "x\"y", None, True, False], "b": {"c": ("t",)}})
    assert text == '{"a":[1.10,2,"x\\"y",null,true,false],"b":{"c":["t"]}}'
    assert protocol.loads(text)["a"][0] == D("1.10")


_JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=6)
                | st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=D("-1e15"),
                              max_value=D("1e15")))
_JSON = st.recursive(_JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                     | st.dictionaries(st.text(alphabet="abcXYZ_09", max_size=5), inner, max_size=4), max_leaves=20)


def test_the_fast_encoder_is_the_one_in_use_where_orjson_is_installed() -> None:
    import importlib.util

    assert (protocol._FAST_DUMPS is not None) == (importlib.util.find_spec("orjson") is not None)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_fast_and_the_exact_encoder_write_the_same_text(value: Any) -> None:
    """orjson (the fast extra) and the stdlib path must agree character for character: the simulator's frames
    and the order bodies are written by whichever is installed."""
    assert protocol.dumps(value) == protocol._dumps_exact(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.decimals(allow_nan=False, allow_infinity=False, places=12,
                                                        min_value=D("-1e15"), max_value=D("1e15")), max_size=5))
def test_decimals_round_trip_through_dumps_and_loads_exactly(values: dict[str, Decimal]) -> None:
    back = protocol.loads(protocol.dumps(values))
    assert back.keys() == values.keys()
    for k, v in values.items():
        assert D(back[k]) == v
        assert not isinstance(back[k], float)
