"""The dashboard's pure parts: the price tape behind its chart, the ticker `otobot price` reads, the cost cap."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from otobot.exchange.errors import MalformedMessage
from otobot.exchange.models import AggTrade
from otobot.exchange.ticker import Ticker24h
from otobot.web.tape import TAPE_SPAN_MS, PriceTape


def trade(agg: int, ms: int, price: str, symbol: str = "ALPHA_22USDT") -> AggTrade:
    return AggTrade(symbol=symbol, price=Decimal(price), qty=Decimal(1), trade_time_ms=ms, agg_id=str(agg),
                    buyer_is_maker=False)


def test_the_tape_keeps_each_seconds_last_price_per_symbol() -> None:
    tape = PriceTape()
    tape.put("a", trade(1, 1_000_100, "1.0"))
    tape.put("b", trade(2, 1_000_900, "1.2"))  # same second: replaces
    tape.put("c", trade(3, 1_001_000, "1.1"))
    tape.put("d", trade(1, 1_001_000, "9.9", symbol="ALPHA_118USDT"))
    assert tape.points("ALPHA_22USDT") == [(1_000_000, Decimal("1.2")), (1_001_000, Decimal("1.1"))]
    assert tape.points("ALPHA_118USDT") == [(1_001_000, Decimal("9.9"))]
    assert tape.get("c") is not None  # still the bots' decode cache


def test_a_frame_decoded_twice_adds_nothing_and_old_points_fall_off_after_an_hour() -> None:
    tape = PriceTape(size=1)
    tape.put("a", trade(5, 10_000, "2"))
    tape.put("b", trade(6, 11_000, "3"))
    tape.put("a", trade(5, 10_000, "2"))  # evicted from the cache, decoded again by another bot
    assert [p for _, p in tape.points("ALPHA_22USDT")] == [Decimal(2), Decimal(3)]
    tape.put("z", trade(7, 11_000 + TAPE_SPAN_MS + 1_000, "4"))
    assert [p for _, p in tape.points("ALPHA_22USDT")] == [Decimal(4)]


def test_the_ticker_parses_the_official_fields_and_defaults_a_missing_range_to_the_last_price() -> None:
    t = Ticker24h.parse({"symbol": "ALPHA_22USDT", "lastPrice": "48.1", "highPrice": "49", "lowPrice": "47.5",
                         "openPrice": "48", "volume": "10", "quoteVolume": "481", "count": 7, "closeTime": 5},
                        "ALPHA_22USDT")
    assert (t.last, t.high, t.low, t.trades, t.close_ms) == (Decimal("48.1"), 49, Decimal("47.5"), 7, 5)
    bare = Ticker24h.parse({"lastPrice": "1.5"}, "ALPHA_9USDT")
    assert (bare.symbol, bare.high, bare.low, bare.trades) == ("ALPHA_9USDT", Decimal("1.5"), Decimal("1.5"), 0)
    with pytest.raises(MalformedMessage):
        Ticker24h.parse({"highPrice": "1"}, "ALPHA_9USDT")


async def test_a_slow_overview_is_computed_at_most_a_fifth_of_the_time(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    """However slow the database, browsers polling the overview leave the bots' event loop ≥ 4/5 of its time."""
    import asyncio

    from otobot.web import app as web_app

    calls: list[int] = []

    async def slow_overview(*args: object) -> dict[str, object]:
        calls.append(1)
        await asyncio.sleep(0.05)
        return {"n": len(calls)}

    async def live() -> dict[str, object]:
        return {"users": []}

    now = [1000.0]
    monkeypatch.setattr(web_app.data, "overview", slow_overview)
    monkeypatch.setattr(web_app, "OVERVIEW_FRESH_S", 0.0)
    settings = SimpleNamespace(users_dir=tmp_path)
    dash = web_app.Dashboard(None, lambda: settings, live, clock=lambda: now[0])  # type: ignore[arg-type,return-value]
    assert await dash.overview() == {"n": 1}
    now[0] += 0.1  # within 5 × the ≥ 50 ms it took
    assert await dash.overview() == {"n": 1}
    now[0] += 1000
    assert await dash.overview() == {"n": 2}


def test_a_cycles_sums_value_the_buy_fee_in_base_at_the_buy_price_and_count_unsold_base_as_cost() -> None:
    from otobot.store.records import CycleRow, OrderRow
    from otobot.views.reports import cycle_summary

    cycle = CycleRow(id=7, user="alice", day="2026-12-06", symbol="ALPHA_22USDT", base_asset="ALPHA_22",
                     quote_asset="USDT", mul_point=1, state="done", reason="sold", working_price=Decimal("50"),
                     pending_price=Decimal("49.5"), quantity=Decimal("0.4"), pay_amount=Decimal("20"),
                     intent_ms=1_765_000_000_000, placed_ms=None, closed_ms=1_765_000_001_000, order_list_id="9")

    def order(role: str, side: str, qty: str, quote: str, fee: str, asset: str) -> OrderRow:
        return OrderRow(id=1, user="alice", cycle_id=7, role=role, order_id="1", symbol="ALPHA_22USDT", side=side,
                        price=Decimal("50"), quantity=Decimal(qty), status="FILLED", cum_qty=Decimal(qty),
                        cum_quote=Decimal(quote), fee=Decimal(fee), fee_asset=asset, intent_ms=0, updated_ms=0)

    legs = [order("working", "BUY", "0.4", "20", "0.00004", "ALPHA_22"),
            order("pending", "SELL", "0.3", "14.9", "0.00149", "USDT"),
            order("unwind", "SELL", "0.0999", "4.95", "0.000495", "USDT")]
    row = cycle_summary(cycle, legs)
    assert (row["bought"], row["buy_quote"], row["sold"], row["sell_quote"]) == ("0.4", "20", "0.3999", "19.85")
    # fees: 0.00004 base × 50 (the BUY's average price) + 0.00149 + 0.000495 quote
    assert row["fees"] == "0.00398500"
    # cost: 20 bought − 19.85 sold + 0.001985 sell fees = 0.151985 → 75.99 bps of 20
    assert (row["cost"], row["cost_bps"], row["orders"]) == ("0.15198500", "75.99", 3)
    assert cycle_summary(cycle, [])["cost_bps"] is None  # nothing bought: no cost to speak of
