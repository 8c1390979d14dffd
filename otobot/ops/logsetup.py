"""loguru to stderr made for journald: one line per entry, syslog priorities, secrets redacted, stdlib and asyncio too.

Every entry is ONE line, because journald turns each line of a stream into its own entry (a traceback
would become 40 entries with no level or user). A multi-line message or a traceback is folded by turning
each newline into NEWLINE ("⏎"); `journalctl ... | sed 's/⏎/\\n/g'` unfolds it. When stderr is the journal,
each line starts with its syslog priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug), which
journald strips and stores, so `journalctl -p warning` filters.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from loguru import logger

FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} [{extra[user]}#{extra[cycle]}] {message}"
JOURNAL_FORMAT = "{level: <7} [{extra[user]}#{extra[cycle]}] {message}"  # journald stamps time itself
NEWLINE = "⏎"


def priority(level_no: int) -> int:
    """loguru's level number → syslog priority (sd-daemon(3) prefixes)."""
    if level_no >= 50:
        return 2  # CRITICAL → crit
    if level_no >= 40:
        return 3  # ERROR → err
    if level_no >= 30:
        return 4  # WARNING → warning
    if level_no >= 25:
        return 5  # SUCCESS → notice
    if level_no >= 20:
        return 6  # INFO → info
    return 7  # DEBUG, TRACE → debug


def one_line(text: str) -> str:
    """A formatted entry (message, then any traceback) as one line."""
    return text.rstrip("\n").replace("\r\n", "\n").replace("\n", NEWLINE)


def stream_is_journal(env: Mapping[str, str], stream: TextIO) -> bool:
    """systemd sets JOURNAL_STREAM=dev:ino of the stream it connected; it is inherited, so it only counts when
    it still names this very stream (not, say, a pipe to `| less` from a shell started by a service)."""
    dev, _, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup(level: str = "INFO", *, stream: TextIO | None = None, redact: Callable[[str], str] | None = None,
          journal: bool | None = None, env: Mapping[str, str] | None = None) -> None:
    """Replace loguru's default sink, and route stdlib `logging` into it.

    `redact` runs over every formatted entry, traceback included, before it is folded and written.
    `journal` None means: detect it from JOURNAL_STREAM (in `env`, default os.environ) and the stream.
    """
    logger.remove()
    logger.configure(extra={"user": "-", "cycle": "-"})
    out = stream or sys.stderr
    if journal is None:
        journal = stream_is_journal(os.environ if env is None else env, out)
    fmt = JOURNAL_FORMAT if journal else FORMAT

    def sink(message: Any) -> None:
        text = str(message)
        if redact is not None:
            text = redact(text)
        prefix = f"<{priority(message.record['level'].no)}>" if journal else ""
        out.write(prefix + one_line(text) + "\n")
        out.flush()

    logger.add(sink, level=level, format=fmt, backtrace=False, diagnose=False)
    route_stdlib_logging()


class _ToLoguru(logging.Handler):
    """stdlib `logging` (aiohttp, asyncio, …) into loguru, so its records get the same redaction and folding."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        exc = record.exc_info if record.exc_info and record.exc_info[0] is not None else None
        logger.opt(exception=exc).log(level, "{}: {}", record.name, record.getMessage())


def route_stdlib_logging(level: int = logging.WARNING) -> None:
    """Libraries' warnings and errors only: their INFO is chatter (transitions logs every callback at INFO)."""
    logging.basicConfig(handlers=[_ToLoguru()], level=level, force=True)


def asyncio_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What asyncio would print itself (a task's exception nobody retrieved, a callback that raised), as one
    loguru entry: the default handler writes straight to stderr, past the redaction."""
    exc = context.get("exception")
    details = "; ".join(f"{key}: {value!r}" for key, value in context.items() if key not in ("message", "exception"))
    text = str(context.get("message") or "unhandled exception in the event loop")
    logger.opt(exception=exc if isinstance(exc, BaseException) else None).error(
        "{}{}", text, f" ({details})" if details else "")


def install_asyncio_handler(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_exception_handler(asyncio_exception_handler)
