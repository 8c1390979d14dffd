"""Run `python -m otobot …` as a real process, the way an operator does, and judge its answer."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0  # a hang fails the test instead of stalling the suite; a loaded machine still fits


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    seconds: float


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without anything that would make otobot find a config or key by itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OTOBOT_CONFIG", "OTOBOT_MASTER_KEY", "CREDENTIALS_DIRECTORY", "RUNTIME_DIRECTORY")}
    env["PYTHONPATH"] = str(REPO)
    return {**env, **(extra or {})}


async def otobot(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, timeout: float = TIMEOUT_S) -> Result:
    """One command line, its exit code, stdout and stderr; fails the test if it has not ended within `timeout`."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otobot", *args, cwd=cwd or REPO, env=clean_env(env),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`otobot {' '.join(args)}` still running after {timeout} s (a hang)") from None
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0)


def refused(r: Result, code: int, *words: str) -> str:
    """The command failed with `code` and a message holding every word, and never a traceback; the message."""
    assert "Traceback" not in r.err + r.out, r.err
    assert r.code == code, f"exit {r.code}, expected {code}; stderr: {r.err}"
    for w in words:
        assert w in r.err, f"{w!r} not in stderr: {r.err}"
    return r.err
