"""Secrets never reach a log line: messages, extras and exception tracebacks."""

from __future__ import annotations

import secrets

import pytest
from loguru import logger

from otobot.exchange.credentials import Credentials
from otobot.ops.redact import Redactor, patcher, redacting_sink

JAR = "cr00=AAAAcookieValue001; p20t=web.777.BBBBsession; lang=en"
CSRF = "0123456789abcdef0123456789abcdef"


def test_known_secrets_are_masked_longest_first() -> None:
    r = Redactor([JAR, "AAAAcookieValue001", CSRF])

    assert r.redact(f"sent cookie jar [{JAR}]") == "sent cookie jar [***]"
    assert r.redact("value AAAAcookieValue001 leaked") == "value *** leaked"
    assert r.redact(f"{CSRF}{CSRF}") == "******"


def test_short_values_are_not_secrets_worth_blanking_words_for() -> None:
    r = Redactor(["en", "abc12"])

    assert r.redact("lang en, id abc12") == "lang en, id abc12"
    assert len(r) == 0


def test_remove_forgets_a_secret() -> None:
    r = Redactor()
    r.add(CSRF)
    assert r.redact(CSRF) == "***"

    r.remove(CSRF)

    assert r.redact(CSRF) == CSRF


def test_header_looking_text_is_masked_even_for_unknown_secrets() -> None:
    r = Redactor()

    assert r.redact("cookie: a=1; b=2\nnext line") == "cookie: ***\nnext line"
    assert r.redact('{"csrftoken": "feedface", "x": 1}') == '{"csrftoken": "***", "x": 1}'
    assert r.redact("{'cookie': 'a=1; b=2', 'lang': 'en'}") == "{'cookie': '***', 'lang': 'en'}"
    assert r.redact("x-passthrough-token=abc123 done") == "x-passthrough-token=*** done"
    assert r.redact("csrftoken: feedface sent") == "csrftoken: *** sent"
    assert r.redact("Credentials(cookies=3, headers=['lang'])") == "Credentials(cookies=3, headers=['lang'])"


def test_credentials_secrets_cover_every_cookie_value() -> None:
    creds = Credentials(cookie=JAR, csrftoken=CSRF, headers={"fvideo-token": "FVTOKEN-xyz", "lang": "en"})
    r = Redactor(creds.secrets())

    out = r.redact("p20t was web.777.BBBBsession, token FVTOKEN-xyz, lang en")

    assert out == "p20t was ***, token ***, lang en"


def test_redacting_sink_masks_the_message_and_the_exception_traceback() -> None:
    r = Redactor([CSRF, "AAAAcookieValue001"])
    lines: list[str] = []
    logger.remove()
    logger.add(redacting_sink(r, lines.append), format="{message}\n{exception}", backtrace=True, diagnose=True)

    def place(token: str) -> None:
        raise RuntimeError(f"order rejected for session {token}")

    try:
        place(CSRF)
    except RuntimeError:
        logger.exception("Placing failed with cookie AAAAcookieValue001")

    text = "".join(lines)
    assert "RuntimeError: order rejected for session ***" in text
    assert "Placing failed with cookie ***" in text
    assert "Traceback" in text
    assert CSRF not in text and "AAAAcookieValue001" not in text  # diagnose=True dumps `token`: masked too


def test_patcher_masks_message_extras_and_folds_the_exception_in() -> None:
    r = Redactor([CSRF])
    lines: list[str] = []
    logger.remove()
    logger.add(lines.append, format="{message} [{extra[ctx]}]\n{exception}", backtrace=True, diagnose=True)
    log = logger.patch(patcher(r)).bind(ctx=f"csrf={CSRF}")

    try:
        raise ValueError(f"bad token {CSRF}")
    except ValueError:
        log.exception("Request with {} failed", CSRF)

    text = "".join(lines)
    assert text.startswith("Request with *** failed\nTraceback")
    assert "ValueError: bad token ***" in text
    assert "[csrf=***]" in text
    assert CSRF not in text


def test_a_thousand_users_secrets_are_all_found_and_plain_lines_left_alone() -> None:
    # Speed is a benchmark matter (no timed assertions here); this checks correctness at that scale.
    r = Redactor()
    every: list[str] = []
    for _ in range(1000):
        values = [secrets.token_urlsafe(24) for _ in range(12)]
        jar = "; ".join(f"c{i}={v}" for i, v in enumerate(values))
        every += [jar, secrets.token_hex(16), *values]
    r.add_all(every)
    line = ("2026-05-21 12:00:00.000 INFO    [alice#12] Placed OTO buy 1779676 @ 0.000005619, sell @ 0.0000058 "
            "(working 2465664, pending 2465665) in 0.231 s")

    for _ in range(20):
        assert r.redact(line) == line
    assert r.redact(f"leak {every[7000]} and {every[13001]}!") == "leak *** and ***!"


@pytest.mark.parametrize("secret", ["a.b*c+d?(x)", "[abc]{2}^$|\\"])
def test_regex_metacharacters_in_secrets_are_literal(secret: str) -> None:
    r = Redactor([secret])

    assert r.redact(f"x{secret}y") == "x***y"
    assert r.redact("abcabc") == "abcabc"
