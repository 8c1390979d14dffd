"""Why a user is paused: the reasons an operator sees, which exchange error means which, and how to clear each."""

from __future__ import annotations

from enum import StrEnum

from otobot.exchange.errors import AuthExpired, ExchangeError, InsufficientBalance, MarketHalted, RiskChallenge


class Pause(StrEnum):
    operator = "operator"
    disconnected = "disconnected"
    auth_expired = "auth_expired"
    risk_challenge = "risk_challenge"
    insufficient_balance = "insufficient_balance"
    config = "config"
    unwind_failed = "unwind_failed"
    rejected = "order_rejected"
    paper_market = "paper_market"  # a paper run (#25): the market the paper simulator mirrors is gone


# Conditions re-checked at start (fresh cookies may have been imported, the balance topped up), not decisions.
CHECKED_AT_START = frozenset({Pause.disconnected, Pause.insufficient_balance, Pause.config, Pause.rejected,
                              Pause.auth_expired, Pause.risk_challenge, Pause.paper_market})
SESSION = frozenset({Pause.auth_expired, Pause.risk_challenge})


def for_error(exc: ExchangeError) -> Pause | None:
    """The pause an exchange error calls for by itself, or None when it is not a reason to pause."""
    if isinstance(exc, RiskChallenge):
        return Pause.risk_challenge
    if isinstance(exc, AuthExpired):
        return Pause.auth_expired
    if isinstance(exc, InsufficientBalance):
        return Pause.insufficient_balance
    if isinstance(exc, MarketHalted):
        return Pause.paper_market
    return None


def help_text(reason: Pause, user: str, *, detail: str = "", quote: str = "USDT", path: str = "") -> str:
    """One paragraph for the log and notifications: what happened and what the operator does about it."""
    resume = f"`otobot ctl resume {user}`"
    if reason is Pause.risk_challenge:
        return (f"the exchange asks for a security verification ({detail}); otobot never answers it. Log in on "
                f"binance.com, complete it, re-import cookies with `otobot creds import {user}`, then {resume}")
    if reason is Pause.auth_expired:
        return (f"the session is logged out ({detail}). Capture a fresh 'Copy as cURL' of an Alpha order, run "
                f"`otobot creds import {user}` (or edit the inline credentials), then {resume}")
    if reason is Pause.insufficient_balance:
        return (f"{detail}: top up {quote} or lower order.quote_amount in {path}, then {resume}")
    if reason is Pause.rejected:
        return f"the exchange rejected the order ({detail}); check {path}, then {resume}"
    if reason is Pause.unwind_failed:
        return f"{detail}; sell it by hand or widen unwind.ladder_pct in {path}, then {resume}"
    if reason is Pause.config:
        return f"{detail}; edit {path} and send SIGHUP"
    if reason is Pause.paper_market:
        return f"{detail}; {resume} once the paper simulator's GET /_sim/upstream says it is up again"
    return detail
