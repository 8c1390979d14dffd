"""Minimal sd_notify: READY / RELOADING / STOPPING / WATCHDOG over $NOTIFY_SOCKET; a no-op without systemd."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping


class SdNotifier:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.address = env.get("NOTIFY_SOCKET")
        self.watchdog_usec = env.get("WATCHDOG_USEC")

    def notify(self, state: str) -> bool:
        if not self.address:
            return False
        addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(state.encode(), addr)
            except OSError:
                return False
        return True

    def ready(self) -> bool:
        return self.notify("READY=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC is what Type=notify-reload requires; plain Type=notify ignores it.
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog_interval_s(self) -> float | None:
        """Half the watchdog timeout, as systemd recommends; None when no watchdog is set."""
        if not self.watchdog_usec:
            return None
        try:
            return int(self.watchdog_usec) / 2_000_000
        except ValueError:
            return None
