"""The Telegram command keys of otobot.yaml: who may command, whether to poll, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from otobot.config.settings import ConfigError, load_global


def config(tmp_path: Path, telegram: str) -> Path:
    path = tmp_path / "otobot.yaml"
    path.write_text("exchange: {rest_url: 'https://www.binance.com'}\n"
                    f"notify:\n  telegram:\n    bot_token: '1:x'\n    chat_id: '42'\n{telegram}")
    return path


def test_the_notify_chat_alone_may_command_by_default(tmp_path: Path) -> None:
    tg = load_global(config(tmp_path, "")).notify.telegram

    assert tg is not None and tg.commands and tg.poll_timeout_s == 25.0
    assert tg.command_chats() == frozenset({"42"})


def test_allowed_chat_ids_replace_the_default_and_commands_can_be_off(tmp_path: Path) -> None:
    tg = load_global(config(tmp_path, "    allowed_chat_ids: [7, '-1001234']\n    commands: false\n")).notify.telegram

    assert tg is not None and not tg.commands
    assert tg.command_chats() == frozenset({"7", "-1001234"})


@pytest.mark.parametrize(("line", "message"), [
    ("    allowed_chat_ids: 42\n", "key 'notify.telegram.allowed_chat_ids' = 42: expected a list of Telegram chat ids"),
    ("    allowed_chat_ids: [true]\n", "key 'notify.telegram.allowed_chat_ids' = [True]: expected a list"),
    ("    poll_timeout_s: 0\n", "key 'notify.telegram.poll_timeout_s' = 0.0: must be ≥ 1"),
    ("    allowed_chat: [1]\n", "unknown key 'notify.telegram.allowed_chat': did you mean"),
])
def test_bad_telegram_keys_name_the_key_and_the_fix(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_global(config(tmp_path, line))

    assert message in str(err.value) and str(tmp_path / "otobot.yaml") in str(err.value)
