"""Pure book pricing: BUY at the ask level that covers the order, pending SELL at the bid level that covers it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from otobot.config.settings import PricingConfig
from otobot.exchange.book import Level
from otobot.exchange.filters import FEE_RATE, FilterError, OtoOrder, build_oto, ceil_to, floor_to, fmt, pending_quantity
from otobot.exchange.models import SymbolFilters
from otobot.trading.book import LocalBook, cover_level, cumulative
from otobot.trading.strategy import Quote, day_end_amount


class Why(Enum):
    """Why the book gives no price: the bot places nothing and says so."""

    NO_BOOK = "no book yet"
    RESYNC = "book resyncing after a gap"
    STALE = "book stale"
    NO_ASKS = "no asks"
    NO_BIDS = "no bids"
    THIN_ASKS = "asks too thin"
    THIN_BIDS = "bids too thin"
    FILTERS = "filters refuse the order"


@dataclass(frozen=True, slots=True)
class NoQuote:
    why: Why
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.why.value}: {self.detail}" if self.detail else self.why.value


def _usable(book: LocalBook, now: float, max_age_s: float) -> NoQuote | None:
    if book.update_id is None:
        return NoQuote(Why.NO_BOOK)
    if book.needs_resync:
        return NoQuote(Why.RESYNC)
    age = book.age(now)
    if age is None or age > max_age_s:
        return NoQuote(Why.STALE, f"last change {age:.1f} s ago > {max_age_s:g} s" if age is not None else "")
    return None


def _covering(levels: tuple[Level, ...], qty: Decimal, empty: Why, thin: Why) -> Decimal | NoQuote:
    if not levels:
        return NoQuote(empty)
    level = cover_level(levels, qty)
    if level is None:
        return NoQuote(thin, f"{fmt(cumulative(levels))} there, {fmt(qty)} needed")
    return level


def buy_price(book: LocalBook, qty: Decimal, tick: Decimal, guard_ticks: int) -> Decimal | NoQuote:
    """The lowest ask level whose cumulative quantity covers `qty`, plus `guard_ticks`, ceiled onto the tick so the
    BUY reaches that level even when the book quotes off-tick prices."""
    level = _covering(book.asks(), qty, Why.NO_ASKS, Why.THIN_ASKS)
    return level if isinstance(level, NoQuote) else ceil_to(level + guard_ticks * tick, tick)


def sell_price(book: LocalBook, qty: Decimal, tick: Decimal, guard_ticks: int) -> Decimal | NoQuote:
    """The highest bid level whose cumulative quantity covers `qty`, minus `guard_ticks`, floored onto the tick so
    the SELL reaches that level; never below one tick."""
    level = _covering(book.bids(), qty, Why.NO_BIDS, Why.THIN_BIDS)
    return level if isinstance(level, NoQuote) else max(floor_to(level - guard_ticks * tick, tick), tick)


def book_quote(book: LocalBook, quote_amount: Decimal, filters: SymbolFilters, guard_ticks: int, now: float,
               max_age_s: float, fee_rate: Decimal = FEE_RATE) -> Quote | NoQuote:
    """The OTO's working and pending prices from the book, each side from its own levels (crossed books too).

    The BUY's size depends on its price: size it at the best ask, find the covering level, then re-size at that
    price (a higher price buys less, so the level still covers). The pending SELL covers what the BUY leaves after
    the base-asset fee, floored to step, exactly what the exchange will give it.
    """
    refusal = _usable(book, now, max_age_s)
    if refusal is not None:
        return refusal
    best = book.best_ask()
    if best is None:
        return NoQuote(Why.NO_ASKS)
    tick, step = filters.tick_size, filters.step_size
    working = buy_price(book, floor_to(quote_amount / best, step), tick, guard_ticks)
    if isinstance(working, NoQuote):
        return working
    qty = floor_to(quote_amount / working, step)
    pending = sell_price(book, pending_quantity(qty, step, fee_rate), tick, guard_ticks)
    if isinstance(pending, NoQuote):
        return pending
    return Quote(working_price=working, pending_price=pending)


def book_oto(book: LocalBook, quote_amount: Decimal, filters: SymbolFilters, guard_ticks: int, now: float,
             max_age_s: float) -> OtoOrder | NoQuote:
    """`book_quote` on the symbol's filters: the order to place, or why there is none."""
    q = book_quote(book, quote_amount, filters, guard_ticks, now, max_age_s)
    if isinstance(q, NoQuote):
        return q
    try:
        return build_oto(q.working_price, q.pending_price, quote_amount, filters)
    except FilterError as exc:
        return NoQuote(Why.FILTERS, str(exc))


def unwind_sell_price(book: LocalBook, qty: Decimal, filters: SymbolFilters, guard_ticks: int, now: float,
                      max_age_s: float) -> Decimal | NoQuote:
    """A plain LIMIT SELL of leftover `qty` priced from the bids, for the unwind ladder's first rung."""
    refusal = _usable(book, now, max_age_s)
    if refusal is not None:
        return refusal
    return sell_price(book, floor_to(qty, filters.step_size), filters.tick_size, guard_ticks)


def book_order(book: LocalBook, remaining: Decimal, per_cycle: Decimal, filters: SymbolFilters, guard_ticks: int,
               now: float, max_age_s: float) -> OtoOrder | NoQuote:
    """The bot's next OTO in book mode: `per_cycle` quote, or at the day's end just enough to reach the target
    (sized at the best ask, as `strategy.day_end_amount` sizes it at the last trade); a day-end size the filters
    refuse falls back to the full one."""
    best, bid = book.best_ask(), book.best_bid()
    amount = per_cycle
    if best is not None and bid is not None and remaining < per_cycle:
        # The BUY at the best ask, the SELL down at the best bid (the smallest OTO is set by the SELL's notional).
        down = max(ceil_to((best - bid) / filters.tick_size, Decimal(1)), Decimal(0)) + 2 * guard_ticks
        at_book = PricingConfig("fixed", Decimal(guard_ticks), down, guard_ticks)
        amount = day_end_amount(remaining, per_cycle, best, at_book, filters)
    order = book_oto(book, amount, filters, guard_ticks, now, max_age_s)
    if isinstance(order, NoQuote) and order.why is Why.FILTERS and amount != per_cycle:
        return book_oto(book, per_cycle, filters, guard_ticks, now, max_age_s)
    return order
