"""Typed, frozen values parsed from the wire: Decimal money, str ids; nothing past here reads a Binance letter key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from otobot.exchange.errors import MalformedMessage
from otobot.exchange.fields import dec as dec
from otobot.exchange.fields import flag as flag
from otobot.exchange.fields import ident as ident
from otobot.exchange.fields import integer as integer
from otobot.exchange.fields import mapping as _mapping
from otobot.exchange.fields import text as text
from otobot.exchange.legs import OTO_PENDING as OTO_PENDING
from otobot.exchange.legs import OTO_WORKING as OTO_WORKING

BUY = "BUY"
SELL = "SELL"

# Order statuses (X / status). PENDING is Alpha's dormant OTO leg.
NEW = "NEW"
PENDING = "PENDING"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
REJECTED = "REJECTED"
FINAL_STATUSES = frozenset({FILLED, CANCELED, EXPIRED, REJECTED})

@dataclass(frozen=True, slots=True)
class Token:
    """One Alpha token from the public token list."""

    alpha_id: str  # "ALPHA_22"
    symbol: str  # display symbol, "KOGE"
    name: str
    chain_id: str
    contract: str
    mul_point: int
    offline: bool
    offsell: bool
    stock_state: bool
    # alpha-api.md §7.7 (S15): newer lists carry `fullyDelisted` beside `offline`; absent (older lists, and tokens
    # cached before otobot read it) means not delisted.
    fully_delisted: bool = False

    @property
    def tradable(self) -> bool:
        return self.untradable_reason is None

    @property
    def untradable_reason(self) -> str | None:
        """Why the exchange does not trade this token now, in an operator's words; None when it does."""
        flags = (("fully delisted", self.fully_delisted), ("offline", self.offline),
                 ("trading paused", self.stock_state), ("not sellable (offsell)", self.offsell))
        return next((why for why, on in flags if on), None)

    @classmethod
    def parse(cls, raw: Any) -> Token:
        r = _mapping(raw, "token")
        return cls(
            alpha_id=text(r, "alphaId"),
            symbol=text(r, "symbol"),
            name=text(r, "name", ""),
            chain_id=text(r, "chainId", ""),
            contract=text(r, "contractAddress", ""),
            mul_point=integer(r, "mulPoint", 1),
            offline=flag(r, "offline"),
            offsell=flag(r, "offsell"),
            stock_state=flag(r, "stockState"),
            fully_delisted=flag(r, "fullyDelisted"),
        )


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """What an order on one symbol must respect (exchange info, alpha-api.md §2.5)."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"

    @classmethod
    def parse(cls, raw: Any) -> SymbolFilters:
        r = _mapping(raw, "symbol")
        by_type: dict[str, Mapping[str, Any]] = {}
        for f in r.get("filters") or []:
            if isinstance(f, Mapping) and f.get("filterType"):
                by_type[str(f["filterType"])] = f
        price = by_type.get("PRICE_FILTER")
        lot = by_type.get("LOT_SIZE")
        if price is None or lot is None:
            raise MalformedMessage(f"symbol {r.get('symbol')!r} lacks PRICE_FILTER or LOT_SIZE")
        notional = by_type.get("MIN_NOTIONAL") or by_type.get("NOTIONAL") or {}
        tick = dec(price, "tickSize")
        step = dec(lot, "stepSize")
        if tick <= 0 or step <= 0:
            raise MalformedMessage(f"symbol {r.get('symbol')!r} has a zero tick or step size")
        return cls(
            symbol=text(r, "symbol"),
            base_asset=text(r, "baseAsset"),
            quote_asset=text(r, "quoteAsset"),
            status=text(r, "status", "TRADING"),
            tick_size=tick,
            step_size=step,
            min_qty=dec(lot, "minQty", step),
            max_qty=dec(lot, "maxQty", Decimal("1e30")),
            min_price=dec(price, "minPrice", tick),
            max_price=dec(price, "maxPrice", Decimal("1e30")),
            min_notional=dec(notional, "minNotional", Decimal(0)),
        )


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One public aggregated trade (market stream or REST agg-trades)."""

    symbol: str
    price: Decimal
    qty: Decimal
    trade_time_ms: int
    agg_id: str
    buyer_is_maker: bool

    @classmethod
    def parse(cls, raw: Any, symbol: str | None = None) -> AggTrade:
        # Hot path (every trade, every bot): direct lookups; the wire sends p and q as strings.
        r = _mapping(raw, "aggTrade")
        try:
            price, qty, t, agg = r["p"], r["q"], r["T"], r["a"]
            if not isinstance(price, str) or not isinstance(qty, str) or isinstance(t, bool) or not isinstance(t, int):
                raise MalformedMessage(f"aggTrade field types: p={price!r} q={qty!r} T={t!r}")
            trade = cls(symbol=str(r.get("s") or symbol or ""), price=Decimal(price), qty=Decimal(qty),
                        trade_time_ms=t, agg_id=str(agg), buyer_is_maker=bool(r.get("m")))
        except KeyError as exc:
            raise MalformedMessage(f"aggTrade lacks {exc}") from None
        except InvalidOperation:
            raise MalformedMessage(f"aggTrade price/qty not numbers: {r.get('p')!r} {r.get('q')!r}") from None
        if not trade.price.is_finite() or trade.price <= 0 or not trade.symbol:
            raise MalformedMessage(f"aggTrade price {price!r} or symbol unusable")
        return trade


# The amounts of an executionReport in the order _wire unpacks them, with what an absent key means ("n" is sent
# on TRADE events only; "p" has no default, so a report without it goes to the checked reading and is named).
_REPORT_AMOUNTS = ("p", "q", "l", "z", "L", "Z", "Y", "n")
_REPORT_DEFAULTS = (None, "0", "0", "0", "0", "0", "0", "0")
_ONLY_STR = frozenset({str})


class ExecutionReport(NamedTuple):
    """One user-stream order event (alpha-api.md §4.3). A NamedTuple, immutable like the frozen dataclasses here:
    several are built per cycle per bot, and a frozen dataclass's __init__ (a setattr call per field) took 3.2 of
    the 7.4 µs of a report's parse (measured)."""

    event_id: str  # `id`: unique per event, the fill dedupe key
    symbol: str
    order_id: str
    order_list_id: str
    side: str
    exec_type: str  # NEW / TRADE / CANCELED / EXPIRED ...
    status: str  # NEW / PENDING / PARTIALLY_FILLED / FILLED / CANCELED ...
    price: Decimal
    orig_qty: Decimal
    last_qty: Decimal
    cum_qty: Decimal
    last_price: Decimal
    cum_quote: Decimal
    last_quote: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: str
    contingency_position: str | None
    event_time_ms: int
    transact_time_ms: int

    @property
    def is_trade(self) -> bool:
        return self.exec_type == "TRADE" and self.last_qty > 0

    @classmethod
    def parse(cls, raw: Any) -> ExecutionReport:
        """The report as the wire sends it (alpha-api.md §7: amounts as strings, `id` a number, `i` a string) is
        read in one pass; anything else takes the checked reading, which names the field that is wrong."""
        if type(raw) is dict and raw.get("e") == "executionReport":
            try:
                report = cls._wire(raw)
            except (KeyError, TypeError, ValueError, ArithmeticError):
                report = None
            if report is not None:
                return report
        return cls._checked(raw)

    @classmethod
    def _wire(cls, r: dict[str, Any]) -> ExecutionReport | None:
        """Hot path (several reports every cycle): None, or an error, when any field is not in the wire's shape."""
        amounts = tuple(map(r.get, _REPORT_AMOUNTS, _REPORT_DEFAULTS))
        texts = (r["s"], r["S"], r["x"], r["X"], r.get("N", ""), r["i"])
        eid, event_ms, transact_ms = r["id"], r.get("E", 0), r.get("T", 0)
        # map() over C functions rather than generator expressions: no Python frame per field.
        if not (_ONLY_STR.issuperset(map(type, amounts)) and _ONLY_STR.issuperset(map(type, texts))
                and type(eid) is int and type(event_ms) is int and type(transact_ms) is int and texts[5]):
            return None
        p, q, last, cum, last_price, cum_quote, last_quote, fee = decimals = tuple(map(Decimal, amounts))
        if not all(map(Decimal.is_finite, decimals)):
            return None
        cp = r.get("cp")
        return cls(event_id=str(eid), symbol=texts[0], order_id=texts[5], order_list_id=str(r.get("il") or "-1"),
                   side=texts[1], exec_type=texts[2], status=texts[3], price=p, orig_qty=q, last_qty=last,
                   cum_qty=cum, last_price=last_price, cum_quote=cum_quote, last_quote=last_quote, commission=fee,
                   commission_asset=texts[4], trade_id=str(r.get("t") or "0"),
                   contingency_position=cp if isinstance(cp, str) else None, event_time_ms=event_ms,
                   transact_time_ms=transact_ms)

    @classmethod
    def _checked(cls, raw: Any) -> ExecutionReport:
        r = _mapping(raw, "executionReport")
        if r.get("e") != "executionReport":
            raise MalformedMessage(f"not an executionReport: e={r.get('e')!r}")
        return cls(
            event_id=ident(r, "id"),
            symbol=text(r, "s"),
            order_id=ident(r, "i"),
            order_list_id=str(r.get("il") or "-1"),
            side=text(r, "S"),
            exec_type=text(r, "x"),
            status=text(r, "X"),
            price=dec(r, "p"),
            orig_qty=dec(r, "q", Decimal(0)),
            last_qty=dec(r, "l", Decimal(0)),
            cum_qty=dec(r, "z", Decimal(0)),
            last_price=dec(r, "L", Decimal(0)),
            cum_quote=dec(r, "Z", Decimal(0)),
            last_quote=dec(r, "Y", Decimal(0)),
            commission=dec(r, "n", Decimal(0)),
            commission_asset=text(r, "N", ""),
            trade_id=str(r.get("t") or "0"),
            contingency_position=r.get("cp") if isinstance(r.get("cp"), str) else None,
            event_time_ms=integer(r, "E", 0),
            transact_time_ms=integer(r, "T", 0),
        )


# How an order row's quote total was obtained when the row lacks `cumQuote` (alpha-api.md §7.7: older rows).
QUOTE_FROM_AVG_PRICE = "avgPrice × executedQty"
QUOTE_FROM_PRICE = "price × executedQty"


@dataclass(frozen=True, slots=True)
class Order:
    """An order as REST reports it: an open-orders item or an order-history row."""

    order_id: str
    symbol: str
    side: str
    status: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    order_list_id: str
    contingency_position: str | None
    time_ms: int
    update_time_ms: int
    # None when the row carried `cumQuote`; else how `cum_quote` was worked out (QUOTE_FROM_*), for one log line.
    quote_derived: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def parse(cls, raw: Any) -> Order:
        r = _mapping(raw, "order")
        olid = r.get("orderListId")
        cp = r.get("contingencyOrderPosition")
        price = dec(r, "price")
        executed = dec(r, "executedQty", Decimal(0))
        cum_quote, derived = _quote_total(r, price, executed)
        return cls(
            order_id=ident(r, "orderId"),
            symbol=text(r, "symbol"),
            side=text(r, "side"),
            status=text(r, "status"),
            price=price,
            orig_qty=dec(r, "origQty", Decimal(0)),
            executed_qty=executed,
            cum_quote=cum_quote,
            # Missing (open-order rows, alpha-api.md §2.4) is unknown, not "-1" (a plain order): an OTO leg listed
            # without its list id must stay adoptable, and a "-1" is never taken for one (issue 19).
            order_list_id=str(olid) if olid not in (None, "") else "",
            contingency_position=cp if isinstance(cp, str) else None,
            time_ms=integer(r, "time", integer(r, "workingTime", 0)),
            update_time_ms=integer(r, "updateTime", 0),
            quote_derived=derived,
        )


def _quote_total(r: Mapping[str, Any], price: Decimal, executed: Decimal) -> tuple[Decimal, str | None]:
    """The row's `cumQuote`; an older row without it (§7.7, S3) is valued at avgPrice × executedQty, else at the
    limit price × executedQty. Never 0 for a filled quantity: that booked a real SELL as nothing received."""
    if r.get("cumQuote") not in (None, "") or executed == 0:
        return dec(r, "cumQuote", Decimal(0)), None
    avg = dec(r, "avgPrice", Decimal(0))
    return (avg * executed, QUOTE_FROM_AVG_PRICE) if avg > 0 else (price * executed, QUOTE_FROM_PRICE)


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One fill row from get-user-trades. `trade_id` repeats across sub-fills: never a key alone."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int

    @classmethod
    def parse(cls, raw: Any) -> UserTrade:
        r = _mapping(raw, "trade")
        return cls(
            trade_id=ident(r, "id") if r.get("id") not in (None, "") else ident(r, "tradeId"),
            order_id=ident(r, "orderId"),
            symbol=text(r, "symbol"),
            side=text(r, "side"),
            price=dec(r, "price"),
            qty=dec(r, "qty"),
            quote_qty=dec(r, "quoteQty"),
            commission=dec(r, "commission", Decimal(0)),
            commission_asset=text(r, "commissionAsset", ""),
            time_ms=integer(r, "time", 0),
        )


@dataclass(frozen=True, slots=True)
class OtoPlaced:
    """The two order ids one OTO place created (numbers on the wire, str here)."""

    working_order_id: str
    pending_order_id: str

    @classmethod
    def parse(cls, raw: Any) -> OtoPlaced:
        r = _mapping(raw, "OTO place result")
        return cls(working_order_id=ident(r, "workingOrderId"), pending_order_id=ident(r, "pendingOrderId"))


@dataclass(frozen=True, slots=True)
class Bucket:
    """One wallet bucket of an asset in get-wallet-asset (spot, funding or earn); `locked` includes `freeze`."""

    free: Decimal
    locked: Decimal

    @classmethod
    def parse(cls, raw: Any, what: str) -> Bucket | None:
        """None when the wire sent null: any bucket may be (alpha-api.md §2.4, §7.3b)."""
        if raw is None:
            return None
        r = _mapping(raw, what)
        return cls(free=dec(r, "free", Decimal(0)), locked=dec(r, "locked", Decimal(0)) + dec(r, "freeze", Decimal(0)))


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One asset's balance: `asset` is an alphaId (`ALPHA_22`) or a quote asset (`USDT`).

    For a quote asset (get-wallet-asset) the three buckets are kept as sent, and `free`/`locked` are the
    **funding** bucket's: that is what Alpha BUYs (`paymentWalletType` CARD) spend (§7.3b: `"spot": null`).
    """

    asset: str
    free: Decimal
    locked: Decimal
    spot: Bucket | None = None
    funding: Bucket | None = None
    earn: Bucket | None = None

    @property
    def total(self) -> Decimal:
        return self.free + self.locked

    @classmethod
    def parse_alpha(cls, raw: Any) -> AssetBalance:
        r = _mapping(raw, "alpha wallet item")
        locked = dec(r, "locked", Decimal(0)) + dec(r, "freeze", Decimal(0))
        return cls(asset=text(r, "tokenId"), free=dec(r, "free", Decimal(0)), locked=locked)

    @classmethod
    def parse_wallet_asset(cls, raw: Any) -> AssetBalance:
        """get-wallet-asset item: spendable quote is the funding bucket (S2's `usdt_funding_free`), never spot."""
        r = _mapping(raw, "wallet asset")
        asset = text(r, "asset")
        spot = Bucket.parse(r.get("spot"), f"{asset} spot bucket")
        funding = Bucket.parse(r.get("funding"), f"{asset} funding bucket")
        earn = Bucket.parse(r.get("earn"), f"{asset} earn bucket")
        pays = funding or Bucket(Decimal(0), Decimal(0))
        return cls(asset=asset, free=pays.free, locked=pays.locked, spot=spot, funding=funding, earn=earn)

    def buckets(self) -> dict[str, Bucket | None]:
        """Funding (what orders spend), spot and earn, in the order an operator should read them."""
        return {"funding": self.funding, "spot": self.spot, "earn": self.earn}

    def shortfall_hint(self, need: Decimal) -> str | None:
        """None when funding covers `need`; else one sentence naming every bucket and where the money sits."""
        if self.free >= need:
            return None
        a = self.asset
        held = ", ".join(f"{name} {'null' if b is None else format(b.free, 'f') + ' ' + a}"
                         for name, b in self.buckets().items())
        parts = [f"Alpha orders pay from the Funding wallet, which has {format(self.free, 'f')} {a} free of "
                 f"{format(need, 'f')} {a} needed (free by bucket: {held})"]
        if self.spot is not None and self.spot.free > 0:
            parts.append(f"{format(self.spot.free, 'f')} {a} sits in Spot; transfer it to Funding")
        if self.earn is not None and self.earn.free > 0:
            # UNCERTAIN (alpha-api.md §2.4): whether Earn can pay a CARD order is unknown; S2 saw Binance
            # sweep idle funding USDT into flexible Earn by itself.
            parts.append(f"{format(self.earn.free, 'f')} {a} sits in Earn; redeem it to Funding")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class UserVolume:
    """Today's Alpha volume as the exchange reports it (may include the token multiplier, lags)."""

    total: Decimal
    by_token: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> UserVolume:
        r = _mapping(raw, "user volume")
        by_token: dict[str, Decimal] = {}
        for item in r.get("tradeVolumeInfoList") or []:
            if isinstance(item, Mapping) and item.get("tokenName"):
                by_token[str(item["tokenName"])] = dec(item, "volume", Decimal(0))
        return cls(total=dec(r, "totalVolume", Decimal(0)), by_token=by_token)


def parse_listen_key(data: Any, body: Mapping[str, Any]) -> str:
    """The listen key wherever a response variant puts it (alpha-api.md §2.4: parse defensively)."""
    if isinstance(data, str) and data:
        return data
    if isinstance(data, Mapping) and isinstance(data.get("listenKey"), str):
        return str(data["listenKey"])
    if isinstance(body.get("listenKey"), str):
        return str(body["listenKey"])
    raise MalformedMessage("listen key response carries no key")
