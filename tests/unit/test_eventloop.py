"""Which event loop runs the daemon: OTOBOT_EVENT_LOOP and whether uvloop is installed, table-driven."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from otobot.daemon import eventloop


@pytest.mark.parametrize(("env", "have", "loop"), [
    ({}, True, "uvloop"),
    ({}, False, "asyncio"),
    ({"OTOBOT_EVENT_LOOP": "auto"}, True, "uvloop"),
    ({"OTOBOT_EVENT_LOOP": ""}, False, "asyncio"),
    ({"OTOBOT_EVENT_LOOP": "asyncio"}, True, "asyncio"),
    ({"OTOBOT_EVENT_LOOP": " UVLOOP "}, True, "uvloop"),
])
def test_the_loop_chosen(env: dict[str, str], have: bool, loop: str) -> None:
    assert eventloop.choose(env, have) == loop


@pytest.mark.parametrize(("env", "have", "words"), [
    ({"OTOBOT_EVENT_LOOP": "uvloop"}, False, "uvloop is not installed: pip install 'otobot[fast]'"),
    ({"OTOBOT_EVENT_LOOP": "tokio"}, True, "OTOBOT_EVENT_LOOP='tokio': expected one of auto, asyncio, uvloop"),
])
def test_an_impossible_choice_says_what_to_do(env: dict[str, str], have: bool, words: str) -> None:
    with pytest.raises(eventloop.EventLoopError, match=words.replace("(", r"\(").replace("[", r"\[")):
        eventloop.choose(env, have)


def test_run_uses_the_chosen_loop() -> None:
    async def kind() -> str:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    assert eventloop.run(kind(), {"OTOBOT_EVENT_LOOP": "asyncio"}) == "asyncio"
    assert eventloop.run(kind(), {}) == eventloop.choose({})


def test_a_bad_setting_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "OTOBOT_EVENT_LOOP": "tokio"}
    done = subprocess.run([sys.executable, "-m", "otobot", "demo", "--seconds", "1"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "otobot: OTOBOT_EVENT_LOOP='tokio': expected one of auto, asyncio, uvloop"
