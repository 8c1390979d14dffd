"""`otobot paper` and `otobot sim --market-from` refuse what they cannot run with one line naming the fix (#25)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from clirun import otobot

from otobot.cli.paper import PaperProblem, tokens_of, write_paper_config
from otobot.config.settings import load_global, load_user
from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator


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


def real_config(tmp_path: Path) -> Path:
    (tmp_path / "users").mkdir()
    user_file(tmp_path / "users", "alice", token="ZED",
              notify={"telegram": {"bot_token": "1:alice-bot", "chat_id": 7}})
    config = tmp_path / "otobot.yaml"
    config.write_text(yaml.safe_dump({
        "database": "otobot.db", "exchange": {"rest_url": "https://www.binance.com"}, "control": {"health_port": 9108},
        "reliability": {"requests_per_second": 3}, "credentials": {"key_file": "master.key"},
        "notify": {"telegram": {"bot_token": "1:global-bot", "chat_id": 5}}}))
    return config


@pytest.mark.parametrize("keep_notify", [False, True])
def test_the_paper_config_keeps_behaviour_and_replaces_where_it_trades(tmp_path: Path, keep_notify: bool) -> None:
    settings = load_global(real_config(tmp_path))
    sim = Simulator(default_sim_config(users=1))
    root = tmp_path / "otobot.paper"
    paper = load_global(write_paper_config(settings, sim, "https://www.binance.com", root, keep_notify=keep_notify))
    assert paper.paper_market == "https://www.binance.com"
    assert paper.database == root / "paper.db" != settings.database
    assert paper.exchange.rest_url == sim.rest_url and paper.health_port is None and paper.key_file is None
    assert paper.reliability.requests_per_second == 3
    alice = load_user(root / "users" / "alice.yaml")
    assert alice.credentials == sim.credentials("alice")
    if keep_notify:  # messages go where they did, but the real daemon keeps answering Telegram commands
        assert paper.notify.telegram is not None and not paper.notify.telegram.commands
        assert alice.notify is not None
    else:
        assert paper.notify.telegram is None and alice.notify is None


def test_a_real_config_cannot_call_itself_paper(tmp_path: Path) -> None:
    from otobot.config.settings import ConfigError
    config = tmp_path / "otobot.yaml"
    config.write_text(yaml.safe_dump({"exchange": {"rest_url": "https://www.binance.com"},
                                      "paper_market": "https://www.binance.com"}))
    with pytest.raises(ConfigError, match=r"paper_market.*trades on the real exchange"):
        load_global(config)


def test_each_paper_run_starts_a_fresh_database_and_keeps_the_last_one(tmp_path: Path) -> None:
    from otobot.cli.paper import fresh_database
    from otobot.store.dbfile import DatabaseLocked, DbLock
    assert fresh_database(tmp_path) is None
    (tmp_path / "paper.db").write_text("last run")
    (tmp_path / "paper.db-wal").write_text("its wal")
    held = DbLock.acquire(tmp_path / "paper.db")
    with pytest.raises(DatabaseLocked):  # another paper run is on it: nothing moves
        fresh_database(tmp_path)
    held.release()
    kept = fresh_database(tmp_path)
    assert kept is not None and kept.name.startswith("paper-") and kept.read_text() == "last run"
    assert Path(f"{kept}-wal").read_text() == "its wal" and not (tmp_path / "paper.db").exists()
