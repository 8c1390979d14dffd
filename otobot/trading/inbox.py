"""The messages one bot's driver task reads: stream events, (re)subscriptions, commands, crashes, wake-ups."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from otobot.exchange.errors import ExchangeError
from otobot.exchange.models import ExecutionReport


@dataclass(slots=True)
class Exec:
    report: ExecutionReport
    received: float


@dataclass(slots=True)
class Synced:
    done: asyncio.Future[None]


@dataclass(slots=True)
class Down:
    pass


@dataclass(slots=True)
class AuthLost:
    error: ExchangeError


@dataclass(slots=True)
class Command:
    name: str
    arg: Any
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(slots=True)
class Crashed:
    error: BaseException


@dataclass(slots=True)
class Wake:
    """Look at the facts now (a reloaded file waits for no timer)."""


Msg = Exec | Synced | Down | AuthLost | Command | Crashed | Wake
