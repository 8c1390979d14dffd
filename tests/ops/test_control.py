"""The control socket over a real Unix socket: commands, errors, permissions, stale and live sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from otobot.ops.control import (
    MAX_CLIENTS,
    MAX_LINE_BYTES,
    ControlError,
    ControlServer,
    ControlSocketBusy,
    ControlUnavailable,
    request,
)
from tests.helpers import wait_for


class FakeDaemon:
    """What the supervisor answers, with a record of what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.paused: dict[str, str] = {}

    async def status(self) -> dict[str, Any]:
        self.calls.append(("status",))
        return {"users": {"alice": {"state": "paused" if "alice" in self.paused else "trading"}}}

    async def pause(self, user: str, reason: str) -> dict[str, Any]:
        self.calls.append(("pause", user, reason))
        if user != "alice":
            raise KeyError(f"no user {user}")
        self.paused[user] = reason
        return {"user": user, "paused": True}

    async def resume(self, user: str) -> dict[str, Any]:
        self.calls.append(("resume", user))
        self.paused.pop(user, None)
        return {"user": user, "paused": False}

    async def reload(self) -> dict[str, Any]:
        self.calls.append(("reload",))
        return {"added": ["bob"], "removed": []}

    async def health(self) -> dict[str, Any]:
        self.calls.append(("health",))
        return {"ok": True, "users": 1}


@pytest.fixture
def sock_path() -> Iterator[Path]:
    """A short path: sun_path holds 108 bytes, pytest's tmp_path may be longer."""
    with tempfile.TemporaryDirectory(prefix="otctl", dir="/tmp") as d:
        yield Path(d) / "run" / "otobot.sock"


@pytest.fixture
async def daemon(sock_path: Path) -> AsyncIterator[FakeDaemon]:
    fake = FakeDaemon()
    server = ControlServer(sock_path, fake)
    await server.start()
    yield fake
    await server.stop()


async def test_every_command_reaches_the_handler(daemon: FakeDaemon, sock_path: Path) -> None:
    assert await request(sock_path, "pause", "alice") == {"user": "alice", "paused": True}
    assert await request(sock_path, "status") == {"users": {"alice": {"state": "paused"}}}
    assert await request(sock_path, "resume", "alice") == {"user": "alice", "paused": False}
    assert await request(sock_path, "reload") == {"added": ["bob"], "removed": []}
    assert await request(sock_path, "health") == {"ok": True, "users": 1}

    assert daemon.calls == [("pause", "alice", "operator"), ("status",), ("resume", "alice"), ("reload",),
                            ("health",)]


async def test_pause_reason_is_passed_through(daemon: FakeDaemon, sock_path: Path) -> None:
    await request(sock_path, "pause", "alice", reason="maintenance window")

    assert daemon.paused == {"alice": "maintenance window"}


async def test_socket_is_created_0600_even_with_a_permissive_umask(sock_path: Path) -> None:
    server = ControlServer(sock_path, FakeDaemon())
    old = os.umask(0o000)
    try:
        await server.start()
    finally:
        os.umask(old)
    try:
        mode = sock_path.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
    finally:
        await server.stop()


async def test_handler_errors_come_back_as_errors_and_the_server_keeps_serving(daemon: FakeDaemon,
                                                                               sock_path: Path) -> None:
    with pytest.raises(ControlError, match=r"^no user bob$"):
        await request(sock_path, "pause", "bob")
    with pytest.raises(ControlError, match="pause needs a user"):
        await request(sock_path, "pause")
    with pytest.raises(ControlError, match="unknown command 'restart'; use status, pause, resume, cancel, flatten, "
                                           "reload or health"):
        await request(sock_path, "restart")

    assert await request(sock_path, "health") == {"ok": True, "users": 1}


async def test_json_lines_several_requests_on_one_connection(daemon: FakeDaemon, sock_path: Path) -> None:
    reader, writer = await asyncio.open_unix_connection(str(sock_path))
    writer.write(b'{"cmd":"health"}\nnot json\n{"cmd":"status"}\n')
    await writer.drain()

    replies = [json.loads(await reader.readline()) for _ in range(3)]
    writer.close()
    await writer.wait_closed()

    assert replies[0] == {"ok": True, "result": {"ok": True, "users": 1}}
    assert replies[1]["ok"] is False and "not JSON" in replies[1]["error"]
    assert replies[2] == {"ok": True, "result": {"users": {"alice": {"state": "trading"}}}}


async def test_stop_removes_the_socket_and_the_client_says_the_daemon_is_not_running(sock_path: Path) -> None:
    server = ControlServer(sock_path, FakeDaemon())
    await server.start()
    assert sock_path.exists()

    await server.stop()

    assert not sock_path.exists()
    with pytest.raises(ControlUnavailable) as err:
        await request(sock_path, "status")
    assert str(err.value) == f"the daemon is not running (no socket at {sock_path})"


async def test_a_stale_socket_of_a_crashed_process_is_replaced(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(sock_path))  # bound, never listening, then gone: what a SIGKILLed daemon leaves
    crashed.close()
    assert sock_path.exists()

    server = ControlServer(sock_path, FakeDaemon())
    await server.start()
    try:
        assert await request(sock_path, "health") == {"ok": True, "users": 1}
    finally:
        await server.stop()


async def test_a_live_daemon_on_the_socket_is_never_displaced(daemon: FakeDaemon, sock_path: Path) -> None:
    second = ControlServer(sock_path, FakeDaemon())

    with pytest.raises(ControlSocketBusy, match="another otobot is running"):
        await second.start()

    assert await request(sock_path, "health") == {"ok": True, "users": 1}
    assert daemon.calls == [("health",)]


async def test_a_regular_file_at_the_socket_path_is_left_alone(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)
    sock_path.write_text("not a socket")

    with pytest.raises(ControlSocketBusy, match="is not a socket"):
        await ControlServer(sock_path, FakeDaemon()).start()

    assert sock_path.read_text() == "not a socket"


async def test_a_daemon_that_never_answers_times_out_as_unavailable(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # holds the connection until the client gives up
        writer.close()

    server = await asyncio.start_unix_server(mute, path=str(sock_path))
    try:
        with pytest.raises(ControlUnavailable, match=r"did not answer .* within 0\.2 s"):
            await request(sock_path, "status", timeout_s=0.2)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_path_too_long_for_a_unix_socket_is_refused_with_the_fix(tmp_path: Path) -> None:
    long_path = tmp_path / ("d" * 120) / "otobot.sock"

    with pytest.raises(ValueError, match="longer than the 107 bytes a Unix socket allows"):
        await ControlServer(long_path, FakeDaemon()).start()


# ------------------------------------------------------------------ a flood or a stuck client cannot exhaust it


async def silent_clients(path: Path, n: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    return [await asyncio.open_unix_connection(str(path)) for _ in range(n)]


async def hang_up(clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, writer in clients:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_the_17th_connection_gets_a_clear_error_and_the_daemon_keeps_answering(sock_path: Path) -> None:
    fake = FakeDaemon()
    server = ControlServer(sock_path, fake, idle_timeout_s=60)
    await server.start()
    held = await silent_clients(sock_path, MAX_CLIENTS)
    try:
        await wait_for(lambda: len(server._clients) == MAX_CLIENTS, what="16 connections held")

        with pytest.raises(ControlError, match=r"^too many control connections \(16 open\); close one or retry"):
            await request(sock_path, "health")
        reader, writer = await asyncio.open_unix_connection(str(sock_path))  # a raw 18th: one line, then EOF
        writer.write(b'{"cmd": "status"}\n')
        assert json.loads(await reader.readline())["error"].startswith("too many control connections")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

        await hang_up(held[:1])
        await wait_for(lambda: len(server._clients) < MAX_CLIENTS, what="a slot freed")
        assert await request(sock_path, "health") == {"ok": True, "users": 1}
        assert fake.calls == [("health",)]
    finally:
        await hang_up(held)
        await server.stop()


async def test_a_silent_client_is_dropped_after_the_timeout(sock_path: Path) -> None:
    server = ControlServer(sock_path, FakeDaemon(), idle_timeout_s=0.3)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock_path))
        writer.write(b'{"cmd": "hea')  # a partial line, then nothing: a stuck client

        assert await asyncio.wait_for(reader.read(), 10) == b""  # the daemon hung up on it
        await wait_for(lambda: not server._clients, what="the slot released")
        assert await request(sock_path, "health") == {"ok": True, "users": 1}
        writer.close()
    finally:
        await server.stop()


async def test_an_oversized_request_is_refused_and_the_connection_closed(daemon: FakeDaemon, sock_path: Path) -> None:
    reader, writer = await asyncio.open_unix_connection(str(sock_path))
    writer.write(b'{"cmd": "status", "pad": "' + b"x" * (2 * MAX_LINE_BYTES) + b'"}\n')

    reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
    assert reply == {"ok": False, "error": f"request longer than {MAX_LINE_BYTES} bytes; send one JSON object "
                                           "per line"}
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert await request(sock_path, "health") == {"ok": True, "users": 1}
    assert daemon.calls == [("health",)]


async def test_a_flood_of_connections_leaves_the_daemon_answering(daemon: FakeDaemon, sock_path: Path) -> None:
    async def one() -> str:
        try:
            await request(sock_path, "health", timeout_s=20)
            return "ok"
        except ControlError as exc:
            return str(exc).split(" (")[0]

    outcomes = await asyncio.gather(*(one() for _ in range(100)))

    assert set(outcomes) <= {"ok", "too many control connections"} and "ok" in outcomes
    assert await request(sock_path, "health") == {"ok": True, "users": 1}
