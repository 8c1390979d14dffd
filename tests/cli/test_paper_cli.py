"""`otobot paper` and `otobot sim --market-from` refuse what they cannot run with one line naming the fix (#25)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from clirun import otobot

from otobot.cli.paper import PaperProblem, tokens_of
from otobot.config import load_user


def user_file(tmp_path: Path, name: str, **fields: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"target": {"kind": "volume", "value": 100}, "order": {"quote_amount": 20},
                                    "credentials": {"source": "inline", "cookie": "p20t=x", "csrftoken": "y"},
                                    **fields}))
    return path


def test_paper_mirrors_every_users_token_and_the_candidates_of_auto(tmp_path: Path) -> None:
    users = [load_user(user_file(tmp_path, "alice", token="zed")),
             load_user(user_file(tmp_path, "bob", token="auto", candidates=["MOON", "ZED"])),
             load_user(user_file(tmp_path, "carol", token="ORB", enabled=False))]
    assert tokens_of(users, ("KOGE",)) == ("KOGE", "ZED", "MOON")


def test_paper_refuses_token_auto_without_candidates_naming_the_file(tmp_path: Path) -> None:
    path = user_file(tmp_path, "alice", token="auto")
    with pytest.raises(PaperProblem, match=f"{path}: token: auto without candidates.*--tokens A,B"):
        tokens_of([load_user(path)], ())


async def test_sim_market_from_an_unreachable_upstream_exits_1_naming_it() -> None:
    result = await otobot("sim", "--port", "0", "--market-from", "http://127.0.0.1:9/")
    assert result.code == 1
    assert result.err.startswith("otobot sim: --market-from: cannot read http://127.0.0.1:9/bapi/"), result.err
