"""The operator's command line as a user types it: `otobot check`, `otobot creds …`, `otobot status`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.helpers import write_config

REPO = Path(__file__).resolve().parents[2]


async def otobot(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otobot", *args, cwd=REPO, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_accepts_the_shipped_config_and_names_file_key_and_fix_on_errors(tmp_path: Path,
                                                                                      sim: Simulator) -> None:
    code, out, _ = await otobot("check", "-c", str(REPO / "config" / "otobot.yaml"))
    assert code == 0 and "alice.yaml: ok" in out
    config = write_config(tmp_path, sim, {"alice": {}})
    (tmp_path / "users" / "bob.yaml").write_text("token: KOGE\ntarget:\n  vlaue: 10\ntimeouts:\n  buy_s: soon\n")
    code, out, err = await otobot("check", "-c", str(config))
    assert code == 1
    assert "bob.yaml: unknown key 'target.vlaue': did you mean 'target.value'?" in err
    assert "bob.yaml: key 'timeouts.buy_s' = 'soon': expected a number" in err
    assert "alice.yaml: ok" in out  # one bad file does not hide the good ones


async def test_creds_import_stores_the_session_encrypted_and_check_logs_in(tmp_path: Path, sim: Simulator) -> None:
    config = write_config(tmp_path, sim, {})
    (tmp_path / "users" / "alice.yaml").write_text("token: KOGE\n")  # credentials from the encrypted store
    key = tmp_path / "master.key"
    code, _, _ = await otobot("creds", "-c", str(config), "gen-key", str(key))
    assert code == 0 and oct(key.stat().st_mode & 0o777) == "0o600"
    creds = sim.credentials("alice")
    curl = (f"curl '{sim.rest_url}/bapi/asset/v1/private/alpha-trade/oto-order/place' \\\n"
            f"  -H 'content-type: application/json' -H 'csrftoken: {creds.csrftoken}' -H 'clienttype: web' \\\n"
            f"  -b '{creds.cookie}' -H 'content-length: 250' -H 'user-agent: Mozilla/5.0' --data-raw '{{}}'")
    env = {"OTOBOT_MASTER_KEY": key.read_text().strip()}
    code, out, err = await otobot("creds", "-c", str(config), "import", "alice", stdin=curl, env=env)
    assert code == 0, err
    store = await Store.open(tmp_path / "otobot.db")
    try:
        blob = await store.load_credentials("alice")
    finally:
        await store.close()
    assert blob is not None and creds.csrftoken.encode() not in blob and b"sim-session" not in blob
    code, out, _ = await otobot("creds", "-c", str(config), "check", "alice", env=env)
    assert code == 0 and "alice: logged in" in out
    sim.exchange.accounts["alice"].expired = True
    code, out, _ = await otobot("creds", "-c", str(config), "check", "alice", env=env)
    assert code == 1 and "alice: NOT logged in" in out
    # Without the master key nothing is decrypted, and the message says how to provide it.
    code, _, err = await otobot("creds", "-c", str(config), "check", "alice", env={"OTOBOT_MASTER_KEY": ""})
    assert code != 0 and "OTOBOT_MASTER_KEY" in err
