"""The stricter config rules in-process: safe YAML, the pricing relation, explicit exchange URLs, duplicate users."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from otobot.config.settings import ConfigError, load_global, load_user, scan_users
from otobot.config.yamlsafe import MAX_ALIASES, MAX_BYTES, YamlProblem, load_yaml, read_yaml
from otobot.exchange import protocol


def user(tmp_path: Path, text: str, name: str = "alice.yaml") -> Path:
    path = tmp_path / name
    path.write_text("token: KOGE\n" + text)
    return path


# ------------------------------------------------------------------ yamlsafe


@pytest.mark.parametrize(("data", "words"), [
    (b"a: 1\nb: 2\na: 3\n", "line 3, column 1: key 'a' is written twice (first on line 1)"),
    (b"s: {x: 1, x: 2}\n", "key 'x' is written twice"),
    (b"a: &a [*a]\n", "recursive alias"),
    (b"a: " + b"[" * 100 + b"]" * 100, "nested more than 32 levels deep"),
    (b"x: caf\xe9\n", "line 1, column 7: byte 0xe9 is not UTF-8"),
    (b"".join(b"- &a%d x\n" % i for i in range(MAX_ALIASES + 1)) + b"- [" + b", ".join(
        b"*a%d" % i for i in range(MAX_ALIASES + 1)) + b"]\n", f"more than {MAX_ALIASES} aliases"),
    (b"[" + b"1, " * 6000 + b"1]", "more than 5000 values"),
    (b"a: [1\n", "not valid YAML"),
])
def test_yaml_that_otobot_refuses(data: bytes, words: str) -> None:
    with pytest.raises(YamlProblem, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_yaml(data)


def test_merge_keys_may_be_overridden_and_a_bom_is_fine() -> None:
    assert load_yaml(b"base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")["other"] == {"x": 3, "y": 2}
    assert load_yaml("\ufefftoken: KOGE\n".encode()) == {"token": "KOGE"}


def test_a_file_over_the_size_cap_is_not_even_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(YamlProblem, match="larger than 256 KiB"):
        read_yaml(path)


@pytest.mark.parametrize("fan_out", [2, 3, 9, 30])
def test_alias_bombs_of_any_shape_are_refused_within_a_second(fan_out: int) -> None:
    levels = "".join(f"l{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * fan_out)}]\n" for i in range(40))
    t0 = time.perf_counter()
    with pytest.raises(YamlProblem, match=r"expand to more than|more than 100 aliases"):
        load_yaml(("l0: &l0 [x]\n" + levels).encode())
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ pricing: the pending SELL must cross back


@pytest.mark.parametrize(("pricing", "ok"), [
    ("{buy_offset: 0.5, sell_offset: 1.0}", True),
    ("{buy_offset: 1.0, sell_offset: 1.0}", True),  # 1.01 × 0.99 = 0.9999: just below the last trade
    ("{buy_offset: 0, sell_offset: 0.1}", True),
    ("{buy_offset: 1.0, sell_offset: 0.5}", False),  # 1.01 × 0.995 = 1.00495: above the last trade, rests
    ("{buy_offset: 2, sell_offset: 1.9}", False),
    ("{mode: fixed, buy_offset: 3, sell_offset: 6}", True),
    ("{mode: fixed, buy_offset: 0, sell_offset: 1}", True),
    ("{mode: fixed, buy_offset: 3, sell_offset: 3}", False),
    ("{mode: fixed, buy_offset: 3, sell_offset: 0}", False),
])
def test_the_pending_sell_must_land_below_the_last_trade(tmp_path: Path, pricing: str, ok: bool) -> None:
    path = user(tmp_path, f"pricing: {pricing}\n")
    if ok:
        load_user(path)
    else:
        with pytest.raises(ConfigError, match=r"key 'pricing.sell_offset'.*(rest instead of crossing back|≥ 1)"):
            load_user(path)


def test_the_sell_message_says_how_far_above_and_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_user(user(tmp_path, "pricing: {buy_offset: 1.0, sell_offset: 0.5}\n"))
    assert "would sit 0.495 % above the last trade" in str(err.value)
    assert "make sell_offset larger than buy_offset, e.g. 2.0" in str(err.value)


def test_other_mistakes_do_not_produce_a_spurious_pricing_complaint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_user(user(tmp_path, "pricing: {buy_offset: 60, sell_offset: 1}\n"))
    assert "must be ≤ 5" in str(err.value) and "crossing back" not in str(err.value)


def test_a_long_value_is_shortened_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_user(user(tmp_path, f"quote: {'X' * 5000}\n"))
    assert len(str(err.value)) < 400 and "..." in str(err.value)


# ------------------------------------------------------------------ the exchange must be written out


def test_a_real_exchange_config_defaults_its_streams_to_nbstream(tmp_path: Path) -> None:
    path = tmp_path / "otobot.yaml"
    path.write_text("exchange: {rest_url: 'https://www.binance.com'}\n")
    g = load_global(path)
    assert (g.exchange.market_ws_url, g.exchange.user_ws_url) == (protocol.REAL_MARKET_WS_URL,
                                                                  protocol.REAL_USER_WS_URL)


@pytest.mark.parametrize(("text", "words"), [
    ("", "the file is empty"),
    ("database: x.db\n", "key 'exchange.rest_url' is missing"),
    ("exchange: {rest_url: 'ftp://x'}\n", "key 'exchange.rest_url' = 'ftp://x': expected an http(s) URL"),
    ("exchange: {rest_url: 'http://127.0.0.1:1', market_ws_url: 'ws://127.0.0.1:1/a'}\n",
     "key 'exchange.user_ws_url' is missing"),
])
def test_an_exchange_that_is_not_written_out_is_refused(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "otobot.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_global(path)
    assert words in str(err.value) and str(path) in str(err.value)


# ------------------------------------------------------------------ users folder


def test_the_same_user_in_yaml_and_yml_is_refused_naming_both(tmp_path: Path) -> None:
    user(tmp_path, "", "alice.yaml")
    user(tmp_path, "", "alice.yml")
    user(tmp_path, "", "bob.yaml")
    scan = scan_users(tmp_path)
    assert sorted(scan.users) == ["bob"]
    assert "alice.yaml and alice.yml both define user 'alice'" in str(scan.errors["alice"])


def test_a_file_name_that_is_not_a_user_name_is_refused(tmp_path: Path) -> None:
    user(tmp_path, "", "Alice Smith.yaml")
    scan = scan_users(tmp_path)
    assert "rename the file" in str(scan.errors["Alice Smith"]) and not scan.users


def test_decimal_offsets_stay_exact(tmp_path: Path) -> None:
    u = load_user(user(tmp_path, "pricing: {buy_offset: 0.3, sell_offset: 0.8}\n"))
    assert (u.pricing.buy_offset, u.pricing.sell_offset) == (Decimal("0.3"), Decimal("0.8"))


def test_a_non_utf8_or_bomb_user_file_is_one_rejected_user_not_a_crash(tmp_path: Path) -> None:
    """What the daemon's start and SIGHUP reload scan: one bad file must not abort the others."""
    (tmp_path / "latin.yaml").write_bytes(b"token: KOGE\nnote: caf\xe9\n")
    (tmp_path / "bomb.yaml").write_text("a: &a [x, x]\nb: &b [*a, *a]\n" + "c: [" + ", ".join(["*b"] * 99) + "]\n"
                                        + "d: [" + ", ".join(["*b"] * 10) + "]\ntoken: KOGE\n")
    user(tmp_path, "", "bob.yaml")
    scan = scan_users(tmp_path)
    assert sorted(scan.users) == ["bob"] and sorted(scan.errors) == ["bomb", "latin"]
    assert "not UTF-8" in str(scan.errors["latin"]) and "aliases" in str(scan.errors["bomb"])
