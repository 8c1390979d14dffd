"""Parse a browser "Copy as cURL" of an Alpha request into Credentials: cookies, csrftoken, session headers."""

from __future__ import annotations

import shlex

from otobot.exchange.credentials import Credentials
from otobot.exchange.protocol import TRANSPORT_HEADERS

HOW = "copy an order request on binance.com/alpha from DevTools → Network with 'Copy as cURL (bash)'"


class CurlParseError(ValueError):
    """The text is not a usable cURL command; the message says what is missing and how to get it."""


def _dropped(name: str) -> bool:
    return name in TRANSPORT_HEADERS or name.startswith("sec-") or name in ("accept", "accept-language", "referer",
                                                                          "content-type", "baggage", "sentry-trace")


def parse_curl(text: str) -> Credentials:
    # Windows cmd flavour escapes with ^; bash flavour continues lines with a backslash.
    cleaned = text.replace("^\"", "\"").replace("^\\^\"", "\"").replace("\\\n", " ").replace("^\n", " ")
    try:
        words = shlex.split(cleaned)
    except ValueError as exc:
        raise CurlParseError(f"the cURL text does not parse ({exc}); {HOW}") from None
    if not words or words[0] != "curl":
        raise CurlParseError(f"the text does not start with `curl`; {HOW}")
    headers: dict[str, str] = {}
    cookie = ""
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-H", "--header") and i + 1 < len(words):
            name, _, value = words[i + 1].partition(":")
            headers[name.strip().lower()] = value.strip()
            i += 2
        elif w in ("-b", "--cookie") and i + 1 < len(words):
            cookie = words[i + 1].strip()
            i += 2
        elif w in ("--data-raw", "--data", "-d", "--data-binary", "-X", "--request") and i + 1 < len(words):
            i += 2
        else:
            i += 1
    cookie = cookie or headers.pop("cookie", "")
    headers.pop("cookie", None)
    csrf = headers.pop("csrftoken", "")
    if not csrf:
        raise CurlParseError(f"no csrftoken header found in the cURL text: {HOW}")
    if not cookie:
        raise CurlParseError(f"no cookies found in the cURL text (-b or a cookie header): {HOW}")
    kept = {k: v for k, v in headers.items() if not _dropped(k) and k != "clienttype"}
    return Credentials(cookie=cookie, csrftoken=csrf, headers=kept)
