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
