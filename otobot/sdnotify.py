"""Minimal sd_notify: READY / RELOADING / STOPPING / WATCHDOG / STATUS over $NOTIFY_SOCKET; a no-op without systemd."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


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
        return self.notify("READY=1")

    def reloading(self) -> bool:
        # Type=notify-reload requires MONOTONIC_USEC (CLOCK_MONOTONIC, like systemd's own); Type=notify ignores it.
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify("STATUS=" + text.replace("\n", " "))

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
