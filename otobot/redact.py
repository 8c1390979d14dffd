"""Log redaction: every known secret and anything that looks like a cookie or csrftoken header becomes ***."""

from __future__ import annotations

import re

_HEADERISH = re.compile(
    r"(?i)\b(cookie|csrftoken|fvideo-token|x-passthrough-token)(['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)")


class Redactor:
    """Holds the secrets of every loaded session; one compiled alternation, rebuilt only when they change."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        if len(secret) >= 6 and secret not in self._secrets:
            self._secrets.add(secret)
            self._pattern = None

    def remove(self, secret: str) -> None:
        self._secrets.discard(secret)
        self._pattern = None

    def redact(self, text: str) -> str:
        if self._secrets:
            if self._pattern is None:
                # Longest first, so a cookie jar is replaced whole before its own parts are.
                alternatives = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))
            text = self._pattern.sub("***", text)
        return _HEADERISH.sub(r"\1\2***", text)
