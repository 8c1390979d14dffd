"""What the driver does for each of decide()'s actions: place, sweep, settle, cancel, unwind, close."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING

from otobot.exchange.errors import ExchangeError, InsufficientBalance, RateLimited, UnknownOutcome
from otobot.exchange.filters import FilterError, OtoOrder, build_limit, floor_to, fmt, sellable
from otobot.exchange.models import SELL
from otobot.trading import autotoken, catalog, cycle, feeds, manual, pauses, pricing_book, startup, strategy
from otobot.trading.cycle import PlaceFacts
from otobot.trading.desk import Found, Missing, Observation, Unknown
from otobot.trading.pauses import Pause
from otobot.trading.tracker import merge_status
from otobot.trading.volatility import PriceWindow

if TYPE_CHECKING:
    from otobot.trading.driver import Driver

BALANCE_MAX_AGE_S = 30.0  # the exchange's 481020 stays the authority; this only avoids hopeless places
REFUSAL_RETRY_S = 1.0  # a guard said no: look again after this
SWEEP_RETRY_S = 60.0  # a sweep that sold nothing is not tried again before this


async def act(bot: Driver, a: cycle.Action) -> None:
    """Carry out one of decide()'s actions. What a step asks ("look again in s seconds") is applied to the
    state's timer here, in one place."""
    now = bot.clock.monotonic()
    if isinstance(a, cycle.Pause):
        await pause_unsold(bot, a.reason)
        bot.state.stop_timer()
        return
    if isinstance(a, cycle.Rearm):
        bot.state.look_again(now, bot.timers().cancel_check_s)
        return
    bot.state.look_again(bot.clock.monotonic(), await _step(bot, a))


async def _step(bot: Driver, a: cycle.Action) -> float | None:
    if isinstance(a, cycle.Fire):
        if a.trigger in ("buy_timeout", "sell_timeout", "operator_cancel"):
            bot.state.cancelling = {"buy_timeout": "working", "sell_timeout": "pending"}.get(a.trigger, "live")
        if a.trigger == "unwind":
            bot.log.info("Unwinding: {}", a.reason)
        await bot.fire(a.trigger, a.reason)
    elif isinstance(a, cycle.Place):
        return await place(bot)
    elif isinstance(a, cycle.Sweep):
        await sweep(bot, a.quantity)
    elif isinstance(a, cycle.ApplyConfig):
        await apply_config(bot)
    elif isinstance(a, cycle.TakeOver):
        return await take_over(bot)
    elif isinstance(a, cycle.SettlePlace):
        return await settle_place(bot)
    elif isinstance(a, cycle.Cancel):
        await cancel(bot, a.role)
    elif isinstance(a, cycle.Refresh):
        return await refresh(bot, a.why)
    elif isinstance(a, cycle.PlaceUnwind):
        return await place_unwind(bot, a.rung)
    elif isinstance(a, cycle.SettleUnwind):
        return await settle_unwind(bot)
    elif isinstance(a, cycle.CloseCycle):
        await close_cycle(bot)
    elif isinstance(a, cycle.Flatten):
        await manual.flatten(bot)
    return None


async def pause_unsold(bot: Driver, reason: str) -> None:
    left = bot.state.orders.leftover(bot.filters.step_size) if bot.filters else Decimal(0)
    ladder = [fmt(x) for x in bot.cfg.unwind.ladder_pct]
    await bot.hold(Pause(reason), pauses.help_text(Pause(reason), bot.name, path=str(bot.cfg.path),
                   detail=f"{fmt(left)} {bot.token.symbol if bot.token else ''} could not be sold down the "
                          f"whole ladder {ladder} %"))


# ================================================================== between cycles: place, sweep, reload


async def place_facts(bot: Driver) -> tuple[PlaceFacts, OtoOrder | pricing_book.NoQuote | None]:
    """The guards' facts, and (pricing.mode book) the order the book gives: the one the guard judged is the one
    placed, worked out once (it was twice, and a book going stale between the two paused the user `config`)."""
    if _balance_due(bot, 0.0):
        await _read_balance(bot)
    now = bot.clock.monotonic()
    free = bot.state.quote_free or Decimal(0)
    amount = min(bot.cfg.order_quote_amount, bot.state.book.remaining) or bot.cfg.order_quote_amount
    booked = _book_order(bot, now) if _book_fed(bot) else None
    return PlaceFacts(
        book_refusal=_book_refusal(bot, booked),
        paused_reason=bot.state.paused_reason,
        live_orders=bot.state.orders.live_count() + bot.state.live_elsewhere(),
        user_stream_up=bot.stream_up,
        price_age_s=None if bot.last_trade_at is None else now - bot.last_trade_at,
        max_price_age_s=bot.cfg.max_price_age_s, move_pct=float(bot.window.move_pct(now)),
        max_move_pct=float(bot.cfg.volatility_max_pct), volume_today=fmt(bot.state.book.volume),
        target_reached=bot.state.book.reached, balance_free=fmt(free),
        balance_ok=free - bot.cfg.min_quote_reserve >= amount), booked


def _book_fed(bot: Driver) -> bool:
    return bot.cfg.pricing.mode == "book" and bot.depth is not None and bot.filters is not None


def _book_refusal(bot: Driver, booked: OtoOrder | pricing_book.NoQuote | None) -> str | None:
    """pricing.mode book: why the book gives no order now (none yet, stale, a side empty or too thin)."""
    if bot.cfg.pricing.mode != "book":
        return None
    if not _book_fed(bot):
        return "no book stream"
    return str(booked) if isinstance(booked, pricing_book.NoQuote) else None


def _book_order(bot: Driver, now: float) -> OtoOrder | pricing_book.NoQuote:
    assert bot.depth is not None and bot.filters is not None
    return pricing_book.book_order(bot.depth.book, bot.state.book.remaining, bot.cfg.order_quote_amount, bot.filters,
                                   bot.cfg.pricing.guard_ticks, now, bot.cfg.max_price_age_s)


def _percent_order(bot: Driver, last: Decimal) -> OtoOrder:
    """percent/fixed modes: offsets from the last trade, sized to what is left of the day's target."""
    assert bot.filters is not None
    amount = strategy.day_end_amount(bot.state.book.remaining, bot.cfg.order_quote_amount, last, bot.cfg.pricing,
                                     bot.filters)
    try:
        return strategy.oto_order(last, bot.cfg.pricing, amount, bot.filters)
    except FilterError:
        return strategy.oto_order(last, bot.cfg.pricing, bot.cfg.order_quote_amount, bot.filters)


def _waiting(bot: Driver, why: str | None) -> None:
    """A place guard saying no is logged once when it starts and once when it ends, not every loop."""
    if why == bot.state.waiting:
        return
    if why is None:
        bot.log.debug("Placing again: no longer waiting ({})", bot.state.waiting)
    else:
        bot.log.debug("Not placing: {}", why)
    bot.state.waiting = why


async def place(bot: Driver) -> float | None:
    """Place the next OTO if every guard says yes; returns when to look again (None: the new state's timer)."""
    assert bot.rest is not None and bot.filters is not None and bot.token is not None and bot.desk is not None
    try:
        bot.cycle.facts, booked = await place_facts(bot)
    except ExchangeError as exc:
        if pauses.for_error(exc) in pauses.SESSION:
            raise
        bot.log.warning("Could not read the {} balance ({}); trying again shortly", bot.cfg.quote, exc)
        return REFUSAL_RETRY_S
    c = bot.cycle
    refusal = c.refusal()
    if refusal is not None and c.not_paused() and not c.balance_ok() and c.user_stream_up() and c.target_open():
        bot.state.quote_free = None
        need = bot.cfg.order_quote_amount + bot.cfg.min_quote_reserve
        detail = (bot.state.wallet.shortfall_hint(need) if bot.state.wallet is not None else None) or refusal
        await bot.hold(Pause.insufficient_balance, pauses.help_text(
            Pause.insufficient_balance, bot.name, detail=detail, quote=bot.cfg.quote, path=str(bot.cfg.path)))
        return None
    _waiting(bot, refusal)
    if refusal is not None:
        return REFUSAL_RETRY_S
    assert bot.last_trade is not None
    last = bot.last_trade.price
    try:
        if bot.cfg.pricing.mode == "book":
            if not isinstance(booked, OtoOrder):  # the guard said yes to this very order: never reached
                raise FilterError(str(booked))
            order = booked
        else:
            order = _percent_order(bot, last)
    except (FilterError, ValueError) as exc:
        await bot.hold(Pause.config, pauses.help_text(Pause.config, bot.name, path=str(bot.cfg.path), detail=(
            f"the order the settings ask for is invalid: {exc} (order.quote_amount or pricing)")))
        return None
    # Write before send: the intent is in SQLite before the request can create anything.
    row, orders = await bot.desk.write_oto(day=bot.state.book.day, symbol=bot.symbol, base_asset=bot.token.alpha_id,
                                           quote=bot.cfg.quote, mul_point=bot.token.mul_point, order=order)
    bot.state.start_cycle(row, orders, None, confirmed=True)
    bot.bind_log(row.id)
    await bot.fire("place", f"BUY {fmt(order.quantity)} @ {fmt(order.working_price)}, SELL @ "
                    f"{fmt(order.pending_price)} (last {fmt(last)})", persist=False)
    _mark_reaction(bot)
    try:
        placed = await bot.desk.send_oto(row, order)
    except UnknownOutcome as exc:
        bot.metric("inc", "orders_failed_total", 1.0, reason="unknown_outcome")
        bot.log.warning("Place request outcome unknown ({}); asking the exchange before anything else", exc)
        await bot.fire("outcome_unknown", f"place request outcome unknown ({exc}); asking the exchange")
        return None
    except ExchangeError as exc:
        bot.metric("inc", "orders_failed_total", 1.0, reason=type(exc).__name__)
        return await place_refused(bot, exc)
    bot.metric("inc", "orders_placed_total", 1.0)
    assert orders.working is not None and orders.pending is not None
    orders.working.order_id, orders.pending.order_id = placed.working_order_id, placed.pending_order_id
    orders.working.status = merge_status(orders.working.status, "NEW")
    orders.pending.status = merge_status(orders.pending.status, "PENDING")
    reason = f"working {placed.working_order_id}, pending {placed.pending_order_id}"
    # The ids and the new state go to SQLite in one transaction.
    await bot.store.attach_oto(row.id, placed.working_order_id, placed.pending_order_id, None, bot.clock.time_ms(),
                               transition=(bot.name, "placing", "pending", reason), carry=bot.carry)
    await bot.fire("placed", reason, persist=False)
    return None


async def place_refused(bot: Driver, exc: ExchangeError) -> float | None:
    """The exchange refused the OTO, so nothing exists: the intent is closed, the reason decides what next."""
    assert bot.desk is not None
    await bot.desk.drop(bot.state.orders.all(), str(exc))
    await bot.fire("place_failed", f"place refused: {exc}")
    clear_cycle(bot)
    reason = pauses.for_error(exc)
    if isinstance(exc, RateLimited):
        return exc.retry_after or 5.0
    if reason is not None:
        if isinstance(exc, InsufficientBalance):
            bot.state.quote_free = None
        await bot.hold(reason, pauses.help_text(reason, bot.name, detail=str(exc), quote=bot.cfg.quote,
                                                  path=str(bot.cfg.path)))
    elif exc.code is not None:  # a business error: never retried blindly
        await bot.hold(Pause.rejected, pauses.help_text(Pause.rejected, bot.name, detail=str(exc),
                                                          path=str(bot.cfg.path)))
    else:  # could not even connect: nothing was sent
        return 5.0
    return None


def sweepable(bot: Driver) -> Decimal:
    """Fee dust otobot's fills say it holds, when it is sellable now on every rung of the unwind ladder (≥ step,
    ≥ min notional at the deepest rung's price), with a fresh price; 0 otherwise."""
    f, t = bot.filters, bot.last_trade
    if bot.state.dust <= 0 or f is None or t is None or not bot.stream_up or bot.last_trade_at is None:
        return Decimal(0)
    now = bot.clock.monotonic()
    if now - bot.last_trade_at > bot.cfg.max_price_age_s or now < bot.state.sweep_after:
        return Decimal(0)
    qty = floor_to(bot.state.dust, f.step_size)
    deepest = strategy.unwind_price(t.price, max(bot.cfg.unwind.ladder_pct))
    return qty if sellable(qty, deepest, f) else Decimal(0)


def sellable_now(bot: Driver, qty: Decimal) -> bool:
    row = bot.state.cycle_row
    price = bot.last_trade.price if bot.last_trade else row.working_price if row else Decimal(0)
    return bot.filters is not None and qty > 0 and sellable(qty, price, bot.filters)


async def sweep(bot: Driver, qty: Decimal) -> None:
    """Sell fee dust between cycles: never more than otobot's own fills left AND the exchange holds free."""
    assert bot.rest is not None and bot.token is not None and bot.filters is not None and bot.last_trade
    free = next((b.free for b in await bot.rest.alpha_balances() if b.asset == bot.token.alpha_id), Decimal(0))
    qty = min(qty, floor_to(free, bot.filters.step_size))
    if not sellable(qty, strategy.unwind_price(bot.last_trade.price, max(bot.cfg.unwind.ladder_pct)), bot.filters):
        bot.log.debug("No fee dust to sweep: {} {} free on the exchange", fmt(free), bot.token.symbol)
        bot.state.dust = min(bot.state.dust, free)
        return
    cycle_id = await bot.store.create_sweep(user=bot.name, day=bot.state.book.day, symbol=bot.symbol,
                                            base_asset=bot.token.alpha_id, quote_asset=bot.cfg.quote, quantity=qty,
                                            price=bot.last_trade.price, now_ms=bot.clock.time_ms())
    row = await bot.store.cycle(cycle_id)
    assert row is not None
    bot.state.dust -= qty
    await bot.load_cycle(row)
    bot.state.fills_confirmed = True
    bot.log.info("Sweeping {} {} of fee dust (about {} {})", fmt(qty), bot.token.symbol,
                 fmt((qty * bot.last_trade.price).quantize(Decimal("0.0001"))), bot.cfg.quote)
    await bot.fire("sweep", f"selling {fmt(qty)} of fee dust", persist=False)


async def apply_config(bot: Driver) -> None:
    cfg = bot.state.next_cfg
    assert cfg is not None and bot.rest is not None
    bot.state.next_cfg = None
    old = bot.cfg
    bot.log.info("Applying reloaded settings at the cycle boundary")
    bot.cfg = cfg
    book_changed = (cfg.pricing.mode == "book") != (old.pricing.mode == "book")  # the depth stream starts/stops
    if (cfg.token, cfg.quote) != (old.token, old.quote) or bot.state.switch_market or book_changed:
        bot.state.switch_market = False
        try:
            market = await catalog.resolve(bot.store, bot.rest, cfg, bot.clock.time_ms(),
                                           token_alias=await autotoken.alias(bot))
        except catalog.CatalogProblem as exc:
            await bot.hold(Pause.config, pauses.help_text(Pause.config, bot.name, detail=str(exc),
                                                            path=str(cfg.path)))
            return
        feeds.unwatch(bot)
        startup.use_market(bot, market)
        feeds.watch(bot)
        bot.state.dust = next((h.quantity for h in await bot.store.holdings(bot.name)
                               if h.symbol == bot.symbol), Decimal(0))
        bot.log.info("Now trading {} on {}", market.token.symbol, market.symbol)
    elif cfg.volatility_window_s != old.volatility_window_s:
        bot.window = PriceWindow(cfg.volatility_window_s)
    assert bot.token is not None
    bot.state.book.set_target(cfg.target.kind, cfg.target.value, bot.token.mul_point)


async def take_over(bot: Driver) -> float | None:
    """Make the adopted late cycle the one in flight (from idle, paused or finished: its orders are live)."""
    assert bot.state.late_cycle is not None
    row = await bot.store.cycle(bot.state.late_cycle)
    bot.state.late_cycle = None
    assert row is not None
    await bot.load_cycle(row)
    bot.state.fills_confirmed = True
    await bot.fire("adopted", f"cycle {row.id}, applied late by the exchange, adopted", persist=False)
    return await refresh(bot, "adopted late")


# ================================================================== settling, cancelling, unwinding


async def settle_place(bot: Driver) -> float | None:
    """A place request whose answer was lost: adopt the OTO if the exchange has it, else close the intent."""
    assert bot.state.cycle_row is not None and bot.desk is not None
    row = bot.state.cycle_row
    outcome = await bot.desk.settle_oto(row)
    if isinstance(outcome, Unknown):
        bot.log.warning("Could not settle the lost OTO yet ({}); looking again", outcome.why)
        return bot.rel.unknown_settle_s
    if isinstance(outcome, Missing):
        await bot.desk.drop(bot.state.orders.all(), "not on the exchange")
        await bot.fire("not_placed", "the exchange has no such OTO after repeated lookups")
        clear_cycle(bot)
    elif isinstance(outcome, Found):
        working, pending_id = outcome.order, outcome.pending_id
        await bot.store.attach_oto(row.id, working.order_id, pending_id or "", working.order_list_id,
                                   bot.clock.time_ms(), adopted=True, carry=bot.carry)
        w, p = bot.state.orders.working, bot.state.orders.pending
        assert w is not None and p is not None
        w.order_id, w.status = working.order_id, "NEW"
        p.order_id, p.status = pending_id, "PENDING"
        why = f"the lost request did place it: working {working.order_id}, pending {pending_id} " \
              "(adopted, not placed again)"
        bot.log.info("Adopted OTO: {}", why)
        await bot.fire("adopted", why)
        now_ms = bot.clock.time_ms()
        await bot.desk.record(row.id, w, Observation.of_row(working, now_ms))
        if outcome.pending is not None:
            await bot.desk.record(row.id, p, Observation.of_row(outcome.pending, now_ms))
    return None


async def cancel(bot: Driver, role: str) -> None:
    assert bot.state.cycle_row is not None and bot.desk is not None
    orders = bot.state.orders
    targets = {"working": [orders.working], "pending": [orders.pending], "unwind": [orders.unwind]}
    for o in targets.get(role, orders.all()):
        if o is None or not o.live:
            continue
        try:
            await bot.desk.cancel(bot.state.cycle_row, bot.state.orders, o)
        except ExchangeError as exc:
            if pauses.for_error(exc) in pauses.SESSION:
                raise
            bot.log.warning("Cancel of order {} failed ({}); will check and retry", o.order_id, exc)


async def refresh(bot: Driver, why: str) -> float | None:
    assert bot.state.cycle_row is not None and bot.desk is not None
    with contextlib.suppress(ExchangeError):
        await bot.desk.refresh(bot.state.cycle_row, bot.state.orders, why)
        bot.state.fills_confirmed = True
    if bot.state.fills_confirmed:
        return None
    bot.state.fills_confirmed = bot.state.orders.working is None or bot.state.orders.working.cum_qty == 0
    return REFUSAL_RETRY_S


async def place_unwind(bot: Driver, rung: int) -> float | None:
    assert bot.filters is not None and bot.state.cycle_row is not None and bot.desk is not None
    row, ladder = bot.state.cycle_row, bot.cfg.unwind.ladder_pct
    left = bot.state.orders.leftover(bot.filters.step_size)
    last = bot.last_trade.price if bot.last_trade and row.symbol == bot.symbol else row.working_price
    try:
        order = build_limit(SELL, strategy.unwind_price(last, ladder[rung]), left, bot.filters)
    except FilterError as exc:
        await bot.fire("unwound", f"remaining {fmt(left)} cannot be sold ({exc})")
        return None
    rung_s = bot.cfg.unwind.rung_timeout_s
    bot.state.look_again(bot.clock.monotonic(), rung_s)  # before the send: kept if a session error ends the step
    bot.log.info("Unwind rung {}: SELL {} @ {} ({} % under last {})", rung + 1, fmt(order.quantity),
                 fmt(order.price), fmt(ladder[rung]), fmt(last))
    _mark_reaction(bot)
    try:
        await bot.desk.place_sell(row, bot.state.orders, order)
    except UnknownOutcome as exc:
        bot.log.warning("Unwind SELL outcome unknown ({}); settling before anything else", exc)
        return bot.rel.unknown_settle_s
    except RateLimited as exc:
        # Never reached the book: the same rung again once the exchange allows it (not the next, cheaper one).
        wait = exc.retry_after or 1.0
        bot.log.warning("Unwind SELL rate limited; rung {} again in {:.1f} s", rung + 1, wait)
        return wait
    except ExchangeError as exc:
        reason = pauses.for_error(exc)
        if reason in pauses.SESSION:
            raise
        if exc.code is not None:
            await bot.hold(Pause.unwind_failed, pauses.help_text(Pause.unwind_failed, bot.name, path=str(
                bot.cfg.path), detail=f"the exchange refused the unwind SELL ({exc}) with {fmt(left)} left"))
            return None
        return REFUSAL_RETRY_S
    return rung_s


async def settle_unwind(bot: Driver) -> float | None:
    assert bot.state.cycle_row is not None and bot.desk is not None
    u = bot.state.orders.unwind
    assert u is not None
    outcome = await bot.desk.settle_sell(bot.state.cycle_row, u)
    if isinstance(outcome, Found):
        return bot.cfg.unwind.rung_timeout_s
    if isinstance(outcome, Missing):
        await bot.desk.drop([u], "not on the exchange")  # the same rung again: it never reached the book
        return None
    return bot.rel.unknown_settle_s


# ================================================================== closing


async def close_cycle(bot: Driver) -> None:
    assert bot.state.cycle_row is not None
    row, orders = bot.state.cycle_row, bot.state.orders
    bought = orders.working.cum_quote if orders.working else Decimal(0)
    sold = sum((o.cum_quote for o in orders.all() if o.side == SELL), Decimal(0))
    frm, why = bot.state.done_from or ("done", "closed")
    bot.state.done_from = None
    swept = row.kind == "sweep"
    manual.observe_close(bot, orders)
    await bot.store.close_cycle(row.id, bot.name, row.day, frm, why, bot.clock.time_ms(), "ready for the next cycle",
                                count=not swept, carry=bot.carry)
    bot.state.closed(orders, same_symbol=row.symbol == bot.symbol, swept=swept, now=bot.clock.monotonic(),
                     retry_s=SWEEP_RETRY_S, pause_s=bot.cfg.pause_between_cycles_s)
    if swept:
        bot.log.info("Swept fee dust: sold {} for {} {}", fmt(orders.base_sold()), fmt(sold), bot.cfg.quote)
    else:
        bot.metric("observe", "cycle_seconds", max(0.0, (bot.clock.time_ms() - row.intent_ms) / 1000))
        bps = (bought - sold) / bought * 10000 if bought else Decimal(0)
        bot.log.info("done: +{} {}, {}, {:.1f} bps", fmt(bought.quantize(Decimal("0.01"))), bot.cfg.quote,
                     bot.state.book.progress(), bps)
    bot.bind_log(None)
    await _prefetch_balance(bot)
    await bot.fire("next", "ready for the next cycle", persist=False)  # audited by close_cycle


async def _prefetch_balance(bot: Driver) -> None:
    """A balance read the next place would make on its way to the order, made now, inside the pause between
    cycles (measured: it put up to 45 ms into the p99 of the next OTO's reaction). Errors wait for that place."""
    if bot.state.planned_wait <= 0 or bot.rest is None or not _balance_due(bot, bot.state.planned_wait):
        return
    try:
        await _read_balance(bot)
    except ExchangeError as exc:
        if pauses.for_error(exc) in pauses.SESSION:
            raise


def _balance_due(bot: Driver, within_s: float) -> bool:
    return bot.state.balance_due(bot.clock.monotonic(), within_s, BALANCE_MAX_AGE_S)


async def _read_balance(bot: Driver) -> None:
    assert bot.rest is not None
    bot.state.balance_read(await bot.rest.quote_balance(bot.cfg.quote), bot.clock.monotonic())


def clear_cycle(bot: Driver) -> None:
    bot.state.clear_cycle()
    bot.bind_log(None)


def _mark_reaction(bot: Driver) -> None:
    """Fill frame read → this request about to be written, less the configured pause between cycles."""
    if bot.state.fill_received is not None:
        waited = bot.clock.monotonic() - bot.state.fill_received - bot.state.planned_wait
        bot.latencies.append(max(waited, 0.0))
        bot.state.fill_received = None
    bot.state.planned_wait = 0.0
