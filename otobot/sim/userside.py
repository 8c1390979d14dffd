"""The user beside otobot (issue 19): orders placed for a user as the browser places them (`/_sim/order`), and
open-order rows shaped as alpha-api.md §2.4 shows them (no orderListId / contingency*) when the setting asks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from otobot.exchange.filters import fmt, pay_amount
from otobot.sim.accounts import SimError
from otobot.sim.exchange import Exchange
from otobot.sim.matching import BUY, SELL

# The keys §2.4 lists for get-open-order (S2 types.rs): no orderListId, contingencyType, contingencyOrderPosition.
BARE_OPEN_ORDER_KEYS = ("orderId", "symbol", "side", "type", "status", "price", "origQty", "executedQty", "cumQuote",
                        "time", "updateTime", "baseAsset", "quoteAsset", "alphaId")


def bare_row(row: dict[str, Any]) -> dict[str, Any]:
    """An open-order row as §2.4 shows it."""
    return {k: row[k] for k in BARE_OPEN_ORDER_KEYS if k in row}


def place_as_browser(exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
    """A LIMIT order for `user` through the same path the web page's order/place takes: it locks the balance,
    matches at once against the book (a price through the market fills) or rests, and every execution goes to that
    user's stream like any other. `token`: alphaId or display symbol; `price` omitted or "market": the best
    opposite price 2 % through, so it fills now. Returns the order id and its status after matching."""
    user, side = str(body.get("user", "")), str(body.get("side", "")).upper()
    if side not in (BUY, SELL):
        raise SimError("-1102", "side must be BUY or SELL")
    account = exchange.account(user)
    alias = str(body.get("token", "")).upper()
    sym = next((s for s in exchange.symbols.values() if alias in (s.alpha_id.upper(), s.symbol.upper(),
                                                                    s.pair.upper())), None)
    if sym is None:
        raise SimError("-1102", f"unknown token {alias!r}")
    qty = Decimal(str(body["quantity"]))
    raw = body.get("price", "market")
    if raw in (None, "market"):
        book = exchange.books[sym.pair]
        best = book.best(SELL if side == BUY else BUY)  # a BUY takes the lowest ask, a SELL the highest bid
        if best is None:
            raise SimError("-1102", f"no {'ask' if side == BUY else 'bid'} on {sym.pair} to fill at")
        price = (best * (Decimal("1.02") if side == BUY else Decimal("0.98"))).quantize(sym.tick)
    else:
        price = Decimal(str(raw))
    amount = pay_amount(price, qty) if side == BUY else qty
    order_id = exchange.place_limit(account, {
        "baseAsset": sym.alpha_id, "quoteAsset": sym.quote, "side": side, "price": fmt(price), "quantity": fmt(qty),
        # §2.2 / §7.2: a BUY pays a quote amount (string) from CARD, a SELL its base quantity (number) from ALPHA.
        "paymentDetails": [{"amount": fmt(amount) if side == BUY else amount,
                            "paymentWalletType": "CARD" if side == BUY else "ALPHA"}], "orderType": "LIMIT"})
    o = exchange.order(order_id)
    return {"orderId": str(order_id), "status": o.status, "price": fmt(price), "executedQty": fmt(o.executed)}
