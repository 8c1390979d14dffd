"""`otobot audit USER`: the audit trail's pauses, resumes, reloads, adoptions and strays as one line each."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otobot.config.settings import ConfigError
from otobot.store.dbfile import DatabaseUnreadable
from otobot.store.opening import open_for_reading

KINDS = ("pause", "resume", "reload", "adopt", "stray", "credentials")
_OLD_RELOAD = re.compile(r"(\w+): \[([^\]]*)\]")
_PROBLEM_KEY = re.compile(r"key '([^']+)'")


def reload_record(action: str, changes: Mapping[str, list[str]] | None = None, error: str | None = None) -> str:
    """What the supervisor writes for one user's part of a reload (JSON; read back by `reload_text`)."""
    body: dict[str, Any] = {"action": "rejected, old settings kept" if action == "errors" else action}
    if changes:
        body["changes"] = dict(changes)
    if error:
        # The key names only: a rejected value could be a mistyped secret, and the audit table is not redacted.
        keys = list(dict.fromkeys(_PROBLEM_KEY.findall(error)))
        body["error"] = f"problems with {', '.join(keys)}; see the log" if keys else "see the log"
    return json.dumps(body, ensure_ascii=False)


def reload_text(reason: str | None, user: str | None) -> str | None:
    """A reload row as words: `changed pricing.buy_offset: 0.5 → 0.6`. A daemon-wide row in the old text
    form (`changed: ['alice']`) counts when it names `user`; a new daemon-wide row is left to the per-user
    rows it came with (None: not shown)."""
    text = reason or ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and "action" in body:
        changes = body.get("changes") or {}
        parts = [f"{k}: {v[0]} → {v[1]}" for k, v in changes.items() if isinstance(v, list) and len(v) == 2]
        detail = ", ".join(parts)
        if body.get("error"):
            detail = f"{detail}; {body['error']}" if detail else str(body["error"])
        return f"{body['action']} {detail}".strip()
    if isinstance(body, dict):
        return None  # a new daemon-wide summary
    if user is None:
        return text
    mine = [k for k, names in _OLD_RELOAD.findall(text) if user in [n.strip(" '\"") for n in names.split(",")]]
    return ", ".join(mine) if mine else None


def audit_lines(rows: Iterable[Mapping[str, Any]], user: str) -> list[str]:
    """One line per event, oldest first: `2026-11-30 10:02:03  pause   operator`."""
    out = []
    for r in rows:
        if r.get("user") not in (user, None):
            continue
        kind = str(r["kind"])
        if kind == "reload":
            text = reload_text(r.get("reason"), user if r.get("user") is None else None)
        elif r.get("user") is None:
            continue
        else:
            text = str(r.get("reason") or "")
            if kind == "resume" and not text:
                text = "resumed"
        if text is None:
            continue
        when = datetime.fromtimestamp(int(r["ts_ms"]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        cycle = f" cycle {r['cycle_id']}" if r.get("cycle_id") else ""
        out.append(f"{when}  {kind:<11} {text}{cycle}")
    return out


async def run_audit(args: argparse.Namespace) -> int:
    """`otobot audit USER [--since T]`: reads SQLite only."""
    since: int = args.since or 0  # already epoch ms: the CLI parses every --since form
    try:
        _settings, store = await open_for_reading(Path(args.config))
    except (ConfigError, DatabaseUnreadable) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    try:
        lines = audit_lines(await store.audit_since(args.user, since, KINDS), args.user)
    finally:
        await store.close()
    sys.stdout.write("\n".join(lines) + "\n" if lines else f"no pauses, resumes, reloads, adoptions or strays "
                     f"recorded for {args.user}\n")
    return 0
