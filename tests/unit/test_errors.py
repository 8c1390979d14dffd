"""error_for: one place maps bapi codes, HTTP statuses and headers to typed errors (alpha-api.md §2.1, §2.6)."""

from __future__ import annotations

from typing import Any

import pytest

from otobot.exchange import protocol
from otobot.exchange.errors import (
    AuthExpired,
    BelowMinNotional,
    BusinessError,
    ExchangeError,
    InsufficientBalance,
    OrderNotFound,
    RateLimited,
    RiskChallenge,
    ServerError,
    error_for,
)

AUTH_EXPIRED_BODY = '{"code":"100002001","message":"登录状态已经失效，请重新登录！","success":false}'  # §7.3


def failure(code: str, message: str | None = "nope") -> dict[str, Any]:
    return {"code": code, "message": message, "messageDetail": None, "data": None, "success": False}


@pytest.mark.parametrize("body", [
    protocol.envelope({"workingOrderId": 1, "pendingOrderId": 2}),
    {"code": "000000", "message": None, "messageDetail": None, "data": None, "success": True},  # §7.2 cancel
    {"code": "000000", "message": None, "data": "2461654", "success": True},
])
def test_a_success_envelope_is_no_error(body: dict[str, Any]) -> None:
    assert error_for(200, body, {}) is None


def test_the_captured_auth_expired_body_is_auth_expired_with_its_code_and_message() -> None:
    err = error_for(200, protocol.loads(AUTH_EXPIRED_BODY), {})
    assert isinstance(err, AuthExpired)
    assert err.code == "100002001"
    assert err.message == "登录状态已经失效，请重新登录！"
    assert str(err) == "登录状态已经失效，请重新登录！, code 100002001, HTTP 200"


def test_the_abnormal_status_code_is_handled_as_auth_expiry() -> None:
    assert isinstance(error_for(200, failure("100001005"), {}), AuthExpired)


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_and_403_mean_the_session_expired_whatever_the_body(status: int) -> None:
    err = error_for(status, "<html>denied</html>", {})
    assert isinstance(err, AuthExpired) and err.http_status == status


def test_insufficient_balance_and_below_min_notional_are_typed() -> None:
    err = error_for(200, failure("481020", "余额不足"), {})
    assert isinstance(err, InsufficientBalance) and err.code == "481020" and err.message == "余额不足"
    err = error_for(200, failure("481013", "Total must be greater than 0.1"), {})
    assert isinstance(err, BelowMinNotional) and "greater than 0.1" in str(err)


def test_the_order_not_found_code_is_typed() -> None:
    assert isinstance(error_for(200, failure("481004"), {}), OrderNotFound)


def test_http_429_honours_retry_after_in_seconds() -> None:
    err = error_for(429, None, {"Retry-After": "7"})
    assert isinstance(err, RateLimited) and err.retry_after == 7.0 and err.http_status == 429
    lower = error_for(429, None, {"retry-after": "1.5"})
    assert isinstance(lower, RateLimited) and lower.retry_after == 1.5


@pytest.mark.parametrize(("headers", "expected"), [({}, None), ({"Retry-After": "soon"}, None),
                                                   ({"Retry-After": "-3"}, 0.0)])
def test_a_missing_unreadable_or_negative_retry_after_is_none_or_zero(headers: dict[str, str],
                                                                        expected: float | None) -> None:
    err = error_for(429, None, headers)
    assert isinstance(err, RateLimited) and err.retry_after == expected


def test_http_418_is_rate_limiting_too() -> None:
    assert isinstance(error_for(418, None, {}), RateLimited)


def test_the_risk_challenge_header_wins_over_the_body_and_keeps_the_biz_no() -> None:
    headers = {"risk_challenge_biz_no": "biz-42", "risk_challenge_enable_flow": "true"}
    err = error_for(200, protocol.envelope(None), headers)
    assert isinstance(err, RiskChallenge) and err.biz_no == "biz-42"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_a_server_error(status: int) -> None:
    err = error_for(status, {"code": "481020", "success": False}, {})
    assert isinstance(err, ServerError) and err.http_status == status


def test_a_body_that_is_not_an_envelope_is_a_server_error() -> None:
    assert isinstance(error_for(200, "<html>", {}), ServerError)
    assert isinstance(error_for(200, {"unexpected": 1}, {}), ServerError)


def test_an_unknown_code_is_a_business_error_keeping_code_and_message() -> None:
    err = error_for(200, failure("351022", "something odd"), {})
    assert type(err) is BusinessError
    assert (err.code, err.message) == ("351022", "something odd")
    assert "351022" in str(err) and "something odd" in str(err)


def test_a_numeric_code_is_compared_as_its_text() -> None:
    err = error_for(200, {"code": 481020, "message": "x", "success": False}, {})
    assert isinstance(err, InsufficientBalance) and err.code == "481020"


def test_message_detail_is_used_when_message_is_empty() -> None:
    err = error_for(200, {"code": "999", "message": "", "messageDetail": "detail here", "success": False}, {})
    assert isinstance(err, BusinessError) and err.message == "detail here"


@pytest.mark.parametrize("message", ["请检查是否已登录", "用户登录状态已经失效"])
def test_an_auth_hint_in_the_message_is_auth_expired_whatever_the_code(message: str) -> None:
    assert isinstance(error_for(200, failure("123", message), {}), AuthExpired)


def test_the_extra_verification_message_is_a_risk_challenge() -> None:
    err = error_for(200, failure("100001003", "补充认证失败，您必须完成此认证才能进入下一步"), {})
    assert isinstance(err, RiskChallenge) and err.biz_no is None and err.code == "100001003"


def test_every_typed_error_is_an_exchange_error() -> None:
    for err in (error_for(401, None, {}), error_for(429, None, {}), error_for(500, None, {}),
                error_for(200, failure("1"), {}), error_for(200, failure("481020"), {})):
        assert isinstance(err, ExchangeError)
