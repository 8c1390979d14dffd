"""The database file: the daemon's exclusive lock on it, and a clear error when it cannot be opened."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class DatabaseLocked(Exception):
    """Another live process holds the database's lock (a second `otobot run` on the same file)."""


class DatabaseUnreadable(Exception):
    """The file is not a SQLite database, is damaged, or cannot be opened; the message says what to do."""


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


class DbLock:
    """An flock on `<db>.lock`, held for the daemon's lifetime.

    flock belongs to the open file description, so the kernel drops it when the process dies (kill -9
    included): a stale lock file never blocks a restart. The file is never unlinked, since unlinking would
    let a third process lock a fresh inode while a second still holds the old one. It carries the holder's
    pid so the refusal can name it.
    """

    def __init__(self, db: Path, fd: int) -> None:
        self.db, self._fd = db, fd

    @classmethod
    def acquire(cls, db: Path) -> DbLock:
        path = lock_path(db)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DatabaseUnreadable(f"cannot create the lock file {path}: {exc.strerror}; check that the "
                                     "database's folder exists and the daemon's user may write to it") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise DatabaseLocked(f"another otobot ({who}) holds {db}; stop it first (systemctl stop otobot)") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(db, fd)

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def unreadable(db: Path | str, exc: BaseException) -> DatabaseUnreadable:
    """The one-paragraph message for a database SQLite refused to open or read."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        detail = exc.strerror or detail
        fix = "check the path in otobot.yaml (database:) and that the daemon's user may read and write it"
    elif "not a database" in detail or "malformed" in detail:
        fix = ("the file is damaged or is not an otobot database: move it aside and restore the last backup, or "
               "start with a fresh database (history is lost; open orders it does not know are left alone)")
    else:
        fix = "check the path in otobot.yaml (database:), its permissions and the free disk space"
    return DatabaseUnreadable(f"cannot open the database {db}: {detail}; {fix}")
