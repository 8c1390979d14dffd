"""Why a bot places nothing right now, as every view shows it: a reason code, a sentence with its numbers, since
when. Pure but for `follow`'s log line: the place guards' facts in, a Waiting (or None) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otobot.trading.cycle import PLACE_GUARDS, PlaceFacts

# The place guards that mean "waiting" (a pause is shown as a pause; a reached target is done, not waiting).
REASONS = {"user_stream_up": "user_stream", "no_live_oto": "live_orders", "price_is_fresh": "stale_price",
           "book_is_fresh": "book", "volatility_ok": "volatility", "balance_ok": "balance"}


@dataclass(frozen=True, slots=True)
class Waiting:
    reason: str  # volatility | stale_price | book | user_stream | live_orders | balance
    text: str  # "volatility 4.2 % > 3 % in 60 s"
    since_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "text": self.text, "since_ms": self.since_ms}


def refusing_guard(passes: dict[str, bool]) -> str | None:
    """The first place guard (in PLACE_GUARDS order) that says no."""
    return next((g for g in PLACE_GUARDS if not passes.get(g, True)), None)


def describe(guard: str, f: PlaceFacts, window_s: float, quote: str) -> str:
    if guard == "volatility_ok":
        return f"volatility {f.move_pct:.1f} % > {f.max_move_pct:g} % in {window_s:g} s"
    if guard == "price_is_fresh":
        return ("no trade price yet" if f.price_age_s is None
                else f"last trade {f.price_age_s:.0f} s old > {f.max_price_age_s:g} s")
    if guard == "book_is_fresh":
        return f"order book: {f.book_refusal}"
    if guard == "user_stream_up":
        return "user stream not connected and reconciled"
    if guard == "no_live_oto":
        return f"{f.live_orders} order(s) of the last cycle still live"
    if guard == "balance_ok":
        return f"free {quote} {f.balance_free} below the order size plus reserve"
    return guard


def next_waiting(previous: Waiting | None, guard: str | None, f: PlaceFacts, *, window_s: float, quote: str,
                 now_ms: int) -> Waiting | None:
    """The bot's waiting after a place attempt: None when it places (or is paused / done for the day); the same
    `since_ms` while the same reason holds (its numbers updated), a new one when the reason changes."""
    reason = REASONS.get(guard or "")
    if reason is None:
        return None
    text = describe(str(guard), f, window_s, quote)
    since = previous.since_ms if previous is not None and previous.reason == reason else now_ms
    return Waiting(reason, text, since)


def follow(previous: Waiting | None, guard: str | None, f: PlaceFacts, *, window_s: float, quote: str, now_ms: int,
           log: Any) -> Waiting | None:
    """next_waiting, logged at INFO when a wait starts, changes reason or ends (a volatility wait used to leave
    only a DEBUG line while `status` said idle)."""
    now = next_waiting(previous, guard, f, window_s=window_s, quote=quote, now_ms=now_ms)
    if (previous.reason if previous else None) != (now.reason if now else None):
        if now is not None:
            log.info("Waiting ({}): {}; placing nothing until it clears", now.reason, now.text)
        elif previous is not None:
            log.info("No longer waiting ({}) after {:.0f} s; placing again", previous.reason,
                     (now_ms - previous.since_ms) / 1000)
    return now
