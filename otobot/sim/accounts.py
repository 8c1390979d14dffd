"""Simulated users: session credentials, balances (free/locked), today's buy volume, and the login check."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from http.cookies import CookieError, SimpleCookie
from typing import Any

from otobot.exchange import errors as codes
from otobot.exchange.filters import fmt

AUTH_EXPIRED_MESSAGE = "登录状态已经失效，请重新登录！"  # the captured text (alpha-api.md §7.3)
SESSION_COOKIE = "p20t"


class SimError(Exception):
    """A business error the server answers with HTTP 200 and this bapi code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def insufficient(asset: str, need: Decimal, free: Decimal) -> SimError:
    return SimError(codes.INSUFFICIENT_BALANCE, f"Insufficient balance: need {need} {asset}, free {free}")


@dataclass
class Account:
    """One user of the simulated exchange. Balances: asset (USDT or an alphaId) → [free, locked].

    `balances["USDT"]` is the bucket CARD payments spend and SELLs credit: get-wallet-asset reports it as
    `funding` (as captured, §7.3b) or, with SimConfig.wallet_quote_bucket "spot", as `spot`. Earn is separate.
    """

    name: str
    csrftoken: str
    session: str  # value of the p20t cookie
    balances: dict[str, list[Decimal]]
    earn: dict[str, Decimal] = field(default_factory=dict)  # asset → flexible Earn (not spendable by orders)
    volume: dict[str, Decimal] = field(default_factory=dict)  # alphaId → today's counted buy volume
    expired: bool = False  # cookies expired (fault injection): every private call fails with 100002001
    listen_key: str | None = None
    key_expires_at: float = 0.0  # time.monotonic() deadline of listen_key

    def free(self, asset: str) -> Decimal:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[0]

    def locked(self, asset: str) -> Decimal:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[1]

    def move(self, asset: str, free: Decimal = Decimal(0), locked: Decimal = Decimal(0)) -> None:
        bal = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        bal[0] += free
        bal[1] += locked

    def lock(self, asset: str, amount: Decimal) -> None:
        """free → locked, or 481020 when free is short (placing an order)."""
        if self.free(asset) < amount:
            raise insufficient(asset, amount, self.free(asset))
        self.move(asset, free=-amount, locked=amount)

    def wallet_assets(self, quote_bucket: str) -> list[dict[str, Any]]:
        """get-wallet-asset `data` with the keys, nulls and string amounts of the §7.3b capture: USDT with
        `spot` null, its spendable money in `funding` (or the reverse, see SimConfig.wallet_quote_bucket), then
        USDC held in Earn only (funding null), like the capture's DOGE item."""
        def bucket(free: Decimal, locked: Decimal = Decimal(0)) -> dict[str, str]:
            return {"free": fmt(free), "locked": fmt(locked), "freeze": "0", "withdrawing": "0"}

        pays = bucket(self.free("USDT"), self.locked("USDT"))
        usdt = {"asset": "USDT", "coinBusinessType": "CRYPTO",
                "spot": pays if quote_bucket == "spot" else None,
                "funding": pays if quote_bucket == "funding" else None,
                "earn": bucket(self.earn.get("USDT", Decimal(0)))}
        usdc = {"asset": "USDC", "coinBusinessType": "CRYPTO", "spot": None, "funding": None,
                "earn": bucket(self.earn.get("USDC", Decimal(0)))}
        return [usdt, usdc]

    def owns_cookie(self, cookie_header: str | None) -> bool:
        """Whether the Cookie header carries this user's session cookie `p20t=<session>` (exact value)."""
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie_header or "")
        except CookieError:
            return False
        morsel = jar.get(SESSION_COOKIE)
        return morsel is not None and morsel.value == self.session


def auth_expired() -> SimError:
    return SimError(codes.AUTH_EXPIRED, AUTH_EXPIRED_MESSAGE)


class Accounts:
    """Every user, indexed by name and by csrftoken; `authenticate` is the login check of private calls."""

    def __init__(self, accounts: list[Account]) -> None:
        self.by_name = {a.name: a for a in accounts}
        self.by_csrf = {a.csrftoken: a for a in accounts}

    def authenticate(self, csrftoken: str | None, cookie: str | None) -> Account:
        account = self.by_csrf.get(csrftoken or "")
        if account is None or account.expired or not account.owns_cookie(cookie):
            raise auth_expired()
        return account
