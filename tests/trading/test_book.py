"""The pure local book: snapshot + diffs with the §4.1 continuity rule, gaps, crossed books, depth queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.book import BookTicker, DepthSnapshot, DepthUpdate, Level
from otobot.exchange.errors import MalformedMessage
from otobot.trading.book import Applied, LocalBook, Sweep, cover_level, cumulative, sweep, sweep_quote

D = Decimal
SYM = "ALPHA_971USDT"


def snap(last_id: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> DepthSnapshot:
    return DepthSnapshot(SYM, last_id, tuple((D(p), D(q)) for p, q in bids), tuple((D(p), D(q)) for p, q in asks), 0)


def upd(pu: int, first: int, last: int, bids: list[tuple[str, str]] = (),  # type: ignore[assignment]
        asks: list[tuple[str, str]] = ()) -> DepthUpdate:  # type: ignore[assignment]
    return DepthUpdate(SYM, first, last, pu, tuple((D(p), D(q)) for p, q in bids),
                       tuple((D(p), D(q)) for p, q in asks), 0)


BASE = snap(100, [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")])

# (name, frames after the snapshot, expected results, expected bids, expected asks, synced afterwards)
CASES = [
    ("old frames are dropped", [upd(80, 90, 100, [("10", "5")])], [Applied.OLD],
     [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")], True),
    ("first frame may start past the snapshot (ids shared across symbols)", [upd(95, 130, 140, [("10", "4")])],
     [Applied.APPLIED], [("10", "4"), ("9", "2")], [("11", "1"), ("12", "3")], True),
    ("first frame straddling the snapshot applies", [upd(95, 99, 105, asks=[("11", "0")])], [Applied.APPLIED],
     [("10", "1"), ("9", "2")], [("12", "3")], True),
    ("a chain linked by pu applies", [upd(100, 101, 110, [("9.5", "7")]), upd(110, 150, 160, [("10", "0")])],
     [Applied.APPLIED, Applied.APPLIED], [("9.5", "7"), ("9", "2")], [("11", "1"), ("12", "3")], True),
    ("first frame after a missed one is a gap", [upd(101, 120, 130, [("10", "9")])], [Applied.GAP],
     [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")], False),
    ("a broken chain is a gap and later frames wait", [upd(100, 101, 110), upd(111, 150, 160), upd(160, 170, 180)],
     [Applied.APPLIED, Applied.GAP, Applied.BUFFERED], [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")], False),
    ("removing a level never held is normal", [upd(100, 101, 102, [("8", "0.00")], [("13", "0")])],
     [Applied.APPLIED], [("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")], True),
    ("a diff may cross the book", [upd(100, 101, 102, [("11.5", "2")])], [Applied.APPLIED],
     [("11.5", "2"), ("10", "1"), ("9", "2")], [("11", "1"), ("12", "3")], True),
]


@pytest.mark.parametrize(("name", "frames", "results", "bids", "asks", "synced"), CASES, ids=[c[0] for c in CASES])
def test_diff_frames_after_a_snapshot(name: str, frames: list[DepthUpdate], results: list[Applied],
                                      bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                                      synced: bool) -> None:
    book = LocalBook(SYM)
    book.reset(BASE, 0.0)
    assert [book.apply(f, 1.0) for f in frames] == results
    assert book.bids() == tuple((D(p), D(q)) for p, q in bids)
    assert book.asks() == tuple((D(p), D(q)) for p, q in asks)
    assert book.needs_resync is not synced


def test_frames_before_the_snapshot_are_buffered_then_replayed_from_the_snapshot_on() -> None:
    book = LocalBook(SYM)
    assert book.needs_resync and book.update_id is None
    early = [upd(70, 80, 90, [("10", "8")]), upd(90, 95, 104, [("10", "6")]), upd(104, 120, 125, asks=[("11", "0")])]
    assert [book.apply(f, 0.5) for f in early] == [Applied.BUFFERED] * 3
    assert book.reset(BASE, 1.0) == [Applied.OLD, Applied.APPLIED, Applied.APPLIED]
    assert book.update_id == 125 and not book.needs_resync
    assert book.bids()[0] == (D(10), D(6)) and book.best_ask() == D(12)


def test_after_a_gap_a_new_snapshot_resyncs_and_replays_what_came_meanwhile() -> None:
    book = LocalBook(SYM)
    book.reset(BASE, 0.0)
    assert book.apply(upd(105, 110, 120, [("10", "3")]), 1.0) is Applied.GAP
    assert book.apply(upd(120, 130, 140, [("10", "4")]), 1.1) is Applied.BUFFERED
    assert book.gaps == 1 and book.needs_resync
    assert book.reset(snap(125, [("10", "3")], [("11", "1")]), 2.0) == [Applied.OLD, Applied.APPLIED]
    assert book.bids() == ((D(10), D(4)),) and book.update_id == 140 and book.updated_at == 2.0


def test_a_crossed_snapshot_is_kept_as_published() -> None:
    # The §7.6 capture: best bid 0.000005845 above best ask 0.000005840.
    book = LocalBook(SYM)
    book.reset(DepthSnapshot.parse({"lastUpdateId": 59174970591, "symbol": SYM,
                                    "bids": [["0.000005845", "24385377.90"]],
                                    "asks": [["0.000005840", "13632133.40"]], "E": 1, "T": 1}), 0.0)
    assert book.crossed() and book.best_bid() == D("0.000005845") and book.best_ask() == D("0.000005840")


def test_book_ticker_sets_one_level_per_side_and_an_empty_side_stays_empty() -> None:
    book = LocalBook(SYM)
    book.set_top(BookTicker(SYM, 7, D("0.00000553"), D("100"), D("0"), D("0"), 0), 3.0)
    assert book.bids() == ((D("0.00000553"), D(100)),) and book.asks() == () and book.updated_at == 3.0
    book.touch(4.0)
    assert book.age(5.0) == 1.0


def test_wire_levels_refuse_floats_and_negative_quantities() -> None:
    with pytest.raises(MalformedMessage):
        DepthUpdate.parse({"e": "depthUpdate", "s": SYM, "U": 1, "u": 2, "pu": 0, "b": [[0.1, "1"]], "a": []})
    with pytest.raises(MalformedMessage):
        DepthSnapshot.parse({"lastUpdateId": 1, "bids": [["0.1", "-1"]], "asks": []})
    with pytest.raises(MalformedMessage):
        BookTicker.parse({"e": "aggTrade", "s": SYM, "u": 1, "b": "1", "B": "1", "a": "2", "A": "1"})


ASKS: tuple[Level, ...] = ((D("1.00"), D(5)), (D("1.01"), D(10)), (D("1.03"), D(20)))


@pytest.mark.parametrize(("qty", "level"), [
    (D(1), D("1.00")), (D(5), D("1.00")), (D("5.01"), D("1.01")), (D(15), D("1.01")), (D(35), D("1.03")),
    (D("35.01"), None),
])
def test_cover_level_is_where_cumulative_quantity_reaches_the_order(qty: Decimal, level: Decimal | None) -> None:
    assert cover_level(ASKS, qty) == level


@pytest.mark.parametrize(("qty", "expected"), [
    (D(2), Sweep(D(2), D("2.00"), D("1.00"))),
    (D(8), Sweep(D(8), D("5.00") + D("3.03"), D("1.01"))),
    (D(50), Sweep(D(35), D("5.00") + D("10.10") + D("20.60"), D("1.03"))),
])
def test_sweep_takes_levels_best_first_at_their_prices(qty: Decimal, expected: Sweep) -> None:
    assert sweep(ASKS, qty) == expected
    assert cumulative(ASKS) == D(35)


def test_sweep_quote_spends_an_amount_across_levels() -> None:
    s = sweep_quote(ASKS, D("10.05"))
    assert s.quote == D("10.05") and s.worst == D("1.01") and s.qty == D(10)
    assert s.average == D("1.005")


levels = st.dictionaries(st.integers(1, 40).map(lambda i: D(i) / 4), st.integers(0, 9).map(D), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(levels, levels, st.integers(1, 50)), min_size=1, max_size=12))
def test_a_linked_chain_of_frames_gives_the_same_book_as_applying_each_level_in_order(
        frames: list[tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], int]]) -> None:
    book = LocalBook(SYM)
    book.reset(DepthSnapshot(SYM, 1000, (), (), 0), 0.0)
    ref_bids: dict[Decimal, Decimal] = {}
    ref_asks: dict[Decimal, Decimal] = {}
    chain: list[DepthUpdate] = []
    prev = 1000
    for bids, asks, width in frames:
        first, last = prev + 3, prev + 3 + width  # other symbols' ids in between
        chain.append(DepthUpdate(SYM, first, last, prev, tuple(bids.items()), tuple(asks.items()), 0))
        for ref, side in ((ref_bids, bids), (ref_asks, asks)):
            for p, q in side.items():
                if q:
                    ref[p] = q
                else:
                    ref.pop(p, None)
        prev = last
    assert [book.apply(u, 1.0) for u in chain] == [Applied.APPLIED] * len(chain)
    assert book.bids() == tuple(sorted(ref_bids.items(), reverse=True))
    assert book.asks() == tuple(sorted(ref_asks.items()))
    if len(chain) >= 3:  # dropping a frame in the middle of the chain is noticed
        skipped = LocalBook(SYM)
        skipped.reset(DepthSnapshot(SYM, 1000, (), (), 0), 0.0)
        assert [skipped.apply(u, 1.0) for u in (chain[0], chain[2])] == [Applied.APPLIED, Applied.GAP]
