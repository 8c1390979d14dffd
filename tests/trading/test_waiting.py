"""Why a bot places nothing, as a reason code and a sentence with its numbers, kept since it began (pure)."""

from __future__ import annotations

from otobot.trading.cycle import PlaceFacts
from otobot.trading.waiting import Waiting, next_waiting, refusing_guard

VOLATILE = PlaceFacts(move_pct=4.2, max_move_pct=3.0, price_age_s=1.0, max_price_age_s=10.0, user_stream_up=True,
                      balance_ok=True)


def test_volatility_reads_with_its_numbers_and_keeps_its_start() -> None:
    w = next_waiting(None, "volatility_ok", VOLATILE, window_s=60, quote="USDT", now_ms=1000)
    assert w == Waiting("volatility", "volatility 4.2 % > 3 % in 60 s", 1000)
    later = PlaceFacts(move_pct=5.0, max_move_pct=3.0)
    w2 = next_waiting(w, "volatility_ok", later, window_s=60, quote="USDT", now_ms=9000)
    assert w2 == Waiting("volatility", "volatility 5.0 % > 3 % in 60 s", 1000)  # same wait, new numbers


def test_a_new_reason_starts_a_new_wait_and_placing_ends_it() -> None:
    w = next_waiting(None, "volatility_ok", VOLATILE, window_s=60, quote="USDT", now_ms=1000)
    stale = PlaceFacts(price_age_s=42.0, max_price_age_s=10.0)
    w2 = next_waiting(w, "price_is_fresh", stale, window_s=60, quote="USDT", now_ms=2000)
    assert w2 == Waiting("stale_price", "last trade 42 s old > 10 s", 2000)
    assert next_waiting(w2, None, stale, window_s=60, quote="USDT", now_ms=3000) is None


def test_a_pause_or_a_reached_target_is_not_a_wait() -> None:
    assert next_waiting(None, "not_paused", VOLATILE, window_s=60, quote="USDT", now_ms=1) is None
    assert next_waiting(None, "target_open", VOLATILE, window_s=60, quote="USDT", now_ms=1) is None


def test_the_first_guard_that_says_no_is_the_reason() -> None:
    assert refusing_guard({"not_paused": True, "price_is_fresh": False, "volatility_ok": False}) == "price_is_fresh"
    assert refusing_guard({"volatility_ok": True}) is None
