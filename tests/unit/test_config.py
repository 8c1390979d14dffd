"""YAML config files → frozen dataclasses, with errors that name the file, the key path and the fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from otobot.config.settings import ConfigError, ReliabilityConfig, UnwindConfig, load_global, load_user, scan_users
from otobot.exchange import protocol

D = Decimal


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_user(path)
    assert err.value.path == str(path)
    message = str(err.value)
    assert all(line.startswith(f"{path}: ") for line in message.splitlines()), message
    return message


# ------------------------------------------------------------------ user files: defaults and values


def test_a_user_file_with_only_a_token_gets_every_default(tmp_path: Path) -> None:
    u = load_user(write(tmp_path, "alice.yaml", "token: KOGE\n"))
    assert (u.name, u.token, u.quote, u.enabled) == ("alice", "KOGE", "USDT", True)
    assert (u.target.kind, u.target.value) == ("volume", D(100))
    assert u.order_quote_amount == D(10)
    assert (u.pricing.mode, u.pricing.buy_offset, u.pricing.sell_offset) == ("percent", D("0.5"), D("1.0"))
    assert (u.buy_timeout_s, u.sell_timeout_s, u.pause_between_cycles_s) == (10.0, 20.0, 1.0)
    assert (u.volatility_window_s, u.volatility_max_pct, u.max_price_age_s) == (60.0, D(3), 10.0)
    assert u.min_quote_reserve == 0
    assert u.unwind == UnwindConfig()
    assert u.credentials is None and u.notify is None


def test_decimal_values_are_exactly_the_digits_the_user_typed(tmp_path: Path) -> None:
    u = load_user(write(tmp_path, "bob.yaml", (
        "token: ALPHA_22\n"
        "order: {quote_amount: 10.1}\n"
        "pricing: {mode: percent, buy_offset: 0.1, sell_offset: 0.3}\n"
        "min_quote_reserve: 0.7\n"
        "unwind: {ladder_pct: [0.1, 0.2, 0.3]}\n")))
    assert u.pricing.buy_offset == D("0.1") and str(u.pricing.buy_offset) == "0.1"
    assert u.pricing.sell_offset == D("0.3")
    assert u.order_quote_amount == D("10.1") and u.min_quote_reserve == D("0.7")
    assert u.unwind.ladder_pct == (D("0.1"), D("0.2"), D("0.3"))
    assert all(isinstance(x, Decimal) for x in u.unwind.ladder_pct)


def test_a_points_target_and_fixed_pricing_are_read(tmp_path: Path) -> None:
    u = load_user(write(tmp_path, "c.yaml", (
        "token: KOGE\ntarget: {kind: points, value: 15}\npricing: {mode: fixed, buy_offset: 2, sell_offset: 6}\n")))
    assert (u.target.kind, u.target.value) == ("points", D(15))
    assert (u.pricing.mode, u.pricing.buy_offset, u.pricing.sell_offset) == ("fixed", D(2), D(6))


def test_a_points_target_must_be_whole(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "c.yaml", "token: KOGE\ntarget: {kind: points, value: 15.5}\n"))
    assert "key 'target.value'" in message and "points are whole numbers" in message


def test_fixed_offsets_must_be_whole_ticks(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "c.yaml", "token: KOGE\npricing: {mode: fixed, sell_offset: 1.5}\n"))
    assert "key 'pricing.sell_offset'" in message and "whole numbers of ticks" in message


# ------------------------------------------------------------------ user files: mistakes


def test_an_unknown_key_suggests_the_closest_known_key_with_its_path(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "a.yaml", "token: KOGE\npricing:\n  buy_ofset: 1\n"))
    assert "unknown key 'pricing.buy_ofset': did you mean 'pricing.buy_offset'?" in message


def test_an_unknown_top_level_key_is_named_even_next_to_a_missing_one(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "a.yaml", "tokn: KOGE\n"))
    assert "key 'token' is missing: it is required" in message
    assert "unknown key 'tokn': did you mean 'token'?" in message


def test_an_unknown_key_with_nothing_close_lists_the_known_keys(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "a.yaml", "token: KOGE\ntimeouts: {zzzz: 1}\n"))
    assert "unknown key 'timeouts.zzzz': known keys: buy_s, sell_s" in message


@pytest.mark.parametrize(("yaml_text", "words"), [
    ("enabled: 'yes'", "key 'enabled' = 'yes': expected true or false"),
    ("timeouts: {buy_s: soon}", "key 'timeouts.buy_s' = 'soon': expected a number"),
    ("order: {quote_amount: lots}", "key 'order.quote_amount' = 'lots': expected a number"),
    ("pricing: {mode: random}", "key 'pricing.mode' = 'random': expected one of percent, fixed"),
    ("quote: BTC", "key 'quote' = 'BTC': expected one of USDT, USDC"),
    ("pricing: 5", "key 'pricing' = 5: expected a section"),
    ("unwind: {ladder_pct: 5}", "key 'unwind.ladder_pct' = 5: expected a list of percents"),
    ("unwind: {ladder_pct: [0.5, true]}", "key 'unwind.ladder_pct'"),
])
def test_a_value_of_the_wrong_type_is_named_with_its_path(tmp_path: Path, yaml_text: str, words: str) -> None:
    assert words in problems_of(write(tmp_path, "u.yaml", f"token: KOGE\n{yaml_text}\n"))


@pytest.mark.parametrize(("yaml_text", "words"), [
    ("order: {quote_amount: 0.05}", "key 'order.quote_amount' = 0.05: must be ≥ 0.1"),
    ("pricing: {buy_offset: 60}", "key 'pricing.buy_offset' = 60: must be ≤ 5"),
    ("pricing: {sell_offset: -1}", "key 'pricing.sell_offset' = -1: must be > 0"),
    ("target: {value: 0}", "key 'target.value' = 0: must be > 0"),
    ("target: {kind: points, value: 41}", "key 'target.value' = 41: must be ≤ 40"),
    ("timeouts: {buy_s: 0.1}", "key 'timeouts.buy_s' = 0.1: must be ≥ 0.5"),
    ("volatility: {max_move_pct: 0}", "key 'volatility.max_move_pct' = 0: must be > 0"),
    ("unwind: {ladder_pct: [0.5, 100]}", "key 'unwind.ladder_pct'"),
    ("order: {quote_amount: .inf}", "key 'order.quote_amount' = inf: expected a finite number"),
])
def test_a_value_out_of_range_is_named_with_the_limit(tmp_path: Path, yaml_text: str, words: str) -> None:
    assert words in problems_of(write(tmp_path, "u.yaml", f"token: KOGE\n{yaml_text}\n"))


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "u.yaml", (
        "token: KOGE\norder: {quote_amount: 0.05}\ntimeouts: {buy_s: x}\nvolatilty: {}\n")))
    assert len(message.splitlines()) == 3
    assert "did you mean 'volatility'?" in message


@pytest.mark.parametrize("text", ["enabled: true\n", "token:\n", "token: '  '\n"])
def test_a_missing_or_empty_token_is_refused(tmp_path: Path, text: str) -> None:
    message = problems_of(write(tmp_path, "u.yaml", text))
    assert "key 'token'" in message and ("missing" in message or "empty" in message)


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "u.yaml", "token: KOGE\norder:\n  quote_amount: [1\n"))
    assert "line 4, column 1: not valid YAML" in message


def test_a_tab_indent_error_names_line_and_column(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "u.yaml", "token: KOGE\n\tenabled: true\n"))
    assert "line 2, column 1" in message and "not valid YAML" in message


def test_a_file_that_is_a_list_is_refused(tmp_path: Path) -> None:
    assert "must be a mapping of keys" in problems_of(write(tmp_path, "u.yaml", "- token: KOGE\n"))


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "ghost.yaml"
    assert "cannot read the file" in problems_of(path)


# ------------------------------------------------------------------ credentials


def test_inline_credentials_are_read_when_the_source_says_inline(tmp_path: Path) -> None:
    u = load_user(write(tmp_path, "u.yaml", (
        "token: KOGE\ncredentials:\n  source: inline\n  cookie: 'p20t=abc; cr00=def'\n  csrftoken: 0123abcd\n")))
    assert u.credentials is not None
    assert (u.credentials.cookie, u.credentials.csrftoken) == ("p20t=abc; cr00=def", "0123abcd")


def test_inline_credentials_without_a_csrftoken_are_refused(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "u.yaml", "token: KOGE\ncredentials: {source: inline, cookie: x}\n"))
    assert "key 'credentials.csrftoken' is missing" in message


def test_a_cookie_written_in_the_file_under_the_store_source_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "dave.yaml", "token: KOGE\ncredentials: {cookie: SECRETVALUE}\n"))
    assert "key 'credentials.cookie' = '***'" in message and "source: inline" in message
    assert "otobot creds import dave" in message
    assert "SECRETVALUE" not in message


def test_the_store_is_the_default_credential_source(tmp_path: Path) -> None:
    assert load_user(write(tmp_path, "u.yaml", "token: KOGE\ncredentials: {source: store}\n")).credentials is None


# ------------------------------------------------------------------ scan_users


def test_a_bad_user_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "alice.yaml", "token: KOGE\n")
    write(tmp_path, "bob.yml", "token: ALPHA_22\n")
    write(tmp_path, "broken.yaml", "token: KOGE\npricing: {buy_offset: 99}\n")
    write(tmp_path, "syntax.yaml", "token: [\n")
    write(tmp_path, ".hidden.yaml", "nonsense: 1\n")
    write(tmp_path, "notes.txt", "not a user\n")
    scan = scan_users(tmp_path)
    assert sorted(scan.users) == ["alice", "bob"]
    assert sorted(scan.errors) == ["broken", "syntax"]
    assert "pricing.buy_offset" in str(scan.errors["broken"]) and "broken.yaml" in str(scan.errors["broken"])
    assert "not valid YAML" in str(scan.errors["syntax"])


def test_scanning_a_missing_users_dir_finds_nobody(tmp_path: Path) -> None:
    scan = scan_users(tmp_path / "nope")
    assert scan.users == {} and scan.errors == {}


# ------------------------------------------------------------------ the global file


def test_a_global_file_naming_only_the_real_exchange_gets_defaults_relative_to_its_folder(tmp_path: Path) -> None:
    g = load_global(write(tmp_path, "otobot.yaml", f"exchange: {{rest_url: '{protocol.REAL_REST_URL}/'}}\n"))
    assert g.database == tmp_path / "otobot.db"
    assert g.users_dir == tmp_path / "users"
    assert g.exchange.rest_url == protocol.REAL_REST_URL
    assert g.exchange.market_ws_url == protocol.REAL_MARKET_WS_URL
    assert g.exchange.user_ws_url == protocol.REAL_USER_WS_URL
    assert g.reliability == ReliabilityConfig()
    assert (g.log_level, g.control_socket, g.health_port, g.key_file) == ("INFO", None, None, None)
    assert g.notify.telegram is None


def test_relative_paths_resolve_against_the_files_folder_and_absolute_ones_stay(tmp_path: Path) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    g = load_global(write(conf, "otobot.yaml", (
        f"exchange: {{rest_url: {protocol.REAL_REST_URL}}}\n"
        f"database: data/otobot.db\nusers_dir: {tmp_path / 'people'}\n"
        "control: {socket: run/ctl.sock, health_port: 8080}\ncredentials: {key_file: keys/master.key}\n")))
    assert g.database == conf / "data" / "otobot.db"
    assert g.users_dir == tmp_path / "people"
    assert g.control_socket == conf / "run" / "ctl.sock" and g.health_port == 8080
    assert g.key_file == conf / "keys" / "master.key"


def test_global_values_are_read_and_the_rest_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    g = load_global(write(tmp_path, "otobot.yaml", (
        "exchange: {rest_url: 'http://127.0.0.1:8080/', shared_price_stream: true, price_read_every_s: 0.05,\n"
        "           market_ws_url: 'ws://127.0.0.1:8080/w3w/wsa/stream', user_ws_url: 'ws://127.0.0.1:8080/w3w/stream'}\n"
        "reliability: {rest_timeout_s: 3, rest_retries: 0, requests_per_second: 4.5}\n"
        "logging: {level: DEBUG}\n"
        "notify: {telegram: {bot_token: t, chat_id: '42'}, daily_summary_utc_hour: 7}\n")))
    assert g.exchange.rest_url == "http://127.0.0.1:8080" and g.exchange.shared_price_stream
    assert g.exchange.price_read_every_s == 0.05
    assert (g.reliability.rest_timeout_s, g.reliability.rest_retries, g.reliability.requests_per_second) == (
        3.0, 0, 4.5)
    assert g.log_level == "DEBUG"
    assert g.notify.telegram is not None and g.notify.telegram.chat_id == "42"
    assert g.notify.daily_summary_utc_hour == 7


@pytest.mark.parametrize(("yaml_text", "words"), [
    ("reliability: {rest_timout_s: 3}", "unknown key 'reliability.rest_timout_s': did you mean "
                                        "'reliability.rest_timeout_s'?"),
    ("reliability: {listen_key_renew_s: 3600}", "key 'reliability.listen_key_renew_s' = 3600"),
    ("reliability: {listen_key_renew_s: 3600}", "must be ≤ 1800"),
    ("reliability: {rest_retries: 1.5}", "key 'reliability.rest_retries' = 1.5: expected a whole number"),
    ("control: {health_port: 70000}", "key 'control.health_port' = 70000: must be ≤ 65535"),
    ("logging: {level: LOUD}", "key 'logging.level' = 'LOUD': expected one of"),
    ("notify: {telegram: {bot_token: t}}", "key 'notify.telegram.chat_id' is missing"),
    ("notify: {daily_summary_utc_hour: 24}", "key 'notify.daily_summary_utc_hour' = 24: must be ≤ 23"),
    ("exchange: {shared_price_stream: 1}", "key 'exchange.shared_price_stream' = 1: expected true or false"),
    ("exchange: {price_read_every_s: 2}", "key 'exchange.price_read_every_s' = 2.0: must be ≤ 0.5"),
    ("exchange: {price_read_every_s: fast}", "key 'exchange.price_read_every_s' = 'fast': expected a number"),
])
def test_global_file_mistakes_name_the_key_path_and_the_file(tmp_path: Path, yaml_text: str, words: str) -> None:
    path = write(tmp_path, "otobot.yaml", f"{yaml_text}\n")
    with pytest.raises(ConfigError) as err:
        load_global(path)
    assert words in str(err.value)
    assert str(path) in str(err.value)
