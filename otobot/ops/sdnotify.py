"""Minimal sd_notify: READY / RELOADING / STOPPING / WATCHDOG / STATUS over $NOTIFY_SOCKET; a no-op without systemd."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any


class SdNotifier:
    """Sends datagrams to the socket systemd names in NOTIFY_SOCKET (a path, or `@name` for an abstract socket).

    Every method returns whether a datagram went out; none raises, since the daemon must run the same
    with or without systemd.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = ("\0" + address[1:] if address.startswith("@") else address) or None
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._ready = False  # systemd reads RELOADING=1 before the first READY=1 as a failed start-up
        self._status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(state.encode(), self.address)
        except OSError:
            return False
        return True

    def ready(self) -> bool:
        self._ready = True
        return self.notify("READY=1")

    def reloading(self) -> bool:
        """RELOADING=1, but only once READY=1 went out: the first load is part of start-up, not a reload."""
        if not self._ready:
            return False
        # Type=notify-reload requires MONOTONIC_USEC (CLOCK_MONOTONIC, like systemd's own); Type=notify ignores it.
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS= for `systemctl status`; sent only when it differs from the last one sent."""
        text = text.replace("\n", " ")
        if text == self._status:
            return False
        sent = self.notify("STATUS=" + text)
        if sent:
            self._status = text
        return sent

    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; None when not asked.

        WATCHDOG_PID, when set, names the process the watchdog is for; another process must not ping.
        """
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2_000_000 if usec > 0 else None


def status_text(users: Iterable[Mapping[str, Any]], rejected_files: int = 0) -> str:
    """The supervisor's status rows → `3 users: 2 trading, 1 paused auth_expired` (most common first), and how
    many user files were rejected, since those users are in no row."""
    rows = list(users)
    kinds: Counter[str] = Counter(_kind(row) for row in rows)
    noun = "user" if len(rows) == 1 else "users"
    text = f"{len(rows)} {noun}"
    if rows:
        text += ": " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    if rejected_files:
        text += f"; {rejected_files} user file{'' if rejected_files == 1 else 's'} rejected (see the log)"
    return text


def _kind(row: Mapping[str, Any]) -> str:
    if row.get("paused"):
        return f"paused {row['paused']}"
    state = str(row.get("state"))
    if state.startswith("not started"):
        return "not started"
    if state == "finished":
        return "done for today"
    if state == "starting":
        return "starting"
    return "trading"
