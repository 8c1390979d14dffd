"""The DepthCache: one parse per distinct frame text, the same object for every bot, never a malformed frame."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otobot.exchange.book import DepthUpdate
from otobot.exchange.errors import MalformedMessage
from otobot.trading.depthcache import DepthCache, decode

D = Decimal
FRAME = ('{"stream":"alpha_22usdt@fulldepth@100ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"ALPHA_22USDT",'
         '"U":120,"u":125,"pu":100,"b":[["47.95","0.5"],["47.90","0"]],"a":[["48.10","1.25"]]}}')


def copy(text: str) -> str:
    """The same text as another socket would hand it over: equal, but not the same str object."""
    return "".join(list(text))


def test_the_same_frame_text_gives_the_same_parsed_object() -> None:
    cache = DepthCache()
    first = cache.frame(FRAME)
    assert first is not None and cache.frame(copy(FRAME)) is first
    assert (first.prev_id, first.first_id, first.last_id) == (100, 120, 125)
    assert first.bids == ((D("47.95"), D("0.5")), (D("47.90"), D(0))) and first.asks == ((D("48.10"), D("1.25")),)


@pytest.mark.parametrize(("name", "raw"), [
    ("not json", FRAME[:-3]),
    ("a price that is no number", FRAME.replace('"47.95"', '"x"')),
    ("a negative quantity", FRAME.replace('"1.25"', '"-1"')),
    ("a level that is no pair", FRAME.replace('["48.10","1.25"]', '["48.10"]')),
    ("no update id", FRAME.replace('"u":125,', '')),
])
def test_a_malformed_frame_raises_every_time_and_is_never_cached(name: str, raw: str) -> None:
    cache = DepthCache()
    for _ in range(2):
        with pytest.raises((ValueError, MalformedMessage)):
            cache.frame(raw)
    assert cache.get(raw) is None


@pytest.mark.parametrize("raw", ['{"result":null,"id":1}', '{"stream":"x","data":{"e":"bookTicker"}}', "[]"])
def test_frames_that_are_no_depth_update_give_none_and_are_not_kept(raw: str) -> None:
    cache = DepthCache()
    assert cache.frame(raw) is None and decode(raw) is None and cache.get(raw) is None


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = DepthCache(size=2)
    texts = [FRAME.replace('"u":125', f'"u":{125 + i}') for i in range(3)]
    parsed = [cache.frame(t) for t in texts]
    assert cache.get(texts[0]) is None and cache.get(texts[1]) is parsed[1] and cache.get(texts[2]) is parsed[2]
    assert cache.frame(texts[0]) is not parsed[0]  # parsed again, equal
    assert cache.frame(texts[0]) == parsed[0]


def test_one_line_per_symbol() -> None:
    cache = DepthCache(size=2)
    line = cache.line("ALPHA_22USDT")
    assert cache.line("ALPHA_22USDT") is line and cache.line("ALPHA_1USDT") is not line


# (name, one wire level, the parsed level or None when the frame is refused)
LEVELS = [
    ("strings, as captured", ["0.000005530", "34940853.20"], (D("0.000005530"), D("34940853.20"))),
    ("a zero quantity removes", ["47.95", "0.00"], (D("47.95"), D(0))),
    ("extra elements are ignored", ["47.95", "1", "x"], (D("47.95"), D(1))),
    ("numbers decoded exactly are tolerated", [D("47.95"), 2], (D("47.95"), D(2))),
    ("a tuple is a pair too", ("47.95", "1"), (D("47.95"), D(1))),
    ("a binary float is refused", [47.95, "1"], None),
    ("a bool is refused", ["47.95", True], None),
    ("not numeric", ["x", "1"], None),
    ("NaN", ["NaN", "1"], None),
    ("infinite", ["47.95", "Infinity"], None),
    ("a zero price", ["0", "1"], None),
    ("a negative quantity", ["47.95", "-1"], None),
    ("one element", ["47.95"], None),
    ("a bare string", "47.95", None),
]


@pytest.mark.parametrize(("name", "level", "parsed"), LEVELS, ids=[c[0] for c in LEVELS])
def test_a_wire_level_parses_to_decimals_or_refuses_the_frame(name: str, level: object,
                                                               parsed: tuple[Decimal, Decimal] | None) -> None:
    data = {"e": "depthUpdate", "s": "ALPHA_22USDT", "U": 1, "u": 2, "pu": 0, "b": [level], "a": []}
    if parsed is None:
        with pytest.raises(MalformedMessage):
            DepthUpdate.parse(data)
    else:
        assert DepthUpdate.parse(data).bids == (parsed,)
