"""Pure command-line value checks, table-driven: times, the config search, user names, order statuses."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest

from otobot.cli.args import ConfigNotFound, find_config, order_status, parse_when, positive_int, user_name

NOW = datetime(2026, 11, 30, 12, 34, 56, tzinfo=UTC)
MS = 1000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * MS  # type: ignore[misc]


@pytest.mark.parametrize(("text", "expected"), [
    ("now", int(NOW.timestamp()) * MS),
    ("today", ms(2026, 11, 30)),
    ("Yesterday", ms(2026, 11, 29)),
    ("2h", int(NOW.timestamp() - 7200) * MS),
    ("30m", int(NOW.timestamp() - 1800) * MS),
    ("90s", int(NOW.timestamp() - 90) * MS),
    ("1d", int(NOW.timestamp() - 86400) * MS),
    ("2w ago", int(NOW.timestamp() - 14 * 86400) * MS),
    ("2026-11-25", ms(2026, 11, 25)),
    ("2026-11-25T10:00", ms(2026, 11, 25, 10)),
    ("2026-11-25 10:00:00", ms(2026, 11, 25, 10)),
    ("2026-11-25T10:00+02:00", ms(2026, 11, 25, 8)),
    ("2026-11-25T10:00Z", ms(2026, 11, 25, 10)),
    ("1764000000000", 1764000000000),
])
def test_times_an_operator_types(text: str, expected: int) -> None:
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["last tuesday", "2x", "-1d", "", "25/11/2026", "h2"])
def test_a_time_that_is_not_one_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time; use 2026-11-25.*yesterday.*2h"):
        parse_when(text, NOW)


def test_the_config_search_order() -> None:
    exists = {Path("config/otobot.yaml"), Path("/etc/otobot/otobot.yaml")}
    assert find_config("given.yaml", {"OTOBOT_CONFIG": "env.yaml"}, exists.__contains__) == Path("given.yaml")
    assert find_config(None, {"OTOBOT_CONFIG": "env.yaml"}, exists.__contains__) == Path("env.yaml")
    assert find_config(None, {}, exists.__contains__) == Path("config/otobot.yaml")
    assert find_config(None, {"OTOBOT_CONFIG": ""}, {Path("/etc/otobot/otobot.yaml")}.__contains__) == Path(
        "/etc/otobot/otobot.yaml")
    with pytest.raises(ConfigNotFound, match=r"tried \$OTOBOT_CONFIG \(not set\), \./config/otobot\.yaml, "
                                             r"/etc/otobot/otobot\.yaml; pass -c FILE"):
        find_config(None, {}, lambda _: False)


@pytest.mark.parametrize(("text", "ok"), [
    ("alice", True), ("u0001", True), ("bob_2", True), ("a-b", True), ("x" * 32, True),
    ("../../etc/x", False), ("Alice", False), ("", False), ("-rf", False), ("_x", False), ("x" * 33, False),
    ("a.b", False), ("a/b", False), ("a b", False), ("é", False),
])
def test_user_names(text: str, ok: bool) -> None:
    if ok:
        assert user_name(text) == text
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="is not a user name"):
            user_name(text)


def test_order_status_and_positive_int() -> None:
    assert order_status("filled") == "FILLED" and order_status("NOT_PLACED") == "NOT_PLACED"
    with pytest.raises(argparse.ArgumentTypeError, match="'BOGUS' is not an order status; use one of INTENT"):
        order_status("BOGUS")
    assert positive_int("3") == 3
    for bad in ("0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)
