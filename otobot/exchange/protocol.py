"""Paths, stream names, the bapi envelope and Decimal-exact JSON: the facts both client and simulator share."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

REAL_REST_URL = "https://www.binance.com"
REAL_MARKET_WS_URL = "wss://nbstream.binance.com/w3w/wsa/stream"
REAL_USER_WS_URL = "wss://nbstream.binance.com/w3w/stream"

SUCCESS_CODE = "000000"

# Public (no cookies).
TOKEN_LIST = "/bapi/defi/v1/public/wallet-direct/buw/wallet/cex/alpha/all/token/list"
EXCHANGE_INFO = "/bapi/defi/v1/public/alpha-trade/get-exchange-info"
TICKER = "/bapi/defi/v1/public/alpha-trade/ticker"
AGG_TRADES = "/bapi/defi/v1/public/alpha-trade/agg-trades"
FULL_DEPTH = "/bapi/defi/v1/public/alpha-trade/fullDepth"

# Private (cookie session).
PLACE_ORDER = "/bapi/asset/v1/private/alpha-trade/order/place"
PLACE_OTO = "/bapi/asset/v1/private/alpha-trade/oto-order/place"
CANCEL_ORDER = "/bapi/defi/v1/private/alpha-trade/order/cancel"
OPEN_ORDERS = "/bapi/defi/v1/private/alpha-trade/order/get-open-order"
ORDER_HISTORY = "/bapi/defi/v1/private/alpha-trade/order/get-order-history-merge"
USER_TRADES = "/bapi/defi/v1/private/alpha-trade/order/get-user-trades"
ALPHA_WALLET = "/bapi/defi/v1/private/wallet-direct/cloud-wallet/alpha"
WALLET_ASSET = "/bapi/asset/v3/private/asset-service/asset/get-wallet-asset"
USER_VOLUME = "/bapi/defi/v1/private/wallet-direct/buw/wallet/today/user-volume"
LISTEN_KEY = "/bapi/defi/v1/private/alpha-trade/get-listen-key"
USER_BASE_INFO = "/bapi/accounts/v1/private/account/get-user-base-info"

# Response header that announces a 2FA/risk challenge on order place (alpha-api.md §2.6, §3.4).
RISK_CHALLENGE_HEADER = "risk_challenge_biz_no"

# Headers a captured browser request may carry that must never be replayed (they describe one
# HTTP transport, not the session, and S2 saw them make Binance reject calls).
TRANSPORT_HEADERS = frozenset(
    {"content-length", "host", ":authority", ":method", ":path", ":scheme", "origin", "connection",
     "accept-encoding", "cookie", "priority", "te", "transfer-encoding"}
)

USER_STREAM_PREFIX = "alpha@"
ORDER_HISTORY_STATUSES = "FILLED,PARTIALLY_FILLED,EXPIRED,CANCELED,REJECTED"


def symbol_for(alpha_id: str, quote: str) -> str:
    """`ALPHA_22` + `USDT` → `ALPHA_22USDT`."""
    return f"{alpha_id}{quote}"


def agg_trade_stream(symbol: str) -> str:
    return f"{symbol.lower()}@aggTrade"


# Book streams (alpha-api.md §4.1): the kind is what follows `<symbol>@`.
BOOK_TICKER = "bookTicker"
FULL_DEPTH_0MS = "fulldepth@0ms"
FULL_DEPTH_100MS = "fulldepth@100ms"
FULL_DEPTH_500MS = "fulldepth@500ms"
BOOK_STREAM_KINDS = frozenset({BOOK_TICKER, FULL_DEPTH_0MS, FULL_DEPTH_100MS, FULL_DEPTH_500MS})


def book_ticker_stream(symbol: str) -> str:
    return f"{symbol.lower()}@{BOOK_TICKER}"


def full_depth_stream(symbol: str, speed: str = FULL_DEPTH_100MS) -> str:
    return f"{symbol.lower()}@{speed}"


def book_stream_kind(stream: str) -> str | None:
    """`alpha_22usdt@fulldepth@100ms` → `fulldepth@100ms`; None for a stream that is not a book stream."""
    kind = stream.split("@", 1)[1] if "@" in stream else ""
    return kind if kind in BOOK_STREAM_KINDS else None


def user_stream(listen_key: str) -> str:
    return f"{USER_STREAM_PREFIX}{listen_key}"


# One decoder for the process: `json.loads(..., parse_float=...)` builds a new JSONDecoder (and its scanner) on
# every call, which profiled at a tenth of the cost of decoding an executionReport. The decoder keeps no state
# between calls, so sharing it is safe.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal: a price never passes through float."""
    if not isinstance(text, str):
        text = text.decode(json.detect_encoding(text), "surrogatepass")  # what json.loads does with bytes
    return _DECODER.decode(text)


class _RawNumber(str):
    """A str that json writes unquoted; lets Decimal go out as a JSON number, digit for digit."""


def _encode(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _RawNumber(format(obj, "f"))
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    return obj


def _iterencode(o: Any) -> Any:
    if isinstance(o, _RawNumber):
        yield str.__str__(o)
    elif isinstance(o, dict):
        yield "{"
        for i, (k, v) in enumerate(o.items()):
            if i:
                yield ","
            yield json.dumps(k)
            yield ":"
            yield from _iterencode(v)
        yield "}"
    elif isinstance(o, list):
        yield "["
        for i, v in enumerate(o):
            if i:
                yield ","
            yield from _iterencode(v)
        yield "]"
    else:
        yield json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def _dumps_exact(obj: Any) -> str:
    """The stdlib path of `dumps`: Decimals wrapped as raw numbers, then written by a Python-level encoder."""
    return "".join(_iterencode(_encode(obj)))


def _orjson_dumps() -> Callable[[Any], str] | None:
    """orjson (the `fast` extra) writes the same compact JSON ~10× faster; its Fragment (orjson ≥ 3.9.14) puts a
    Decimal's digits in unquoted, as `_dumps_exact` does. Profiled: every order body cost the daemon ~2 % of its
    CPU in the Python encoder at 100 users, and every frame the simulator sends went through it too."""
    try:
        orjson = importlib.import_module("orjson")
    except ImportError:
        return None
    fragment = getattr(orjson, "Fragment", None)
    if fragment is None:
        return None
    encode_error = orjson.JSONEncodeError

    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return fragment(format(o, "f"))
        raise TypeError(f"{type(o).__name__} is not JSON serializable")

    def fast(obj: Any) -> str:
        try:
            return str(orjson.dumps(obj, default=default).decode())
        except encode_error:  # what orjson refuses (an int wider than 64 bits, a non-str key): the exact path
            return _dumps_exact(obj)

    return fast


_FAST_DUMPS = _orjson_dumps()


def dumps(obj: Any) -> str:
    """Compact JSON in which Decimal values are numbers written exactly (`format(d, "f")`)."""
    if _FAST_DUMPS is not None:
        return _FAST_DUMPS(obj)
    return _dumps_exact(obj)


def envelope(data: Any, code: str = SUCCESS_CODE, message: str | None = None) -> dict[str, Any]:
    """The bapi response envelope (alpha-api.md §2.1)."""
    ok = code == SUCCESS_CODE
    return {"code": code, "message": message, "messageDetail": None, "data": data, "success": ok}
