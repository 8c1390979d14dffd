"""Following the exchange: stream events merged into the cycle, late applies adopted, strays recorded, reconcile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otobot.exchange.errors import AuthExpired, ExchangeError, RiskChallenge
from otobot.exchange.filters import fmt
from otobot.exchange.legs import describe_leg, is_reverse_leg
from otobot.exchange.models import BUY, FILLED, FINAL_STATUSES, SELL, ExecutionReport
from otobot.trading.actions import take_over
from otobot.trading.cycle import State
from otobot.trading.desk import Observation
from otobot.trading.reconcile import match_oto
from otobot.trading.tracker import TrackedOrder

if TYPE_CHECKING:
    from otobot.trading.driver import Driver

LATE_ADOPT_WINDOW_MS = 10 * 60 * 1000  # an intent settled "not placed" this recently may still be applied late
EVIDENCE_MAX = 200  # events kept for one settle: an OTO's two legs send a handful; a bound against a flood



async def on_report(bot: Driver, r: ExecutionReport, received: float) -> None:
    assert bot.desk is not None
    now_ms = bot.clock.time_ms()
    tracked = bot.state.orders.by_id(r.order_id)
    if tracked is None and r.order_list_id not in ("", "-1") and bot.state.cycle_row is not None:
        tracked = await _join_leg(bot, r)
    if tracked is None:
        if await bot.desk.record_known(r):
            if r.status in FINAL_STATUSES:
                bot.state.stray_live.discard(r.order_id)
            return  # a late event of an earlier cycle (or of a recorded stray): counted once for accounting
        await unknown_order(bot, r)
        return
    row = bot.state.cycle_row
    await bot.desk.record(row.id if row else None, tracked, Observation.of_event(r, now_ms))
    if r.status == FILLED and tracked.role in ("pending", "unwind"):
        # The fill that ends a cycle: the next request (the next OTO) is the reaction the bench measures.
        bot.state.fill_received = received


async def _join_leg(bot: Driver, r: ExecutionReport) -> TrackedOrder | None:
    """The pending leg of an OTO adopted without it (not listed while settling) shows up on the stream: by the
    cycle's order-list id, or, when the listed rows carried none (alpha-api.md §2.4), as a SELL in a list at the
    pending price. Bound in SQLite (it was NULL, unknown) before its fills are recorded."""
    row, w, p = bot.state.cycle_row, bot.state.orders.working, bot.state.orders.pending
    if row is None or p is None or p.order_id is not None or r.side != SELL:
        return None
    if w is None or w.order_id is None:
        # The place request's outcome is still being settled: this event is evidence for the settle, which binds
        # both legs together. Bound here, the leg would look "claimed by another cycle" to that settle, which
        # then adopted the working leg alone and wrote the pending id back to unknown (found by the soak, #24).
        return None
    if row.order_list_id not in (None, "", "-1"):
        if row.order_list_id != r.order_list_id:
            return None
    elif r.price != row.pending_price:
        return None
    if not await bot.store.bind_pending(row.id, r.order_id, bot.clock.time_ms()):
        return None
    p.order_id = r.order_id
    return p


async def unknown_order(bot: Driver, r: ExecutionReport) -> None:
    """An execution no intent owns. On our symbol and matching an intent settled "not placed", it is that OTO,
    applied late by the exchange: adopted. Anything else is recorded and reported loudly, never dropped."""
    if any(o.order_id is None and o.status == "INTENT" and o.side == r.side and o.price == r.price
           for o in bot.state.orders.all()):
        # A leg of the request being settled right now: kept as evidence (history may lag past both lookups); the
        # settle adopts it and records its fills.
        bot.log.debug("Event for order {} of the request being settled; kept for the settle", r.order_id)
        if len(bot.state.evidence) < EVIDENCE_MAX:
            bot.state.evidence.append(r)
        return
    quote = bot.cfg.quote
    if bot.token is None or not r.symbol.endswith(quote) or len(r.symbol) <= len(quote):
        bot.log.warning("Event for order {} on {} (not {}), which otobot does not know; ignored", r.order_id,
                        r.symbol, bot.symbol)
        return
    # Another symbol (the token before a switch, or one the user trades by hand) is followed too (issue 19): its
    # executions are the user's, recorded apart under that symbol; only our own symbol's may be a late OTO.
    here = r.symbol == bot.symbol
    oto_leg = r.order_list_id not in ("", "-1")
    if here and oto_leg and await adopt_late(bot, r):
        return
    leg = describe_leg(r.side, r.contingency_position, r.order_list_id)
    text = (f"order {r.order_id} ({r.side} {fmt(r.orig_qty)} @ {fmt(r.price)}, {r.status}{'; ' + leg if leg else ''}) "
            f"on {r.symbol} is not one of otobot's; its fills are recorded. If you did not place it by hand, check "
            "it on the exchange")
    bot.log.warning("Untracked order on the user stream: {}", text)
    await bot.store.record_stray(user=bot.name, day=bot.state.book.day, symbol=r.symbol,
                                 base_asset=bot.token.alpha_id if here else r.symbol[:-len(quote)],
                                 quote_asset=quote, order_id=r.order_id,
                                 side=r.side, price=r.price, quantity=r.orig_qty, status=r.status,
                                 now_ms=bot.clock.time_ms(), reason=text, order_list_id=r.order_list_id)
    bot.tell("stray", f"{bot.name}: {text}")
    assert bot.desk is not None
    await bot.desk.record_known(r)
    if here and oto_leg and r.status not in FINAL_STATUSES:
        bot.state.stray_live.add(r.order_id)  # an OTO otobot did not place is live: no OTO of ours beside it


async def adopt_late(bot: Driver, r: ExecutionReport) -> bool:
    """The OTO a place request created after otobot had settled it as not placed: that cycle again. Taken over
    now between cycles; with another cycle in flight, right after it (no new OTO is placed meanwhile)."""
    assert bot.desk is not None
    if is_reverse_leg(r.side, r.contingency_position):
        return False  # otobot never places a reverse OTO (§7.7): its legs are never a late request of ours
    now_ms = bot.clock.time_ms()
    for row in await bot.store.settled_unplaced(bot.name, bot.symbol, now_ms - LATE_ADOPT_WINDOW_MS):
        if r.side == BUY and (row.working_price != r.price or row.quantity != r.orig_qty):
            continue
        snap = await bot.desk.snapshot(row, row.intent_ms)
        claimed = await bot.store.claimed_order_ids(snap)
        found = match_oto(symbol=row.symbol, working_price=row.working_price, quantity=row.quantity,
                          intent_ms=row.intent_ms, orders=snap.values(), claimed=claimed,
                          pending_price=row.pending_price)
        if found is None:
            continue
        working, pending = found
        pending_id = pending.order_id if pending else None
        if pending_id is None or r.order_id not in (working.order_id, pending_id):
            continue
        await bot.store.adopt_late(row.id, bot.name, working.order_id, pending_id, working.order_list_id, now_ms)
        bot.log.warning("Adopted OTO working {} / pending {} (cycle {}): the exchange applied the place request "
                        "after otobot had settled it as not placed", working.order_id, pending_id, row.id)
        bot.tell("adopted", f"{bot.name}: an OTO applied late by the exchange was adopted (cycle {row.id})")
        bot.state.late_cycle = row.id
        if bot.state.cycle_row is None and bot.cycle.state in (State.idle, State.paused, State.finished):
            bot.state.look_again(bot.clock.monotonic(), await take_over(bot))
        else:
            bot.log.warning("Cycle {} is in flight: the adopted cycle {} is followed right after it, and no new "
                            "OTO is placed meanwhile", bot.state.cycle_row.id if bot.state.cycle_row else "-", row.id)
        return True
    return False


async def resync(bot: Driver, why: str) -> bool:
    """Reconcile after a (re)subscribe; on failure try again with backoff while the stream stays up. True once
    the stream is up (subscribed and reconciled)."""
    try:
        await reconcile(bot, why)
    except (AuthExpired, RiskChallenge):
        raise
    except ExchangeError as exc:
        delay = bot.state.link.resync_failed(bot.clock.monotonic())
        bot.log.warning("Reconciliation failed ({}); nothing is placed until it succeeds, retrying in {:.1f} s",
                        exc, delay)
        return False
    bot.state.link.resynced()
    return True


async def reconcile(bot: Driver, why: str) -> None:
    """Bring memory and SQLite in line with the exchange before anything new happens."""
    if bot.state.cycle_row is None or bot.desk is None or bot.state.stray_live:
        await report_strays(bot, why)
    if bot.state.cycle_row is None or bot.desk is None:
        return
    if bot.cycle.state in (State.placing, State.reconciling):
        if bot.cycle.state is State.placing:
            await bot.fire("outcome_unknown", "the place request's outcome is unknown after a restart")
        bot.state.look_again(bot.clock.monotonic(), 0.0)  # settle now; a miss waits settle_s and looks again
        return
    await bot.desk.refresh(bot.state.cycle_row, bot.state.orders, why)
    bot.state.fills_confirmed = True
    await bot.store.audit(bot.clock.time_ms(), bot.name, "reconcile", why, cycle_id=bot.state.cycle_row.id,
                          to=bot.cycle.state)


async def report_strays(bot: Driver, why: str) -> None:
    """Open orders on our symbol that SQLite never heard of: a request the exchange applied after we had
    settled it as not placed, or the user's own manual order. Reported loudly, never touched."""
    if bot.rest is None or not bot.symbol:
        return
    open_orders = await bot.rest.open_orders(bot.symbol)
    # Stray OTO legs restored from SQLite that ended while otobot was away no longer hold new OTOs back.
    bot.state.stray_live &= {o.order_id for o in open_orders}
    claimed = await bot.store.claimed_order_ids(o.order_id for o in open_orders)
    for o in open_orders:
        if o.order_id not in claimed:
            leg = describe_leg(o.side, o.contingency_position, o.order_list_id)
            text = (f"open order {o.order_id} ({o.side} {fmt(o.orig_qty)} @ {fmt(o.price)}{'; ' + leg if leg else ''})"
                    f" on {bot.symbol} is not one of otobot's; if you did not place it by hand, cancel it on the "
                    "exchange")
            bot.log.warning("Untracked order found while reconciling ({}): {}", why, text)
            await bot.store.audit(bot.clock.time_ms(), bot.name, "stray", text)
