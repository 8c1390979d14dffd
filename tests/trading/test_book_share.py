"""Books on one BookLine show exactly what a lone book shows; continuity and freshness stay with each book."""

from __future__ import annotations

import random
import weakref
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_book import BASE, CASES, SYM, snap, upd

from otobot.exchange.book import DepthSnapshot, DepthUpdate
from otobot.trading.book import Applied, BookLine, LocalBook

D = Decimal


def shared(n: int) -> tuple[BookLine, list[LocalBook]]:
    line = BookLine()
    return line, [LocalBook(SYM, line) for _ in range(n)]


@pytest.mark.parametrize(("name", "frames", "results", "bids", "asks", "synced"), CASES, ids=[c[0] for c in CASES])
def test_three_books_on_a_line_behave_like_a_lone_book(name: str, frames: list[DepthUpdate], results: list[Applied],
                                                       bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                                                       synced: bool) -> None:
    _, books = shared(3)
    for book in books:
        book.reset(BASE, 0.0)
    got: list[list[Applied]] = [[], [], []]
    for frame in frames:  # the bots take turns, as their sockets deliver the same frame object from the cache
        for i, book in enumerate(books):
            got[i].append(book.apply(frame, 1.0))
    assert got == [results] * 3
    for book in books:
        assert book.bids() == tuple((D(p), D(q)) for p, q in bids)
        assert book.asks() == tuple((D(p), D(q)) for p, q in asks)
        assert book.needs_resync is not synced
    assert all(b.levels is books[0].levels for b in books)  # one applied state, not three copies


def test_each_frame_is_applied_once_and_the_others_take_the_result() -> None:
    line, (a, b) = shared(2)
    a.reset(BASE, 0.0)
    b.reset(BASE, 0.0)
    assert a.levels is b.levels and line.head is a.levels  # the second snapshot adopted the equal first one
    frame = upd(100, 101, 110, [("9.5", "7")], [("11", "0")])
    assert a.apply(frame, 1.0) is Applied.APPLIED and b.apply(frame, 1.0) is Applied.APPLIED
    assert a.levels is b.levels and line.head is a.levels and a.levels.update_id == 110
    assert a.bids() is b.bids()  # sorted once for both
    assert b.best_ask() == D(12) and b.best_bid() == D(10)


def test_a_book_whose_socket_is_silent_keeps_its_own_state_and_goes_stale() -> None:
    _, (live, dead) = shared(2)
    live.reset(BASE, 0.0)
    dead.reset(BASE, 0.0)
    before = dead.levels
    live.apply(upd(100, 101, 110, [("10", "9")]), 5.0)
    live.apply(upd(110, 111, 120, [("9", "0")]), 6.0)
    assert live.bids() == ((D(10), D(9)),) and live.age(6.0) == 0.0
    # Nothing came over the dead book's socket: its levels, update id and age are its own.
    assert dead.levels is before and dead.bids() == ((D(10), D(1)), (D(9), D(2)))
    assert dead.update_id == 100 and dead.age(6.0) == 6.0 and not dead.needs_resync


def test_a_late_book_catches_up_to_the_same_state_and_old_states_are_not_kept() -> None:
    line, (fast, late) = shared(2)
    fast.reset(BASE, 0.0)
    late.reset(BASE, 0.0)
    frames = [upd(100, 101, 110, [("10", "9")]), upd(110, 111, 120, [("9", "0")]),
              upd(120, 121, 130, asks=[("13", "1")])]
    fast.apply(frames[0], 1.0)
    first = weakref.ref(fast.levels)
    for f in frames[1:]:
        fast.apply(f, 1.0)
    assert first() is None  # a late (or dead) book holding the start does not pin every state after it
    assert [late.apply(f, 2.0) for f in frames] == [Applied.APPLIED] * 3
    assert late.levels is fast.levels is line.head and late.asks()[-1] == (D(13), D(1))


def test_books_that_differ_never_share_even_at_the_same_update_id() -> None:
    # Not something the exchange does; it proves adoption needs equal levels, not only an equal id.
    _, (a, b) = shared(2)
    a.reset(BASE, 0.0)
    b.reset(snap(100, [("10", "1")], [("11", "1")]), 0.0)
    frame = upd(100, 101, 110, [("9.5", "7")])
    a.apply(frame, 1.0)
    b.apply(frame, 1.0)
    assert a.levels is not b.levels
    assert a.bids() == ((D(10), D(1)), (D("9.5"), D(7)), (D(9), D(2))) and b.bids() == ((D(10), D(1)), (D("9.5"), D(7)))


def test_a_resync_replays_privately_then_joins_the_line() -> None:
    line, (a, b) = shared(2)
    a.reset(BASE, 0.0)
    frames = [upd(100, 101, 110, [("10", "3")]), upd(110, 120, 125, asks=[("11", "0")])]
    for f in frames:
        a.apply(f, 1.0)
        assert b.apply(f, 1.0) is Applied.BUFFERED  # b has no snapshot yet
    assert b.reset(BASE, 2.0) == [Applied.APPLIED, Applied.APPLIED]
    assert b.levels is a.levels is line.head and b.updated_at == 2.0 and a.updated_at == 1.0
    assert BASE.bids == ((D(10), D(1)), (D(9), D(2)))  # the snapshot itself was never changed


def test_a_gap_on_one_book_leaves_the_others_synced() -> None:
    _, (a, b) = shared(2)
    a.reset(BASE, 0.0)
    b.reset(BASE, 0.0)
    a.apply(upd(100, 101, 110, [("10", "3")]), 1.0)  # b's socket lost this frame
    nxt = upd(110, 111, 120, [("9", "4")])
    assert a.apply(nxt, 1.0) is Applied.APPLIED and b.apply(nxt, 1.0) is Applied.GAP
    assert b.needs_resync and not a.needs_resync and b.bids() == ((D(10), D(1)), (D(9), D(2)))


levels = st.dictionaries(st.integers(1, 40).map(lambda i: D(i) / 4), st.integers(0, 9).map(D), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(levels, levels, st.integers(1, 50)), min_size=1, max_size=12), st.integers(0, 10 ** 6))
def test_shared_books_in_any_delivery_order_match_a_lone_book(
        frames: list[tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], int]], seed: int) -> None:
    start = DepthSnapshot(SYM, 1000, ((D(5), D(1)),), ((D(20), D(1)),), 0)
    chain: list[DepthUpdate] = []
    prev = 1000
    for bids, asks, width in frames:
        chain.append(DepthUpdate(SYM, prev + 1, prev + width, prev, tuple(bids.items()), tuple(asks.items()), 0))
        prev += width
    lone = LocalBook(SYM)
    lone.reset(start, 0.0)
    for u in chain:
        lone.apply(u, 1.0)
    _, books = shared(3)
    rng = random.Random(seed)
    progress = [0, 0, 0]
    for book in books:
        book.reset(start, 0.0)
    while min(progress) < len(chain):  # the sockets deliver the same frames, each book at its own pace
        i = rng.choice([k for k in range(3) if progress[k] < len(chain)])
        assert books[i].apply(chain[progress[i]], 1.0) is Applied.APPLIED
        progress[i] += 1
    for book in books:
        assert book.bids() == lone.bids() and book.asks() == lone.asks() and book.update_id == lone.update_id
    assert books[0].levels is books[1].levels is books[2].levels


# (name, snapshot the exchange returns, snapshot limit, the book shows it)
SHOWS = [
    ("the same levels", snap(100, [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")]), 1000, True),
    ("the same levels at a later id (ids shared across symbols)",
     snap(170, [("9", "2"), ("10", "1")], [("12", "3"), ("11", "1")]), 1000, True),
    ("the same prices written another way", snap(100, [("10.0", "1.00"), ("9", "2")], [("11", "1"), ("12", "3")]),
     1000, True),
    ("a changed quantity", snap(120, [("10", "4"), ("9", "2")], [("11", "1"), ("12", "3")]), 1000, False),
    ("a level the book lacks", snap(120, [("10", "1"), ("9", "2")], [("11", "1"), ("11.5", "1"), ("12", "3")]), 1000,
     False),
    ("a level gone", snap(120, [("10", "1")], [("11", "1"), ("12", "3")]), 1000, False),
    ("deeper levels than the snapshot reaches", snap(120, [("10", "1")], [("11", "1")]), 1, True),
]


@pytest.mark.parametrize(("name", "snapshot", "limit", "shown"), SHOWS, ids=[c[0] for c in SHOWS])
def test_a_snapshot_shows_a_missed_change_by_its_levels_never_by_its_id(name: str, snapshot: DepthSnapshot,
                                                                       limit: int, shown: bool) -> None:
    book = LocalBook(SYM)
    book.reset(BASE, 0.0)
    assert book.shows(snapshot, limit) is shown
