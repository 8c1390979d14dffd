"""The control socket: a 0600 Unix socket speaking JSON lines, for `otobot ctl status|pause|resume|reload|health`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Protocol


class ControlUnavailable(Exception):
    """No daemon answers on the socket."""


class ControlError(Exception):
    """The daemon answered with an error."""


class ControlHandler(Protocol):
    async def status(self) -> dict[str, Any]: ...
    async def pause(self, user: str, reason: str) -> dict[str, Any]: ...
    async def resume(self, user: str) -> dict[str, Any]: ...
    async def reload(self) -> dict[str, Any]: ...
    async def health(self) -> dict[str, Any]: ...


class ControlServer:
    def __init__(self, path: Path, handler: ControlHandler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.path.exists():
            try:
                await request(self.path, "health", timeout_s=1.0)
            except ControlUnavailable:
                self.path.unlink()  # a stale socket of a crashed process
            else:
                raise RuntimeError(f"another otobot is running (its control socket {self.path} answers)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)  # the socket is born 0600: no window where another user can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                req = json.loads(line or b"{}")
                result = await self._dispatch(req)
                reply: dict[str, Any] = {"ok": True, "result": result}
            except Exception as exc:  # the operator gets the reason; the daemon keeps running
                reply = {"ok": False, "error": str(exc).strip("'\"") or type(exc).__name__}
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd, user = req.get("cmd"), req.get("user")
        if cmd == "status":
            return await self.handler.status()
        if cmd == "health":
            return await self.handler.health()
        if cmd == "reload":
            return await self.handler.reload()
        if cmd in ("pause", "resume"):
            if not user:
                raise ValueError(f"{cmd} needs a user")
            if cmd == "pause":
                return await self.handler.pause(str(user), str(req.get("reason") or "operator"))
            return await self.handler.resume(str(user))
        raise ValueError(f"unknown command {cmd!r}; use status, pause, resume, reload or health")


async def request(path: Path, cmd: str, user: str | None = None, timeout_s: float = 5.0) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(json.dumps({"cmd": cmd, "user": user}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
    except (OSError, TimeoutError) as exc:
        raise ControlUnavailable(f"the daemon is not running (no answer on {path}: {exc})") from None
    reply = json.loads(line or b"{}")
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "unknown error"))
    result: dict[str, Any] = reply.get("result") or {}
    return result
