"""`otobot check` as a process: each harmful config is refused with exit 1, naming the file, the key and the fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from otobot.config.settings import ConfigError, load_user
from otobot.config.yamlsafe import MAX_BYTES
from otobot.exchange.credentials import Credentials
from otobot.ops.secrets import Keyring, encrypt_credentials
from otobot.store.db import Store
from tests.cli.clirun import otobot, refused

SIM_EXCHANGE = ("exchange:\n  rest_url: http://127.0.0.1:9\n  market_ws_url: ws://127.0.0.1:9/w3w/wsa/stream\n"
                "  user_ws_url: ws://127.0.0.1:9/w3w/stream\n")
GOOD_GLOBAL = "database: otobot.db\nusers_dir: users\n" + SIM_EXCHANGE
INLINE = "credentials: {source: inline, cookie: 'p20t=abc; logined=y', csrftoken: abcdef123}\n"
GOOD_USER = "token: KOGE\n" + INLINE
KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()

BOMB = ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)))


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """otobot.yaml and users/alice.yaml that pass, then `files` written over them ('' path parts: a folder)."""
    (root / "users").mkdir(parents=True, exist_ok=True)
    base: dict[str, str | bytes] = {"otobot.yaml": GOOD_GLOBAL, "users/alice.yaml": GOOD_USER}
    for rel, content in {**base, **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root / "otobot.yaml"


async def test_the_shipped_config_and_a_good_tree_pass(tmp_path: Path) -> None:
    r = await otobot("check", "-c", "config/otobot.yaml")
    assert r.code == 0 and "alice.yaml: ok" in r.out and "bob.yaml: ok" in r.out, r.err
    r = await otobot("check", "-c", str(tree(tmp_path, {})))
    assert r.code == 0 and f"{tmp_path}/users/alice.yaml: ok" in r.out, r.err


# (case id, files written over the good tree, words the message must hold: file, key, fix)
HARMFUL: list[tuple[str, dict[str, str | bytes], tuple[str, ...]]] = [
    ("sell_offset_below_buy_offset", {"users/alice.yaml": GOOD_USER + "pricing: {buy_offset: 1.0, sell_offset: 0.5}\n"},
     ("alice.yaml", "key 'pricing.sell_offset'", "above the last trade", "larger than buy_offset")),
    ("sell_offset_zero", {"users/alice.yaml": GOOD_USER + "pricing: {sell_offset: 0}\n"},
     ("alice.yaml", "key 'pricing.sell_offset' = 0", "must be > 0")),
    ("buy_offset_fifty", {"users/alice.yaml": GOOD_USER + "pricing: {buy_offset: 50}\n"},
     ("alice.yaml", "key 'pricing.buy_offset' = 50", "must be ≤ 5")),
    ("fixed_sell_not_above_buy", {"users/alice.yaml": GOOD_USER + "pricing: {mode: fixed, buy_offset: 5, "
                                                                  "sell_offset: 5}\n"},
     ("alice.yaml", "key 'pricing.sell_offset' = 5", "ticks above the last trade", "larger than buy_offset")),
    ("yaml_next_to_yml", {"users/alice.yml": GOOD_USER},
     ("alice.yaml and alice.yml both define user 'alice'", "delete the other")),
    ("duplicate_key", {"users/alice.yaml": GOOD_USER + "order: {quote_amount: 10}\ntoken: AOP\n"},
     ("alice.yaml", "line 4", "key 'token' is written twice (first on line 1)", "delete one")),
    ("duplicate_key_in_a_section", {"users/alice.yaml": GOOD_USER + "timeouts:\n  buy_s: 5\n  buy_s: 50\n"},
     ("alice.yaml", "line 5", "key 'buy_s' is written twice (first on line 4)")),
    ("duplicate_key_in_global", {"otobot.yaml": GOOD_GLOBAL + "database: other.db\n"},
     ("otobot.yaml", "key 'database' is written twice")),
    ("users_dir_missing", {"otobot.yaml": GOOD_GLOBAL.replace("users_dir: users", "users_dir: people")},
     ("otobot.yaml", "key 'users_dir'", "people, which does not exist", "create the folder")),
    ("users_dir_is_a_file", {"otobot.yaml": GOOD_GLOBAL.replace("users_dir: users", "users_dir: otobot.yaml")},
     ("key 'users_dir'", "is not a folder")),
    ("empty_global_file", {"otobot.yaml": ""},
     ("otobot.yaml", "the file is empty", "https://www.binance.com", "exchange: {rest_url:")),
    ("comments_only_global_file", {"otobot.yaml": "# nothing yet\n"}, ("the file is empty",)),
    ("rest_url_not_written", {"otobot.yaml": "database: otobot.db\n"},
     ("otobot.yaml", "key 'exchange.rest_url' is missing", "https://www.binance.com", "otobot sim")),
    ("sim_rest_url_with_real_streams", {"otobot.yaml": "exchange: {rest_url: 'http://127.0.0.1:9'}\n"},
     ("key 'exchange.market_ws_url' is missing", "key 'exchange.user_ws_url' is missing", "not binance.com")),
    ("ws_url_not_a_websocket", {"otobot.yaml": GOOD_GLOBAL.replace("ws://127.0.0.1:9/w3w/stream", "127.0.0.1")},
     ("key 'exchange.user_ws_url' = '127.0.0.1'", "expected a websocket URL")),
    ("alias_bomb_in_a_user_file", {"users/alice.yaml": GOOD_USER + BOMB},
     ("alice.yaml", "expand to more than", "write the values out")),
    ("alias_bomb_in_the_global_file", {"otobot.yaml": GOOD_GLOBAL + BOMB}, ("otobot.yaml", "expand to more than")),
    ("recursive_alias", {"users/alice.yaml": GOOD_USER + "x: &x [*x]\n"}, ("alice.yaml", "recursive alias")),
    ("nested_too_deep", {"users/alice.yaml": GOOD_USER + "x: " + "[" * 200 + "]" * 200 + "\n"},
     ("alice.yaml", "nested more than")),
    ("file_too_large", {"users/alice.yaml": GOOD_USER + "#" * MAX_BYTES + "\n"},
     ("alice.yaml", "larger than 256 KiB")),
    ("user_file_not_utf8", {"users/alice.yaml": b"token: KOGE\nname: caf\xe9\n" + INLINE.encode()},
     ("alice.yaml", "line 2, column 10", "byte 0xe9 is not UTF-8", "save the file as UTF-8")),
    ("global_file_not_utf8", {"otobot.yaml": b"# r\xe9glages\n" + GOOD_GLOBAL.encode()},
     ("otobot.yaml", "line 1", "not UTF-8")),
    ("user_file_is_a_folder", {"users/carol.yaml/x": "x"}, ("carol.yaml", "is a folder")),
    ("user_name_not_allowed", {"users/Bad Name.yaml": GOOD_USER}, ("Bad Name.yaml", "rename the file")),
    ("unknown_key_with_a_hint", {"users/alice.yaml": GOOD_USER + "pricing: {buy_ofset: 1}\n"},
     ("alice.yaml", "unknown key 'pricing.buy_ofset': did you mean 'pricing.buy_offset'?")),
]


@pytest.mark.parametrize(("files", "words"), [c[1:] for c in HARMFUL], ids=[c[0] for c in HARMFUL])
async def test_check_refuses_a_harmful_config(tmp_path: Path, files: dict[str, str | bytes],
                                              words: tuple[str, ...]) -> None:
    refused(await otobot("check", "-c", str(tree(tmp_path, files))), 1, *words)


async def test_a_missing_global_file_is_named(tmp_path: Path) -> None:
    refused(await otobot("check", "-c", str(tmp_path / "nowhere.yaml")), 1, "nowhere.yaml", "cannot read the file",
            "No such file")


async def test_an_empty_users_folder_is_an_error_not_zero_users(tmp_path: Path) -> None:
    config = tree(tmp_path, {})
    (tmp_path / "users" / "alice.yaml").unlink()
    refused(await otobot("check", "-c", str(config)), 1, f"{tmp_path}/users", "no user file",
            "the daemon would trade for nobody")


async def test_one_bad_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    config = tree(tmp_path, {"users/bob.yaml": "token: KOGE\n" + INLINE + "pricing: {sell_offset: 0}\n"})
    r = await otobot("check", "-c", str(config))
    refused(r, 1, "bob.yaml", "pricing.sell_offset")
    assert "alice.yaml: ok" in r.out


def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "alice.yaml"
    path.write_text(GOOD_USER + BOMB)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="expand to more than"):
        load_user(path)
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ stored sessions


async def _store_session(db: Path, user: str, key: str) -> None:
    store = await Store.open(db)
    try:
        blob = encrypt_credentials(Keyring([key.encode()]), Credentials(cookie="p20t=abc; logined=y",
                                                                         csrftoken="abcdef123"))
        await store.save_credentials(user, blob, 1)
    finally:
        await store.close()


async def test_check_opens_each_stored_session_with_the_master_key(tmp_path: Path) -> None:
    config = tree(tmp_path, {"users/alice.yaml": "token: KOGE\n", "users/bob.yaml": "token: KOGE\n"})
    await _store_session(tmp_path / "otobot.db", "alice", KEY)
    await _store_session(tmp_path / "otobot.db", "bob", OTHER_KEY)
    r = await otobot("check", "-c", str(config), env={"OTOBOT_MASTER_KEY": KEY})
    refused(r, 1, "bob.yaml: user bob: stored credentials cannot be opened with the configured master key",
            "otobot creds import bob")
    assert "alice: stored session opens with the master key" in r.out
    r = await otobot("check", "-c", str(config), env={"OTOBOT_MASTER_KEY": f"{KEY},{OTHER_KEY}"})
    assert r.code == 0, r.err
    # Without a key here (it may reach only the service through LoadCredential=) the sessions are not judged.
    r = await otobot("check", "-c", str(config))
    assert r.code == 0 and "stored sessions: not decrypted" in r.out, r.err


async def test_check_names_a_user_without_a_stored_session_and_a_broken_key(tmp_path: Path) -> None:
    config = tree(tmp_path, {"users/alice.yaml": "token: KOGE\n"})
    refused(await otobot("check", "-c", str(config)), 1, "alice.yaml", "no database yet", "otobot creds import alice")
    await _store_session(tmp_path / "otobot.db", "someone", KEY)
    refused(await otobot("check", "-c", str(config), env={"OTOBOT_MASTER_KEY": KEY}), 1,
            "user alice has no stored session", "otobot creds import alice")
    refused(await otobot("check", "-c", str(config), env={"OTOBOT_MASTER_KEY": "not-a-key"}), 1,
            "otobot.yaml", "key 1 in $OTOBOT_MASTER_KEY is malformed", "otobot creds gen-key")


async def test_check_names_a_damaged_database_instead_of_hanging(tmp_path: Path) -> None:
    config = tree(tmp_path, {"users/alice.yaml": "token: KOGE\n"})
    (tmp_path / "otobot.db").write_bytes(b"\x00not sqlite" * 500)
    refused(await otobot("check", "-c", str(config), env={"OTOBOT_MASTER_KEY": KEY}, timeout=20), 1,
            "cannot open the database", "restore the last backup")
