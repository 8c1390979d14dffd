"""The client against the public evidence of alpha-api.md §7.7 (and the bodies of §7.1/§7.2), one reading at a
time: fully delisted tokens, history rows without cumQuote, replies without `success`, order-body number text
byte for byte, and reverse OTO legs told apart by position and side. Parsers and requests only: the simulator's
side of each is in tests/sim/test_sim_evidence.py."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otobot.exchange import protocol as p
from otobot.exchange.errors import BusinessError, InsufficientBalance, ServerError, error_for
from otobot.exchange.filters import body_number, build_limit, build_oto
from otobot.exchange.legs import describe_leg, is_reverse_leg, oto_leg
from otobot.exchange.models import (
    BUY,
    OTO_PENDING,
    OTO_WORKING,
    QUOTE_FROM_AVG_PRICE,
    QUOTE_FROM_PRICE,
    SELL,
    AggTrade,
    ExecutionReport,
    Order,
    SymbolFilters,
    Token,
)
from otobot.exchange.rest import AlphaRest
from otobot.trading.reconcile import match_oto

D = Decimal
FIX = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_lines(name: str) -> list[str]:
    return [line for line in (FIX / name).read_text().splitlines() if line.strip()]


def nex_filters() -> SymbolFilters:
    """ALPHA_971 as its exchange-info capture has it (§7.6): step "0.10", so a floored quantity carries 2 dp."""
    return next(SymbolFilters.parse(p.loads(line)) for line in fixture_lines("captures_exchange_info.jsonl")
                if '"ALPHA_971USDT"' in line)


# ------------------------------------------------------------------ 1. fullyDelisted (S15)

def koge(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((FIX / "captures_token_list.json").read_text())
    raw.update(changes)
    return raw


def test_a_fully_delisted_token_is_not_tradable_and_says_why() -> None:
    t = Token.parse(koge(fullyDelisted=True))
    assert t.fully_delisted and not t.tradable and t.untradable_reason == "fully delisted"
    # `offline` false beside it changes nothing: other bots treat fullyDelisted alone as dead.
    assert not t.offline


@pytest.mark.parametrize("changes", [{}, {"fullyDelisted": False}, {"fullyDelisted": None}])
def test_a_token_without_fully_delisted_or_with_it_false_stays_tradable(changes: dict[str, Any]) -> None:
    t = Token.parse(koge(**changes))
    assert t.tradable and not t.fully_delisted and t.untradable_reason is None


def test_a_token_cached_before_fully_delisted_was_read_loads_as_not_delisted() -> None:
    cached = {k: v for k, v in json.loads(json.dumps({k: getattr(Token.parse(koge()), k)
                                                        for k in Token.__slots__})).items() if k != "fully_delisted"}
    assert Token(**cached).tradable


# ------------------------------------------------------------------ 2. history rows without cumQuote (S3)

# S3's 2025 get-order-history-merge row, verbatim as far as alpha-api.md §7.7 quotes it: no cumQuote, no orderListId.
S3_ROW = ('{"orderId":"22522520","symbol":"ALPHA_261USDT","side":"SELL","status":"FILLED","price":"0.18670189",'
          '"origQty":"1362.93","executedQty":"1362.93","avgPrice":"0.1875"}')


def test_an_older_history_row_without_cum_quote_is_valued_at_avg_price_times_executed_qty() -> None:
    row = Order.parse(p.loads(S3_ROW))
    assert row.cum_quote == D("1362.93") * D("0.1875") == D("255.549375")  # was 0: 255.55 USDT missing
    assert row.quote_derived == QUOTE_FROM_AVG_PRICE
    # No orderListId in the row: unknown (""), not "-1" (a plain order), so a listed OTO leg stays adoptable (#19).
    assert (row.order_list_id, row.contingency_position, oto_leg(row.contingency_position)) == ("", None, None)


@pytest.mark.parametrize("avg", [None, "0", ""])
def test_without_cum_quote_or_a_usable_avg_price_the_limit_price_values_the_fill(avg: str | None) -> None:
    raw = p.loads(S3_ROW)
    raw.pop("avgPrice")
    if avg is not None:
        raw["avgPrice"] = avg
    row = Order.parse(raw)
    assert row.cum_quote == D("0.18670189") * D("1362.93") and row.quote_derived == QUOTE_FROM_PRICE


def test_an_unfilled_row_without_cum_quote_is_worth_zero_and_a_row_with_it_keeps_the_wire_value() -> None:
    raw = {**p.loads(S3_ROW), "status": "CANCELED", "executedQty": "0", "avgPrice": "0"}
    assert (Order.parse(raw).cum_quote, Order.parse(raw).quote_derived) == (D(0), None)
    captured = [Order.parse(p.loads(line)) for line in fixture_lines("captures_history.jsonl")]
    assert [(o.cum_quote, o.quote_derived) for o in captured] == [(D("9.99999962"), None), (D("9.99731294"), None)]


async def test_the_client_books_an_older_row_at_its_worked_out_value_and_says_so_once(logs: list[str]) -> None:
    reply = json.dumps({"code": "000000", "message": None, "messageDetail": None, "data": [json.loads(S3_ROW)],
                        "success": True, "total": 1})
    rows: list[Order] = []

    async def read_twice(rest: AlphaRest) -> None:
        rows.extend(await rest.order_history(0, 1))
        rows.extend(await rest.order_history(0, 1))

    rec = Recorder(reply)
    await serve(rec, read_twice)
    assert [r.cum_quote for r in rows] == [D("255.549375")] * 2
    said = [line for line in logs if "without cumQuote" in line]
    assert len(said) == 1 and "22522520" in said[0] and "avgPrice × executedQty = 255.549375" in said[0]


# ------------------------------------------------------------------ 3. replies without `success` (S13)

# The official agg-trades reply (S13): the envelope without `success`; the row is §7.6's REST agg-trade capture.
S13_AGG_TRADES = ('{"code":"000000","message":null,"messageDetail":null,"data":[' +
                  (FIX / "captures_agg_trades_rest.json").read_text().strip() + "]}")


def test_code_000000_without_success_is_a_success() -> None:
    assert error_for(200, p.loads(S13_AGG_TRADES), {}) is None
    assert error_for(200, {"code": "000000", "data": None, "success": None}, {}) is None


@pytest.mark.parametrize(("body", "kind"), [
    ({"code": "481020", "message": "insufficient", "data": None}, InsufficientBalance),
    ({"code": "000001", "message": "system busy", "data": None}, BusinessError),
    ({"code": "000000", "message": None, "data": None, "success": False}, BusinessError),
    ({"message": None, "data": []}, ServerError),
])
def test_anything_else_without_success_stays_an_error(body: dict[str, Any], kind: type[Exception]) -> None:
    assert isinstance(error_for(200, body, {}), kind)


# ------------------------------------------------------------------ 4. number text in bodies (§7.1, §7.2)

@pytest.mark.parametrize(("value", "text"), [
    ("1960784.30", "1960784.3"), ("1779676.00", "1779676"), ("0.000005800", "0.0000058"), ("0.10", "0.1"),
    ("0E-8", "0"), ("1E+3", "1000"), ("0.000000015", "0.000000015"),
    ("123456789012345678901234567890.10", "123456789012345678901234567890.1"),  # longer than the context: exact
])
def test_body_numbers_drop_trailing_zeros_and_never_use_an_exponent(value: str, text: str) -> None:
    out = p.dumps({"n": body_number(D(value))})
    assert out == '{"n":' + text + "}" and D(text) == D(value)


class Recorder:
    """A local server that answers every POST with one scripted body and keeps the request bodies as bytes."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.bodies: list[bytes] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(text=self.reply, content_type="application/json")


async def recorded(reply: str, send: Any) -> bytes:
    rec = Recorder(reply)
    await serve(rec, send)
    assert len(rec.bodies) == 1
    return rec.bodies[0]


async def serve(rec: Recorder, send: Any) -> None:
    """Run `send(rest)` with a real client against `rec` on 127.0.0.1."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session:
            await send(AlphaRest(session, f"http://127.0.0.1:{port}", None, retries=0, timeout_s=5))
    finally:
        await runner.cleanup()


async def test_the_oto_body_built_from_the_filters_is_the_captured_bytes() -> None:
    request, response = fixture_lines("captures_oto_place.jsonl")[:2]
    f = nex_filters()
    order = build_oto(D("0.000005619"), D("0.0000058"), D("10"), f)
    assert format(order.quantity, "f") == "1779676.00"  # what the old client sent: the step's 2 dp kept
    body = await recorded(response, lambda rest: rest.place_oto("ALPHA_971", "USDT", order))
    assert body == request.encode()


@pytest.mark.parametrize("index", [0, 1])
async def test_single_order_bodies_built_from_the_filters_are_the_captured_bytes(index: int) -> None:
    lines = fixture_lines("captures_orders.jsonl")
    request, reply = lines[index], lines[2]
    sent = p.loads(request)
    order = build_limit(sent["side"], sent["price"], sent["quantity"], nex_filters())
    assert format(order.quantity, "f").endswith("0")  # floored onto step 0.10: 1791151.70 / 1790972.60
    body = await recorded(reply, lambda rest: rest.place_limit("ALPHA_971", "USDT", order))
    assert body == request.encode()


async def test_the_quantity_the_issue_quotes_goes_out_as_the_browser_writes_it() -> None:
    reply = '{"code":"000000","message":null,"messageDetail":null,"data":{"workingOrderId":1,"pendingOrderId":2},' \
            '"success":true}'
    order = build_oto(D("0.0000051"), D("0.000005"), D("10"), nex_filters())
    assert format(order.quantity, "f") == "1960784.30"
    body = (await recorded(reply, lambda rest: rest.place_oto("ALPHA_971", "USDT", order))).decode()
    assert '"workingQuantity":1960784.3,' in body and '"workingPrice":0.0000051,' in body
    assert '"pendingPrice":0.000005,' in body and not re.search(r"\d[eE][+-]?\d", body)


# ------------------------------------------------------------------ 5. reverse OTO legs (S14)

def history_row(order_id: str, side: str, position: str, status: str, price: str, qty: str) -> Order:
    return Order.parse({"kind": "LIMIT", "orderId": order_id, "symbol": "ALPHA_971USDT", "status": status,
                        "price": price, "avgPrice": "0", "origQty": qty, "executedQty": "0", "cumQuote": "0",
                        "type": "LIMIT", "side": side, "orderListId": "1393070000", "baseAsset": "ALPHA_971",
                        "quoteAsset": "USDT", "alphaId": "ALPHA_971", "contingencyType": "OTO",
                        "contingencyOrderPosition": position, "workingTime": 1779368069148})


def test_reverse_oto_legs_are_told_apart_by_position_and_side() -> None:
    working = history_row("2414060", SELL, OTO_WORKING, "NEW", "0.000005930", "1686625")
    pending = history_row("2414061", BUY, OTO_PENDING, "PENDING", "0.000005900", "0")
    assert (oto_leg(working.contingency_position), oto_leg(pending.contingency_position)) == ("working", "pending")
    assert is_reverse_leg(working.side, working.contingency_position)
    assert is_reverse_leg(pending.side, pending.contingency_position)
    assert describe_leg(working.side, working.contingency_position, working.order_list_id) == (
        "the working SELL of reverse OTO 1393070000, which sells first and buys back")
    assert describe_leg(pending.side, pending.contingency_position, "1393070000").startswith("the pending BUY of "
                                                                                            "reverse OTO")
    ours = [Order.parse(p.loads(line)) for line in fixture_lines("captures_history.jsonl")]
    assert not any(is_reverse_leg(o.side, o.contingency_position) for o in ours)
    assert describe_leg(ours[1].side, ours[1].contingency_position, ours[1].order_list_id) == (
        "the pending SELL of OTO 1393062340")
    assert describe_leg(BUY, None, "-1") is None


def test_a_reverse_oto_on_the_stream_parses_with_its_positions() -> None:
    frames = [p.loads(line) for line in fixture_lines("captures_user_stream.jsonl")]
    working, pending = frames[1]["data"], frames[2]["data"]  # the captured BUY-first pair, sides swapped
    reverse_working = ExecutionReport.parse({**working, "S": SELL})
    reverse_pending = ExecutionReport.parse({**pending, "S": BUY})
    assert (oto_leg(reverse_working.contingency_position), reverse_working.side) == ("working", SELL)
    pending_leg = oto_leg(reverse_pending.contingency_position)
    assert (pending_leg, reverse_pending.side, reverse_pending.status) == ("pending", BUY, "PENDING")
    assert is_reverse_leg(reverse_pending.side, reverse_pending.contingency_position)


def test_a_reverse_otos_legs_are_never_matched_as_a_lost_buy_first_oto_of_ours() -> None:
    # A user's reverse OTO at the very price and quantity of our intent: its BUY is a pending leg, not our working.
    working = history_row("2414060", SELL, OTO_WORKING, "NEW", "0.000005929", "1686625")
    pending = history_row("2414061", BUY, OTO_PENDING, "FILLED", "0.000005929", "1686625")
    found = match_oto(symbol="ALPHA_971USDT", working_price=D("0.000005929"), quantity=D("1686625"),
                      intent_ms=1779368069000, orders=[working, pending], claimed=set())
    assert found is None


async def test_the_client_reads_the_agg_trades_reply_without_success() -> None:
    trades: list[AggTrade] = []

    async def read(rest: AlphaRest) -> None:
        trades.extend(await rest.agg_trades("ALPHA_971USDT"))

    await serve(Recorder(S13_AGG_TRADES), read)
    assert [(t.price, t.agg_id) for t in trades] == [(D("0.000005854"), "161336")]


def test_a_removed_depth_level_may_say_0_as_well_as_0_00() -> None:
    from otobot.exchange.book import DepthUpdate

    frame = json.loads((FIX / "captures_depth_update.json").read_text())
    data = frame.get("data", frame)
    for zero in ("0", "0.00"):
        update = DepthUpdate.parse({**data, "b": [["0.000005530", zero]]})
        assert [(price, qty) for price, qty in update.bids] == [(D("0.000005530"), D(0))]
