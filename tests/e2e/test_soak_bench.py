"""`otobot bench --soak` end to end: the simulator and the daemon in processes of their own, sampled; then
`otobot dbsize` on the file the run left."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


async def _otobot(*args: str, timeout_s: float = 240) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_short_soak_samples_the_daemon_process_and_sizes_its_database(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, out, err = await _otobot("bench", "--soak", "0.4", "--soak-every", "6", "--users", "2",
                                   "--soak-keep", str(run), "--json", str(tmp_path / "soak.json"))
    assert code in (0, 1), err  # 1: a limit not met, which a 24-second run on a busy machine may well show
    r = json.loads((tmp_path / "soak.json").read_text())
    assert len(r["rows"]) >= 2, (r["rows"], err)
    assert all(row["rss_mb"] and row["rss_mb"] > 20 for row in r["rows"])  # the daemon's own process, from /proc
    assert r["rows"][-1]["cycles_total"] > 0 and r["rows"][-1]["reactions"] > 0
    db = r["database"]
    assert db["cycles"] > 0 and db["bytes_per_cycle"] > 0
    assert db["by_table"]["orders"]["bytes"] > 0 and db["by_table"]["audit"]["bytes_per_cycle"] < 50
    assert set(r["verdict"]) == {"rss_flat", "throughput_holds", "bytes_per_cycle_ok"}
    assert " min  rss MB  cycles/s" in out and "bytes a cycle" in out
    assert "database" in (run / "otobot.yaml").read_text()

    code, out, err = await _otobot("dbsize", "-c", str(run / "otobot.yaml"), "--json", timeout_s=60)
    assert code == 0, err
    size = json.loads(out)
    assert size["auto_vacuum"] == "incremental" and size["cycles_done"] == db["cycles"]
    assert size["bytes_per_cycle"] > 0 and size["held_at_bytes"] > 0 and size["retention_days"] == 90
    code, out, _ = await _otobot("dbsize", "-c", str(run / "otobot.yaml"), timeout_s=60)
    assert code == 0 and "bytes a cycle" in out and "retention_days 90 holds the file at about" in out
