"""UTC day boundaries: the day book rolls at 00:00 UTC exactly, counts a fill in the day it was made, and asks
"still today?" with the span it cached (issue 12), also after its day was set from outside."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otobot.trading.daybook import DAY_MS, DayBook, day_span, utc_day

MIDNIGHT = 1_764_547_200_000  # 2025-12-01 00:00:00.000 UTC
D = Decimal


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("at", "day"), [
    (MIDNIGHT - 1, "2025-11-30"),  # 23:59:59.999
    (MIDNIGHT, "2025-12-01"),
    (MIDNIGHT + DAY_MS - 1, "2025-12-01"),
    (ms("2024-02-29T23:59:59.999"), "2024-02-29"),  # a leap day
    (ms("2024-03-01T00:00:00"), "2024-03-01"),
    (ms("2025-12-31T23:59:59.999"), "2025-12-31"),  # a year's end
    (ms("2026-01-01T00:00:00"), "2026-01-01"),
    (0, "1970-01-01"),
    (-1, "1969-12-31"),  # before the epoch: floor, not truncation toward zero
])
def test_utc_day_of_a_timestamp(at: int, day: str) -> None:
    assert utc_day(at) == day
    assert utc_day(at) == datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize(("at", "day", "start", "end"), [
    (MIDNIGHT - 1, "2025-11-30", MIDNIGHT - DAY_MS, MIDNIGHT),
    (MIDNIGHT, "2025-12-01", MIDNIGHT, MIDNIGHT + DAY_MS),
    (MIDNIGHT + 43_200_000, "2025-12-01", MIDNIGHT, MIDNIGHT + DAY_MS),
    (-1, "1969-12-31", -DAY_MS, 0),
])
def test_a_days_span_ends_at_the_next_midnight(at: int, day: str, start: int, end: int) -> None:
    assert day_span(at) == (day, start, end)


# Each row: the times the book is asked to roll at, in order, and what each roll answers and the day after it.
@pytest.mark.parametrize("steps", [
    [(MIDNIGHT - 60_000, True, "2025-11-30"), (MIDNIGHT - 1, False, "2025-11-30"), (MIDNIGHT, True, "2025-12-01")],
    [(MIDNIGHT, True, "2025-12-01"), (MIDNIGHT + 1, False, "2025-12-01"), (MIDNIGHT + DAY_MS - 1, False, "2025-12-01"),
     (MIDNIGHT + DAY_MS, True, "2025-12-02")],
    # a clock stepped back over midnight goes back to the earlier day, as the date alone would say
    [(MIDNIGHT + 5, True, "2025-12-01"), (MIDNIGHT - 5, True, "2025-11-30")],
    # two days skipped while the process slept
    [(MIDNIGHT - 1, True, "2025-11-30"), (MIDNIGHT + 2 * DAY_MS + 7, True, "2025-12-03")],
])
def test_the_book_rolls_exactly_at_midnight(steps: list[tuple[int, bool, str]]) -> None:
    book = DayBook()
    for at, rolled, day in steps:
        assert (book.roll(at), book.day) == (rolled, day), at


def test_a_roll_starts_the_day_from_zero_and_a_fill_counts_in_the_day_it_was_made() -> None:
    book = DayBook()
    book.roll(MIDNIGHT - 10)
    book.add_buy(D("5"), MIDNIGHT - 1)  # 23:59:59.999: yesterday's last fill
    book.cycles = 3
    assert book.volume == 5
    assert book.roll(MIDNIGHT)
    assert (book.volume, book.cycles) == (0, 0)
    book.add_buy(D("7"), MIDNIGHT - 1)  # a late report of yesterday's fill: not today's volume
    book.add_buy(D("2"), MIDNIGHT)
    book.add_buy(D("4"), MIDNIGHT + DAY_MS)  # stamped tomorrow (before the book rolled): not today's either
    assert book.volume == 2


@pytest.mark.parametrize(("day", "fill_at", "counted"), [
    ("2025-12-01", MIDNIGHT, True),
    ("2025-12-01", MIDNIGHT - 1, False),
    ("2025-11-30", MIDNIGHT - 1, True),
    ("2025-11-30", MIDNIGHT, False),
])
def test_a_day_set_from_outside_is_honoured_over_the_cached_span(day: str, fill_at: int, counted: bool) -> None:
    book = DayBook()
    book.roll(MIDNIGHT + 1000)  # caches 2025-12-01's span
    book.day = day  # what a restore from SQLite does
    book.add_buy(D("3"), fill_at)
    assert book.volume == (3 if counted else 0)


def test_a_restored_day_rolls_at_its_own_midnight() -> None:
    book = DayBook(day="2025-11-30", volume=D("9"), cycles=2)
    assert not book.roll(MIDNIGHT - 1) and book.volume == 9
    assert book.roll(MIDNIGHT) and (book.day, book.volume) == ("2025-12-01", 0)


def test_a_restored_day_learns_its_span_once_and_answers_every_later_question_the_same() -> None:
    """After a restore the first question in the day fixes the span (no date formatted per decision after it);
    a question about another day must not."""
    book = DayBook(day="2025-12-01")
    for at, counted in [(MIDNIGHT - 1, False), (MIDNIGHT + DAY_MS, False), (MIDNIGHT, True),
                        (MIDNIGHT + DAY_MS - 1, True), (MIDNIGHT + DAY_MS, False), (MIDNIGHT - 1, False),
                        (MIDNIGHT + 5, True)]:
        before = book.volume
        book.add_buy(D(1), at)
        assert (book.volume - before == 1) is counted, at
    assert not book.roll(MIDNIGHT + DAY_MS - 1) and book.volume == 3
    # The two buys stamped on 2025-12-02 count for that day once the book gets there, as SQLite counts them.
    assert book.roll(MIDNIGHT + DAY_MS) and (book.day, book.volume) == ("2025-12-02", 2)
