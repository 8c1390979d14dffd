"""The day book (progress, the last order's size), the day's-end sizing, and which error means which pause."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from otobot.config.settings import PricingConfig
from otobot.exchange.errors import AuthExpired, ExchangeError, InsufficientBalance, RiskChallenge
from otobot.exchange.filters import build_oto
from otobot.exchange.models import SymbolFilters
from otobot.trading import actions, pauses, strategy
from otobot.trading.daybook import DayBook, Holding, marked_loss
from otobot.trading.pauses import Pause

D = Decimal
KOGE = SymbolFilters(symbol="ALPHA_22USDT", base_asset="ALPHA_22", quote_asset="USDT", status="TRADING",
                     tick_size=D("0.00000001"), step_size=D("0.0001"), min_qty=D("0.0001"), max_qty=D("1000000"),
                     min_price=D("0.00000001"), max_price=D("1000000"), min_notional=D("0.1"))
PRICING = PricingConfig("percent", D("0.3"), D("0.8"))


def book(kind: str, value: str, volume: str, mul: int = 1) -> DayBook:
    b = DayBook()
    b.roll(1_764_460_800_000)  # 2025-11-30 00:00 UTC
    b.set_target(kind, D(value), mul)
    b.volume = D(volume)
    return b


@pytest.mark.parametrize(("kind", "value", "mul", "volume", "progress", "amount"), [
    ("volume", "2000", 1, "1040", "1040.00/2000.00 (52 %)", "20"),
    ("volume", "60", 1, "59.82", "59.82/60.00 (100 %)", "0.18"),
    ("volume", "60", 1, "61", "61.00/60.00 (102 %)", "0"),
    ("points", "12", 1, "2048", "11/12 points (92 %)", "20"),  # 4096 reaches 12 points
    ("points", "6", 4, "15", "5/6 points (83 %)", "1"),  # 6 points on a 4x token: 16 of volume
])
def test_progress_and_the_next_orders_quote(kind: str, value: str, mul: int, volume: str, progress: str,
                                            amount: str) -> None:
    b = book(kind, value, volume, mul)
    assert b.progress() == progress
    assert b.order_amount(D(20)) == D(amount)


def test_a_new_utc_day_starts_from_zero() -> None:
    b = book("volume", "60", "70")
    assert b.reached
    assert b.roll(1_764_460_800_000 + 86_400_000) and b.day == "2025-12-01"
    assert (b.volume, b.cycles, b.reached) == (0, 0, False)


@pytest.mark.parametrize(("remaining", "expected_qty"), [
    ("20", "0.4154"),  # a full order when at least a full order is left
    ("0.18", "0.0038"),  # the remainder at the last trade, one step up
    ("0.01", "0.0022"),  # never below the smallest OTO the filters accept (pending leg ≥ 0.1 USDT)
])
def test_the_days_last_order_is_sized_to_the_remainder(remaining: str, expected_qty: str) -> None:
    last = D(48)
    amount = strategy.day_end_amount(D(remaining), D(20), last, PRICING, KOGE)
    order = strategy.oto_order(last, PRICING, amount, KOGE)
    assert order.quantity == D(expected_qty)
    build_oto(order.working_price, order.pending_price, order.pay_amount, KOGE)  # both legs pass the filters
    assert order.quantity * last >= min(D(remaining), D(20)) * D("0.99")  # reaches what is left at the last trade


def test_unsold_base_is_inventory_not_loss() -> None:
    loss, inventory = marked_loss(D(100), D("99.9"), D("0.01"), [Holding("ALPHA_22USDT", "ALPHA_22", D("0.002"),
                                                                         D(48))])
    assert inventory == D("0.096")
    assert loss == D(100) - D("99.9") + D("0.01") - D("0.096")


@pytest.mark.parametrize(("error", "reason"), [
    (RiskChallenge("verify", code="100001005"), Pause.risk_challenge),
    (AuthExpired("logged out", code="100002001"), Pause.auth_expired),
    (InsufficientBalance("no money", code="481020"), Pause.insufficient_balance),
    (ExchangeError("502"), None),
])
def test_each_exchange_error_maps_to_its_own_pause(error: ExchangeError, reason: Pause | None) -> None:
    assert pauses.for_error(error) is reason


def test_a_risk_challenge_help_says_verify_not_log_in_again() -> None:
    text = pauses.help_text(Pause.risk_challenge, "alice", detail="verify")
    assert "security verification" in text and "otobot ctl resume alice" in text


def dust_bot(dust: str, price: str, *, sweep_after: float = 0.0) -> Any:
    """What `sweepable` reads of a bot: its dust, filters, last trade and the unwind ladder."""
    return SimpleNamespace(state=SimpleNamespace(dust=D(dust), sweep_after=sweep_after), filters=KOGE,
                           last_trade=SimpleNamespace(price=D(price)), stream_up=True, last_trade_at=0.0,
                           clock=SimpleNamespace(monotonic=lambda: 1.0), cfg=SimpleNamespace(max_price_age_s=10.0,
                                               unwind=SimpleNamespace(ladder_pct=(D("0.2"), D("5")))))


@pytest.mark.parametrize(("dust", "price", "sweep_after", "expected"), [
    ("0.00223", "48", 0.0, "0.0022"),  # 0.0022 × 48 × 0.95 = 0.1003: every rung can sell it
    ("0.00215", "48", 0.0, "0"),  # sellable at the last price (0.1008) but not at the 5 % rung: it would loop
    ("0.00223", "48", 5.0, "0"),  # the last sweep sold nothing: wait before the next
    ("0.00009", "4800", 0.0, "0"),  # below one step
])
def test_dust_is_swept_only_when_every_rung_can_sell_it(dust: str, price: str, sweep_after: float,
                                                        expected: str) -> None:
    assert actions.sweepable(dust_bot(dust, price, sweep_after=sweep_after)) == D(expected)
