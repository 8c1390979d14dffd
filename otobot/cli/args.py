"""Pure checks of command-line values: the config file's location, user names, times, order statuses."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from otobot.config.settings import USER_NAME, USER_NAME_RULE
from otobot.exchange.models import CANCELED, EXPIRED, FILLED, NEW, PARTIALLY_FILLED, PENDING, REJECTED

CONFIG_ENV = "OTOBOT_CONFIG"
CONFIG_SEARCH = (Path("config/otobot.yaml"), Path("/etc/otobot/otobot.yaml"))  # after $OTOBOT_CONFIG, in order

# What the orders table can hold: the exchange's statuses plus otobot's own before and instead of placing.
ORDER_STATUSES = ("INTENT", PENDING, NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED, "NOT_PLACED")

_AGE = re.compile(r"(\d+)\s*(s|m|min|h|d|w)")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WHEN_FORMS = ("2026-11-25, 2026-11-25T10:00 (UTC unless an offset is given), epoch ms, now, today, yesterday, "
              "or an age like 30m, 2h, 1d")


class ConfigNotFound(Exception):
    """No config file was given and none of the usual places holds one; the message lists what was tried."""


def find_config(given: str | None, env: Mapping[str, str], is_file: Callable[[Path], bool] = Path.is_file) -> Path:
    """`-c FILE`, else `$OTOBOT_CONFIG`, else the first of ./config/otobot.yaml and /etc/otobot/otobot.yaml."""
    if given:
        return Path(given)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    for candidate in CONFIG_SEARCH:
        if is_file(candidate):
            return candidate
    tried = ", ".join(f"./{c}" if not c.is_absolute() else str(c) for c in CONFIG_SEARCH)
    raise ConfigNotFound(f"otobot: no config file found: tried ${CONFIG_ENV} (not set), {tried}; pass -c FILE or "
                         f"set {CONFIG_ENV}")


def user_name(text: str) -> str:
    """argparse type: a user name as the users folder and the database know it (no paths, no surprises)."""
    if not USER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a user name ({USER_NAME_RULE})")
    return text


def order_status(text: str) -> str:
    """argparse type: one of ORDER_STATUSES, any case."""
    status = text.upper()
    if status not in ORDER_STATUSES:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order status; use one of {', '.join(ORDER_STATUSES)}")
    return status


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def parse_when(text: str, now: datetime) -> int:
    """A moment typed by an operator → epoch ms; ValueError naming the accepted forms."""
    word = text.strip().lower()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if word.isdigit():
        return int(word)
    if word in ("now", "today", "yesterday"):
        moment = {"now": now, "today": midnight, "yesterday": midnight - timedelta(days=1)}[word]
        return int(moment.timestamp() * 1000)
    age = _AGE.fullmatch(word.removesuffix(" ago").removesuffix("ago").strip())
    if age:
        return int((now - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})).timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time; use {WHEN_FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def when(text: str) -> int:
    """argparse type for --since/--until: parse_when against the current time."""
    try:
        return parse_when(text, datetime.now(UTC))
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is too far from today") from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
