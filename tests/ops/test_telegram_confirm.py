"""/cancel and /flatten are carried out only on `/confirm CODE` from the asking chat within 60 s (fake clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from otobot.ops.telegram import Command
from otobot.ops.tgcommands import CommandAnswers
from otobot.store.db import Store


class Controls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def status(self) -> dict[str, Any]:
        return {"users": []}

    async def pause(self, user: str, reason: str = "operator") -> dict[str, Any]:
        return {}

    async def resume(self, user: str) -> dict[str, Any]:
        return {}

    async def manual(self, user: str, kind: str) -> dict[str, Any]:
        self.calls.append((user, kind))
        return {"user": user, "action": kind, "token": "KOGE", "orders_cancelled": ["11", "12"], "sold": "0.4",
                "sold_quote": "19.2", "avg_price": "48", "left": "0.0004", "quote": "USDT", "state": "paused",
                "paused": "operator", "notes": []}


async def test_a_code_works_once_from_its_chat_and_only_within_60_s(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "otobot.db")
    now = [1_000_000]
    codes = iter(["4821", "5555", "6666"])
    controls = Controls()
    answers = CommandAnswers(controls, store, lambda: None, now_ms=lambda: now[0],  # type: ignore[arg-type,return-value]
                             code=lambda: next(codes))
    try:
        assert (await answers(Command("1", "cancel", ("alice",)))).text.endswith("Reply /confirm 4821 within 60 s")
        assert (await answers(Command("2", "confirm", ("4821",)))).text.startswith("no pending")  # another chat
        assert controls.calls == []
        done = await answers(Command("1", "confirm", ("4821",)))
        assert done.text == ("alice: cancel done. Orders cancelled: 11, 12. Sold 0.4 KOGE for 19.2 USDT at 48 on "
                             "average. Left: 0.0004 KOGE. Now paused, paused operator.")
        assert controls.calls == [("alice", "cancel")]
        assert (await answers(Command("1", "confirm", ("4821",)))).text.startswith("no pending")  # once only

        await answers(Command("1", "flatten", ("alice",)))  # code 5555
        now[0] += 60_001
        assert (await answers(Command("1", "confirm", ("5555",)))).text.startswith("no pending")  # too late
        assert (await answers(Command("1", "flatten", ()))).text == "usage: /flatten USER"
        assert controls.calls == [("alice", "cancel")]
    finally:
        await store.close()
