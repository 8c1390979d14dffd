"""Fee dust as the exchange computes it (§5.3): the pending SELL gets (bought − base fee) floored to step, and the
rest stays in the user's Alpha wallet, cycle after cycle."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simkit import Api

from otobot.exchange import protocol as p
from otobot.exchange.models import AssetBalance
from otobot.sim.matching import BUY, SELL
from otobot.sim.server import Simulator

D = Decimal


async def alpha_free(api: Api, alpha_id: str) -> AssetBalance:
    wallet = (await api.get(p.ALPHA_WALLET))["data"]
    return next(AssetBalance.parse_alpha(i) for i in wallet["list"] if i["tokenId"] == alpha_id)


@pytest.mark.parametrize(("alpha", "quantities", "first_pending"), [
    # S1's KOGE-era sample on a 0.01-step token: 869.56 − 0.086956 → 869.47 (§5.3).
    ("ALPHA_118", ["869.56", "869.56", "123.45", "1000.07", "869.56", "55.55"], "869.47"),
    # S2's NEX history: 1686625 × 0.9999 → 1686456.3 at step 0.1.
    ("ALPHA_971", ["1686625", "1686625", "1700001.7", "999999.9"], "1686456.3"),
])
async def test_fee_dust_stays_in_the_alpha_wallet_and_accumulates(alice: Api, quiet: Simulator, alpha: str,
                                                                  quantities: list[str], first_pending: str) -> None:
    ex = quiet.exchange
    sym = ex.by_alpha[alpha]
    book = ex.books[sym.pair]
    expected = D(0)
    for n, qty in enumerate(quantities):
        ask, bid = book.best(SELL), book.best(BUY)
        assert ask is not None and bid is not None
        # Two small resting sells under the ladder's best ask: the working BUY fills in sub-fills, each with its fee.
        split = (D(qty) / 3).quantize(sym.step)
        ex.submit_background(sym, "mm", SELL, ask - sym.tick, split, rest=True)
        ex.submit_background(sym, "mm", SELL, ask - sym.tick, split, rest=True)
        working_price, pending_price = ask + 10 * sym.tick, bid - 10 * sym.tick  # both cross: a whole cycle
        placed = (await alice.oto(format(working_price, "f"), qty, format(pending_price, "f"), alpha=alpha))["data"]
        working, pending = ex.order(placed["workingOrderId"]), ex.order(placed["pendingOrderId"])
        assert working.status == pending.status == "FILLED", (working.status, pending.status)
        buys = ex.fills_of_order(working.id)
        assert len(buys) >= 2 and all(f.commission_asset == alpha for f in buys)
        fee = sum((f.commission for f in buys), D(0))
        assert fee == working.executed * D("0.0001")  # the base fee is exact, never rounded (§6.4)
        if n == 0:
            assert pending.orig_qty == D(first_pending)
        expected += working.executed - fee - pending.orig_qty
        held = await alpha_free(alice, alpha)
        assert (held.free, held.locked) == (expected, D(0)), n
    assert expected > 0 and ex.balance("alice", alpha) == (expected, D(0))
