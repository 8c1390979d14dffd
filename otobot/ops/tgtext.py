"""Telegram's text limit: one long text as messages of at most 4096 characters, split at line ends, never cut."""

from __future__ import annotations

TELEGRAM_MAX_CHARS = 4096  # sendMessage `text`: 1-4096 characters after entities parsing (Bot API docs)


def split_message(text: str, limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """`text` as consecutive parts of at most `limit` characters each, split after a newline wherever one fits;
    a single line longer than `limit` is split inside the line. Joined with newlines they give `text` back."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while len(line) > limit:  # one line alone is too long: the only place a line is split
            if current:
                parts.append("\n".join(current))
                current, size = [], 0
            parts.append(line[:limit])
            line = line[limit:]
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            parts.append("\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current and (size or not parts):
        parts.append("\n".join(current))
    return [p for p in parts if p.strip()] or ([text] if text.strip() else [])
