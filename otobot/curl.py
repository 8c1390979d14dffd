"""Parse a browser "Copy as cURL" of an Alpha request into Credentials: cookie jar, csrftoken, session headers."""

from __future__ import annotations

import codecs
import re
import shlex

from otobot.exchange.credentials import Credentials
from otobot.exchange.protocol import TRANSPORT_HEADERS

HOW = "copy the request of an order on binance.com/alpha with 'Copy as cURL (bash)'"

# Per-request or per-page headers: replaying them is useless at best (tracing ids, the body's type, the fixed
# `clienttype` that Credentials.request_headers adds itself) and, for transport ones, makes Binance reject calls.
PER_REQUEST_HEADERS = frozenset(
    {"content-type", "clienttype", "referer", "baggage", "sentry-trace", "traceparent", "x-trace-id",
     "x-ui-request-trace", "cache-control", "pragma", "upgrade-insecure-requests", "dnt"}
)

# curl options whose next word is their argument: skipped so the argument is not mistaken for the URL.
_WITH_ARGUMENT = frozenset(
    {"-X", "--request", "-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--data-urlencode",
     "--url", "-e", "--referer", "-o", "--output", "-u", "--user", "-x", "--proxy", "-m", "--max-time",
     "--connect-timeout", "-w", "--write-out"}
)

_ANSI_C = re.compile(r"(?<!\S)\$'((?:[^'\\]|\\.)*)'", re.DOTALL)  # bash $'...' quoting Chrome uses for odd bytes


class CurlParseError(ValueError):
    """The text is not a usable cURL command; the message says what is missing and how to get it."""


def parse_curl(text: str) -> Credentials:
    """Cookies from `-b`/`--cookie` or a `cookie:` header, `csrftoken`, and the headers that describe the session."""
    headers, cookie = _scan(_words(text))
    cookie = cookie or headers.get("cookie", "")
    csrftoken = headers.get("csrftoken", "")
    if not csrftoken:
        raise CurlParseError(f"no csrftoken header found in the cURL text: {HOW}")
    if not cookie:
        raise CurlParseError(f"no cookie found in the cURL text (neither -b '...' nor a 'cookie:' header): {HOW}")
    if "=" not in cookie:
        raise CurlParseError(f"the cookie argument {cookie[:40]!r} is not a 'name=value; ...' cookie jar: {HOW}")
    kept = {name: value for name, value in headers.items() if keep_header(name)}
    return Credentials(cookie=cookie, csrftoken=csrftoken, headers=kept)


def keep_header(name: str) -> bool:
    """A session header worth replaying (user-agent, bnc-uuid, device-info, fvideo-*, lang, x-passthrough-token...)."""
    name = name.lower()
    return not (name in TRANSPORT_HEADERS or name in PER_REQUEST_HEADERS or name == "csrftoken"
                or name.startswith(("sec-", ":")))


def _words(text: str) -> list[str]:
    text = text.strip()
    if '^"' in text:  # Windows cmd flavour: ^ escapes the next character, a trailing ^ continues the line
        text = re.sub(r"\^\r?\n", " ", text)
        text = re.sub(r"\^(.)", r"\1", text)
    text = re.sub(r"\\\r?\n", " ", text)  # bash line continuations
    text = _ANSI_C.sub(lambda m: shlex.quote(_ansi_c(m.group(1))), text)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CurlParseError(f"the cURL text does not parse ({exc}; was it cut short?): {HOW}") from None
    if not words or words[0] not in ("curl", "curl.exe"):
        raise CurlParseError(f"the text does not start with `curl`: {HOW}")
    return words


def _ansi_c(body: str) -> str:
    """The value of a bash $'...' string: \\' \\n \\t \\xHH \\uXXXX escapes decoded."""
    return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")


def _scan(words: list[str]) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    cookie = ""
    i = 1
    while i < len(words):
        word = words[i]
        arg = words[i + 1] if i + 1 < len(words) else ""
        if word in ("-H", "--header"):
            name, sep, value = arg.partition(":")
            if sep and name.strip():
                headers[name.strip().lower()] = value.strip()
            i += 2
        elif word in ("-b", "--cookie"):
            cookie = arg.strip()
            i += 2
        elif word in ("-A", "--user-agent"):
            headers["user-agent"] = arg.strip()
            i += 2
        elif word in _WITH_ARGUMENT:
            i += 2
        else:
            i += 1
    return headers, cookie
