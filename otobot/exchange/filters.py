"""Pure tick/step/notional rounding: turns strategy prices and a quote amount into orders the exchange accepts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

from otobot.exchange.models import BUY, SymbolFilters

PAY_AMOUNT_QUANTUM = Decimal("0.00000001")  # the server recomputes price×qty truncated to 8 dp (§2.5)
FEE_RATE = Decimal("0.0001")  # 0.01 % per side, measured (alpha-api.md §6.4)


class FilterError(ValueError):
    """An order that the symbol's filters would reject; the message says which filter and by how much."""


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` ≤ value, carrying step's exponent (0.10 → 2 dp)."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` ≥ value."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_price(price: Decimal, side: str, tick: Decimal) -> Decimal:
    """Onto the tick in the passive direction (BUY down, SELL up): rounding never worsens the asked price."""
    return floor_to(price, tick) if side == BUY else ceil_to(price, tick)


def pay_amount(price: Decimal, qty: Decimal) -> Decimal:
    """price × quantity truncated to 8 dp, as the server recomputes it for paymentDetails."""
    return (price * qty).quantize(PAY_AMOUNT_QUANTUM, rounding=ROUND_FLOOR)


def pending_quantity(filled_qty: Decimal, step: Decimal, fee_rate: Decimal = FEE_RATE) -> Decimal:
    """What the server gives the pending SELL: the bought qty less the base-asset buy fee, floored to step."""
    return floor_to(filled_qty - filled_qty * fee_rate, step)


def fmt(value: Decimal) -> str:
    """Wire text for a Decimal: never exponent notation (`str` can print 5.929E-7)."""
    return format(value, "f")


def body_number(value: Decimal) -> Decimal:
    """The same value with the text the browser writes in an order body (alpha-api.md §7.1, §7.7): no trailing
    zeros kept from the step or tick (1960784.30 → 1960784.3, 1779676.00 → 1779676, 0.000005800 → 0.0000058).
    `protocol.dumps` writes it with `format(d, "f")`, so never an exponent either."""
    if not value:
        return Decimal(0)
    # A context as precise as the value itself: normalize() must only drop zeros, never round a long quantity.
    return value.normalize(Context(prec=len(value.as_tuple().digits)))


def check_price(price: Decimal, f: SymbolFilters, what: str) -> None:
    if price <= 0:
        raise FilterError(f"{what} {fmt(price)} is not positive")
    if price < f.min_price or price > f.max_price:
        raise FilterError(
            f"{what} {fmt(price)} outside [{fmt(f.min_price)}, {fmt(f.max_price)}] on {f.symbol}"
        )
    if price % f.tick_size != 0:
        raise FilterError(f"{what} {fmt(price)} is not a multiple of tick {fmt(f.tick_size)}")


def check_quantity(qty: Decimal, price: Decimal, f: SymbolFilters, what: str) -> None:
    if qty % f.step_size != 0:
        raise FilterError(f"{what} quantity {fmt(qty)} is not a multiple of step {fmt(f.step_size)}")
    if qty < f.min_qty:
        raise FilterError(f"{what} quantity {fmt(qty)} below minimum {fmt(f.min_qty)} on {f.symbol}")
    if qty > f.max_qty:
        raise FilterError(f"{what} quantity {fmt(qty)} above maximum {fmt(f.max_qty)} on {f.symbol}")
    notional = price * qty
    if notional < f.min_notional:
        raise FilterError(
            f"{what} value {fmt(notional)} {f.quote_asset} below minimum notional "
            f"{fmt(f.min_notional)} on {f.symbol}"
        )


@dataclass(frozen=True, slots=True)
class OtoOrder:
    """A valid OTO: working BUY at `working_price` for `quantity`, pending SELL at `pending_price`."""

    working_price: Decimal
    quantity: Decimal
    pay_amount: Decimal
    pending_price: Decimal


@dataclass(frozen=True, slots=True)
class LimitOrder:
    side: str
    price: Decimal
    quantity: Decimal
    pay_amount: Decimal


def build_oto(working_price: Decimal, pending_price: Decimal, quote_amount: Decimal, f: SymbolFilters) -> OtoOrder:
    """Round the strategy's prices and size onto the symbol's filters, or say which filter refuses."""
    wp = round_price(working_price, BUY, f.tick_size)
    pp = round_price(pending_price, "SELL", f.tick_size)
    check_price(wp, f, "working price")
    check_price(pp, f, "pending price")
    qty = floor_to(quote_amount / wp, f.step_size)
    check_quantity(qty, wp, f, "working")
    # The pending leg sells the fee-reduced quantity; it must pass the filters too or the OTO strands tokens.
    check_quantity(pending_quantity(qty, f.step_size), pp, f, "pending")
    return OtoOrder(working_price=wp, quantity=qty, pay_amount=pay_amount(wp, qty), pending_price=pp)


def build_limit(side: str, price: Decimal, quantity: Decimal, f: SymbolFilters) -> LimitOrder:
    """A single LIMIT order on the filters: price by side, quantity floored to step."""
    p = round_price(price, side, f.tick_size)
    q = floor_to(quantity, f.step_size)
    check_price(p, f, f"{side.lower()} price")
    check_quantity(q, p, f, side.lower())
    return LimitOrder(side=side, price=p, quantity=q, pay_amount=pay_amount(p, q))


def sellable(quantity: Decimal, price: Decimal, f: SymbolFilters) -> bool:
    """Whether `quantity` (floored to step) can be sold at `price`: dust below min qty/notional cannot."""
    q = floor_to(quantity, f.step_size)
    return q >= f.min_qty and q * price >= f.min_notional and q > 0
