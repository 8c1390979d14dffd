"""The simulator's open-order and history indexes answer exactly what a walk over every order would (issue #24)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.sim import exchange as sim_exchange
from otobot.sim.config import default_sim_config
from otobot.sim.exchange import Exchange

# One step: place a resting BUY at a time (which may step back, as a wall clock can), or cancel the n-th open order.
STEPS = st.lists(st.one_of(st.tuples(st.just("place"), st.integers(min_value=-3, max_value=5)),
                           st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20))),
                 max_size=60)


def _walk_open(ex: Exchange, user: str) -> list[int]:
    return [o.id for o in ex.orders(user) if o.open]


def _walk_since(ex: Exchange, user: str, start: int) -> list[int]:
    return [o.id for o in ex.orders(user) if o.time >= start]


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, starts=st.lists(st.integers(min_value=990, max_value=1300), min_size=1, max_size=5))
def test_indexes_match_a_walk_over_every_order(steps: list[tuple[str, int]], starts: list[int]) -> None:
    ex = Exchange(default_sim_config(users=1))
    account = ex.account("alice")
    clock = [1000]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim_exchange, "now_ms", lambda: clock[0])
        for kind, n in steps:
            if kind == "place":
                clock[0] += n
                # Far below the market: it rests, so only a cancel ends it.
                ex.place_limit(account, {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": "BUY",
                                         "price": "1", "quantity": "1", "paymentDetails": [{"amount": "1"}]})
            else:
                live = ex.open_orders("alice")
                if live:
                    ex.cancel(account, live[n % len(live)].id)
            assert [o.id for o in ex.open_orders("alice")] == _walk_open(ex, "alice")
    for start in starts:
        assert [o.id for o in ex.orders_since("alice", start)] == _walk_since(ex, "alice", start)


def test_a_clock_step_back_keeps_an_older_stamped_order_in_a_later_window() -> None:
    ex = Exchange(default_sim_config(users=1))
    account = ex.account("alice")
    body = {"baseAsset": "ALPHA_22", "quoteAsset": "USDT", "side": "BUY", "price": "1", "quantity": "1",
            "paymentDetails": [{"amount": "1"}]}
    ids = []
    with pytest.MonkeyPatch.context() as mp:
        for t in (1000, 1010, 1005, 1020):  # the third order is stamped before the second
            mp.setattr(sim_exchange, "now_ms", lambda t=t: t)
            ids.append(ex.place_limit(account, body))
    assert [o.id for o in ex.orders_since("alice", 1005)] == ids[1:]
    assert [o.id for o in ex.orders_since("alice", 1011)] == ids[3:]
    ex.cancel(account, ids[1])
    assert [o.id for o in ex.open_orders("alice")] == [ids[0], ids[2], ids[3]]
    assert Decimal(ex.balance("alice", "USDT")[1]) == 3  # three still lock their quote
