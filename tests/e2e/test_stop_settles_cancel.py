"""A stop (SIGTERM's path) while a cycle is `cancelling` and its BUY fills meanwhile: the fill is read over REST
and recorded before the bot exits, within the stop grace, not left for the next start."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from otobot.exchange import protocol as p
from otobot.sim.matching import SELL
from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.helpers import running, wait_for, write_config

PAIR = "ALPHA_22USDT"


async def test_stop_during_cancelling_records_the_fill_that_raced_the_cancel(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 1000}, "timeouts": {"buy_s": 1},
                                                    "max_price_age_s": 3600}})
    book, sym = sim.exchange.books[PAIR], sim.exchange.symbols[PAIR]
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.last_trade is not None and bot.stream_up, what="price and stream")
        await d.supervisor.pause("alice")
        await wait_for(lambda: bot.cycle.state == "paused", what="paused between cycles")
        # No ask anywhere: the BUY rests on the book; every cancel fails, so the cycle stays `cancelling`.
        sim.market.paused = True
        for o in list(book.orders_of("mm")):
            if o.side == SELL:
                book.cancel(o.order_id)
        sim.faults.http_error(503, count=10**6, path=p.CANCEL_ORDER)
        await d.supervisor.resume("alice")
        await wait_for(lambda: bot.cycle.state == "cancelling", 30, "the BUY timed out and its cancel failed")
        working = bot.orders.working
        assert working is not None and working.order_id is not None and working.cum_qty == 0
        # The BUY fills while the cancel is still unconfirmed, and the stop comes before its event is read.
        sim.exchange.submit_background(sym, "taker", SELL, working.price, working.quantity, rest=False)
        started = time.monotonic()
        d.supervisor.request_stop()
    stopped_in = time.monotonic() - started

    store = await Store.open(tmp_path / "otobot.db")
    try:
        fills = await store.fills("alice", working.order_id)
    finally:
        await store.close()
    filled = [f for f in sim.state("alice")["fills"] if str(f["orderId"]) == working.order_id]
    assert filled, "the simulator filled the BUY"
    assert sum(Decimal(str(f["qty"])) for f in fills) == sum(Decimal(str(f["qty"])) for f in filled)
    assert stopped_in < 10
