"""The hot wire paths (issue 12) read exactly what the careful ones read: one shared Decimal decoder, the one-pass
executionReport reading, and orjson on the user stream with an exact second decode when a number has a fraction."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otobot.exchange import protocol
from otobot.exchange.errors import MalformedMessage
from otobot.exchange.models import ExecutionReport
from otobot.exchange.streams import UserStream
from tests.helpers import RecordingLog

CAPTURES = Path(__file__).parent.parent / "fixtures" / "captures_user_stream.jsonl"
FRAMES = [line for line in CAPTURES.read_text().splitlines() if '"executionReport"' in line]
BUY_FILL = json.loads(FRAMES[2])["data"]  # the captured BUY fill: a TRADE event with n/N

# ------------------------------------------------------------------ the decoder


@pytest.mark.parametrize("text", ["0.1", "0.00000001", "197.30724223", "0.1000000000000000055511151231257827",
                                  "1e-8", "5.929E-7", "-0.5", "123456789012345678901234567890.123456789"])
def test_a_fractional_number_decodes_to_the_decimal_of_its_exact_text(text: str) -> None:
    value = protocol.loads(f'{{"p": {text}}}')["p"]
    assert type(value) is Decimal and value == Decimal(text) and value.as_tuple() == Decimal(text).as_tuple()


@pytest.mark.parametrize("doc", ['{"id": 12501197286}', b'{"id": 12501197286}', '{"id": 12501197286}'.encode("utf-16"),
                                 bytearray(b'{"id": 12501197286}')])
def test_integers_stay_int_whether_the_frame_is_text_or_bytes(doc: str | bytes) -> None:
    assert protocol.loads(doc) == {"id": 12501197286} and type(protocol.loads(doc)["id"]) is int


def test_the_shared_decoder_hands_out_a_new_object_per_call() -> None:
    first = protocol.loads('{"a": [1.5]}')
    first["a"].append(Decimal(2))
    assert protocol.loads('{"a": [1.5]}') == {"a": [Decimal("1.5")]}


@pytest.mark.parametrize("doc", ["", "{", '{"p": 0.1,}', "\ufeff{}", "NaN-"])
def test_broken_json_is_a_value_error(doc: str) -> None:
    with pytest.raises(ValueError):
        protocol.loads(doc)


# ------------------------------------------------------------------ executionReport: one pass, same result


def _variant(**changes: Any) -> dict[str, Any]:
    raw = dict(BUY_FILL)
    for key, value in changes.items():
        if value is _DROP:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


_DROP = object()

SAME_AS_CHECKED = [
    *[json.loads(frame)["data"] for frame in FRAMES],  # every captured report, as the wire sent it
    _variant(id="12501200714"),  # an event id sent as a string
    _variant(i=51481849),  # an order id sent as a number (spot's shape)
    _variant(n=_DROP, N=_DROP),  # no fee fields (non-TRADE events)
    _variant(il=_DROP, cp=None, t=None),  # no order list, no position, no trade id
    _variant(q="", z=None),  # empty or null amounts fall back to zero
    _variant(E="1759043609340", T=_DROP),  # a time sent as a string; a missing one is 0
    _variant(p=Decimal("0.23")),  # what protocol.loads hands over for a JSON number
]


@pytest.mark.parametrize("raw", SAME_AS_CHECKED)
def test_the_one_pass_reading_equals_the_checked_reading(raw: dict[str, Any]) -> None:
    assert ExecutionReport.parse(raw) == ExecutionReport._checked(raw)


MALFORMED = [
    (_variant(p=_DROP), "missing number 'p'"),
    (_variant(p=""), "missing number 'p'"),
    (_variant(p=0.23), "'p' is a binary float"),
    (_variant(l="1.5x"), "'l' is not a number"),
    (_variant(z="NaN"), "'z' is not a finite number"),
    (_variant(Z="-Infinity"), "'Z' is not a finite number"),
    (_variant(n=True), "'n' is a binary float"),  # a bool is refused like a float
    (_variant(id=_DROP), "missing id 'id'"),
    (_variant(id=True), "missing id 'id'"),
    (_variant(id=Decimal("1.5")), "id 'id' is not an integer"),
    (_variant(i=""), "missing id 'i'"),
    (_variant(s=_DROP), "missing text 's'"),
    (_variant(X=None), "missing text 'X'"),
    (_variant(E="soon"), "'E' is not an integer"),
    (_variant(e="outboundAccountPosition"), "not an executionReport"),
]


@pytest.mark.parametrize(("raw", "named"), MALFORMED)
def test_a_malformed_report_is_still_refused_naming_the_field(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(MalformedMessage) as err:
        ExecutionReport.parse(raw)
    assert named in str(err.value)


# ------------------------------------------------------------------ the user stream's decode


def _stream(log: RecordingLog) -> UserStream:
    async def ignore(*_: Any) -> None:
        pass

    return UserStream(session=None, url="ws://127.0.0.1:9/w3w/stream", rest=None,  # type: ignore[arg-type]
                      on_event=ignore, on_synced=ignore, logger=log)


def test_a_report_with_amounts_sent_as_json_numbers_keeps_every_digit() -> None:
    frame = FRAMES[2].replace('"L":"0.22690469"', '"L":0.22690469').replace('"Z":"197.30724223"',
                                                                           '"Z":197.30724223000000000001')
    log = RecordingLog()
    report = _stream(log)._on_text(frame)
    assert isinstance(report, ExecutionReport) and not log.warnings
    assert report.last_price == Decimal("0.22690469")
    assert report.cum_quote == Decimal("197.30724223000000000001")  # more digits than a binary float holds
    assert report.cum_quote.as_tuple() == Decimal("197.30724223000000000001").as_tuple()


def test_a_report_with_an_event_id_wider_than_64_bits_is_read() -> None:
    frame = FRAMES[2].replace('"id":12501200714', '"id":123456789012345678901234567890')
    report = _stream(RecordingLog())._on_text(frame)
    assert isinstance(report, ExecutionReport) and report.event_id == "123456789012345678901234567890"


def test_a_malformed_report_on_the_stream_is_skipped_and_logged_naming_the_field() -> None:
    log = RecordingLog()
    report = _stream(log)._on_text(FRAMES[2].replace('"z":"869.56000000"', '"z":"lots"'))
    assert report is None
    assert len(log.warnings) == 1 and "'z' is not a number" in log.warnings[0]


@pytest.mark.parametrize("frame", FRAMES)
def test_every_captured_frame_reads_the_same_through_the_stream(frame: str) -> None:
    assert _stream(RecordingLog())._on_text(frame) == ExecutionReport.parse(protocol.loads(frame)["data"])
