"""What each Telegram command answers: /status, /pause, /resume, /cancel, /flatten (confirmed), /daily, /history."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import aiohttp

from otobot.config.settings import GlobalConfig
from otobot.ops.telegram import BotApi, Command, Reply, TelegramCommands
from otobot.ops.tgoutbox import TelegramChats, bot_key
from otobot.store.db import Store
from otobot.trading import daybook as points
from otobot.trading.manual import manual_text
from otobot.views import history
from otobot.views.reports import q2, waiting_text

HELP = """otobot commands:
/status - every user: state, today's volume against the target
/status USER - one user in detail
/pause USER - no new cycle for USER (a cycle under way finishes)
/resume USER - USER trades again
/cancel USER - cancel USER's live cycle, sell what it bought down the unwind ladder, then pause (asks to confirm)
/flatten USER - sell all free base of USER's token down the unwind ladder, then pause (asks to confirm)
/daily - today's figures per user: volume, target, cycles, fees, cost
/history USER [DAYS] - volume per day and a chart (default 7 days)
/help - this list"""
HISTORY_DAYS, HISTORY_MAX_DAYS, CHART_WIDTH = 7, 31, 16  # a phone's width
CONFIRM_S = 60  # a /cancel or /flatten is carried out only on `/confirm CODE` from the same chat within this
MANUAL_WAIT_S = 10.0  # under the poller's command timeout: a longer unwind goes on, its report goes to the log
MANUAL = {"cancel": "cancel the live cycle, sell what it bought down the unwind ladder, then pause",
          "flatten": "sell all free base of the token down the unwind ladder, then pause"}


class Controls(Protocol):
    """What the daemon lets a chat do (the Supervisor has these)."""

    async def status(self) -> dict[str, Any]: ...
    async def pause(self, user: str, reason: str = "operator") -> dict[str, Any]: ...
    async def resume(self, user: str) -> dict[str, Any]: ...
    async def manual(self, user: str, kind: str) -> dict[str, Any]: ...


def _code() -> str:
    return str(1000 + secrets.randbelow(9000))


def _now_ms() -> int:
    return int(time.time() * 1000)


class CommandAnswers:
    """Turns a Command into its Reply; raises only for the poller to report as `/cmd failed: reason`."""

    def __init__(self, controls: Controls, store: Store, settings: Callable[[], GlobalConfig],
                 now_ms: Callable[[], int] = _now_ms, code: Callable[[], str] = _code) -> None:
        self.controls, self.store, self.settings, self.now_ms, self.code = controls, store, settings, now_ms, code
        self.asked: dict[str, tuple[str, str, str, int]] = {}  # code → (chat, cancel|flatten, user, until ms)
        self._running: set[asyncio.Task[dict[str, Any]]] = set()

    async def __call__(self, cmd: Command) -> Reply:
        user = cmd.args[0].lower() if cmd.args else None  # user names are lowercase (their files' names)
        if cmd.name in ("help", "start"):
            return Reply(HELP)
        if cmd.name == "status":
            return Reply(status_text(await self.controls.status(), user))
        if cmd.name in ("cancel", "flatten", "confirm"):
            return await self._manual(cmd, user)
        if cmd.name in ("pause", "resume", "history") and user is None:
            return Reply(f"usage: /{cmd.name} USER" + (" [DAYS]" if cmd.name == "history" else ""))
        if cmd.name == "pause" and user is not None:
            return Reply(pause_text(user, await self.controls.pause(user, "operator")))
        if cmd.name == "resume" and user is not None:
            return Reply(resume_text(user, await self.controls.resume(user)))
        if cmd.name == "daily":
            day = points.utc_day(self.now_ms())
            return Reply(history.daily_text(day, await history.today_rows(self.settings(), self.store, day)))
        if cmd.name == "history" and user is not None:
            return await self._history(user, cmd.args[1:])
        return Reply(f"unknown command /{cmd.name}; /help lists them")

    async def _manual(self, cmd: Command, arg: str | None) -> Reply:
        """/cancel USER and /flatten USER place and cancel orders: only a `/confirm CODE` within 60 s does it."""
        now = self.now_ms()
        self.asked = {c: a for c, a in self.asked.items() if a[3] > now}
        if arg is None:
            return Reply(f"usage: /{cmd.name} " + ("CODE" if cmd.name == "confirm" else "USER"))
        if cmd.name != "confirm":
            running = [str(u.get("user")) for u in (await self.controls.status()).get("users") or []]
            if arg not in running:  # refused before any code: a code for nobody would confirm nothing
                return Reply(f"no running bot for {arg} (running: {', '.join(running) or 'none'}); nothing to "
                             f"{cmd.name}")
            code = self.code()
            self.asked[code] = (cmd.chat_id, cmd.name, arg, now + CONFIRM_S * 1000)
            return Reply(f"{cmd.name} {arg}: {MANUAL[cmd.name]}. Reply /confirm {code} within {CONFIRM_S} s")
        asked = self.asked.get(arg)
        if asked is None or asked[0] != cmd.chat_id:
            return Reply(f"no pending /cancel or /flatten with code {arg} (codes last {CONFIRM_S} s); ask again")
        del self.asked[arg]
        _, kind, user, _ = asked
        # The operation outlives this reply if it must (the poller cancels a slow answer; the bot must not stop).
        task = asyncio.ensure_future(self.controls.manual(user, kind))
        self._running.add(task)
        task.add_done_callback(_forget(self._running))
        done, _ = await asyncio.wait({task}, timeout=MANUAL_WAIT_S)
        if task in done:
            return Reply(manual_text(task.result()))
        return Reply(f"{kind} of {user} is under way (the unwind ladder takes its time); /status {user} shows it, "
                     "the daemon's log has the report")

    async def _history(self, user: str, rest: tuple[str, ...]) -> Reply:
        days = HISTORY_DAYS
        if rest:
            if not rest[0].isdigit() or not 1 <= int(rest[0]) <= HISTORY_MAX_DAYS:
                return Reply(f"DAYS is a number from 1 to {HISTORY_MAX_DAYS}, e.g. /history {user} 14")
            days = int(rest[0])
        settings = self.settings()
        target = await history.user_target(settings, self.store, user)
        if target is None and user not in {u["name"] for u in await self.store.users()}:
            return Reply(f"no user {user}")
        rows = await history.history(self.store, user, target, points.utc_day(self.now_ms()), days)
        fees = sum((r.fees for r in rows), Decimal(0))
        head = f"{user}: buy volume per UTC day" + (f" ({target.quote})" if target else "")
        foot = (f"{days} day(s): {sum(r.cycles for r in rows)} cycles, fees {q2(fees)}, "
                f"{sum(r.pauses for r in rows)} pause(s)")
        return Reply("\n".join([head, *history.chart_lines(rows, CHART_WIDTH), foot]), monospace=True)


def pause_text(user: str, row: dict[str, Any]) -> str:
    """What /pause did, read from the bot's row after it took effect."""
    reason = row.get("paused")
    if not reason:
        return f"{user} is not paused (state {row.get('state')}); see /status {user}"
    under_way = row.get("cycle_id") is not None
    return (f"{user} paused ({reason}): no new cycle; "
            + ("the cycle under way finishes" if under_way else "no cycle under way") + f". State: {row.get('state')}")


def resume_text(user: str, row: dict[str, Any]) -> str:
    """What /resume did: the pause is lifted once `paused` is empty; the state catches up at the next cycle."""
    reason = row.get("paused")
    if reason:
        return f"{user} is still paused ({reason}); see /status {user}"
    state = row.get("state")
    return f"{user} resumed: trading again" + ("" if state in (None, "paused") else f" (state {state})")


def _forget(running: set[asyncio.Task[dict[str, Any]]]) -> Callable[[asyncio.Task[dict[str, Any]]], None]:
    def done(task: asyncio.Task[dict[str, Any]]) -> None:
        running.discard(task)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.exception()  # retrieved: an error after the reply was already logged by the bot
    return done


def _q2(text: Any) -> str:
    try:
        return q2(Decimal(str(text)))
    except InvalidOperation:
        return str(text)


def status_text(status: dict[str, Any], user: str | None = None) -> str:
    """The daemon's status as one line per user, or one user's every field."""
    users = status.get("users") or []
    if user is not None:
        row = next((u for u in users if u.get("user") == user), None)
        if row is None:
            known = ", ".join(u.get("user", "?") for u in users) or "none"
            return f"no running bot for {user} (running: {known})"
        return "\n".join(f"{k}: {'-' if v is None else (waiting_text(v) if k == 'waiting' else v)}"
                         for k, v in row.items())
    lines = []
    for u in users:
        line = f"{u.get('user')}: {u.get('state')}"
        if "volume_today" in u:
            line += (f" · {u.get('token')} {_q2(u['volume_today'])}/{_q2(u.get('target_volume', 0))} "
                     f"({u.get('pct_done')}%) · {u.get('cycles_today')} cycles")
        if u.get("paused"):
            line += f" · paused: {u['paused']}"
        elif waiting_text(u.get("waiting")):
            line += f" · waiting: {waiting_text(u.get('waiting'))}"
        if u.get("error"):
            line += f" · error: {u['error']}"
        lines.append(line)
    lines += [f"{name}: config error (see the log)" for name in status.get("file_errors") or {}]
    return "\n".join(lines) or "no users running"


def telegram_commands(session: aiohttp.ClientSession, settings: GlobalConfig, controls: Controls, store: Store,
                      current: Callable[[], GlobalConfig] | None = None,
                      chats: TelegramChats | None = None) -> TelegramCommands | None:
    """The daemon's command poller, or None when Telegram is not configured or `commands: false`. With `chats`
    (the daemon's outboxes) its replies share the bot's flood gate with the notifications."""
    tg = settings.notify.telegram
    if tg is None or not tg.commands:
        return None
    gate = chats.gate(bot_key(tg.base_url, tg.bot_token)) if chats is not None else None
    return TelegramCommands(BotApi(session, tg.bot_token, tg.base_url), store, tg.command_chats(),
                            CommandAnswers(controls, store, current or (lambda: settings)),
                            poll_timeout_s=tg.poll_timeout_s, max_command_age_s=tg.max_command_age_s, gate=gate)
