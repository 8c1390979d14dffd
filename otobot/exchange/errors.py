"""Typed exchange errors, mapped from bapi codes, HTTP statuses and headers in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otobot.exchange.protocol import SUCCESS_CODE

# Codes seen in public sources (alpha-api.md §2.6).
AUTH_EXPIRED = "100002001"
ABNORMAL_STATUS = "100001005"  # S6 treats it as logged out; meaning UNCERTAIN, handled as auth expiry.
INSUFFICIENT_BALANCE = "481020"
BELOW_MIN_NOTIONAL = "481013"
# Codes no capture has recorded. The simulator uses these; the client only relies on them through
# the generic BusinessError path, so a different real code cannot be misread as something else.
ILLEGAL_PARAMETER = "000002"  # UNCERTAIN: the generic bapi "illegal parameter" code.
ORDER_NOT_FOUND = "481004"  # UNCERTAIN: cancel of an unknown, filled or already cancelled order.
# Sent by otobot's paper simulator only (#25), never by the exchange: the market it mirrors is gone.
PAPER_MARKET_HALTED = "900025"

AUTH_MESSAGE_HINTS = ("请检查是否已登录", "登录状态已经失效")
RISK_MESSAGE_HINTS = ("补充认证失败",)


class ExchangeError(Exception):
    """Anything the exchange answered that is not success. `code` is the bapi string code, if any."""

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code {self.code}")
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        return ", ".join(parts)


class AuthExpired(ExchangeError):
    """The cookie session is no longer logged in: the user must capture fresh credentials."""


class RiskChallenge(ExchangeError):
    """The exchange asks for 2FA / face verification; otobot never answers it, it pauses the user."""

    def __init__(self, message: str, *, biz_no: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.biz_no = biz_no


class InsufficientBalance(ExchangeError):
    """Not enough quote (or base) balance for the order."""


class BelowMinNotional(ExchangeError):
    """Order value below the symbol's minimum notional."""


class OrderNotFound(ExchangeError):
    """Cancel or query of an order the exchange no longer has open (filled, cancelled or unknown)."""


class MarketHalted(ExchangeError):
    """A paper simulator (#25) refuses orders: the exchange whose market it mirrors is out of reach."""


class RateLimited(ExchangeError):
    """HTTP 429/418: slow down; `retry_after` seconds when the server said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ExchangeError):
    """HTTP 5xx or an unparseable body from a request that did not change state (safe to retry)."""


class BusinessError(ExchangeError):
    """A bapi error code otobot has no special meaning for; kept with its code and message."""


class UnknownOutcome(ExchangeError):
    """A state-changing request was (maybe) sent but no trustworthy answer came back.

    It is not a failure: the order may exist. The caller must reconcile before placing anything.
    """


class MalformedMessage(ValueError):
    """A frame or body that does not have the shape the contract promises."""


_CODE_TO_ERROR: dict[str, type[ExchangeError]] = {
    AUTH_EXPIRED: AuthExpired,
    ABNORMAL_STATUS: AuthExpired,
    INSUFFICIENT_BALANCE: InsufficientBalance,
    BELOW_MIN_NOTIONAL: BelowMinNotional,
    ORDER_NOT_FOUND: OrderNotFound,
    PAPER_MARKET_HALTED: MarketHalted,
}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for(http_status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
    """The typed error a response stands for, or None when it is a success envelope."""
    biz_no = headers.get("risk_challenge_biz_no")
    if biz_no:
        return RiskChallenge("risk challenge (2FA/verification) required", biz_no=biz_no, http_status=http_status)
    if http_status in (429, 418):
        return RateLimited("rate limited", retry_after=_retry_after(headers), http_status=http_status)
    if http_status in (401, 403):
        return AuthExpired("not logged in", http_status=http_status)
    if http_status >= 500:
        return ServerError("server error", http_status=http_status)
    if not isinstance(body, dict):
        return ServerError("response body is not a bapi envelope", http_status=http_status)
    code = body.get("code")
    code = str(code) if code is not None else None
    success = body.get("success")
    if success is True and code in (None, SUCCESS_CODE):
        return None
    if success is None and code == SUCCESS_CODE:  # S13 (alpha-api.md §7.7): official agg-trades has no `success`
        return None
    if set(body) == {"data"}:  # UNCERTAIN: the §7.6 fullDepth capture is `{"data": …}` without code/success
        return None
    message = str(body.get("message") or body.get("messageDetail") or "no message")
    if code is None and body.get("success") is None:
        return ServerError("response body is not a bapi envelope", http_status=http_status)
    if any(h in message for h in AUTH_MESSAGE_HINTS):
        return AuthExpired(message, code=code, http_status=http_status)
    if any(h in message for h in RISK_MESSAGE_HINTS):
        return RiskChallenge(message, code=code, http_status=http_status)
    cls = _CODE_TO_ERROR.get(code or "", BusinessError)
    return cls(message, code=code, http_status=http_status)
