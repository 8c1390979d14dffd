"""Notifications reach Telegram and a webhook, and a broken endpoint never reaches the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otobot.config.settings import NotifyConfig, TelegramConfig
from otobot.ops.notify import Notification, NotifyHub, TelegramNotifier, UserRoutes, WebhookNotifier
from tests.helpers import local_http

BOT_TOKEN = "123456:SECRET-bot-token"


@dataclass
class FakeEndpoints:
    """Stands in for api.telegram.org and a webhook receiver; `fail` scripts the next statuses per path."""

    url: str = ""
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    hang_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.attempts[path] = self.attempts.get(path, 0) + 1
        if self.hang_s and path == "/slow":
            await asyncio.sleep(self.hang_s)
        script = self.fail.get(path)
        if script:
            return web.json_response({"ok": False}, status=script.pop(0))
        self.received.setdefault(path, []).append(await request.json())
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": True})


@pytest.fixture
async def endpoints() -> AsyncIterator[FakeEndpoints]:
    fake = FakeEndpoints()
    async with local_http(fake.handle) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def wait_for(predicate: Any, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def paused(user: str = "alice") -> Notification:
    return Notification(kind="paused", user=user, text="paused: daily loss limit reached", data={"loss": "1.25"})


async def test_telegram_and_webhook_both_receive_the_notification(endpoints: FakeEndpoints,
                                                                  session: aiohttp.ClientSession) -> None:
    telegram = TelegramNotifier(session, BOT_TOKEN, "-100200", base_url=endpoints.url)
    webhook = WebhookNotifier(session, endpoints.url + "/hook", {"authorization": "Bearer hook-secret"})

    async with NotifyHub([telegram, webhook]) as hub:
        hub.notify(paused())
        await wait_for(lambda: hub.sent == 2)

    assert endpoints.received[f"/bot{BOT_TOKEN}/sendMessage"] == [
        {"chat_id": "-100200", "text": "otobot [alice] paused: paused: daily loss limit reached"}]
    [hook] = endpoints.received["/hook"]
    assert {k: hook[k] for k in ("kind", "user", "text", "data")} == {
        "kind": "paused", "user": "alice", "text": "paused: daily loss limit reached", "data": {"loss": "1.25"}}
    assert isinstance(hook["time_ms"], int)
    assert any(h.get("Authorization") == "Bearer hook-secret" for h in endpoints.headers)


async def test_5xx_is_retried_with_backoff_then_delivered(endpoints: FakeEndpoints,
                                                          session: aiohttp.ClientSession) -> None:
    endpoints.fail["/hook"] = [502, 503]
    hub = NotifyHub([WebhookNotifier(session, endpoints.url + "/hook")], retries=2, backoff_s=0.01)

    async with hub:
        hub.notify(paused())
        await wait_for(lambda: hub.sent == 1)

    assert endpoints.attempts["/hook"] == 3
    assert len(endpoints.received["/hook"]) == 1
    assert hub.failed == 0


async def test_failing_endpoint_is_logged_and_swallowed_never_raised(endpoints: FakeEndpoints,
                                                                     session: aiohttp.ClientSession,
                                                                     logs: list[str]) -> None:
    path = f"/bot{BOT_TOKEN}/sendMessage"
    endpoints.fail[path] = [500, 500, 500, 500]
    hub = NotifyHub([TelegramNotifier(session, BOT_TOKEN, "1", base_url=endpoints.url)], retries=2, backoff_s=0.01)

    async with hub:
        hub.notify(paused())  # returns at once, raises nothing
        await wait_for(lambda: hub.failed == 1)

    assert endpoints.attempts[path] == 3
    warning = [line for line in logs if "Could not send the paused notification" in line]
    assert len(warning) == 1
    assert "Telegram answered HTTP 500" in warning[0] and "after 3 attempt(s)" in warning[0]
    assert BOT_TOKEN not in "".join(logs)  # the bot token is in the URL; the log never shows it


async def test_client_errors_other_than_429_are_not_retried(endpoints: FakeEndpoints,
                                                            session: aiohttp.ClientSession) -> None:
    endpoints.fail["/hook"] = [400]
    hub = NotifyHub([WebhookNotifier(session, endpoints.url + "/hook")], retries=2, backoff_s=0.01)

    async with hub:
        hub.notify(paused())
        await wait_for(lambda: hub.failed == 1)

    assert endpoints.attempts["/hook"] == 1


async def test_unreachable_and_hanging_endpoints_do_not_hold_up_the_caller_or_the_others(
        endpoints: FakeEndpoints, session: aiohttp.ClientSession) -> None:
    endpoints.hang_s = 2.0
    dead = WebhookNotifier(session, "http://127.0.0.1:9/dead")  # discard port: connection refused
    slow = WebhookNotifier(session, endpoints.url + "/slow")
    good = WebhookNotifier(session, endpoints.url + "/hook")
    hub = NotifyHub([dead, slow, good], timeout_s=0.2, retries=1, backoff_s=0.01)

    async with hub:
        started = time.monotonic()
        hub.notify(paused())
        assert time.monotonic() - started < 0.05
        await wait_for(lambda: hub.sent + hub.failed == 3)

    assert hub.sent == 1 and hub.failed == 2
    assert len(endpoints.received["/hook"]) == 1


async def test_a_notifier_that_raises_anything_is_contained(endpoints: FakeEndpoints,
                                                            session: aiohttp.ClientSession) -> None:
    class Broken:
        async def send(self, event: Notification) -> None:
            raise KeyError("bug in a formatter")

    hub = NotifyHub([Broken(), WebhookNotifier(session, endpoints.url + "/hook")], backoff_s=0.01)

    async with hub:
        hub.notify(paused())
        await wait_for(lambda: hub.sent + hub.failed == 2)

    assert hub.failed == 1 and hub.sent == 1


async def test_full_queue_drops_the_oldest_with_a_warning(endpoints: FakeEndpoints, session: aiohttp.ClientSession,
                                                          logs: list[str]) -> None:
    hub = NotifyHub([WebhookNotifier(session, endpoints.url + "/hook")], maxsize=2)

    for user in ("u1", "u2", "u3"):  # not started yet: the queue fills
        hub.notify(paused(user))
    async with hub:
        await wait_for(lambda: hub.sent == 2)

    assert [r["user"] for r in endpoints.received["/hook"]] == ["u2", "u3"]
    assert hub.dropped == 1
    assert any("Notification queue full" in line and "paused for u1" in line for line in logs)


async def test_stop_drains_what_is_queued(endpoints: FakeEndpoints, session: aiohttp.ClientSession) -> None:
    hub = NotifyHub([WebhookNotifier(session, endpoints.url + "/hook")])
    await hub.start()
    for kind in ("target_reached", "daily_summary", "resumed"):
        hub.notify(Notification(kind=kind, user=None, text=kind, data={}))

    await hub.stop()

    assert [r["kind"] for r in endpoints.received["/hook"]] == ["target_reached", "daily_summary", "resumed"]


def test_without_notifiers_notify_is_a_no_op() -> None:
    hub = NotifyHub([])

    hub.notify(paused())

    assert hub.sent == hub.failed == hub.dropped == 0


async def test_a_users_notify_override_gets_their_events_and_only_theirs(endpoints: FakeEndpoints,
                                                                         session: aiohttp.ClientSession) -> None:
    overrides: dict[str, NotifyConfig] = {
        "alice": NotifyConfig(webhook_url=endpoints.url + "/alice"),
        "carol": NotifyConfig(telegram=TelegramConfig(BOT_TOKEN, "-555", base_url=endpoints.url)),
    }
    routes = UserRoutes(session, [WebhookNotifier(session, endpoints.url + "/global")], overrides.get)

    async with NotifyHub([], route=routes) as hub:
        for user in ("alice", "bob", "carol", None):
            hub.notify(Notification(kind="paused", user=user, text="x"))
        await wait_for(lambda: hub.sent == 4)
        overrides.pop("alice")  # alice's file lost its notify section (a reload): back to the global notifiers
        hub.notify(paused("alice"))
        await wait_for(lambda: hub.sent == 5)

    assert [r["user"] for r in endpoints.received["/alice"]] == ["alice"]
    assert [r["user"] for r in endpoints.received["/global"]] == ["bob", None, "alice"]
    assert endpoints.received[f"/bot{BOT_TOKEN}/sendMessage"] == [
        {"chat_id": "-555", "text": "otobot [carol] paused: x"}]
