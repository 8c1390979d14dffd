"""The client against the real captures (alpha-api.md §7): every one parses into the right typed values, and the
requests the client sends have the captured shapes, seen by a real local HTTP server (aioresponses 0.7 cannot
build aiohttp 3.14 responses, and a real socket is the better test anyway)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otobot.exchange import protocol as p
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import AuthExpired, InsufficientBalance, RateLimited, UnknownOutcome
from otobot.exchange.filters import OtoOrder
from otobot.exchange.models import (
    AggTrade,
    AssetBalance,
    ExecutionReport,
    Order,
    OtoPlaced,
    SymbolFilters,
    Token,
    UserTrade,
    UserVolume,
)
from otobot.exchange.rest import AlphaRest

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CREDS = Credentials(cookie="p20t=abc123secret; logined=y", csrftoken="0123456789abcdef0123456789abcdef",
                    headers={"content-length": "99", "bnc-uuid": "u-1"})


def lines(name: str) -> list[Any]:
    return [p.loads(line) for line in (FIX / name).read_text().splitlines() if line.strip()]


def test_user_stream_capture_parses_into_one_oto_cycle() -> None:
    frames = lines("captures_user_stream.jsonl")
    reports = [ExecutionReport.parse(f["data"]) for f in frames if "data" in f]
    assert [(r.side, r.exec_type, r.status) for r in reports] == [
        ("BUY", "NEW", "NEW"), ("SELL", "NEW", "PENDING"), ("BUY", "TRADE", "FILLED"), ("SELL", "NEW", "NEW"),
        ("SELL", "TRADE", "PARTIALLY_FILLED"), ("SELL", "TRADE", "FILLED")]
    buy_fill, activation, part, last = reports[2], reports[3], reports[4], reports[5]
    assert buy_fill.order_id == "51481849" and isinstance(buy_fill.event_id, str)
    assert buy_fill.commission == Decimal("0.08695600") and buy_fill.commission_asset == "ALPHA_373"
    # The pending leg's quantity is the bought qty less the 0.01 % buy fee, floored to the step.
    assert reports[1].orig_qty == 0 and activation.orig_qty == Decimal("869.47")
    # Two sub-fills share one trade id: it can never be a dedupe key on its own.
    assert part.trade_id == last.trade_id == "798492" and part.event_id != last.event_id
    assert last.cum_qty == Decimal("869.47") and last.cum_quote == Decimal("197.28681211")
    assert {r.order_list_id for r in reports} == {"89863105"}
    assert reports[0].contingency_position == "OTO_WORKING"


def test_oto_place_capture_ids_become_strings() -> None:
    frames = lines("captures_oto_place.jsonl")
    responses = [f for f in frames if "code" in f]
    placed = [OtoPlaced.parse(r["data"]) for r in responses]
    assert placed[0] == OtoPlaced("2465664", "2465665")
    assert placed[1] == OtoPlaced("176849327", "176849328")


def test_history_user_trades_wallet_volume_and_market_captures_parse() -> None:
    rows = [Order.parse(r) for r in lines("captures_history.jsonl")]
    assert rows[0].order_list_id == rows[1].order_list_id == "1393062340"
    assert rows[1].executed_qty == Decimal("1686456.3") and rows[1].contingency_position == "OTO_PENDING"
    trades = p.loads((FIX / "captures_user_trades.json").read_text())["data"]
    t = UserTrade.parse(trades[0])
    assert (t.trade_id, t.qty, t.commission_asset) == ("163778", Decimal("485278.90"), "USDT")
    wallet = p.loads((FIX / "captures_wallet.json").read_text())["data"]
    assert AssetBalance.parse_alpha(wallet["list"][0]) == AssetBalance("ALPHA_391", Decimal(250), Decimal(0))
    volume = UserVolume.parse(p.loads((FIX / "captures_user_volume.json").read_text())["data"])
    assert volume.total == Decimal("197.43566840519998")  # the wire's float, kept digit for digit
    agg = [AggTrade.parse(f["data"]) for f in lines("captures_agg_trade.jsonl")]
    assert agg[0].price == Decimal("0.000005540") and agg[1].agg_id == "798462"
    infos = [SymbolFilters.parse(s) for s in lines("captures_exchange_info.jsonl")]
    koge = next(s for s in infos if s.symbol == "ALPHA_22USDT")
    assert koge.step_size == Decimal("0.0001")  # stepSize, not quantityPrecision 8
    token = Token.parse(json.loads((FIX / "captures_token_list.json").read_text()))
    assert (token.alpha_id, token.symbol, token.mul_point, token.tradable) == ("ALPHA_22", "KOGE", 1, True)


class Scripted:
    """A local server answering each path from a script of (status, body, headers) and recording requests."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, str, dict[str, str]]]] = {}
        self.seen: list[tuple[str, str, str, dict[str, str]]] = []

    def add(self, path: str, status: int = 200, body: str = "", headers: dict[str, str] | None = None) -> None:
        self.script.setdefault(path, []).append((status, body, headers or {}))

    def count(self, path: str) -> int:
        return sum(1 for _, p_, _, _ in self.seen if p_ == path)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, await request.text(), dict(request.headers)))
        status, body, headers = self.script[request.path].pop(0)
        return web.Response(status=status, text=body, headers=headers, content_type="application/json")


@pytest.fixture
async def server() -> Any:
    scripted = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    scripted.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined,union-attr]
    yield scripted
    await runner.cleanup()


@pytest.fixture
async def rest(server: Scripted) -> Any:
    async with aiohttp.ClientSession() as session:
        yield AlphaRest(session, server.base, CREDS, retries=2, timeout_s=2)  # type: ignore[attr-defined]


async def test_place_oto_sends_the_captured_body_and_headers(rest: AlphaRest, server: Scripted) -> None:
    order = OtoOrder(Decimal("0.000005619"), Decimal("1779676"), Decimal("9.99999944"), Decimal("0.0000058"))
    request, response = (FIX / "captures_oto_place.jsonl").read_text().splitlines()[:2]
    server.add(p.PLACE_OTO, body=response)
    placed = await rest.place_oto("ALPHA_971", "USDT", order)
    assert placed == OtoPlaced("2465664", "2465665")
    method, _, body, headers = server.seen[0]
    # Byte for byte the page's body: numbers as numbers, the pay amount as a string.
    assert (method, body) == ("POST", request)
    h = {k.lower(): v for k, v in headers.items()}
    assert h["csrftoken"] == CREDS.csrftoken and h["cookie"] == CREDS.cookie and h["clienttype"] == "web"
    assert h["content-length"] == str(len(request.encode()))  # aiohttp's own, not the stale captured "99"


async def test_an_order_post_is_never_retried(rest: AlphaRest, server: Scripted) -> None:
    order = OtoOrder(Decimal("1"), Decimal("1"), Decimal("1"), Decimal("0.9"))
    server.add(p.PLACE_OTO, status=502, body="Bad Gateway")
    with pytest.raises(UnknownOutcome):
        await rest.place_oto("ALPHA_1", "USDT", order)
    assert server.count(p.PLACE_OTO) == 1
    server.add(p.PLACE_OTO, status=429, headers={"Retry-After": "0.1"})
    with pytest.raises(RateLimited):  # refused before placing: known not placed, and still not retried
        await rest.place_oto("ALPHA_1", "USDT", order)
    assert server.count(p.PLACE_OTO) == 2


async def test_reads_are_retried_and_business_errors_are_typed(rest: AlphaRest, server: Scripted) -> None:
    server.add(p.OPEN_ORDERS, status=503, body="busy")
    server.add(p.OPEN_ORDERS, body=json.dumps(p.envelope([])))
    assert await rest.open_orders() == []
    assert server.count(p.OPEN_ORDERS) == 2
    server.add(p.USER_BASE_INFO, body=(FIX / "captures_auth_expired.json").read_text())
    with pytest.raises(AuthExpired):
        await rest.check_session()
    server.add(p.PLACE_OTO, body=json.dumps({"code": "481020", "message": "insufficient", "success": False}))
    with pytest.raises(InsufficientBalance):
        await rest.place_oto("ALPHA_1", "USDT", OtoOrder(Decimal(1), Decimal(1), Decimal(1), Decimal("0.9")))
