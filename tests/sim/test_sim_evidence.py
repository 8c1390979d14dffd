"""The simulator plays each reading of alpha-api.md §7.7 (issue #23), and the real client reads every one of them:
fully delisted tokens, order rows without cumQuote, replies without `success`, order bodies byte for byte, and
reverse OTOs (a working SELL, a pending BUY)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from simkit import FIXTURES, KOGE, KOGE_PAIR, Api, UserStream, capture, open_user_stream, poll

from otobot.exchange import protocol as p
from otobot.exchange.errors import BusinessError, InsufficientBalance
from otobot.exchange.filters import build_limit, build_oto, floor_to
from otobot.exchange.legs import describe_leg, is_reverse_leg, oto_leg
from otobot.exchange.models import (
    BUY,
    OTO_PENDING,
    OTO_WORKING,
    SELL,
    ExecutionReport,
    SymbolFilters,
)
from otobot.exchange.rest import AlphaRest
from otobot.sim.server import Simulator

D = Decimal
AOP = "ALPHA_118"
NEX_PAIR = "ALPHA_971USDT"


def rest_for(http: aiohttp.ClientSession, sim: Simulator, user: str | None = "alice") -> AlphaRest:
    return AlphaRest(http, sim.rest_url, sim.credentials(user) if user else None, retries=0, timeout_s=5)


async def raw_get(http: aiohttp.ClientSession, sim: Simulator, path: str, api: Api | None = None,
                  **params: str) -> Any:
    async with http.get(sim.rest_url + path, params=params, headers=api.headers if api else {}) as r:
        return json.loads(await r.text())


# ------------------------------------------------------------------ 1. fullyDelisted

async def test_a_delisted_token_is_listed_fully_delisted_and_the_client_finds_it_untradable(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any]) -> None:
    sim = await make_sim(delisted=(AOP,))
    tokens = {t.alpha_id: t for t in await rest_for(http, sim, None).token_list()}
    aop = tokens[AOP]
    assert aop.fully_delisted and not aop.offline and not aop.tradable and aop.untradable_reason == "fully delisted"
    assert tokens[KOGE].tradable and not tokens[KOGE].fully_delisted
    symbols = {s.symbol: s for s in await rest_for(http, sim, None).exchange_info()}
    assert symbols["ALPHA_118USDT"].status == "DELISTED" and symbols[KOGE_PAIR].trading
    # The exchange's own place guard: an order on the delisted pair is refused.
    with pytest.raises(BusinessError, match="delisted"):
        await rest_for(http, sim).place_limit(AOP, "USDT", build_limit(BUY, D("0.2"), D("10"),
                                                                        symbols["ALPHA_118USDT"]))


async def test_an_older_list_without_the_key_shows_a_delisted_token_offline(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any]) -> None:
    sim = await make_sim(delisted=(AOP,), token_fully_delisted_key=False)
    entries = (await raw_get(http, sim, p.TOKEN_LIST))["data"]
    assert all("fullyDelisted" not in e for e in entries)
    tokens = {t.alpha_id: t for t in await rest_for(http, sim, None).token_list()}
    assert not tokens[AOP].tradable and tokens[AOP].untradable_reason == "offline" and tokens[KOGE].tradable


async def test_a_token_delisted_during_the_run_turns_untradable_and_refuses_orders(
        http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    assert (await alice.limit(BUY, "40", "0.5"))["success"]
    async with http.post(quiet.rest_url + "/_sim/delist", json={"token": KOGE}) as r:
        assert (await r.json())["delisted"] == [KOGE]
    koge = next(t for t in await rest_for(http, quiet, None).token_list() if t.alpha_id == KOGE)
    assert koge.fully_delisted and not koge.tradable
    refused = await alice.limit(BUY, "40", "0.5")
    assert refused["success"] is False and "delisted" in refused["message"]
    async with http.post(quiet.rest_url + "/_sim/delist", json={"token": KOGE, "delisted": False}) as r:
        assert (await r.json())["delisted"] == []


async def raw_post(http: aiohttp.ClientSession, sim: Simulator, api: Api, path: str, body: Any) -> Any:
    async with http.post(sim.rest_url + path, data=p.dumps(body),
                         headers={**api.headers, "content-type": "application/json"}) as r:
        return p.loads(await r.text())


# ------------------------------------------------------------------ 2. order rows without cumQuote

async def filled_oto(alice: Api, sim: Simulator) -> tuple[str, str]:
    """An OTO of alice's on KOGE whose working BUY and pending SELL both fill (background traders take them)."""
    ids = (await alice.oto("48", "0.5", "48.005"))["data"]
    sym = sim.exchange.symbols[KOGE_PAIR]
    sim.exchange.submit_background(sym, "seller", SELL, D("48"), D("0.5"), rest=False)
    sim.exchange.submit_background(sym, "buyer", BUY, D("48.005"), D("1"), rest=False)
    w, pd = str(ids["workingOrderId"]), str(ids["pendingOrderId"])
    await poll(lambda: sim.exchange.order(pd).status == "FILLED", what="the pending SELL filled")
    return w, pd


@pytest.mark.parametrize("with_cum_quote", [True, False])
async def test_history_rows_with_or_without_cum_quote_book_the_same_quote(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any], with_cum_quote: bool) -> None:
    sim = await make_sim(order_rows_cum_quote=with_cum_quote)
    alice = Api(http, sim, "alice")
    w, pd = await filled_oto(alice, sim)
    raw_rows = (await raw_get(http, sim, p.ORDER_HISTORY, alice, startTime="0",
                              endTime=str(2**42)))["data"]
    # §7.7: S3's older row has neither cumQuote nor orderListId; the others keep the §7.5 capture's keys and types.
    assert all(("cumQuote" in r) is with_cum_quote and ("orderListId" in r) is with_cum_quote for r in raw_rows)
    captured = [json.loads(line) for line in (FIXTURES / "captures_history.jsonl").read_text().splitlines() if line]
    for r in raw_rows:
        for key, value in captured[0].items():
            if key in r or with_cum_quote:
                assert type(r[key]) is type(value), (key, r[key], value)
    assert raw_rows
    rows = {o.order_id: o for o in await rest_for(http, sim).history_all(0, 2**42)}
    for oid in (w, pd):
        exact = sim.exchange.order(oid).cum_quote
        assert exact > 0
        assert abs(rows[oid].cum_quote - exact) <= D("0.00000001"), (oid, rows[oid].cum_quote, exact)
        assert (rows[oid].quote_derived is None) is with_cum_quote
        assert rows[oid].order_list_id == (str(sim.exchange.order(oid).list_id) if with_cum_quote else "")


# ------------------------------------------------------------------ 3. replies without `success`

@pytest.mark.parametrize(("mode", "agg_has", "others_have"), [
    ("always", True, True), ("except-agg-trades", False, True), ("never", False, False)])
async def test_replies_carry_success_as_the_setting_says_and_the_client_reads_them_all(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any], mode: str, agg_has: bool,
        others_have: bool) -> None:
    sim = await make_sim(success_key=mode)
    alice = Api(http, sim, "alice")
    await alice.limit(BUY, "49", "0.5")  # takes asks: a trade on the tape
    await alice.limit(BUY, "40", "0.5")  # rests: an open order
    agg = await raw_get(http, sim, p.AGG_TRADES, symbol=KOGE_PAIR, limit="5")
    assert ("success" in agg) is agg_has and agg["code"] == "000000"
    opened = await raw_get(http, sim, p.OPEN_ORDERS, alice)
    assert ("success" in opened) is others_have
    rest = rest_for(http, sim)
    assert await rest.agg_trades(KOGE_PAIR, 5)
    assert [o.side for o in await rest.open_orders(KOGE_PAIR)] == [BUY]
    # Without `success` an error is still an error: code 481020 is insufficient balance.
    sim.exchange.set_balance("alice", "USDT", D(0))
    f = next(s for s in await rest.exchange_info() if s.symbol == KOGE_PAIR)
    with pytest.raises(InsufficientBalance):
        await rest.place_oto(KOGE, "USDT", build_oto(D("49"), D("48"), D("10"), f))


# ------------------------------------------------------------------ 4. order bodies byte for byte

def capture_lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def captured_nex_filters() -> SymbolFilters:
    """ALPHA_971 as captured (§7.6): step "0.10", so floored quantities carry 2 dp (the simulator lists "0.1")."""
    return next(SymbolFilters.parse(p.loads(line)) for line in capture_lines("captures_exchange_info.jsonl")
                if NEX_PAIR in line)


async def test_the_client_s_order_bodies_reach_the_simulator_as_the_captured_bytes(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any]) -> None:
    sim = await make_sim(strict_body_numbers=True)
    rest = rest_for(http, sim)
    oto_line = capture_lines("captures_oto_place.jsonl")[0]
    served = next(s for s in await rest_for(http, sim, None).exchange_info() if s.symbol == NEX_PAIR)
    for f in (served, captured_nex_filters()):  # 1779676.0 with the simulator's step, 1779676.00 with the real one
        await rest.place_oto("ALPHA_971", "USDT", build_oto(D("0.000005619"), D("0.0000058"), D("10"), f))
        assert sim.order_bodies[-1] == oto_line.encode()
    sim.exchange.set_balance("alice", "ALPHA_971", D("2000000"))
    for line in capture_lines("captures_orders.jsonl")[:2]:  # the BUY and the SELL of §7.2
        sent = p.loads(line)
        await rest.place_limit("ALPHA_971", "USDT", build_limit(sent["side"], sent["price"], sent["quantity"],
                                                                captured_nex_filters()))
        assert sim.order_bodies[-1] == line.encode()


@pytest.mark.parametrize("strict", [True, False])
async def test_a_body_with_trailing_zeros_is_refused_only_by_the_strict_reading(
        http: aiohttp.ClientSession, make_sim: Callable[..., Any], strict: bool) -> None:
    sim = await make_sim(strict_body_numbers=strict)
    alice = Api(http, sim, "alice")
    browser = capture_lines("captures_oto_place.jsonl")[0]
    old_client = browser.replace('"workingQuantity":1779676,', '"workingQuantity":1779676.00,')
    assert old_client != browser
    reply = await raw_text_post(http, sim, alice, p.PLACE_OTO, old_client)
    assert reply["success"] is not strict
    if strict:
        assert "trailing zeros: 1779676.00" in reply["message"]
    assert (await raw_text_post(http, sim, alice, p.PLACE_OTO, browser))["success"] is True
    assert list(sim.order_bodies)[-2:] == [old_client.encode(), browser.encode()]


async def raw_text_post(http: aiohttp.ClientSession, sim: Simulator, api: Api, path: str, text: str) -> Any:
    async with http.post(sim.rest_url + path, data=text,
                         headers={**api.headers, "content-type": "application/json"}) as r:
        return p.loads(await r.text())


# ------------------------------------------------------------------ 5. reverse OTO

def reverse_body(working: str, qty: str, pending: str) -> dict[str, Any]:
    return {"baseAsset": KOGE, "quoteAsset": "USDT", "workingSide": SELL, "workingPrice": D(working),
            "workingQuantity": D(qty), "paymentDetails": [{"amount": D(qty), "paymentWalletType": "ALPHA"}],
            "pendingPrice": D(pending), "pendingType": "LIMIT"}


async def test_a_reverse_oto_sells_first_then_buys_back_and_the_client_tells_its_legs_apart(
        http: aiohttp.ClientSession, alice: Api, quiet: Simulator, streams: list[UserStream]) -> None:
    quiet.exchange.set_balance("alice", KOGE, D("1"))
    usdt_before = quiet.exchange.balance("alice", "USDT")[0]
    us = await open_user_stream(alice)
    streams.append(us)
    # The SELL at 47.9 takes the bids at once; the BUY back at 48.2, once live, takes the asks.
    ids = (await alice.post(p.PLACE_OTO, reverse_body("47.9", "0.5", "48.2")))["data"]
    w, pd = str(ids["workingOrderId"]), str(ids["pendingOrderId"])
    await us.wait(lambda ev: any(e["i"] == pd and e["X"] == "FILLED" for e in ev))
    assert [(e["i"], e["x"], e["X"]) for e in us.events()][:3] == [(w, "NEW", "NEW"), (pd, "NEW", "PENDING"),
                                                                   (w, "TRADE", "FILLED")]
    # Each frame has §7.4's keys in its order and JSON types: a reverse OTO's frames differ only in sides.
    captured = [f["data"] for f in capture("captures_user_stream.jsonl") if "data" in f]
    for ev in us.events():
        model = captured[2] if ev["x"] == "TRADE" else captured[0]
        assert list(ev) == list(model) and {k: type(v) for k, v in ev.items()} == {
            k: type(v) for k, v in model.items()}, ev
    assert next(e["q"] for e in us.events() if e["i"] == pd) == "0"  # the dormant BUY, as the dormant SELL in §7.4
    reports = [ExecutionReport.parse(e) for e in us.events()]
    legs = {(r.order_id, r.side, oto_leg(r.contingency_position)) for r in reports}
    assert legs == {(w, SELL, "working"), (pd, BUY, "pending")}
    assert all(is_reverse_leg(r.side, r.contingency_position) for r in reports)
    dormant = next(r for r in reports if r.order_id == pd and r.status == "PENDING")
    active = next(r for r in reports if r.order_id == pd and r.status == "NEW")
    assert dormant.orig_qty == 0
    # S14: the pending BUY buys for the sold quote value (after the SELL's USDT fee) at the reverse price.
    sold_net = sum((D(e["Y"]) - D(e["n"]) for e in us.events() if e["i"] == w and e["x"] == "TRADE"), D(0))
    step = quiet.exchange.symbols[KOGE_PAIR].step
    assert active.orig_qty == floor_to(sold_net / D("48.2"), step) < D("0.5")
    # REST says the same: positions and sides, one order list.
    rows = {o.order_id: o for o in await rest_for(http, quiet).history_all(0, 2**42)}
    assert (rows[w].contingency_position, rows[w].side) == (OTO_WORKING, SELL)
    assert (rows[pd].contingency_position, rows[pd].side) == (OTO_PENDING, BUY)
    assert rows[w].order_list_id == rows[pd].order_list_id != "-1"
    assert describe_leg(SELL, OTO_WORKING, rows[w].order_list_id) == (
        f"the working SELL of reverse OTO {rows[w].order_list_id}, which sells first and buys back")
    # Base sold and bought back less the BUY's base fee; the quote moved by what the two fills say, nothing locked.
    bought_qty = active.orig_qty
    assert quiet.exchange.balance("alice", KOGE) == (D("0.5") + bought_qty - bought_qty * quiet.exchange.fee, D(0))
    sold, bought = rows[w].cum_quote, rows[pd].cum_quote
    usdt_free, usdt_locked = quiet.exchange.balance("alice", "USDT")
    assert usdt_locked == 0 and usdt_free == usdt_before + sold - sold * quiet.exchange.fee - bought


async def test_a_reverse_oto_buys_back_for_what_the_sell_brought_even_with_no_other_usdt(
        http: aiohttp.ClientSession, alice: Api, quiet: Simulator) -> None:
    """S14: the pending BUY's quantity is the sold quote value over the reverse price, so the SELL's own proceeds
    pay for it: with 0 USDT beside them and a reverse price of 100 it rests for about 0.24, not 0.5."""
    quiet.exchange.set_balance("alice", KOGE, D("1"))
    quiet.exchange.set_balance("alice", "USDT", D(0))
    ids = (await alice.post(p.PLACE_OTO, reverse_body("47.9", "0.5", "100")))["data"]
    working, pending = quiet.exchange.order(ids["workingOrderId"]), quiet.exchange.order(ids["pendingOrderId"])
    await poll(lambda: pending.status in ("NEW", "FILLED", "PARTIALLY_FILLED"), what="the pending BUY live")
    received = sum((f.quote - f.commission for f in quiet.exchange.fills_of_order(working.id)), D(0))
    assert pending.orig_qty == floor_to(received / D("100"), quiet.exchange.symbols[KOGE_PAIR].step)
    assert 0 < pending.orig_qty < D("0.5")


def test_settings_reject_an_unknown_success_key_reading(tmp_path: Path) -> None:
    from otobot.sim.config import default_sim_config, load_sim_config

    with pytest.raises(ValueError, match="success_key"):
        default_sim_config(success_key="sometimes")
    f = tmp_path / "sim.yaml"
    f.write_text("options: {delisted: [ALPHA_118], order_rows_cum_quote: false, success_key: never}\n")
    cfg = load_sim_config(f)
    assert (cfg.delisted, cfg.order_rows_cum_quote, cfg.success_key) == (("ALPHA_118",), False, "never")
