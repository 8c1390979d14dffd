"""The log as journald reads it: one line per entry, syslog priorities on the journal, secrets masked everywhere."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from otobot.ops import logsetup
from otobot.ops.redact import Redactor

COOKIE = "p20t=web.777.SeCrEtSeSsIoN0042"
CSRF = "c5rf0123456789abcdef0123456789ab"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([COOKIE, CSRF])


@pytest.fixture(autouse=True)
def stdlib_logging_restored() -> Iterator[None]:
    """setup() routes the root stdlib logger into loguru; give the next test the handlers it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_traceback_and_a_multiline_message_are_each_one_line(redactor: Redactor) -> None:
    out = io.StringIO()
    logsetup.setup("DEBUG", stream=out, redact=redactor.redact, journal=False)

    try:
        raise RuntimeError(f"boom with {CSRF}")
    except RuntimeError as exc:
        logger.bind(user="alice", cycle=7).opt(exception=exc).error("Bot crashed")
    logger.warning("User file rejected: {}", "a.yaml: key 'x': bad\na.yaml: key 'y': bad")

    crash, rejected = lines_of(out)
    assert "ERROR   [alice#7] Bot crashed⏎Traceback (most recent call last):⏎" in crash
    assert crash.endswith("RuntimeError: boom with ***")
    assert CSRF not in out.getvalue()
    assert rejected.endswith("User file rejected: a.yaml: key 'x': bad⏎a.yaml: key 'y': bad")


def test_priority_prefixes_when_stderr_is_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    with path.open("w") as stream:
        st = os.fstat(stream.fileno())
        logsetup.setup("DEBUG", stream=stream, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.error("e")
        logger.critical("c")

    assert path.read_text().splitlines() == ["<7>DEBUG   [-#-] d", "<6>INFO    [-#-] i", "<4>WARNING [-#-] w",
                                             "<3>ERROR   [-#-] e", "<2>CRITICAL [-#-] c"]


def test_no_prefix_when_journal_stream_names_another_file(tmp_path: Path) -> None:
    """JOURNAL_STREAM is inherited: a shell started from a service still has it while writing to a terminal."""
    path = tmp_path / "stderr"
    with path.open("w") as stream:
        st = os.fstat(stream.fileno())
        logsetup.setup("INFO", stream=stream, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        logger.warning("w")

    line = path.read_text()
    assert line.endswith(" WARNING [-#-] w\n") and not line.startswith("<")
    assert not logsetup.stream_is_journal({"JOURNAL_STREAM": "garbage"}, io.StringIO())


def test_stdlib_warnings_go_through_the_same_redacting_sink(redactor: Redactor) -> None:
    out = io.StringIO()
    logsetup.setup("INFO", stream=out, redact=redactor.redact, journal=False)

    logging.getLogger("aiohttp.client").warning("sent headers {'cookie': '%s'} and %s", COOKIE, CSRF)
    logging.getLogger("transitions.core").info("Executed callback '_changed'")  # libraries' INFO is chatter

    (line,) = lines_of(out)
    assert "WARNING [-#-] aiohttp.client: sent headers {'cookie': '***'} and ***" in line


def test_a_task_exception_nobody_retrieved_is_logged_once_redacted_on_one_line(redactor: Redactor) -> None:
    """asyncio's default handler prints to stderr itself, past any loguru redaction: it must be routed."""
    out = io.StringIO()
    logsetup.setup("INFO", stream=out, redact=redactor.redact, journal=False)

    async def leaky() -> None:
        raise ConnectionError(f"login failed, headers={{'cookie': '{COOKIE}', 'csrftoken': '{CSRF}'}}")

    loop = asyncio.new_event_loop()
    try:
        logsetup.install_asyncio_handler(loop)
        task = loop.create_task(leaky())
        loop.run_until_complete(asyncio.wait([task]))
        del task  # never awaited: asyncio reports it when the task is collected
        gc.collect()
    finally:
        loop.close()

    (line,) = lines_of(out)
    assert "ERROR   [-#-] Task exception was never retrieved" in line
    assert "⏎Traceback (most recent call last):⏎" in line
    assert "ConnectionError: login failed" in line
    assert COOKIE not in out.getvalue() and CSRF not in out.getvalue()
    assert "SeCrEt" not in out.getvalue()


def test_a_callback_that_raises_in_the_loop_is_logged_with_its_context(redactor: Redactor) -> None:
    out = io.StringIO()
    logsetup.setup("INFO", stream=out, redact=redactor.redact, journal=False)

    def callback() -> None:
        raise ValueError(CSRF)

    loop = asyncio.new_event_loop()
    try:
        logsetup.install_asyncio_handler(loop)
        loop.call_soon(callback)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()

    (line,) = lines_of(out)
    assert "Exception in callback" in line and "ValueError: ***" in line and CSRF not in line


@pytest.mark.parametrize(("level_no", "prio"), [(5, 7), (10, 7), (20, 6), (25, 5), (30, 4), (40, 3), (50, 2)])
def test_priority_table(level_no: int, prio: int) -> None:
    assert logsetup.priority(level_no) == prio
