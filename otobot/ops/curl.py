"""Parse a browser "Copy as cURL" of an Alpha request into Credentials: cookie jar, csrftoken, session headers."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

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

# One piece of a bash word per match, tried left to right from the current position: the scan is linear in the
# text (shlex builds each word a character at a time, quadratic in a multi-MB cookie). `$'...'` is the quoting
# Chrome uses for odd bytes; a lone `$` is plain text.
_PIECE = re.compile(r"""
    (?P<space>\s+)
  | \$'(?P<ansi>(?:[^'\\]|\\.)*)'
  | '(?P<single>[^']*)'
  | "(?P<double>(?:[^"\\]|\\.)*)"
  | \\(?P<escaped>.)
  | (?P<plain>[^\s'"\\$]+|\$)
""", re.VERBOSE | re.DOTALL)
_DOUBLE_ESCAPE = re.compile(r'\\([$`"\\\n])')  # inside "...", bash drops the backslash before these only


class CurlParseError(ValueError):
    """The text is not a usable cURL command; the message says what is missing and how to get it."""


@dataclass(frozen=True, slots=True)
class CurlRequest:
    """What a pasted cURL holds that otobot uses: the session, and the URL it was sent to (to warn on a stray host)."""

    credentials: Credentials
    url: str

    def host_warning(self) -> str | None:
        """A sentence when the request did not go to binance.com (a copy from the wrong tab); None when it did."""
        try:
            host = (urlsplit(self.url).hostname or "").lower()
        except ValueError:
            host = ""
        if host == "binance.com" or host.endswith(".binance.com"):
            return None
        return (f"warning: the cURL was sent to {host or self.url[:60] or 'no URL'!r}, not binance.com; the cookies "
                "are for that site: check that you copied a request of binance.com/alpha")


def parse_curl(text: str) -> Credentials:
    """Cookies from `-b`/`--cookie` or a `cookie:` header, `csrftoken`, and the headers that describe the session."""
    return parse_curl_request(text).credentials


def parse_curl_request(text: str) -> CurlRequest:
    """parse_curl, plus the request's URL."""
    headers, cookie, url = _scan(_words(text))
    cookie = cookie or headers.get("cookie", "")
    csrftoken = headers.get("csrftoken", "")
    if not csrftoken:
        raise CurlParseError(f"no csrftoken header found in the cURL text: {HOW}")
    if not cookie:
        raise CurlParseError(f"no cookie found in the cURL text (neither -b '...' nor a 'cookie:' header): {HOW}")
    if "=" not in cookie:
        raise CurlParseError(f"the cookie argument {cookie[:40]!r} is not a 'name=value; ...' cookie jar: {HOW}")
    kept = {name: value for name, value in headers.items() if keep_header(name)}
    return CurlRequest(Credentials(cookie=cookie, csrftoken=csrftoken, headers=kept), url)


def keep_header(name: str) -> bool:
    """A session header worth replaying (user-agent, bnc-uuid, device-info, fvideo-*, lang, x-passthrough-token...)."""
    name = name.lower()
    return not (name in TRANSPORT_HEADERS or name in PER_REQUEST_HEADERS or name == "csrftoken"
                or name.startswith(("sec-", ":")))


def _words(text: str) -> list[str]:
    text = text.strip()
    if not re.match(r"curl(\.exe)?(\s|$)", text):
        raise CurlParseError(f"the text does not start with `curl`: {HOW}")
    if '^"' in text:  # Windows cmd flavour: ^ escapes the next character, a trailing ^ continues the line
        text = re.sub(r"\^\r?\n", " ", text)
        text = re.sub(r"\^(.)", r"\1", text)
    text = re.sub(r"\\\r?\n", " ", text)  # bash line continuations
    return _split(text)


def _split(text: str) -> list[str]:
    """bash word splitting with its quotes and escapes (what shlex.split does, in linear time)."""
    words: list[str] = []
    word: list[str] | None = None  # None between words; [] is an empty word like ''
    pos = 0
    while pos < len(text):
        m = _PIECE.match(text, pos)
        if m is None:
            quote = {"'": "a single quote", '"': "a double quote", "\\": "a backslash"}.get(text[pos], text[pos])
            raise CurlParseError(f"the cURL text does not parse ({quote} at character {pos + 1} is not closed; "
                                 f"was it cut short?): {HOW}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "space":
            if word is not None:
                words.append("".join(word))
            word = None
            continue
        piece = m.group(kind or "plain")
        if kind == "ansi":
            piece = _ansi_c(piece)
        elif kind == "double":
            piece = _DOUBLE_ESCAPE.sub(lambda e: "" if e.group(1) == "\n" else e.group(1), piece)
        word = word if word is not None else []
        word.append(piece)
    if word is not None:
        words.append("".join(word))
    return words


def _ansi_c(body: str) -> str:
    """The value of a bash $'...' string: \\' \\n \\t \\xHH \\uXXXX escapes decoded."""
    return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")


def _scan(words: list[str]) -> tuple[dict[str, str], str, str]:
    headers: dict[str, str] = {}
    cookie = ""
    url = ""
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
        elif word == "--url":
            url = url or arg
            i += 2
        elif word in _WITH_ARGUMENT:
            i += 2
        else:
            if not url and not word.startswith("-"):
                url = word
            i += 1
    return headers, cookie, url
