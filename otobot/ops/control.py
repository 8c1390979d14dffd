"""The control socket: a 0600 Unix socket speaking JSON lines, for `otobot ctl status|pause|resume|cancel|...`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from otobot.config.settings import GlobalConfig

COMMANDS = ("status", "pause", "resume", "cancel", "flatten", "reload", "health")
MAX_PATH_BYTES = 107  # sockaddr_un.sun_path is 108 bytes with the terminating NUL
IDLE_TIMEOUT_S = 30.0  # a client that connects and says nothing is dropped, so it cannot pin a task forever
# A flood of connections (a looping script, a stuck monitor) must not eat the daemon's file descriptors or
# tasks: past this many open at once a newcomer gets an error line and is closed. `otobot ctl` needs one.
MAX_CLIENTS = 16
MAX_LINE_BYTES = 4096  # a request is ~60 bytes; anything longer is not one of ours


class ControlUnavailable(Exception):
    """No daemon answers on the socket."""


class ControlError(Exception):
    """The daemon answered with an error."""


class ControlSocketBusy(RuntimeError):
    """A live daemon already listens on the socket path."""


class ControlHandler(Protocol):
    async def status(self) -> dict[str, Any]: ...
    async def pause(self, user: str, reason: str) -> dict[str, Any]: ...
    async def resume(self, user: str) -> dict[str, Any]: ...
    async def reload(self) -> dict[str, Any]: ...
    async def manual(self, user: str, kind: str) -> dict[str, Any]: ...
    async def health(self) -> dict[str, Any]: ...


class ControlServer:
    """`{"cmd": ..., "user": ..., "reason": ...}` → `{"ok": true, "result": {...}}` or `{"ok": false, "error": ...}`.

    One JSON object per line, any number per connection. A handler exception becomes an error reply:
    the operator gets the reason, the daemon keeps running.
    """

    def __init__(self, path: Path, handler: ControlHandler, *, max_clients: int = MAX_CLIENTS,
                 idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.path = path
        self.handler = handler
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        if len(os.fsencode(self.path)) > MAX_PATH_BYTES:
            raise ValueError(f"the control socket path {self.path} is longer than the {MAX_PATH_BYTES} bytes a "
                             "Unix socket allows; set control_socket to a shorter path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window in which another user could connect
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE_BYTES)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= self.max_clients:
            # Take the request line first (1 s at most): a client whose write met a closed socket would see
            # only a broken pipe, not this reason.
            with contextlib.suppress(TimeoutError, ValueError, ConnectionError):
                async with asyncio.timeout(1.0):
                    await reader.readline()
            writer.write(_error(f"too many control connections ({self.max_clients} open); close one or retry "
                                "in a moment"))
            await _hang_up(writer)
            return
        self._clients.add(writer)
        try:
            while True:
                # The whole line is under the timeout, so a client trickling bytes is dropped like a silent one;
                # the handler is not (a reload may take its time), the reply's drain is again.
                async with asyncio.timeout(self.idle_timeout_s):
                    line = await reader.readline()
                if not line.strip():
                    break
                writer.write(json.dumps(await self._reply(line), default=str).encode() + b"\n")
                async with asyncio.timeout(self.idle_timeout_s):
                    await writer.drain()
        except ValueError:  # the line is over the reader's limit: say so, then hang up
            writer.write(_error(f"request longer than {MAX_LINE_BYTES} bytes; send one JSON object per line"))
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            await _hang_up(writer)

    async def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError('a request is a JSON object like {"cmd": "status"}')
            return {"ok": True, "result": await self._dispatch(req)}
        except json.JSONDecodeError:
            return {"ok": False, "error": 'the request is not JSON; send one object per line, like {"cmd": "status"}'}
        except Exception as exc:
            return {"ok": False, "error": str(exc).strip("'\"") or type(exc).__name__}

    async def _dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd, user = req.get("cmd"), req.get("user")
        if cmd == "status":
            return await self.handler.status()
        if cmd == "health":
            return await self.handler.health()
        if cmd == "reload":
            return await self.handler.reload()
        if cmd in ("pause", "resume", "cancel", "flatten"):
            if not user or not isinstance(user, str):
                raise ValueError(f"{cmd} needs a user")
            if cmd == "pause":
                return await self.handler.pause(user, str(req.get("reason") or "operator"))
            if cmd == "resume":
                return await self.handler.resume(user)
            return await self.handler.manual(user, cmd)
        raise ValueError(f"unknown command {cmd!r}; use {', '.join(COMMANDS[:-1])} or {COMMANDS[-1]}")


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    """Close after flushing what was written, but never wait on a peer that does not read: abort after 1 s."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, OSError):
        writer.transport.abort()


def _error(reason: str) -> bytes:
    return json.dumps({"ok": False, "error": reason}).encode() + b"\n"


def _remove_stale(path: Path) -> None:
    """Unlink the socket a crashed process left behind; refuse if a live daemon answers or it is not a socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlSocketBusy(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()  # nobody listens: the socket of a crashed process
        return
    except OSError as exc:
        raise ControlSocketBusy(f"cannot check the control socket {path}: {exc.strerror}") from None
    finally:
        probe.close()
    raise ControlSocketBusy(f"another otobot is running (its control socket {path} accepts connections)")


async def request(path: Path, cmd: str, user: str | None = None, timeout_s: float = 5.0, *,
                  reason: str | None = None) -> dict[str, Any]:
    """One command to the daemon; its `result`, or ControlError with its reason, or ControlUnavailable."""
    body: dict[str, Any] = {"cmd": cmd, "user": user}
    if reason is not None:
        body["reason"] = reason
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout_s)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ControlUnavailable(f"the daemon is not running (no socket at {path})") from None
    except PermissionError:
        raise ControlUnavailable(f"permission denied on {path}: run this as the daemon's user (otobot)") from None
    except (OSError, TimeoutError) as exc:
        raise ControlUnavailable(f"cannot reach the daemon at {path} ({exc or 'timed out'})") from None
    try:
        async with asyncio.timeout(timeout_s):
            writer.write(json.dumps(body).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError):
        raise ControlUnavailable(f"the daemon did not answer on {path} within {timeout_s:g} s") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not line:
        raise ControlUnavailable(f"the daemon closed {path} without answering")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise ControlError(reply.get("error") or "unknown error")
    result: dict[str, Any] = reply.get("result") or {}
    return result


def socket_path(settings: GlobalConfig) -> Path:
    """The control socket: configured, else $RUNTIME_DIRECTORY (systemd), else beside the database."""
    if settings.control_socket is not None:
        return settings.control_socket
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / "otobot.sock"
    return settings.database.parent / "otobot.sock"
