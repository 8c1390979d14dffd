"""Issue 19, problem 6: a buy counts for the UTC day of its fill's time, in memory as SQLite counts it."""

from __future__ import annotations

from decimal import Decimal

from otobot.trading.daybook import DAY_MS, DayBook

D = Decimal
MIDNIGHT = 1_764_547_200_000  # 2025-12-01 00:00:00 UTC


def test_a_fill_stamped_after_midnight_counts_for_the_new_day_when_the_book_rolls() -> None:
    book = DayBook()
    book.roll(MIDNIGHT - 60_000)  # 23:59 on 2025-11-30
    book.set_target("volume", D("100"), 1)
    book.add_buy(D("20"), MIDNIGHT - 1)  # yesterday's last fill: yesterday's volume
    # The cycle in flight fills its BUY at 00:00:01: the book rolls only between cycles, so it still holds yesterday.
    book.add_buy(D("19.98"), MIDNIGHT + 1000)
    assert (book.day, book.volume) == ("2025-11-30", D("20"))
    assert book.roll(MIDNIGHT + 5000) and book.day == "2025-12-01"
    assert book.volume == D("19.98")  # SQLite counts it for 2025-12-01 too (fillrecord keys it by the fill's day)
    assert book.remaining == D("80.02")


def test_a_late_fill_of_an_older_day_never_counts_for_today() -> None:
    book = DayBook()
    book.roll(MIDNIGHT + 1000)
    book.add_buy(D("5"), MIDNIGHT - 1000)
    assert book.volume == 0
    book.roll(MIDNIGHT + DAY_MS + 1)
    assert book.volume == 0
