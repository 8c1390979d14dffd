"""loguru to stderr (journald) with user and cycle on every line, secrets redacted before anything is written."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from loguru import logger

FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} [{extra[user]}#{extra[cycle]}] {message}"
JOURNAL_FORMAT = "{level: <7} [{extra[user]}#{extra[cycle]}] {message}"  # journald stamps time itself


def setup(level: str = "INFO", *, stream: TextIO | None = None, redact: Callable[[str], str] | None = None,
          journal: bool = False) -> None:
    """Replace loguru's default sink. `redact` runs over every formatted line, tracebacks included."""
    logger.remove()
    logger.configure(extra={"user": "-", "cycle": "-"})
    out = stream or sys.stderr
    fmt = JOURNAL_FORMAT if journal else FORMAT

    def sink(message: Any) -> None:
        text = str(message)
        out.write(redact(text) if redact else text)
        out.flush()

    logger.add(sink, level=level, format=fmt, backtrace=False, diagnose=False)
