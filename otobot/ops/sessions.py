"""Two user files holding one browser session: two bots would trade one account, each taking the other's OTOs for
the user's own orders. `check` and the daemon refuse such a pair, naming both files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from otobot.exchange.credentials import Credentials


def session_keys(creds: Credentials) -> set[str]:
    """What identifies the browser session: its csrftoken and its cookie jar (either one shared is one account).
    Hashed, so the key can sit in memory and in an error without being a secret itself."""
    keys = set()
    for kind, value in (("csrftoken", creds.csrftoken.strip()), ("cookie", creds.cookie.strip())):
        if value:
            keys.add(kind + ":" + hashlib.sha256(value.encode()).hexdigest())
    return keys


def shared_sessions(users: Iterable[tuple[str, Path | None, Credentials]]) -> list[tuple[str, str]]:
    """Each pair of users (sorted by name) whose sessions are one, once per pair."""
    seen: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    for name, _path, creds in sorted(users, key=lambda u: u[0]):
        for key in session_keys(creds):
            other = seen.setdefault(key, name)
            if other != name:
                pairs.add((other, name))
    return sorted(pairs)


def shared_text(first: str, first_path: Path | str | None, second: str, second_path: Path | str | None) -> str:
    """The refusal, naming both users and files, with the fix."""
    return (f"users {first} ({first_path or 'stored session'}) and {second} ({second_path or 'stored session'}) "
            "use the same browser session (same cookies/csrftoken): two bots would trade one account and each "
            "would take the other's orders for the user's own. Give each user their own login (`otobot creds "
            f"import {second}` with a session of that account), or remove one of the two files")
