"""The synthetic market: seeded determinism, a sane ladder, background trades as aggTrades, price shocks."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.sim.config import DEFAULT_SYMBOLS, default_sim_config, load_sim_config
from otobot.sim.exchange import Exchange
from otobot.sim.market import Market, ladder, next_mid
from otobot.sim.matching import BUY, SELL

D = Decimal


def _market(seed: int, **options: Any) -> tuple[Exchange, Market, list[dict[str, Any]]]:
    published: list[dict[str, Any]] = []
    ex = Exchange(default_sim_config(users=1, seed=seed, **options), publish=lambda sym, data: published.append(data))
    return ex, Market(ex, seed, 0.1), published


def test_the_same_seed_gives_the_same_market() -> None:
    runs = []
    for _ in range(2):
        _, market, published = _market(7)
        for _ in range(50):
            market.tick()
        runs.append(([(t["s"], t["p"], t["q"], t["m"]) for t in published], dict(market.mid)))
    assert runs[0] == runs[1] and runs[0][0], "identical, non-empty trade tapes"
    _, other, _ = _market(8)
    for _ in range(50):
        other.tick()
    assert other.mid != runs[0][1]


def test_next_mid_is_a_small_random_step_and_never_below_ten_ticks() -> None:
    rng = random.Random(1)
    mid = D(48)
    for _ in range(100):
        new = next_mid(mid, D(1), rng, D("0.00000001"))
        assert abs(new / mid - 1) < D("0.001")  # 1 bp volatility: ~10 sigma bound
        mid = new
    assert next_mid(D("0.00000001"), D(10000), random.Random(2), D("0.00000001")) >= D("0.0000001")


@pytest.mark.parametrize("sym", DEFAULT_SYMBOLS, ids=lambda s: s.symbol)
def test_ladder_quotes_on_tick_and_step_with_bids_below_asks(sym: Any) -> None:
    quotes = ladder(sym.price, sym)
    bids = [p for side, p, _ in quotes if side == BUY]
    asks = [p for side, p, _ in quotes if side == SELL]
    assert len(bids) == len(asks) == sym.levels
    assert max(bids) < sym.price < min(asks)
    for _, price, qty in quotes:
        assert price % sym.tick == 0 and qty % sym.step == 0 and qty >= sym.min_qty
        assert abs(price * qty - sym.level_quote) <= price * sym.step + sym.level_quote * D("0.01")


def test_spread_in_ticks() -> None:
    sym = replace(DEFAULT_SYMBOLS[0], spread_ticks=10)
    quotes = ladder(D(48), sym)
    best_bid = max(p for side, p, _ in quotes if side == BUY)
    best_ask = min(p for side, p, _ in quotes if side == SELL)
    assert (best_ask - best_bid) / sym.tick == 10


def test_every_background_trade_is_published_as_an_agg_trade() -> None:
    ex, market, published = _market(3)
    for _ in range(30):
        market.tick()
    assert published
    for pair, recent in ex.recent_trades.items():
        assert [t for t in published if t["s"] == pair] == recent
    assert all(isinstance(t["a"], int) and isinstance(t["p"], str) and isinstance(t["m"], bool) for t in published)


def test_a_shock_moves_the_mid_and_fills_resting_orders_in_its_way() -> None:
    ex, market, published = _market(4)
    alice = ex.accounts["alice"]
    pair = "ALPHA_22USDT"
    mid = market.mid[pair]
    ask = (mid * D("1.01")).quantize(D("0.00000001"))
    # Alice buys some KOGE, then rests a sell 1 % above mid; a +3 % shock carries the bids through it.
    ex.place_limit(alice, {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": "BUY", "price": mid * 2,
                           "quantity": D(1), "paymentDetails": [{"amount": str((mid * 2).quantize(D("1e-8")))}]})
    sell_id = ex.place_limit(alice, {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": "SELL", "price": ask,
                                     "quantity": D("0.5"), "paymentDetails": [{"amount": "0.5"}]})
    assert ex.by_id[sell_id].status == "NEW"
    market.shock(pair, D(3))
    assert market.mid[pair] == mid * D("1.03")
    assert ex.by_id[sell_id].status == "FILLED" and ex.by_id[sell_id].cum_quote == (ask * D("0.5"))
    assert published[-1]["p"].startswith(str(ask))


def test_paused_market_does_nothing() -> None:
    _, market, published = _market(5)
    market.paused = True
    before = dict(market.mid)
    for _ in range(20):
        market.tick()
    assert market.mid == before and published == []


def test_yaml_config_options_users_and_symbols(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("""
seed: 42
options: {cancel_other_leg: false, pending_on_partial: activate, listen_key_ttl_s: 5, fee_rate: 0.0002,
          wallet_quote_bucket: spot}
users:
  - dora
  - {name: eve, usdt: 50, earn_usdt: 9207.42344884, tokens: {ALPHA_9: 12.5}, csrftoken: abc}
symbols:
  - {alpha_id: ALPHA_9, symbol: NINE, name: Nine, price: 1.5, tick: 0.0001, step: 0.1, min_qty: 0.1,
     trades_per_s: 2.5, levels: 3, mul_point: 2, spread_ticks: 4}
""")
    cfg = load_sim_config(path)
    assert cfg.seed == 42 and not cfg.cancel_other_leg and cfg.pending_on_partial == "activate"
    assert cfg.fee_rate == D("0.0002") and cfg.listen_key_ttl_s == 5 and cfg.wallet_quote_bucket == "spot"
    assert cfg.users[0].earn_usdt == 0 and cfg.users[1].earn_usdt == D("9207.42344884")
    assert [u.name for u in cfg.users] == ["dora", "eve"]
    assert cfg.users[1].usdt == D(50) and cfg.users[1].tokens == (("ALPHA_9", D("12.5")),)
    assert cfg.users[1].csrftoken == "abc"
    sym = cfg.symbols[0]
    assert (sym.price, sym.tick, sym.trades_per_s, sym.levels, sym.spread_ticks) == (D("1.5"), D("0.0001"), 2.5, 3, 4)
    path.write_text("options: {no_such_option: 1}\n")
    with pytest.raises(ValueError, match="no_such_option"):
        load_sim_config(path)
    path.write_text("options: {wallet_quote_bucket: earn}\n")
    with pytest.raises(ValueError, match="wallet_quote_bucket must be 'funding' or 'spot'"):
        load_sim_config(path)


def test_default_config_has_three_tokens_and_named_users() -> None:
    cfg = default_sim_config(users=5, seed=1)
    assert [s.symbol for s in cfg.symbols] == ["KOGE", "AOP", "NEX"]
    assert [s.mul_point for s in cfg.symbols] == [1, 4, 2]
    assert [u.name for u in cfg.users] == ["alice", "bob", "carol", "user4", "user5"]
    with pytest.raises(ValueError, match="pending_on_partial"):
        default_sim_config(pending_on_partial="sometimes")


@settings(max_examples=100, deadline=None)
@given(mid_units=st.integers(min_value=1000, max_value=10**9), tick_exp=st.integers(min_value=2, max_value=9),
       spread=st.integers(min_value=1, max_value=100), spread_ticks=st.integers(min_value=0, max_value=20))
def test_any_ladder_is_uncrossed_and_on_tick(mid_units: int, tick_exp: int, spread: int, spread_ticks: int) -> None:
    tick = D(1).scaleb(-tick_exp)
    sym = replace(DEFAULT_SYMBOLS[0], tick=tick, spread_bps=D(spread), spread_ticks=spread_ticks,
                  step=D("0.0001"), min_qty=D("0.0001"), level_quote=D(100))
    mid = tick * mid_units
    quotes = ladder(mid, sym)
    bids = [p for side, p, _ in quotes if side == BUY]
    asks = [p for side, p, _ in quotes if side == SELL]
    assert not bids or not asks or max(bids) < min(asks)
    assert all(p % tick == 0 and p > 0 for _, p, _ in quotes)
