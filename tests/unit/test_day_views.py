"""Pure pieces of the day-to-day views: the chart, per-day rows, config diffs, audit lines, Telegram parsing."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml

from otobot.config.diff import user_changes
from otobot.config.settings import load_user
from otobot.ops.telegram import Command, backoff_s, parse_update
from otobot.store.records import UserStats
from otobot.views.audit import audit_lines, reload_record, reload_text
from otobot.views.chart import bar, target_column, volume_chart
from otobot.views.history import Target, build_rows, daily_text, day_range


@pytest.mark.parametrize(("value", "scale", "width", "expected"), [
    (D(0), D(100), 10, ""),
    (D(100), D(100), 10, "██████████"),
    (D(50), D(100), 10, "█████"),
    (D("51.25"), D(100), 10, "█████▏"),  # 5.125 cells: 5 full + 1/8
    (D("59.99"), D(100), 10, "█████▉"),  # 5.999 cells: rounded down, never up to a full cell
    (D(150), D(100), 10, "██████████"),  # above the scale: capped at the width
    (D(5), D(0), 10, ""),
])
def test_bar_fills_eighths_rounding_down(value: D, scale: D, width: int, expected: str) -> None:
    assert bar(value, scale, width) == expected


@pytest.mark.parametrize(("target", "scale", "width", "expected"), [
    (D(60), D(120), 30, 14),  # 15 cells: the 15th cell (index 14) is where a bar reaching 60 ends
    (D(100), D(100), 10, 9),
    (D(1), D(1000), 10, 0),  # a tiny target still gets the first cell
    (D(0), D(100), 10, None),
])
def test_target_column(target: D, scale: D, width: int, expected: int | None) -> None:
    assert target_column(target, scale, width) == expected


def test_volume_chart_marks_the_target_and_ticks_reached_days() -> None:
    days = [("11-24", D(0)), ("11-25", D("61.2")), ("11-26", D(30)), ("11-27", D(120))]

    lines = volume_chart(days, D(60), width=12)

    assert lines == [
        "            ▼ target 60.00",
        "11-24 │     │         0.00",
        "11-25 │██████        61.20 ✓",  # 6.12 cells: 6 full, the rest under an eighth
        "11-26 │███  │        30.00",
        "11-27 │████████████ 120.00 ✓",
    ]


def test_volume_chart_without_target_or_days() -> None:
    assert volume_chart([("11-30", D(5))], D(0), width=4) == ["11-30 │████ 5.00"]
    assert volume_chart([], D(60)) == []


def test_day_range_ends_today_oldest_first() -> None:
    assert day_range("2026-03-01", 3) == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert day_range("2026-03-01", 0) == ["2026-03-01"]


def stats(buy: str, sell: str, fees: str, sell_fees: str, cycles: int) -> UserStats:
    return UserStats("alice", cycles, D(buy), D(sell), D(fees), D(sell_fees))


def test_build_rows_fills_quiet_days_and_judges_the_target() -> None:
    totals = {"2026-11-28": stats("64", "63.9", "0.06", "0.03", 2),
              "2026-11-30": stats("20", "19.9", "0.02", "0.01", 1)}
    target = Target("points", D(5), 2)  # 2**5 / 2 = 16 of buy volume

    rows = build_rows(["2026-11-28", "2026-11-29", "2026-11-30"], totals, {"2026-11-29": 2}, target)

    assert [(r.day, r.volume, r.points, r.target, r.reached, r.cycles, r.pauses) for r in rows] == [
        ("2026-11-28", D(64), 7, D(16), True, 2, 0),
        ("2026-11-29", D(0), 0, D(16), False, 0, 2),
        ("2026-11-30", D(20), 5, D(16), True, 1, 0),
    ]
    assert rows[0].cost_bps == (D(64) - D("63.9") + D("0.03")) / 64 * 10000
    assert rows[1].cost_bps is None  # nothing bought: no cost to speak of
    assert build_rows(["2026-11-30"], totals, {}, None)[0].reached is None


def test_daily_text_one_line_per_user() -> None:
    rows = build_rows(["2026-11-30"], {"2026-11-30": stats("45", "44.9", "0.045", "0.02", 3)}, {"2026-11-30": 1},
                      Target("volume", D(60), 1))

    text = daily_text("2026-11-30", [("alice", rows[0])])  # amounts to the cent, half to even like `status`

    assert text == ("2026-11-30 (UTC, so far)\n"
                    "alice: volume 45.00/60.00 (75%), 5 pts, 3 cycles, fees 0.04, cost 26.7 bps, 1 pause(s)")


def user_file(tmp_path: Path, name: str, extra: dict[str, Any]) -> Path:
    body = {"token": "KOGE", "pricing": {"buy_offset": 0.5}, "credentials": {
        "source": "inline", "cookie": "p20t=SECRET-COOKIE", "csrftoken": "SECRET-CSRF"}}
    for k, v in extra.items():
        body[k] = {**body[k], **v} if isinstance(v, dict) and isinstance(body.get(k), dict) else v
    path = tmp_path / name / "alice.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(body))
    return path


def test_user_changes_key_by_key_under_yaml_names_secrets_masked(tmp_path: Path) -> None:
    old = load_user(user_file(tmp_path, "a", {}))
    new = load_user(user_file(tmp_path, "b", {"pricing": {"buy_offset": 0.6}, "order": {"quote_amount": 12},
                                              "timeouts": {"buy_s": 4}, "unwind": {"ladder_pct": [1, 2]},
                                              "credentials": {"cookie": "p20t=OTHER-COOKIE"}}))

    changes = user_changes(old, new)

    assert changes == {
        "pricing.buy_offset": ["0.5", "0.6"],
        "order.quote_amount": ["10", "12"],
        "timeouts.buy_s": ["10", "4"],
        "unwind.ladder_pct": ["[0.2, 0.5, 1, 2, 5]", "[1, 2]"],
        "credentials": ["(changed, not shown)", "(changed, not shown)"],
    }
    assert "SECRET" not in json.dumps(changes) and "OTHER" not in json.dumps(changes)
    assert user_changes(old, old) == {}


def test_reload_text_reads_new_json_and_old_text_rows() -> None:
    new = reload_record("changed", {"pricing.buy_offset": ["0.5", "0.6"], "order.quote_amount": ["20", "12"]})

    assert reload_text(new, None) == "changed pricing.buy_offset: 0.5 → 0.6, order.quote_amount: 20 → 12"
    rejected = reload_record("errors", error="a.yaml: key 'x' = 'p20t=SECRET': bad\na.yaml: unknown key 'y': did you")
    assert reload_text(rejected, None) == "rejected, old settings kept problems with x, y; see the log"
    assert "SECRET" not in rejected
    assert reload_text("started: ['bob'], changed: ['alice', 'carol']", "alice") == "changed"
    assert reload_text("started: ['bob'], changed: ['alice', 'carol']", "dave") is None
    assert reload_text(json.dumps({"summary": {"changed": ["alice"]}}), "alice") is None  # per-user rows tell it


def test_audit_lines_one_per_event_oldest_first_other_users_left_out() -> None:
    rows = [
        {"ts_ms": 1796032800000, "user": "alice", "kind": "pause", "reason": "operator", "cycle_id": None},
        {"ts_ms": 1796032801000, "user": None, "kind": "reload", "reason": "changed: ['alice']", "cycle_id": None},
        {"ts_ms": 1796032802000, "user": "alice", "kind": "reload",
         "reason": reload_record("changed", {"pricing.buy_offset": ["0.5", "0.6"]}), "cycle_id": None},
        {"ts_ms": 1796032803000, "user": "bob", "kind": "pause", "reason": "operator", "cycle_id": None},
        {"ts_ms": 1796032804000, "user": "alice", "kind": "resume", "reason": None, "cycle_id": None},
        {"ts_ms": 1796032805000, "user": "alice", "kind": "adopt", "reason": "adopted OTO working 1 / pending 2",
         "cycle_id": 7},
    ]

    assert audit_lines(rows, "alice") == [
        "2026-11-30 10:00:00  pause       operator",
        "2026-11-30 10:00:01  reload      changed",
        "2026-11-30 10:00:02  reload      changed pricing.buy_offset: 0.5 → 0.6",
        "2026-11-30 10:00:04  resume      resumed",
        "2026-11-30 10:00:05  adopt       adopted OTO working 1 / pending 2 cycle 7",
    ]


@pytest.mark.parametrize(("update", "expected"), [
    ({"update_id": 5, "message": {"chat": {"id": 42}, "text": "/status"}}, (5, Command("42", "status", ()))),
    ({"update_id": 6, "message": {"chat": {"id": -100}, "text": "/Pause@otobot_bot alice"}},
     (6, Command("-100", "pause", ("alice",)))),
    ({"update_id": 7, "message": {"chat": {"id": 42}, "text": "hello"}}, (7, None)),  # not a command
    ({"update_id": 8, "edited_message": {"chat": {"id": 42}, "text": "/status"}}, (8, None)),
    ({"update_id": 9, "message": {"chat": "nope", "text": "/status"}}, (9, None)),
    ({"update_id": 10, "message": {"chat": {"id": 42}, "text": 3}}, (10, None)),
    ({"update_id": "11", "message": {"chat": {"id": 42}, "text": "/status"}}, (None, Command("42", "status", ()))),
    ({"message": {"chat": {"id": 42}, "text": "/status"}}, (None, Command("42", "status", ()))),
    ([1, 2], (None, None)),
    (None, (None, None)),
])
def test_parse_update(update: Any, expected: tuple[int | None, Command | None]) -> None:
    assert parse_update(update) == expected


@pytest.mark.parametrize(("failures", "jitter", "expected"), [
    (0, 0.0, 0.0),
    (1, 0.0, 0.5),  # base 1 s, jitter spreads it over 50-100 %
    (1, 0.999, 0.9995),
    (3, 0.0, 2.0),
    (10, 0.0, 30.0),  # capped at 60 s before the jitter
    (10_000, 0.5, 45.0),
])
def test_backoff_is_capped_and_jittered(failures: int, jitter: float, expected: float) -> None:
    assert backoff_s(failures, base_s=1.0, cap_s=60.0, jitter=jitter) == pytest.approx(expected)
