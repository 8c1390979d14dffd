"""Issue 19, problem 8: two user files with one browser session are refused by the daemon, naming both."""

from __future__ import annotations

from pathlib import Path

from otobot.sim.server import Simulator
from tests.helpers import running, wait_for, write_config


async def test_the_daemon_refuses_a_second_user_with_the_same_session(sim: Simulator, tmp_path: Path) -> None:
    creds = sim.credentials("alice")
    same = {"credentials": {"source": "inline", "cookie": creds.cookie, "csrftoken": creds.csrftoken}}
    config = write_config(tmp_path, sim, {"alice": {}, "bob": same})
    async with running(config) as d:
        sup = d.supervisor
        await wait_for(lambda: all(s.started.is_set() for s in sup.slots.values()) and len(sup.slots) == 2, 10,
                       "both slots started")
        refused = [s for s in sup.slots.values() if s.error is not None]
        trading = [s for s in sup.slots.values() if s.bot is not None]
        assert len(refused) == 1 and len(trading) == 1, [(s.cfg.name, s.error) for s in sup.slots.values()]
        error = refused[0].error or ""
        assert "alice" in error and "bob" in error and "same browser session" in error
        assert "alice.yaml" in error and "bob.yaml" in error
        assert refused[0].why is not None and "same session" in refused[0].why
