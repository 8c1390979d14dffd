"""A user's browser session (cookie jar + csrftoken + device headers), kept out of logs and reprs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from otobot.exchange.protocol import TRANSPORT_HEADERS


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the exchange needs to accept a private call: the Cookie header, csrftoken, other headers."""

    cookie: str
    csrftoken: str
    headers: Mapping[str, str] = field(default_factory=dict)  # user-agent, bnc-uuid, device-info, fvideo-*

    def __repr__(self) -> str:  # secrets never reach a log line or a traceback through repr
        return f"Credentials(cookies={len(self.cookie_names())}, headers={sorted(self.headers)})"

    __str__ = __repr__

    def cookie_names(self) -> list[str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.cookie)
        except Exception:  # a malformed jar still goes out verbatim; we only count names here
            return []
        return list(jar.keys())

    def request_headers(self) -> dict[str, str]:
        """Headers for every private request: session ones first, the fixed ones the page always sends."""
        out = {k: v for k, v in self.headers.items() if k.lower() not in TRANSPORT_HEADERS}
        out.update({"cookie": self.cookie, "csrftoken": self.csrftoken, "clienttype": "web"})
        return out

    def secrets(self) -> list[str]:
        """Every secret value, for log redaction."""
        values = [self.cookie, self.csrftoken]
        values += [v for k, v in self.headers.items() if k.lower() in SECRET_HEADERS]
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.cookie)
            values += [m.value for m in jar.values() if len(m.value) >= 6]
        except Exception:
            pass
        return [v for v in values if v]

    def to_json(self) -> dict[str, Any]:
        return {"cookie": self.cookie, "csrftoken": self.csrftoken, "headers": dict(self.headers)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Credentials:
        headers = raw.get("headers") or {}
        return cls(cookie=str(raw["cookie"]), csrftoken=str(raw["csrftoken"]),
                   headers={str(k): str(v) for k, v in dict(headers).items()})


SECRET_HEADERS = frozenset({"csrftoken", "cookie", "device-info", "fvideo-id", "fvideo-token",
                            "x-passthrough-token", "bnc-uuid"})
