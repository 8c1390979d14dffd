"""What the driver does for each of decide()'s actions: place, sweep, settle, cancel, unwind, close."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING

from loguru import logger

from otobot.exchange.errors import ExchangeError, InsufficientBalance, RateLimited, UnknownOutcome
from otobot.exchange.filters import FilterError, OtoOrder, build_limit, floor_to, fmt, sellable
from otobot.exchange.models import SELL
from otobot.trading import autotoken, catalog, cycle, feeds, manual, pauses, pricing_book, startup, strategy
from otobot.trading.cycle import PlaceFacts
from otobot.trading.desk import Found, Missing, Observation, Unknown
from otobot.trading.pauses import Pause
from otobot.trading.tracker import CycleOrders, merge_status
from otobot.trading.volatility import PriceWindow

if TYPE_CHECKING:
    from otobot.trading.bot import Bot

BALANCE_MAX_AGE_S = 30.0  # the exchange's 481020 stays the authority; this only avoids hopeless places
REFUSAL_RETRY_S = 1.0  # a guard said no: look again after this
SWEEP_RETRY_S = 60.0  # a sweep that sold nothing is not tried again before this


async def act(bot: Bot, a: cycle.Action) -> None:
    now = bot.clock.monotonic()
    if isinstance(a, cycle.Fire):
        if a.trigger in ("buy_timeout", "sell_timeout", "operator_cancel"):
            bot._cancelling = {"buy_timeout": "working", "sell_timeout": "pending"}.get(a.trigger, "live")
        if a.trigger == "unwind":
            bot.log.info("Unwinding: {}", a.reason)
        await bot._fire(a.trigger, a.reason)
    elif isinstance(a, cycle.Place):
        await place(bot)
    elif isinstance(a, cycle.Sweep):
        await sweep(bot, a.quantity)
    elif isinstance(a, cycle.ApplyConfig):
        await apply_config(bot)
    elif isinstance(a, cycle.TakeOver):
        await take_over(bot)
    elif isinstance(a, cycle.SettlePlace):
        await settle_place(bot)
    elif isinstance(a, cycle.Cancel):
        await cancel(bot, a.role)
    elif isinstance(a, cycle.Refresh):
        await refresh(bot, a.why)
    elif isinstance(a, cycle.PlaceUnwind):
        await place_unwind(bot, a.rung)
    elif isinstance(a, cycle.SettleUnwind):
        await settle_unwind(bot)
    elif isinstance(a, cycle.CloseCycle):
        await close_cycle(bot)
    elif isinstance(a, cycle.Pause):
        left = bot.orders.leftover(bot.filters.step_size) if bot.filters else Decimal(0)
        ladder = [fmt(x) for x in bot.cfg.unwind.ladder_pct]
        await bot._pause(Pause(a.reason), pauses.help_text(Pause(a.reason), bot.name, path=str(bot.cfg.path),
                         detail=f"{fmt(left)} {bot.token.symbol if bot.token else ''} could not be sold down the "
                                f"whole ladder {ladder} %"))
        bot._deadline = None
    elif isinstance(a, cycle.Flatten):
        await manual.flatten(bot)
    elif isinstance(a, cycle.Rearm):
        bot._deadline = now + bot._timers().cancel_check_s


# ================================================================== between cycles: place, sweep, reload


async def place_facts(bot: Bot) -> tuple[PlaceFacts, OtoOrder | pricing_book.NoQuote | None]:
    """The guards' facts, and (pricing.mode book) the order the book gives: the one the guard judged is the one
    placed, worked out once (it was twice, and a book going stale between the two paused the user `config`)."""
    if _balance_due(bot, 0.0):
        await _read_balance(bot)
    now = bot.clock.monotonic()
    free = bot._quote_free or Decimal(0)
    amount = min(bot.cfg.order_quote_amount, bot.book.remaining) or bot.cfg.order_quote_amount
    booked = _book_order(bot, now) if _book_fed(bot) else None
    return PlaceFacts(
        book_refusal=_book_refusal(bot, booked),
        paused_reason=bot.paused_reason,
        live_orders=bot.orders.live_count() + len(bot._stray_live) + (bot._late_cycle is not None),
        user_stream_up=bot.stream_up,
        price_age_s=None if bot.last_trade_at is None else now - bot.last_trade_at,
        max_price_age_s=bot.cfg.max_price_age_s, move_pct=float(bot.window.move_pct(now)),
        max_move_pct=float(bot.cfg.volatility_max_pct), volume_today=fmt(bot.book.volume),
        target_reached=bot.book.reached, balance_free=fmt(free),
        balance_ok=free - bot.cfg.min_quote_reserve >= amount), booked


def _book_fed(bot: Bot) -> bool:
    return bot.cfg.pricing.mode == "book" and bot.depth is not None and bot.filters is not None


def _book_refusal(bot: Bot, booked: OtoOrder | pricing_book.NoQuote | None) -> str | None:
    """pricing.mode book: why the book gives no order now (none yet, stale, a side empty or too thin)."""
    if bot.cfg.pricing.mode != "book":
        return None
    if not _book_fed(bot):
        return "no book stream"
    return str(booked) if isinstance(booked, pricing_book.NoQuote) else None


def _book_order(bot: Bot, now: float) -> OtoOrder | pricing_book.NoQuote:
    assert bot.depth is not None and bot.filters is not None
    return pricing_book.book_order(bot.depth.book, bot.book.remaining, bot.cfg.order_quote_amount, bot.filters,
                                   bot.cfg.pricing.guard_ticks, now, bot.cfg.max_price_age_s)


def _percent_order(bot: Bot, last: Decimal) -> OtoOrder:
    """percent/fixed modes: offsets from the last trade, sized to what is left of the day's target."""
    assert bot.filters is not None
    amount = strategy.day_end_amount(bot.book.remaining, bot.cfg.order_quote_amount, last, bot.cfg.pricing,
                                     bot.filters)
    try:
        return strategy.oto_order(last, bot.cfg.pricing, amount, bot.filters)
    except FilterError:
        return strategy.oto_order(last, bot.cfg.pricing, bot.cfg.order_quote_amount, bot.filters)


def _waiting(bot: Bot, why: str | None) -> None:
    """A place guard saying no is logged once when it starts and once when it ends, not every loop."""
    if why == bot._waiting:
        return
    if why is None:
        bot.log.debug("Placing again: no longer waiting ({})", bot._waiting)
    else:
        bot.log.debug("Not placing: {}", why)
    bot._waiting = why


async def place(bot: Bot) -> None:
    assert bot.rest is not None and bot.filters is not None and bot.token is not None and bot.desk is not None
    try:
        bot.cycle.facts, booked = await place_facts(bot)
    except ExchangeError as exc:
        if pauses.for_error(exc) in pauses.SESSION:
            raise
        bot.log.warning("Could not read the {} balance ({}); trying again shortly", bot.cfg.quote, exc)
        bot._deadline = bot.clock.monotonic() + REFUSAL_RETRY_S
        return
    c = bot.cycle
    refusal = c.refusal()
    if refusal is not None and c.not_paused() and not c.balance_ok() and c.user_stream_up() and c.target_open():
        bot._quote_free = None
        need = bot.cfg.order_quote_amount + bot.cfg.min_quote_reserve
        detail = (bot._wallet.shortfall_hint(need) if bot._wallet is not None else None) or refusal
        await bot._pause(Pause.insufficient_balance, pauses.help_text(
            Pause.insufficient_balance, bot.name, detail=detail, quote=bot.cfg.quote, path=str(bot.cfg.path)))
        return
    _waiting(bot, refusal)
    if refusal is not None:
        bot._deadline = bot.clock.monotonic() + REFUSAL_RETRY_S
        return
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
        await bot._pause(Pause.config, pauses.help_text(Pause.config, bot.name, path=str(bot.cfg.path), detail=(
            f"the order the settings ask for is invalid: {exc} (order.quote_amount or pricing)")))
        return
    # Write before send: the intent is in SQLite before the request can create anything.
    row, orders = await bot.desk.write_oto(day=bot.book.day, symbol=bot.symbol, base_asset=bot.token.alpha_id,
                                           quote=bot.cfg.quote, mul_point=bot.token.mul_point, order=order)
    bot.cycle_row, bot.orders, bot._fills_confirmed, bot._cancelling = row, orders, True, None
    _bind_log(bot, row.id)
    await bot._fire("place", f"BUY {fmt(order.quantity)} @ {fmt(order.working_price)}, SELL @ "
                    f"{fmt(order.pending_price)} (last {fmt(last)})", persist=False)
    _mark_reaction(bot)
    try:
        placed = await bot.desk.send_oto(row, order)
    except UnknownOutcome as exc:
        bot._metric("inc", "orders_failed_total", 1.0, reason="unknown_outcome")
        bot.log.warning("Place request outcome unknown ({}); asking the exchange before anything else", exc)
        await bot._fire("outcome_unknown", f"place request outcome unknown ({exc}); asking the exchange")
        return
    except ExchangeError as exc:
        bot._metric("inc", "orders_failed_total", 1.0, reason=type(exc).__name__)
        await place_refused(bot, exc)
        return
    bot._metric("inc", "orders_placed_total", 1.0)
    assert orders.working is not None and orders.pending is not None
    orders.working.order_id, orders.pending.order_id = placed.working_order_id, placed.pending_order_id
    orders.working.status = merge_status(orders.working.status, "NEW")
    orders.pending.status = merge_status(orders.pending.status, "PENDING")
    reason = f"working {placed.working_order_id}, pending {placed.pending_order_id}"
    # The ids and the new state go to SQLite in one transaction.
    await bot.store.attach_oto(row.id, placed.working_order_id, placed.pending_order_id, None, bot.clock.time_ms(),
                               transition=(bot.name, "placing", "pending", reason), carry=bot.carry)
    await bot._fire("placed", reason, persist=False)


async def place_refused(bot: Bot, exc: ExchangeError) -> None:
    """The exchange refused the OTO, so nothing exists: the intent is closed, the reason decides what next."""
    assert bot.desk is not None
    await bot.desk.drop(bot.orders.all(), str(exc))
    await bot._fire("place_failed", f"place refused: {exc}")
    clear_cycle(bot)
    reason = pauses.for_error(exc)
    if isinstance(exc, RateLimited):
        bot._deadline = bot.clock.monotonic() + (exc.retry_after or 5.0)
    elif reason is not None:
        if isinstance(exc, InsufficientBalance):
            bot._quote_free = None
        await bot._pause(reason, pauses.help_text(reason, bot.name, detail=str(exc), quote=bot.cfg.quote,
                                                  path=str(bot.cfg.path)))
    elif exc.code is not None:  # a business error: never retried blindly
        await bot._pause(Pause.rejected, pauses.help_text(Pause.rejected, bot.name, detail=str(exc),
                                                          path=str(bot.cfg.path)))
    else:  # could not even connect: nothing was sent
        bot._deadline = bot.clock.monotonic() + 5.0


def sweepable(bot: Bot) -> Decimal:
    """Fee dust otobot's fills say it holds, when it is sellable now on every rung of the unwind ladder (≥ step,
    ≥ min notional at the deepest rung's price), with a fresh price; 0 otherwise."""
    f, t = bot.filters, bot.last_trade
    if bot._dust <= 0 or f is None or t is None or not bot.stream_up or bot.last_trade_at is None:
        return Decimal(0)
    now = bot.clock.monotonic()
    if now - bot.last_trade_at > bot.cfg.max_price_age_s or now < bot._sweep_after:
        return Decimal(0)
    qty = floor_to(bot._dust, f.step_size)
    deepest = strategy.unwind_price(t.price, max(bot.cfg.unwind.ladder_pct))
    return qty if sellable(qty, deepest, f) else Decimal(0)


def sellable_now(bot: Bot, qty: Decimal) -> bool:
    price = bot.last_trade.price if bot.last_trade else bot.cycle_row.working_price if bot.cycle_row else Decimal(0)
    return bot.filters is not None and qty > 0 and sellable(qty, price, bot.filters)


async def sweep(bot: Bot, qty: Decimal) -> None:
    """Sell fee dust between cycles: never more than otobot's own fills left AND the exchange holds free."""
    assert bot.rest is not None and bot.token is not None and bot.filters is not None and bot.last_trade
    free = next((b.free for b in await bot.rest.alpha_balances() if b.asset == bot.token.alpha_id), Decimal(0))
    qty = min(qty, floor_to(free, bot.filters.step_size))
    if not sellable(qty, strategy.unwind_price(bot.last_trade.price, max(bot.cfg.unwind.ladder_pct)), bot.filters):
        bot.log.debug("No fee dust to sweep: {} {} free on the exchange", fmt(free), bot.token.symbol)
        bot._dust = min(bot._dust, free)
        return
    cycle_id = await bot.store.create_sweep(user=bot.name, day=bot.book.day, symbol=bot.symbol,
                                            base_asset=bot.token.alpha_id, quote_asset=bot.cfg.quote, quantity=qty,
                                            price=bot.last_trade.price, now_ms=bot.clock.time_ms())
    row = await bot.store.cycle(cycle_id)
    assert row is not None
    bot._dust -= qty
    await startup.load_cycle(bot, row)
    bot._fills_confirmed = True
    bot.log.info("Sweeping {} {} of fee dust (about {} {})", fmt(qty), bot.token.symbol,
                 fmt((qty * bot.last_trade.price).quantize(Decimal("0.0001"))), bot.cfg.quote)
    await bot._fire("sweep", f"selling {fmt(qty)} of fee dust", persist=False)


async def apply_config(bot: Bot) -> None:
    cfg = bot._next_cfg
    assert cfg is not None and bot.rest is not None
    bot._next_cfg = None
    old = bot.cfg
    bot.log.info("Applying reloaded settings at the cycle boundary")
    bot.cfg = cfg
    book_changed = (cfg.pricing.mode == "book") != (old.pricing.mode == "book")  # the depth stream starts/stops
    if (cfg.token, cfg.quote) != (old.token, old.quote) or bot._switch_market or book_changed:
        bot._switch_market = False
        try:
            market = await catalog.resolve(bot.store, bot.rest, cfg, bot.clock.time_ms(),
                                           token_alias=await autotoken.alias(bot))
        except catalog.CatalogProblem as exc:
            await bot._pause(Pause.config, pauses.help_text(Pause.config, bot.name, detail=str(exc),
                                                            path=str(cfg.path)))
            return
        feeds.unwatch(bot)
        startup.use_market(bot, market)
        feeds.watch(bot)
        bot._dust = next((h.quantity for h in await bot.store.holdings(bot.name) if h.symbol == bot.symbol),
                         Decimal(0))
        bot.log.info("Now trading {} on {}", market.token.symbol, market.symbol)
    elif cfg.volatility_window_s != old.volatility_window_s:
        bot.window = PriceWindow(cfg.volatility_window_s)
    assert bot.token is not None
    bot.book.set_target(cfg.target.kind, cfg.target.value, bot.token.mul_point)


async def take_over(bot: Bot) -> None:
    """Make the adopted late cycle the one in flight (from idle, paused or finished: its orders are live)."""
    assert bot._late_cycle is not None
    row = await bot.store.cycle(bot._late_cycle)
    bot._late_cycle = None
    assert row is not None
    await startup.load_cycle(bot, row)
    bot._fills_confirmed = True
    await bot._fire("adopted", f"cycle {row.id}, applied late by the exchange, adopted", persist=False)
    await refresh(bot, "adopted late")


# ================================================================== settling, cancelling, unwinding


async def settle_place(bot: Bot) -> None:
    """A place request whose answer was lost: adopt the OTO if the exchange has it, else close the intent."""
    assert bot.cycle_row is not None and bot.desk is not None
    row = bot.cycle_row
    outcome = await bot.desk.settle_oto(row)
    if isinstance(outcome, Unknown):
        bot.log.warning("Could not settle the lost OTO yet ({}); looking again", outcome.why)
        bot._deadline = bot.clock.monotonic() + bot.rel.unknown_settle_s
    elif isinstance(outcome, Missing):
        await bot.desk.drop(bot.orders.all(), "not on the exchange")
        await bot._fire("not_placed", "the exchange has no such OTO after repeated lookups")
        clear_cycle(bot)
    elif isinstance(outcome, Found):
        working, pending_id = outcome.order, outcome.pending_id
        await bot.store.attach_oto(row.id, working.order_id, pending_id or "", working.order_list_id,
                                   bot.clock.time_ms(), adopted=True, carry=bot.carry)
        w, p = bot.orders.working, bot.orders.pending
        assert w is not None and p is not None
        w.order_id, w.status = working.order_id, "NEW"
        p.order_id, p.status = pending_id, "PENDING"
        why = f"the lost request did place it: working {working.order_id}, pending {pending_id} " \
              "(adopted, not placed again)"
        bot.log.info("Adopted OTO: {}", why)
        await bot._fire("adopted", why)
        now_ms = bot.clock.time_ms()
        await bot.desk.record(row.id, w, Observation.of_row(working, now_ms))
        if outcome.pending is not None:
            await bot.desk.record(row.id, p, Observation.of_row(outcome.pending, now_ms))


async def cancel(bot: Bot, role: str) -> None:
    assert bot.cycle_row is not None and bot.desk is not None
    targets = {"working": [bot.orders.working], "pending": [bot.orders.pending], "unwind": [bot.orders.unwind]}
    for o in targets.get(role, bot.orders.all()):
        if o is None or not o.live:
            continue
        try:
            await bot.desk.cancel(bot.cycle_row, bot.orders, o)
        except ExchangeError as exc:
            if pauses.for_error(exc) in pauses.SESSION:
                raise
            bot.log.warning("Cancel of order {} failed ({}); will check and retry", o.order_id, exc)


async def refresh(bot: Bot, why: str) -> None:
    assert bot.cycle_row is not None and bot.desk is not None
    with contextlib.suppress(ExchangeError):
        await bot.desk.refresh(bot.cycle_row, bot.orders, why)
        bot._fills_confirmed = True
    if not bot._fills_confirmed:
        bot._deadline = bot.clock.monotonic() + REFUSAL_RETRY_S
        bot._fills_confirmed = bot.orders.working is None or bot.orders.working.cum_qty == 0


async def place_unwind(bot: Bot, rung: int) -> None:
    assert bot.filters is not None and bot.cycle_row is not None and bot.desk is not None
    row, ladder = bot.cycle_row, bot.cfg.unwind.ladder_pct
    left = bot.orders.leftover(bot.filters.step_size)
    last = bot.last_trade.price if bot.last_trade and row.symbol == bot.symbol else row.working_price
    try:
        order = build_limit(SELL, strategy.unwind_price(last, ladder[rung]), left, bot.filters)
    except FilterError as exc:
        await bot._fire("unwound", f"remaining {fmt(left)} cannot be sold ({exc})")
        return
    bot._deadline = bot.clock.monotonic() + bot.cfg.unwind.rung_timeout_s
    bot.log.info("Unwind rung {}: SELL {} @ {} ({} % under last {})", rung + 1, fmt(order.quantity),
                 fmt(order.price), fmt(ladder[rung]), fmt(last))
    _mark_reaction(bot)
    try:
        await bot.desk.place_sell(row, bot.orders, order)
    except UnknownOutcome as exc:
        bot.log.warning("Unwind SELL outcome unknown ({}); settling before anything else", exc)
        bot._deadline = bot.clock.monotonic() + bot.rel.unknown_settle_s
    except RateLimited as exc:
        # Never reached the book: the same rung again once the exchange allows it (not the next, cheaper one).
        wait = exc.retry_after or 1.0
        bot.log.warning("Unwind SELL rate limited; rung {} again in {:.1f} s", rung + 1, wait)
        bot._deadline = bot.clock.monotonic() + wait
    except ExchangeError as exc:
        reason = pauses.for_error(exc)
        if reason in pauses.SESSION:
            raise
        if exc.code is not None:
            await bot._pause(Pause.unwind_failed, pauses.help_text(Pause.unwind_failed, bot.name, path=str(
                bot.cfg.path), detail=f"the exchange refused the unwind SELL ({exc}) with {fmt(left)} left"))
        else:
            bot._deadline = bot.clock.monotonic() + REFUSAL_RETRY_S


async def settle_unwind(bot: Bot) -> None:
    assert bot.cycle_row is not None and bot.desk is not None
    u = bot.orders.unwind
    assert u is not None
    outcome = await bot.desk.settle_sell(bot.cycle_row, u)
    if isinstance(outcome, Found):
        bot._deadline = bot.clock.monotonic() + bot.cfg.unwind.rung_timeout_s
    elif isinstance(outcome, Missing):
        await bot.desk.drop([u], "not on the exchange")  # the same rung again: it never reached the book
    else:
        bot._deadline = bot.clock.monotonic() + bot.rel.unknown_settle_s


# ================================================================== closing


async def close_cycle(bot: Bot) -> None:
    assert bot.cycle_row is not None
    row, orders = bot.cycle_row, bot.orders
    bought = orders.working.cum_quote if orders.working else Decimal(0)
    sold = sum((o.cum_quote for o in orders.all() if o.side == SELL), Decimal(0))
    frm, why = bot._done_from or ("done", "closed")
    bot._done_from = None
    swept = row.kind == "sweep"
    manual.observe_close(bot, orders)
    await bot.store.close_cycle(row.id, bot.name, row.day, frm, why, bot.clock.time_ms(), "ready for the next cycle",
                                count=not swept, carry=bot.carry)
    if row.symbol == bot.symbol:
        bot._dust += orders.base_bought() - orders.base_sold()  # what a SELL could not carry (fee, step)
    if swept:
        bot.log.info("Swept fee dust: sold {} for {} {}", fmt(orders.base_sold()), fmt(sold), bot.cfg.quote)
        if sold == 0:  # the price moved under the minimum order meanwhile: not again for a while
            bot._sweep_after = bot.clock.monotonic() + SWEEP_RETRY_S
    else:
        bot.book.cycles += 1
        bot.cycles_completed += 1
        bot._metric("observe", "cycle_seconds", max(0.0, (bot.clock.time_ms() - row.intent_ms) / 1000))
        bps = (bought - sold) / bought * 10000 if bought else Decimal(0)
        bot.log.info("done: +{} {}, {}, {:.1f} bps", fmt(bought.quantize(Decimal("0.01"))), bot.cfg.quote,
                     bot.book.progress(), bps)
    if bot._quote_free is not None:
        bot._quote_free += sold - bought  # the cached balance follows the cycle; refreshed every 30 s
    clear_cycle(bot)
    bot._planned_wait = bot.cfg.pause_between_cycles_s
    await _prefetch_balance(bot)
    await bot._fire("next", "ready for the next cycle", persist=False)  # audited by close_cycle


async def _prefetch_balance(bot: Bot) -> None:
    """A balance read the next place would make on its way to the order, made now, inside the pause between
    cycles (measured: it put up to 45 ms into the p99 of the next OTO's reaction). Errors wait for that place."""
    if bot._planned_wait <= 0 or bot.rest is None or not _balance_due(bot, bot._planned_wait):
        return
    try:
        await _read_balance(bot)
    except ExchangeError as exc:
        if pauses.for_error(exc) in pauses.SESSION:
            raise


def _balance_due(bot: Bot, within_s: float) -> bool:
    """No balance read yet, or the last one will be older than BALANCE_MAX_AGE_S `within_s` from now."""
    return bot._quote_free is None or bot.clock.monotonic() + within_s - bot._balance_at > BALANCE_MAX_AGE_S


async def _read_balance(bot: Bot) -> None:
    assert bot.rest is not None
    bal = await bot.rest.quote_balance(bot.cfg.quote)
    bot._quote_free, bot._balance_at, bot._wallet = bal.free, bot.clock.monotonic(), bal


def clear_cycle(bot: Bot) -> None:
    bot.cycle_row = None
    bot.orders = CycleOrders()
    bot._cancelling = None
    bot._fills_confirmed = True
    _bind_log(bot, None)


def _bind_log(bot: Bot, cycle_id: int | None) -> None:
    bot.log = logger.bind(user=bot.name, cycle=cycle_id if cycle_id is not None else "-")
    if bot.desk is not None:
        bot.desk.log = bot.log


def _mark_reaction(bot: Bot) -> None:
    """Fill frame read → this request about to be written, less the configured pause between cycles."""
    if bot._fill_received is not None:
        waited = bot.clock.monotonic() - bot._fill_received - bot._planned_wait
        bot.latencies.append(max(waited, 0.0))
        bot._fill_received = None
    bot._planned_wait = 0.0
